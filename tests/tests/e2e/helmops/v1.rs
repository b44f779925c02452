//! `helm.fluxcd.io/v1` HelmReleases as helm-operator 1.4 handled them: its
//! status fields, conditions (reason = phase, its messages), Events and
//! metrics; `helm test`, `maxHistory`, rollback retries, the back-off of a
//! failed release, `skipCRDs`, Helm 2 releases, and charts from an OCI
//! registry (the local docker-registry).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use helmops::api::v1;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use tests::helm::operator::{OperatorOptions, OperatorRun, cluster, wait_for};
use tests::helm::{add_crd, add_test_hook, configmap_chart};

use super::support::{
    RESYNC, WAIT, calls_starting, condition_triple, events_about, message, phase_is, repository_of,
    status, storage_revisions, v1_release,
};

fn hello_with_test(dir: &Path) {
    configmap_chart(dir, "hello", "1.0.0").unwrap();
    add_test_hook(dir).unwrap();
}

async fn patch_spec(releases: &Api<v1::HelmRelease>, name: &str, spec: serde_json::Value) {
    releases
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "spec": spec })),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn status_events_and_metrics_read_as_helm_operators() {
    let work = tempfile::tempdir().unwrap();
    let repo = repository_of(work.path(), &[("hello", &hello_with_test)]).await;
    let run = OperatorRun::start(
        cluster().await.unwrap(),
        OperatorOptions::new(tests::tools::helm().unwrap(), RESYNC),
    )
    .await
    .unwrap();
    let client = run.flux.client().unwrap();
    let demo = run.demo().to_owned();
    let releases: Api<v1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    let chart = serde_json::json!({"repository": repo.url(), "name": "hello", "version": "1.0.0"});
    releases
        .create(
            &PostParams::default(),
            &v1_release(
                "web",
                &serde_json::json!({
                    "chart": chart,
                    "maxHistory": 2,
                    "test": {"enable": true},
                    "values": {"data": {"round": "0"}}
                }),
            ),
        )
        .await
        .unwrap();
    let name = format!("{demo}-web");
    let at = |text: &str| format!("{text} Helm release '{name}' in '{demo}'.");
    let hr = wait_for(&releases, "web", "succeeded", WAIT, phase_is("Succeeded"))
        .await
        .unwrap();
    let st = status(&hr);
    assert_eq!(st.release_name.as_deref(), Some(name.as_str()));
    assert_eq!(st.release_status.as_deref(), Some("deployed"));
    assert_eq!(st.revision.as_deref(), Some("1.0.0"));
    assert_eq!(st.last_attempted_revision.as_deref(), Some("1.0.0"));
    assert_eq!(st.observed_generation, hr.metadata.generation);
    assert_eq!(st.rollback_count, Some(0));
    assert_eq!(
        condition_triple(&hr, "ChartFetched"),
        (
            "True".into(),
            "ChartFetched".into(),
            at("Chart fetch was successful for")
        )
    );
    assert_eq!(
        condition_triple(&hr, "Deployed"),
        (
            "True".into(),
            "Deployed".into(),
            at("Installation or upgrade succeeded for")
        )
    );
    assert_eq!(
        condition_triple(&hr, "Tested"),
        ("True".into(), "Tested".into(), at("Tested"))
    );
    assert_eq!(
        condition_triple(&hr, "Released"),
        (
            "True".into(),
            "Succeeded".into(),
            at("Release was successful for")
        )
    );
    assert!(
        run.helm_calls()
            .iter()
            .any(|c| c.starts_with(&format!("test {name}"))),
        "{:?}",
        run.helm_calls()
    );
    let events = events_about(&client, &demo, "web").await;
    assert!(
        events.contains(&(
            "ReleaseSynced".to_owned(),
            format!("managed release '{name}' in namespace '{demo}' synchronized")
        )),
        "{events:?}"
    );
    let metrics = run.handle().metrics().encode();
    for expected in [
        format!(
            "flux_helm_operator_release_condition_info{{target_namespace=\"{demo}\",release_name=\"{name}\",condition=\"Released\"}} 1"
        ),
        format!(
            "flux_helm_operator_release_action_duration_seconds_count{{action=\"install\",success=\"true\",target_namespace=\"{demo}\",release_name=\"{name}\"}} 1"
        ),
        format!(
            "flux_helm_operator_release_action_duration_seconds_count{{action=\"test\",success=\"true\",target_namespace=\"{demo}\",release_name=\"{name}\"}} 1"
        ),
    ] {
        assert!(metrics.contains(&expected), "{expected}\n{metrics}");
    }
    // The count comes with the next status interval (a second here).
    let deadline = std::time::Instant::now() + WAIT;
    while !run
        .handle()
        .metrics()
        .encode()
        .contains("flux_helm_operator_release_count 1")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            run.handle().metrics().encode()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // maxHistory: Helm keeps two revisions, however many upgrades.
    for round in 1..=3 {
        patch_spec(
            &releases,
            "web",
            serde_json::json!({"values": {"data": {"round": round.to_string()}}}),
        )
        .await;
        wait_for(&releases, "web", "upgraded", WAIT, |hr| {
            status(hr).helm_revision == Some(1 + round)
                && status(hr).phase.as_deref() == Some("Succeeded")
        })
        .await
        .unwrap();
    }
    assert!(storage_revisions(&client, &demo, &name).await <= 2);

    // A failing test whose failures are ignored: the release still succeeds.
    patch_spec(
        &releases,
        "web",
        serde_json::json!({"test": {"enable": true, "ignoreFailures": true}, "values": {"testFail": true}}),
    )
    .await;
    let hr = wait_for(
        &releases,
        "web",
        "tested with failures ignored",
        WAIT,
        |hr| {
            condition(hr, "Tested").is_some_and(|c| c.status == "False")
                && status(hr).phase.as_deref() == Some("Succeeded")
        },
    )
    .await
    .unwrap();
    assert_eq!(
        condition_triple(&hr, "Tested"),
        ("False".into(), "TestFailed".into(), at("Test failed for"))
    );
    assert_eq!(condition_triple(&hr, "Released").0, "True");

    // A failing test that counts, with rollbacks on: rolled back.
    patch_spec(
        &releases,
        "web",
        serde_json::json!({
            "test": {"enable": true, "ignoreFailures": false},
            "rollback": {"enable": true},
            "values": {"testFail": true, "data": {"round": "test-fails"}}
        }),
    )
    .await;
    let hr = wait_for(
        &releases,
        "web",
        "rolled back",
        WAIT,
        phase_is("RolledBack"),
    )
    .await
    .unwrap();
    assert_eq!(
        condition_triple(&hr, "RolledBack"),
        ("True".into(), "RolledBack".into(), at("Rolled back"))
    );
    assert_eq!(
        condition_triple(&hr, "Released"),
        ("False".into(), "TestFailed".into(), at("Test failed for"))
    );
    assert_eq!(status(&hr).rollback_count, Some(1));
    let data = Api::<ConfigMap>::namespaced(client.clone(), &demo)
        .get(&format!("{name}-hello"))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        data["round"], "3",
        "the rollback restored the tested revision"
    );
    let metrics = run.handle().metrics().encode();
    assert!(
        metrics.contains(&format!(
            "flux_helm_operator_release_condition_info{{target_namespace=\"{demo}\",release_name=\"{name}\",condition=\"RolledBack\"}} 1"
        )),
        "{metrics}"
    );
}

