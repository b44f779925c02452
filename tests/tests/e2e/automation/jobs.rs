//! Jobs through the `Daemon` handle: a release plan returns the changes and
//! writes nothing, its execute commits exactly those (a HelmRelease's
//! `image.tag` among them, in place); a policy job changes only annotations,
//! in the prefix the object already uses; across a restart, queued jobs run
//! or fail, and a finished job's status is still found.

use fluxd::api::{
    Cause, ImageSpec, JobState, PolicySet, PolicyUpdate, PolicyUpdates, ReleaseImageSpec,
    ReleaseKind, ResourceSpec, UpdateKind, UpdateSpec, WorkloadUpdateStatus,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use tests::controlplane::wait_for;

use super::{Setup, TIMEOUT, deployment};

fn helm_release(namespace: &str, repository: &str, tag: &str) -> String {
    format!(
        "apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: chart
  namespace: {namespace}
spec:
  releaseName: chart
  chart:
    repository: https://charts.example.com/
    name: app
    version: 1.0.0
  values:
    replicas: 2 # kept
    image:
      repository: {repository} # the app
      tag: '{tag}'
"
    )
}

/// Installs the HelmRelease CRD (cluster-wide; the same for every test).
async fn install_helm_release_crd(setup: &Setup) {
    let client = setup.cluster.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let (_, crd) = helmops::crd::all()
        .into_iter()
        .find(|(file, _)| file.contains("helm.fluxcd.io"))
        .unwrap();
    let name = crd.metadata.name.clone().unwrap();
    crds.patch(
        &name,
        &PatchParams::apply("automation-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    wait_for(TIMEOUT, "the HelmRelease CRD to be served", || async {
        crds.get(&name)
            .await
            .ok()
            .and_then(|c| c.status)
            .is_some_and(|s| {
                s.conditions
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            })
    })
    .await
    .unwrap();
}

fn release(kind: ReleaseKind) -> UpdateSpec {
    UpdateSpec {
        cause: Cause {
            message: String::new(),
            user: "Jane Doe <jane@example.com>".into(),
        },
        kind: UpdateKind::Image(ReleaseImageSpec {
            service_specs: vec![ResourceSpec::All],
            image_spec: ImageSpec::Latest,
            kind,
            excludes: Vec::new(),
            force: false,
        }),
    }
}

fn lock(id: &str, container_filter: Option<&str>) -> UpdateSpec {
    let mut add = PolicySet::default();
    add.add("locked");
    add.set("locked_user", "Jane Doe <jane@example.com>");
    add.set("locked_msg", "release freeze");
    if let Some(filter) = container_filter {
        add.set("tag.app", filter);
    }
    let mut updates = PolicyUpdates::new();
    updates.insert(
        id.parse().unwrap(),
        PolicyUpdate {
            add,
            remove: PolicySet::default(),
        },
    );
    UpdateSpec {
        cause: Cause::default(),
        kind: UpdateKind::Policy(updates),
    }
}

fn automate(id: &str, on: bool) -> UpdateSpec {
    let mut set = PolicySet::default();
    set.add("automated");
    let update = if on {
        PolicyUpdate {
            add: set,
            remove: PolicySet::default(),
        }
    } else {
        PolicyUpdate {
            add: PolicySet::default(),
            remove: set,
        }
    };
    let mut updates = PolicyUpdates::new();
    updates.insert(id.parse().unwrap(), update);
    UpdateSpec {
        cause: Cause::default(),
        kind: UpdateKind::Policy(updates),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_write_nothing_executes_commit_them_and_policies_touch_only_annotations() {
    let mut setup = Setup::new("auto-jobs").await;
    install_helm_release_crd(&setup).await;
    setup.push("app", "1.9.9", 1);
    setup.push("app", "1.10.0", 2);
    let ns = setup.ns.name().to_owned();
    let repository = setup.image("app");
    let old = format!("{repository}:1.9.9");
    let new = format!("{repository}:1.10.0");
    setup
        .repo
        .write("deploy/web.yaml", &deployment(&ns, "web", &old, &[]))
        .unwrap();
    setup
        .repo
        .write(
            "deploy/old.yaml",
            &deployment(&ns, "old", &old, &["flux.weave.works/automated: 'false'"]),
        )
        .unwrap();
    setup
        .repo
        .write(
            "deploy/chart.yaml",
            &helm_release(&ns, &repository, "1.9.9"),
        )
        .unwrap();
    let first = setup.repo.commit_and_push("first").unwrap();
    let running = setup.start(&["--automation-interval=1h"]).await;
    wait_for(TIMEOUT, "the first sync", || async {
        setup.live_image("old").await.is_some()
    })
    .await
    .unwrap();
    // The registry's data arrives with the first poll.
    wait_for(TIMEOUT, "the registry's tags", || async {
        running
            .daemon
            .automation()
            .and_then(|a| fluxd::contract::ImageSource::images(a, &repository))
            .is_some_and(|images| images.len() == 2)
    })
    .await
    .unwrap();

    // A plan: the changes, no commit.
    let plan = running
        .daemon
        .submit_job(release(ReleaseKind::Plan))
        .await
        .unwrap();
    let planned = running.daemon.status(&plan).unwrap();
    assert_eq!(planned.status_string, JobState::Succeeded, "{planned:?}");
    assert!(planned.result.revision.is_empty());
    let successes: Vec<String> = planned
        .result
        .result
        .iter()
        .filter(|(_, r)| r.status == WorkloadUpdateStatus::Success)
        .map(|(id, r)| format!("{id} {}", r.per_container[0].target))
        .collect();
    assert_eq!(
        successes,
        [
            format!("{ns}:deployment/old {new}"),
            format!("{ns}:deployment/web {new}"),
            format!("{ns}:helmrelease/chart {new}"),
        ]
    );
    assert_eq!(setup.head(), first);

    // The execute: one commit with exactly those changes.
    let execute = running
        .daemon
        .submit_job(release(ReleaseKind::Execute))
        .await
        .unwrap();
    let executed = running.finished(&execute).await;
    assert_eq!(executed.status_string, JobState::Succeeded, "{executed:?}");
    assert_eq!(executed.result.result, planned.result.result);
    let revision = executed.result.revision.clone();
    assert_eq!(setup.head(), revision);
    assert_eq!(
        setup
            .repo
            .git_bare(["log", "-1", "--format=%B", &revision])
            .unwrap(),
        "Release all latest to all"
    );
    for file in ["deploy/web.yaml", "deploy/old.yaml"] {
        assert_eq!(
            setup.show(&revision, file),
            setup.show(&first, file).replace(&old, &new)
        );
    }
    assert_eq!(
        setup.show(&revision, "deploy/chart.yaml"),
        setup
            .show(&first, "deploy/chart.yaml")
            .replace("tag: '1.9.9'", "tag: '1.10.0'")
    );
    wait_for(TIMEOUT, "the release in the cluster", || async {
        setup.live_image("web").await.as_deref() == Some(new.as_str())
    })
    .await
    .unwrap();

    // A policy job writes annotations in the prefix the object uses.
    let old_id = format!("{ns}:deployment/old");
    let locked = running
        .daemon
        .submit_job(lock(&old_id, Some("semver:~1")))
        .await
        .unwrap();
    let status = running.finished(&locked).await;
    assert_eq!(status.status_string, JobState::Succeeded, "{status:?}");
    let policy_revision = status.result.revision.clone();
    assert_eq!(
        setup
            .repo
            .git_bare(["log", "-1", "--format=%B", &policy_revision])
            .unwrap(),
        format!("Updated workload policies\n\n- Locked: {old_id}\n- Updated policies: {old_id}")
    );
    let before = setup.show(&revision, "deploy/old.yaml");
    let after = setup.show(&policy_revision, "deploy/old.yaml");
    let before_lines: Vec<&str> = before.lines().collect();
    let added: Vec<&str> = after
        .lines()
        .filter(|line| !before_lines.contains(line))
        .collect();
    assert_eq!(added.len(), 4, "{after}");
    for line in &added {
        assert!(line.starts_with("    flux.weave.works/"), "{after}");
    }
    assert!(
        after
            .lines()
            .filter(|l| !added.contains(l))
            .eq(before.lines()),
        "{after}"
    );
    assert!(
        after.contains("flux.weave.works/locked_msg: release freeze")
            || after.contains("flux.weave.works/locked_msg: 'release freeze'"),
        "{after}"
    );

    // A sync job: the branch's head, applied.
    let sync = running
        .daemon
        .submit_job(UpdateSpec {
            cause: Cause::default(),
            kind: UpdateKind::Sync(fluxd::api::ManualSync {}),
        })
        .await
        .unwrap();
    let synced = running.finished(&sync).await;
    assert_eq!(synced.status_string, JobState::Succeeded, "{synced:?}");
    assert_eq!(synced.result.revision, policy_revision);
    assert!(
        running
            .daemon
            .unapplied(&policy_revision)
            .await
            .unwrap()
            .is_empty()
    );

    // A restart with jobs in the queue: each one runs or fails, none is lost;
    // finished jobs are still known.
    let web_id = format!("{ns}:deployment/web");
    let mut queued = Vec::new();
    for on in [true, false, true] {
        queued.push(
            running
                .daemon
                .submit_job(automate(&web_id, on))
                .await
                .unwrap(),
        );
    }
    running.stop().await;
    let restarted = setup.start(&["--automation-interval=1h"]).await;
    for id in &queued {
        let status = restarted.finished(id).await;
        assert!(
            status.status_string == JobState::Succeeded || !status.err.is_empty(),
            "{status:?}"
        );
    }
    let found = restarted.daemon.status(&execute).unwrap();
    assert_eq!(found.status_string, JobState::Succeeded);
    assert_eq!(found.result.revision, revision);
    assert_eq!(
        restarted.daemon.status(&plan).unwrap().status_string,
        JobState::Succeeded
    );
    restarted.stop().await;
}
