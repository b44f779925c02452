//! Each command against the stand-in: the requests fluxctl sends (paths,
//! queries, bodies as Flux's fluxctl sends them) and what it prints.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::flux_v1_standin::{Answer, FluxV1Standin};
use crate::{HELLOWORLD, fluxctl};

const REVISION: &str = "a6c2b1e3f6a88e2f1c41e7c0a4e0c5f1b2d3e4f5";

/// The e2e tree's workloads (test/e2e/15_fluxctl_list.bats), as fluxd's
/// /v6/services writes them, in the cluster's order (not sorted).
const DEMO_WORKLOADS: &str = r#"[{"ID":"demo:helmrelease/redis","Containers":[{"Name":"chart-image","Current":{"ID":"bitnami/redis:5.0.7","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}}],"ReadOnly":"","Status":"deployed","Rollout":{"Desired":0,"Updated":0,"Ready":0,"Available":0,"Outdated":0,"Messages":null},"SyncError":"","Antecedent":"","Labels":null,"Automated":true,"Locked":true,"Ignore":false,"Policies":{"automated":"true","locked":"true"}},{"ID":"demo:deployment/podinfo","Containers":[{"Name":"podinfod","Current":{"ID":"stefanprodan/podinfo:3.1.0","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}},{"Name":"init","Current":{"ID":"alpine:3.10.1","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}}],"ReadOnly":"","Status":"ready","Rollout":{"Desired":1,"Updated":1,"Ready":1,"Available":1,"Outdated":0,"Messages":null},"SyncError":"","Antecedent":"","Labels":{"app":"podinfo"},"Automated":true,"Locked":true,"Ignore":false,"Policies":{"automated":"true","locked":"true"}},{"ID":"demo:helmrelease/ghost","Containers":[{"Name":"chart-image","Current":{"ID":"bitnami/ghost:3.1.1-debian-9-r0","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}}],"ReadOnly":"","Status":"","Rollout":{"Desired":0,"Updated":0,"Ready":0,"Available":0,"Outdated":0,"Messages":null},"SyncError":"","Antecedent":"","Labels":null,"Automated":false,"Locked":false,"Ignore":false,"Policies":{}}]"#;

#[test]
fn list_workloads_prints_flux_table_sorted() {
    let fluxd = FluxV1Standin::start(|r| match r.path.as_str() {
        "/api/flux/v6/services" => Answer::Json(DEMO_WORKLOADS),
        _ => Answer::Status(404),
    });
    let run = fluxctl(
        &["--url", &fluxd.url, "list-workloads", "--namespace", "demo"],
        &[],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(
        run.stdout,
        "WORKLOAD                 CONTAINER    IMAGE                            RELEASE   POLICY
demo:deployment/podinfo  podinfod     stefanprodan/podinfo:3.1.0       ready     automated,locked
                         init         alpine:3.10.1                              
demo:helmrelease/ghost   chart-image  bitnami/ghost:3.1.1-debian-9-r0            
demo:helmrelease/redis   chart-image  bitnami/redis:5.0.7              deployed  automated,locked
"
    );
    let request = &fluxd.requests_to("/v6/services")[0];
    assert_eq!(
        (request.method.as_str(), request.query.as_str()),
        ("GET", "namespace=demo")
    );
    assert_eq!(request.accept, "application/json");
    assert_eq!(request.authorization, "");
}

#[test]
fn list_workloads_json_all_namespaces_and_container_filter() {
    let fluxd = FluxV1Standin::start(|_| Answer::Json(DEMO_WORKLOADS));
    let run = fluxctl(
        &[
            "--url",
            &fluxd.url,
            "list-controllers",
            "-a",
            "-c",
            "init",
            "-o",
            "json",
        ],
        &[],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(fluxd.requests()[0].query, "namespace=");
    // One line, as Go's json.Encoder writes it; only podinfo has `init`.
    assert!(
        run.stdout.ends_with("}]\n") && run.stdout.lines().count() == 1,
        "{}",
        run.stdout
    );
    let parsed: Vec<fluxd::api::ControllerStatus> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].id.as_str(), "demo:deployment/podinfo");
}