fn condition(hr: &v1::HelmRelease, type_: &str) -> Option<helmops::api::Condition> {
    super::support::condition(hr, type_)
}

/// A release that fails is not tried again at every resync; a change to it
/// is tried at once; `rollback.retry` retries up to `maxRetries`.
#[tokio::test]
async fn failed_releases_back_off_and_rollback_retries_stop_at_max_retries() {
    let work = tempfile::tempdir().unwrap();
    let repo = repository_of(
        work.path(),
        &[("hello", &|d: &Path| {
            configmap_chart(d, "hello", "1.0.0").unwrap();
        })],
    )
    .await;
    let mut options = OperatorOptions::new(tests::tools::helm().unwrap(), RESYNC);
    options.configure = Some(Arc::new(|config| {
        config.retry_backoff = Some(Duration::from_secs(60));
    }));
    let run = OperatorRun::start(cluster().await.unwrap(), options)
        .await
        .unwrap();
    let client = run.flux.client().unwrap();
    let demo = run.demo().to_owned();
    let releases: Api<v1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    let chart = serde_json::json!({"repository": repo.url(), "name": "hello", "version": "1.0.0"});
    releases
        .create(
            &PostParams::default(),
            &v1_release(
                "shaky",
                &serde_json::json!({"chart": chart, "values": {"fail": true}}),
            ),
        )
        .await
        .unwrap();
    let name = format!("{demo}-shaky");
    let hr = wait_for(
        &releases,
        "shaky",
        "deploy failed",
        WAIT,
        phase_is("DeployFailed"),
    )
    .await
    .unwrap();
    // helm.fluxcd.io/v1 keeps helm-operator's messages; the Event says why.
    assert_eq!(
        message(&hr, "Released"),
        format!("Installation or upgrade failed for Helm release '{name}' in '{demo}'.")
    );
    let events = events_about(&client, &demo, "shaky").await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "FailedReleaseSync"
                && note.starts_with(&format!(
                    "synchronization of release '{name}' in namespace '{demo}' failed: "
                ))
                && note.contains("is invalid")),
        "{events:?}"
    );
    // The failed install was uninstalled, as helm-operator did.
    assert!(
        run.helm_calls()
            .iter()
            .any(|c| c.starts_with(&format!("uninstall {name}"))),
        "{:?}",
        run.helm_calls()
    );
    let upgrades = calls_starting(&run.helm_calls(), &format!("upgrade {name}"));
    assert_eq!(upgrades, 1);
    tokio::time::sleep(RESYNC * 4).await;
    assert_eq!(
        calls_starting(&run.helm_calls(), &format!("upgrade {name}")),
        1,
        "a failed release was retried unchanged within its back-off: {:?}",
        run.helm_calls()
    );

    // A change is tried at once.
    patch_spec(
        &releases,
        "shaky",
        serde_json::json!({"values": {"fail": false}}),
    )
    .await;
    wait_for(
        &releases,
        "shaky",
        "succeeded after the fix",
        Duration::from_secs(30),
        phase_is("Succeeded"),
    )
    .await
    .unwrap();

    // rollback.retry with maxRetries 2: three rollbacks, then it stays.
    patch_spec(
        &releases,
        "shaky",
        serde_json::json!({
            "rollback": {"enable": true, "retry": true, "maxRetries": 2},
            "values": {"fail": true}
        }),
    )
    .await;
    let hr = wait_for(&releases, "shaky", "three rollbacks", WAIT, |hr| {
        status(hr).rollback_count == Some(3) && status(hr).phase.as_deref() == Some("RolledBack")
    })
    .await
    .unwrap();
    assert_eq!(condition_triple(&hr, "RolledBack").0, "True");
    let rollbacks = calls_starting(&run.helm_calls(), &format!("rollback {name}"));
    assert_eq!(rollbacks, 3, "{:?}", run.helm_calls());
    tokio::time::sleep(RESYNC * 3).await;
    assert_eq!(
        calls_starting(&run.helm_calls(), &format!("rollback {name}")),
        3,
        "retried past maxRetries: {:?}",
        run.helm_calls()
    );
}

