//! A new tag in the registry: within one poll interval fluxd commits it for
//! the automated Deployment (Flux's message, committer and note), the file
//! differs only in that tag, and the cluster runs it; a locked Deployment,
//! one whose filter refuses the tag and an ignored one are left alone.

use fluxd::api::{JobId, JobState, WorkloadUpdateStatus};

use super::{Setup, TIMEOUT, deployment};
use tests::controlplane::wait_for;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tag_is_committed_and_applied_for_automated_workloads_only() {
    let mut setup = Setup::new("auto-new-tag").await;
    setup.push("app", "1.0.0", 1);
    let ns = setup.ns.name().to_owned();
    let old = format!("{}:1.0.0", setup.image("app"));
    let files = [
        ("web", vec!["fluxcd.io/automated: \"true\""]),
        (
            "held",
            vec![
                "fluxcd.io/automated: \"true\"",
                "fluxcd.io/locked: \"true\"",
            ],
        ),
        (
            "pinned",
            vec![
                "fluxcd.io/automated: \"true\"",
                "filter.fluxcd.io/app: \"semver:~1.0\"",
            ],
        ),
        (
            "skipped",
            vec![
                "fluxcd.io/automated: \"true\"",
                "fluxcd.io/ignore: \"true\"",
            ],
        ),
    ];
    for (name, annotations) in &files {
        setup
            .repo
            .write(
                &format!("deploy/{name}.yaml"),
                &deployment(&ns, name, &old, annotations),
            )
            .unwrap();
    }
    let first = setup.repo.commit_and_push("first").unwrap();

    let running = setup.start(&["--automation-interval=2s"]).await;
    wait_for(TIMEOUT, "the first sync", || async {
        setup.live_image("web").await.as_deref() == Some(old.as_str())
    })
    .await
    .unwrap();
    // Nothing is new: no commit.
    assert_eq!(setup.head(), first);

    setup.push("app", "1.1.0", 2);
    let revision = setup.wait_for_commit(&first).await;
    let new = format!("{}:1.1.0", setup.image("app"));
    let log = |format: &str| {
        setup
            .repo
            .git_bare(["log", "-1", &format!("--format={format}"), &revision])
            .unwrap()
    };
    assert_eq!(log("%B"), format!("Auto-release {new}"));
    assert_eq!(log("%an <%ae>"), "Weave Flux <support@weave.works>");
    assert_eq!(log("%cn <%ce>"), "Weave Flux <support@weave.works>");
    assert_eq!(log("%P"), first);
    let changed = setup
        .repo
        .git_bare(["diff", "--name-only", &first, &revision])
        .unwrap();
    assert_eq!(changed.trim(), "deploy/web.yaml");
    assert_eq!(
        setup.show(&revision, "deploy/web.yaml"),
        setup.show(&first, "deploy/web.yaml").replace(&old, &new)
    );

    // The note is the job: its id, spec and result.
    let note: serde_json::Value = serde_json::from_str(
        &setup
            .repo
            .git_bare(["notes", "--ref", "flux", "show", &revision])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(note["spec"]["type"], "auto", "{note}");
    assert_eq!(note["spec"]["cause"]["User"], "<automated>", "{note}");
    let web = format!("{ns}:deployment/web");
    assert_eq!(note["result"][&web]["Status"], "success", "{note}");
    assert_eq!(
        note["result"][&web]["PerContainer"][0]["Target"],
        new.as_str(),
        "{note}"
    );
    let id = JobId(note["jobID"].as_str().unwrap().to_owned());
    let status = running.finished(&id).await;
    assert_eq!(status.status_string, JobState::Succeeded, "{status:?}");
    assert_eq!(status.result.revision, revision);
    let web_id = web.parse().unwrap();
    assert_eq!(
        status.result.result[&web_id].status,
        WorkloadUpdateStatus::Success
    );

    // The cluster runs it; the others are untouched, in git and in the cluster.
    wait_for(TIMEOUT, "the new image in the cluster", || async {
        setup.live_image("web").await.as_deref() == Some(new.as_str())
    })
    .await
    .unwrap();
    for name in ["held", "pinned"] {
        assert_eq!(setup.live_image(name).await.as_deref(), Some(old.as_str()));
    }
    assert_eq!(setup.live_image("skipped").await, None);
    // Another poll finds nothing new: still that one commit.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(setup.head(), revision);
    running.stop().await;
}