#[test]
fn list_workloads_of_nothing() {
    // fluxd's nil slice.
    let fluxd = FluxV1Standin::start(|_| Answer::Json("null"));
    let run = fluxctl(&["--url", &fluxd.url, "list-workloads"], &[]);
    assert!(run.ok, "{run:?}");
    assert_eq!(run.stdout, "WORKLOAD  CONTAINER  IMAGE  RELEASE  POLICY\n");
    // No kubeconfig: the namespace is `default`.
    assert_eq!(fluxd.requests()[0].query, "namespace=default");
}

#[test]
fn list_images_of_one_workload() {
    let fluxd = FluxV1Standin::start(|_| {
        Answer::Json(
            r#"[{"ID":"demo:deployment/podinfo","Containers":[{"Name":"podinfod","Current":{"ID":"stefanprodan/podinfo:3.1.0","Labels":{},"CreatedAt":"2020-03-20T13:53:05.47178071Z"},"LatestFiltered":{"ID":"stefanprodan/podinfo:3.1.0","Labels":{}},"Available":[{"ID":"stefanprodan/podinfo:3.1.0","Labels":{},"CreatedAt":"2020-03-20T13:53:05.47178071Z"},{"ID":"stefanprodan/podinfo:3.0.5","Labels":{},"CreatedAt":"2020-04-20T13:53:05.47178071Z"}],"AvailableImagesCount":2}]}]"#,
        )
    });
    let run = fluxctl(
        &[
            "--url",
            &fluxd.url,
            "list-images",
            "-n",
            "demo",
            "-w",
            "deployment/podinfo",
        ],
        &[],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(
        run.stdout,
        "WORKLOAD                 CONTAINER  IMAGE                 CREATED
demo:deployment/podinfo  podinfod   stefanprodan/podinfo  
                                    '-> 3.1.0             20 Mar 20 13:53 UTC
                                        3.0.5             20 Apr 20 13:53 UTC
"
    );
    let request = &fluxd.requests_to("/v10/images")[0];
    // Flux sends the workload and an empty namespace, sorted as Go encodes.
    assert_eq!(
        request.query,
        "containerFields=&namespace=&service=demo%3Adeployment%2Fpodinfo"
    );
    // JSON honours --limit.
    let run = fluxctl(
        &["--url", &fluxd.url, "list-images", "-o", "json", "-l", "1"],
        &[],
    );
    assert!(run.ok, "{run:?}");
    let parsed: Vec<fluxd::api::ImageStatus> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(parsed[0].containers[0].available.len(), 1);
    assert_eq!(
        fluxd.requests_to("/v10/images")[1].query,
        "containerFields=&namespace=default&service=%3Call%3E"
    );
}

/// A fluxd whose job goes queued, running, succeeded with `result`, and
/// whose sync status lists the revision `pending` times before `[]`.
fn release_fluxd(result: &'static str, pending: usize) -> FluxV1Standin {
    FluxV1Standin::start(release_answers(result, pending))
}

/// The answers of [`release_fluxd`].
fn release_answers(
    result: &'static str,
    pending: usize,
) -> impl Fn(&crate::flux_v1_standin::Recorded) -> Answer + Send + Sync + 'static {
    let polls = Arc::new(AtomicUsize::new(0));
    let syncs = Arc::new(AtomicUsize::new(0));
    move |r| match r.path.as_str() {
        "/api/flux/v9/update-manifests" => {
            Answer::Json(r#""8d0f3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6""#)
        }
        "/api/flux/v6/jobs" => match polls.fetch_add(1, Ordering::SeqCst) {
            0 => Answer::Json(r#"{"Result":{},"Err":"","StatusString":"queued"}"#),
            1 => Answer::Json(r#"{"Result":{},"Err":"","StatusString":"running"}"#),
            _ => Answer::JsonOwned(format!(
                r#"{{"Result":{{"revision":"{REVISION}","result":{result}}},"Err":"","StatusString":"succeeded"}}"#
            )),
        },
        "/api/flux/v6/sync" => {
            if syncs.fetch_add(1, Ordering::SeqCst) < pending {
                Answer::JsonOwned(format!(r#"["{REVISION}"]"#))
            } else {
                Answer::Json("[]")
            }
        }
        _ => Answer::Status(404),
    }
}

const RELEASED: &str = r#"{"default:deployment/helloworld":{"Status":"success","PerContainer":[{"Container":"helloworld","Current":"quay.io/weaveworks/helloworld:master-a000002","Target":"quay.io/weaveworks/helloworld:master-a000001"}]},"default:deployment/other":{"Status":"skipped","Error":"image(s) up to date","PerContainer":null}}"#;

#[test]
fn release_submits_waits_and_reports() {
    let fluxd = release_fluxd(RELEASED, 1);
    let run = fluxctl(
        &[
            "--url",
            &fluxd.url,
            "release",
            "--workload=deployment/helloworld",
            "--update-image=quay.io/weaveworks/helloworld:master-a000001",
            "--user",
            "Jane Doe <jd@j.d>",
        ],
        &[],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(
        run.stdout,
        "WORKLOAD                       STATUS   UPDATES
default:deployment/helloworld  success  helloworld: quay.io/weaveworks/helloworld:master-a000002 -> master-a000001
"
    );
    assert_eq!(
        run.stderr,
        "Submitting release ...\nCommit pushed:\ta6c2b1e\nCommit applied:\ta6c2b1e\n"
    );
    let submitted = &fluxd.requests_to("/v9/update-manifests")[0];
    assert_eq!(submitted.method, "POST");
    // Byte for byte what Flux's fluxctl sends (Go escapes < and >), no Content-Type.
    assert_eq!(
        submitted.body,
        r#"{"type":"image","cause":{"Message":"","User":"Jane Doe \u003cjd@j.d\u003e"},"spec":{"ServiceSpecs":["default:deployment/helloworld"],"ImageSpec":"quay.io/weaveworks/helloworld:master-a000001","Kind":"execute","Excludes":null,"Force":false}}"#
    );
    assert_eq!(submitted.content_type, "");
    let jobs = fluxd.requests_to("/v6/jobs");
    assert_eq!(jobs[0].query, "id=8d0f3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6");
    let syncs = fluxd.requests_to("/v6/sync");
    assert_eq!(syncs.len(), 2);
    assert_eq!(syncs[0].query, format!("ref={REVISION}"));
}

#[test]
fn release_all_latest_dry_run_verbose() {
    let fluxd = release_fluxd(RELEASED, 0);
    let run = fluxctl(
        &[
            "--url",
            &fluxd.url,
            "release",
            "--all",
            "--update-all-images",
            "--dry-run",
            "-v",
            "--exclude=deployment/test,deployment/yeah",
            "--user",
            "",
        ],
        &[],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(
        run.stderr,
        "Submitting dry-run release ...\nCommit pushed:\ta6c2b1e\n"
    );
    assert!(
        run.stdout
            .contains("default:deployment/other       skipped  image(s) up to date\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        fluxd.requests_to("/v9/update-manifests")[0].body,
        r#"{"type":"image","cause":{"Message":"","User":""},"spec":{"ServiceSpecs":["\u003call\u003e"],"ImageSpec":"\u003call latest\u003e","Kind":"plan","Excludes":["default:deployment/test","default:deployment/yeah"],"Force":false}}"#
    );
    // A dry run does not wait for a sync.
    assert!(fluxd.requests_to("/v6/sync").is_empty());
}

#[test]
fn release_watch_follows_the_rollout() {
    let lists = Arc::new(AtomicUsize::new(0));
    let release = release_answers(RELEASED, 0);
    let fluxd = FluxV1Standin::start(move |r| {
        if r.path != "/api/flux/v11/services" {
            return release(r);
        }
        let updating = HELLOWORLD.replace(
            r#""Status":"ready","Rollout":{"Desired":1,"Updated":1"#,
            r#""Status":"updating","Rollout":{"Desired":1,"Updated":0"#,
        );
        if lists.fetch_add(1, Ordering::SeqCst) == 0 {
            Answer::JsonOwned(format!("[{updating}]"))
        } else {
            Answer::JsonOwned(format!("[{HELLOWORLD}]"))
        }
    });
    let run = fluxctl(
        &[
            "--url",
            &fluxd.url,
            "release",
            "--workload=default:deployment/helloworld",
            "--update-all-images",
            "--watch",
            "--user=",
        ],
        &[],
    );
    assert!(run.ok, "{run:?}");
    assert!(
        run.stderr
            .ends_with("Commit applied:\ta6c2b1e\nMonitoring rollout ...\nAll workloads ready.\n"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("default:deployment/helloworld  helloworld  quay.io/weaveworks/helloworld:master-a000002  updating  0/1\n"), "{}", run.stdout);
    assert!(run.stdout.ends_with("default:deployment/helloworld  helloworld  quay.io/weaveworks/helloworld:master-a000002  ready    1/1\n\n"), "{}", run.stdout);
    assert_eq!(
        fluxd.requests_to("/v11/services")[0].query,
        "namespace=&services=default%3Adeployment%2Fhelloworld"
    );
}

const LOCKED: &str =
    r#"{"default:deployment/helloworld":{"Status":"success","PerContainer":null}}"#;

#[test]
fn lock_with_a_message_commits_and_does_not_wait_for_the_sync() {
    let fluxd = release_fluxd(LOCKED, 5);
    let run = fluxctl(
        &[
            "--url",
            &fluxd.url,
            "lock",
            "-w",
            "deployment/helloworld",
            "--user",
            "Jane Doe",
            "-m",
            "Halt",
        ],
        &[],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(
        run.stdout,
        "WORKLOAD                       STATUS   UPDATES\ndefault:deployment/helloworld  success  \n"
    );
    // No "Submitting" line, no wait for the sync (Flux's await with apply=false).
    assert_eq!(run.stderr, "Commit pushed:\ta6c2b1e\n");
    assert!(fluxd.requests_to("/v6/sync").is_empty());
    assert_eq!(
        fluxd.requests_to("/v9/update-manifests")[0].body,
        r#"{"type":"policy","cause":{"Message":"Halt","User":"Jane Doe"},"spec":{"default:deployment/helloworld":{"add":{"locked":"true","locked_msg":"Halt","locked_user":"Jane Doe"},"remove":{}}}}"#
    );
}

#[test]
fn shortcuts_and_policy_send_flux_policy_updates() {
    let fluxd = release_fluxd(LOCKED, 0);
    let body = |args: &[&str]| {
        let mut full = vec!["--url", fluxd.url.as_str()];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--user", ""]);
        let run = fluxctl(&full, &[]);
        assert!(run.ok, "{run:?}");
        let requests = fluxd.requests_to("/v9/update-manifests");
        let spec: serde_json::Value = serde_json::from_str(&requests.last().unwrap().body).unwrap();
        spec["spec"]["demo:deployment/podinfo"].to_string()
    };
    assert_eq!(
        body(&["automate", "-n", "demo", "-w", "deployment/podinfo"]),
        r#"{"add":{"automated":"true"},"remove":{}}"#
    );
    assert_eq!(
        body(&["deautomate", "-w", "demo:deployment/podinfo"]),
        r#"{"add":{},"remove":{"automated":"true"}}"#
    );
    assert_eq!(
        body(&["unlock", "-w", "demo:deployment/podinfo"]),
        r#"{"add":{},"remove":{"locked":"true","locked_msg":"true","locked_user":"true"}}"#
    );
    // Without a user, lock sets no locked_user/locked_msg.
    assert_eq!(
        body(&["lock", "-w", "demo:deployment/podinfo"]),
        r#"{"add":{"locked":"true"},"remove":{}}"#
    );
    assert_eq!(
        body(&[
            "policy",
            "-w",
            "demo:deployment/podinfo",
            "--tag-all",
            "master-*",
            "--tag",
            "podinfod=semver:~3.1",
            "--tag=init=*"
        ]),
        r#"{"add":{"tag.podinfod":"semver:~3.1","tag_all":"glob:master-*"},"remove":{"tag.init":"true"}}"#
    );
}

#[test]
fn identity_prints_the_key_its_fingerprint_and_randomart() {
    let config = r#"{"remote":{"url":"ssh://git@example.com/repo","branch":"master","path":""},"publicSSHKey":{"key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7 flux\n","fingerprints":{"md5":{"hash":"c4:8b:0e:93","randomart":"+--[ED25519 256]--+\n|       .o.       |\n+------[MD5]------+\n"},"sha256":{"hash":"nThbg6kX","randomart":"+--[ED25519 256]--+\n+----[SHA256]-----+\n"}}},"status":"ready","errors":""}"#;
    let fluxd = FluxV1Standin::start(move |_| Answer::Json(config));
    let run = fluxctl(&["--url", &fluxd.url, "identity"], &[]);
    assert_eq!(
        (run.ok, run.stdout.as_str()),
        (true, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7 flux\n")
    );
    assert_eq!(fluxd.requests()[0].body, "false");
    assert_eq!(fluxd.requests()[0].path, "/api/flux/v9/git-repo-config");
    let run = fluxctl(&["--url", &fluxd.url, "identity", "-l"], &[]);
    assert_eq!(run.stdout, "c4:8b:0e:93\n");
    let run = fluxctl(
        &["--url", &fluxd.url, "identity", "-v", "--regenerate"],
        &[],
    );
    assert_eq!(
        run.stdout,
        "c4:8b:0e:93\n+--[ED25519 256]--+\n|       .o.       |\n+------[MD5]------+\n"
    );
    assert_eq!(fluxd.requests()[2].body, "true");
}

fn sync_fluxd(status: &'static str, errors: &'static str) -> FluxV1Standin {
    let release = release_answers(r#"{}"#, 1);
    FluxV1Standin::start(move |r| {
        if r.path == "/api/flux/v9/git-repo-config" {
            Answer::JsonOwned(format!(
                r#"{{"remote":{{"url":"ssh://git@example.com/repo","branch":"main","path":""}},"publicSSHKey":{{"key":"","fingerprints":null}},"status":"{status}","errors":"{errors}"}}"#
            ))
        } else {
            release(r)
        }
    })
}

#[test]
fn sync_waits_until_the_revision_is_applied() {
    let fluxd = sync_fluxd("ready", "");
    let run = fluxctl(&["--url", &fluxd.url, "sync"], &[]);
    assert!(run.ok, "{run:?}");
    assert_eq!(
        run.stderr,
        "Synchronizing with ssh://git@example.com/repo\nRevision of main to apply is a6c2b1e\nWaiting for a6c2b1e to be applied ...\nDone.\n"
    );
    assert_eq!(
        fluxd.requests_to("/v9/update-manifests")[0].body,
        r#"{"type":"sync","cause":{"Message":"","User":""},"spec":{}}"#
    );
    // Flux asks with the short revision.
    assert_eq!(fluxd.requests_to("/v6/sync")[0].query, "ref=a6c2b1e");
}

#[test]
fn sync_refuses_a_repository_that_is_not_ready() {
    for (status, errors, message) in [
        (
            "unconfigured",
            "",
            "Error: no git repository is configured\n",
        ),
        (
            "unreachable",
            "dial tcp: lookup example.com: no such host",
            "Error: can not connect to git repository with URL ssh://git@example.com/repo\n\nFull error message: dial tcp: lookup example.com: no such host\n",
        ),
        (
            "new",
            "",
            "Error: git repository ssh://git@example.com/repo is not ready to sync\n",
        ),
        (
            "cloned",
            "read-only",
            "Error: git repository ssh://git@example.com/repo is not ready to sync\n\nFull error message: read-only\n",
        ),
    ] {
        let fluxd = sync_fluxd(status, errors);
        let run = fluxctl(&["--url", &fluxd.url, "sync"], &[]);
        assert!(!run.ok);
        assert_eq!(
            run.stderr,
            format!("{message}Run 'fluxctl sync --help' for usage.\n")
        );
        assert!(fluxd.requests_to("/v9/update-manifests").is_empty());
    }
}

/// A YAML stream as fluxd's export writes it (base64 in a JSON string).
fn exported() -> String {
    use base64::Engine as _;
    let yaml = "---
apiVersion: v1
kind: Namespace
metadata:
  name: demo
  uid: 0b6f
status:
  phase: Active
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    deployment.kubernetes.io/revision: \"3\"
    fluxcd.io/automated: \"true\"
    kubectl.kubernetes.io/last-applied-configuration: '{}'
  labels:
    app: podinfo
  name: podinfo
  namespace: demo
  resourceVersion: \"42\"
spec:
  replicas: 1
  selector:
    matchLabels:
      app: podinfo
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: podinfo
    spec:
      containers:
      - image: stefanprodan/podinfo:3.1.0
        name: podinfod
        resources: {}
status:
  replicas: 1
";
    format!(
        "\"{}\"",
        base64::engine::general_purpose::STANDARD.encode(yaml)
    )
}

#[test]
fn save_writes_the_tree_as_flux_did() {
    let body = exported();
    let fluxd = FluxV1Standin::start(move |_| Answer::JsonOwned(body.clone()));
    let run = fluxctl(&["--url", &fluxd.url, "save"], &[]);
    assert!(run.ok, "{run:?}");
    assert_eq!(fluxd.requests()[0].path, "/api/flux/v6/export");
    let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(&run.stdout).unwrap();
    assert!(run.stdout.starts_with("---\n"), "{}", run.stdout);
    assert_eq!(documents.len(), 2);
    assert_eq!(
        documents[0],
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}})
    );
    assert_eq!(
        documents[1],
        serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"annotations": {"fluxcd.io/automated": "true"}, "labels": {"app": "podinfo"}, "name": "podinfo", "namespace": "demo"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "podinfo"}},
                "template": {
                    "metadata": {"labels": {"app": "podinfo"}},
                    "spec": {"containers": [{"image": "stefanprodan/podinfo:3.1.0", "name": "podinfod"}]}
                }
            }
        })
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = fluxctl(&["--url", &fluxd.url, "save", "--out", out], &[]);
    assert!(run.ok, "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "Saving Namespace 'demo' to {out}/demo-ns.yaml\nSaving Deployment 'podinfo' to {out}/demo/podinfo-dep.yaml\n"
        )
    );
    let written = std::fs::read_to_string(dir.path().join("demo/podinfo-dep.yaml")).unwrap();
    assert!(
        written.starts_with("---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n"),
        "{written}"
    );
    assert!(dir.path().join("demo-ns.yaml").is_file());

    let file = dir.path().join("demo-ns.yaml");
    let run = fluxctl(
        &["--url", &fluxd.url, "save", "-o", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(
        run.stderr,
        format!(
            "Error: path {} is not a directory\nRun 'fluxctl save --help' for usage.\n",
            file.display()
        )
    );
}

#[test]
fn save_names_a_bad_document() {
    use base64::Engine as _;
    let body = format!(
        "\"{}\"",
        base64::engine::general_purpose::STANDARD.encode("kind: A\nspec: [1]\n")
    );
    let fluxd = FluxV1Standin::start(move |_| Answer::JsonOwned(body.clone()));
    let run = fluxctl(&["--url", &fluxd.url, "save"], &[]);
    assert_eq!(
        run.stderr,
        "Error: unmarshalling exported yaml: document 1: spec is not a map\nRun 'fluxctl save --help' for usage.\n"
    );
}

#[test]
fn a_token_and_environment_variables() {
    let fluxd = FluxV1Standin::start(|_| Answer::Json("[]"));
    let run = fluxctl(
        &["list-workloads"],
        &[("FLUX_URL", &fluxd.url), ("FLUX_SERVICE_TOKEN", "s3cret")],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(
        fluxd.requests()[0].authorization,
        "Scope-Probe token=s3cret"
    );
    // A flag wins over its variable.
    let run = fluxctl(
        &["--url", &fluxd.url, "list-workloads"],
        &[("FLUX_URL", "http://127.0.0.1:1/api/flux")],
    );
    assert!(run.ok, "{run:?}");
}

#[test]
fn save_writes_yaml_as_flux_yaml_v2_did() {
    let body = exported();
    let fluxd = FluxV1Standin::start(move |_| Answer::JsonOwned(body.clone()));
    let run = fluxctl(&["--url", &fluxd.url, "save"], &[]);
    assert_eq!(
        run.stdout,
        "---
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    fluxcd.io/automated: \"true\"
  labels:
    app: podinfo
  name: podinfo
  namespace: demo
spec:
  replicas: 1
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
      - image: stefanprodan/podinfo:3.1.0
        name: podinfod
"
    );
}