/// `skipCRDs` installs a chart whose CRDs the operator may not create;
/// `helmVersion: v2` and a release Tiller still owns get a condition saying
/// how to migrate, and no helm call.
#[tokio::test]
async fn skip_crds_and_helm_2_releases() {
    let work = tempfile::tempdir().unwrap();
    let repo = repository_of(
        work.path(),
        &[
            ("hello", &|d: &Path| {
                configmap_chart(d, "hello", "1.0.0").unwrap();
            }),
            ("widgets", &|d: &Path| {
                configmap_chart(d, "widgets", "1.0.0").unwrap();
                add_crd(d, "skipcrds.fluxd.test").unwrap();
            }),
        ],
    )
    .await;
    let mut options = OperatorOptions::new(tests::tools::helm().unwrap(), RESYNC);
    // Tiller's storage where the seed's flux ServiceAccount may read it.
    options.configure = Some(Arc::new(|config| {
        config.tiller_namespace = Some(config.allow_namespaces[0].clone());
    }));
    let run = OperatorRun::start(cluster().await.unwrap(), options)
        .await
        .unwrap();
    let client = run.flux.client().unwrap();
    let demo = run.demo().to_owned();
    Api::<ConfigMap>::namespaced(client.clone(), &demo)
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("legacy-app.v1".to_owned()),
                    labels: Some(
                        [
                            ("OWNER", "TILLER"),
                            ("NAME", "legacy-app"),
                            ("STATUS", "DEPLOYED"),
                            ("VERSION", "1"),
                        ]
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                    ),
                    ..ObjectMeta::default()
                },
                ..ConfigMap::default()
            },
        )
        .await
        .unwrap();
    let releases: Api<v1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    let widgets =
        serde_json::json!({"repository": repo.url(), "name": "widgets", "version": "1.0.0"});
    let hello = serde_json::json!({"repository": repo.url(), "name": "hello", "version": "1.0.0"});
    for (name, spec) in [
        ("crds", serde_json::json!({"chart": widgets})),
        (
            "no-crds",
            serde_json::json!({"chart": widgets, "skipCRDs": true}),
        ),
        (
            "tiller-era",
            serde_json::json!({"chart": hello, "helmVersion": "v2"}),
        ),
        (
            "legacy",
            serde_json::json!({"chart": hello, "releaseName": "legacy-app"}),
        ),
    ] {
        releases
            .create(&PostParams::default(), &v1_release(name, &spec))
            .await
            .unwrap();
    }
    wait_for(
        &releases,
        "no-crds",
        "succeeded",
        WAIT,
        phase_is("Succeeded"),
    )
    .await
    .unwrap();
    let hr = wait_for(
        &releases,
        "crds",
        "deploy failed",
        WAIT,
        phase_is("DeployFailed"),
    )
    .await
    .unwrap();
    assert_eq!(condition_triple(&hr, "Released").0, "False");
    for name in ["tiller-era", "legacy"] {
        let hr = wait_for(&releases, name, "failed", WAIT, phase_is("Failed"))
            .await
            .unwrap();
        let (state, reason, text) = condition_triple(&hr, "Released");
        assert_eq!((state.as_str(), reason.as_str()), ("False", "Failed"));
        assert!(
            text.contains("Helm 2 (Tiller)") && text.contains("helm 2to3 convert"),
            "{name}: {text}"
        );
    }
    let calls = run.helm_calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("tiller-era") || c.contains("legacy-app")),
        "a Helm 2 release got a helm call: {calls:?}"
    );
}

/// A chart from an OCI registry (Debian's docker-registry, plain HTTP).
#[tokio::test]
async fn oci_chart_from_the_local_registry() {
    let registry = tests::registry::DockerRegistry::start().unwrap();
    let helm = tests::tools::helm().unwrap();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("helm-home");
    let push = |version: &str| {
        let chart = configmap_chart(
            &work.path().join(format!("src-{version}")),
            "hello",
            version,
        )
        .unwrap();
        let packaged = work.path().join("packaged");
        std::fs::create_dir_all(&packaged).unwrap();
        let run = |args: &[&std::ffi::OsStr]| {
            let output = std::process::Command::new(&helm)
                .args(args)
                .env("HELM_CACHE_HOME", home.join("cache"))
                .env("HELM_CONFIG_HOME", home.join("config"))
                .env("HELM_DATA_HOME", home.join("data"))
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        run(&[
            "package".as_ref(),
            chart.as_os_str(),
            "--destination".as_ref(),
            packaged.as_os_str(),
        ]);
        let archive = packaged.join(format!("hello-{version}.tgz"));
        let target = format!("oci://{}/charts", registry.host());
        run(&[
            "push".as_ref(),
            archive.as_os_str(),
            target.as_ref(),
            "--plain-http".as_ref(),
        ]);
    };
    push("1.0.0");
    let host = registry.host();
    let mut options = OperatorOptions::new(helm.clone(), RESYNC);
    options.configure = Some(Arc::new(move |config| {
        config.policy.oci_plain_http_hosts = vec![host.clone()];
    }));
    let run = OperatorRun::start(cluster().await.unwrap(), options)
        .await
        .unwrap();
    let client = run.flux.client().unwrap();
    let demo = run.demo().to_owned();
    let releases: Api<v1::HelmRelease> = Api::namespaced(client.clone(), &demo);
    let chart = serde_json::json!({"repository": format!("oci://{}/charts", registry.host()), "name": "hello", "version": "1.0.0"});
    releases
        .create(
            &PostParams::default(),
            &v1_release(
                "from-oci",
                &serde_json::json!({"chart": chart, "values": {"data": {"from": "oci"}}}),
            ),
        )
        .await
        .unwrap();
    let hr = wait_for(
        &releases,
        "from-oci",
        "succeeded",
        WAIT,
        phase_is("Succeeded"),
    )
    .await
    .unwrap();
    assert_eq!(status(&hr).revision.as_deref(), Some("1.0.0"));
    let data = Api::<ConfigMap>::namespaced(client.clone(), &demo)
        .get(&format!("{demo}-from-oci-hello"))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["from"], "oci");
    assert!(
        run.helm_calls()
            .iter()
            .any(|c| c.starts_with("pull oci://") && c.contains("--plain-http"))
    );

    // A new version pushed and asked for: upgraded.
    push("1.1.0");
    patch_spec(
        &releases,
        "from-oci",
        serde_json::json!({"chart": {"repository": format!("oci://{}/charts", registry.host()), "name": "hello", "version": "1.1.0"}}),
    )
    .await;
    wait_for(&releases, "from-oci", "upgraded to 1.1.0", WAIT, |hr| {
        status(hr).revision.as_deref() == Some("1.1.0")
    })
    .await
    .unwrap();
}
