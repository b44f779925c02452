//! How fluxctl reports what goes wrong: Flux's API errors as `== Error ==`
//! and their help, 401, other statuses, a job that fails, timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::flux_v1_standin::{Answer, FluxV1Standin};
use crate::fluxctl;

#[test]
fn a_flux_error_prints_its_help() {
    // What fluxd answers for a job it does not know (type missing, 404).
    let body =
        String::from_utf8(fluxd::api::to_go_json(&fluxd::api::ApiError::unknown_job("x")).unwrap())
            .unwrap();
    let fluxd = FluxV1Standin::start(move |r| match r.path.as_str() {
        "/api/flux/v9/update-manifests" => Answer::Json(r#""x""#),
        _ => Answer::ErrorJson(404, body.clone()),
    });
    let run = fluxctl(
        &[
            "--url",
            &fluxd.url,
            "automate",
            "-w",
            "deployment/a",
            "--user=",
        ],
        &[],
    );
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        format!(
            "== Error ==\n\n{}\n",
            fluxd::api::ApiError::unknown_job("x").help
        )
    );
    assert!(
        run.stderr
            .starts_with("== Error ==\n\nJob not found\n\nThis is often because")
    );
}

#[test]
fn cover_all_and_deprecated_errors_print_their_help() {
    let fluxd = FluxV1Standin::start(|r| match r.path.as_str() {
        "/api/flux/v6/services" => Answer::ErrorJson(
            422,
            String::from_utf8(
                fluxd::api::to_go_json(&fluxd::api::ApiError::cover_all(
                    "getting workloads from cluster: forbidden",
                ))
                .unwrap(),
            )
            .unwrap(),
        ),
        _ => Answer::ErrorJson(
            410,
            String::from_utf8(fluxd::api::to_go_json(&fluxd::api::ApiError::deprecated()).unwrap())
                .unwrap(),
        ),
    });
    let run = fluxctl(&["--url", &fluxd.url, "list-workloads"], &[]);
    assert!(run.stderr.starts_with(
        "== Error ==\n\nError: getting workloads from cluster: forbidden\n\nWe don't have a specific help message for the error above."
    ), "{}", run.stderr);
    let run = fluxctl(&["--url", &fluxd.url, "list-images"], &[]);
    assert!(
        run.stderr.starts_with(
            "== Error ==\n\nThe API endpoint requested appears to have been deprecated."
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn unauthorized() {
    let fluxd = FluxV1Standin::start(|_| Answer::ErrorText(401, "no"));
    let run = fluxctl(
        &["--url", &fluxd.url, "--token", "wrong", "list-workloads"],
        &[],
    );
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        "== Error ==\n\nThe request failed authentication\n\nThis most likely means you have a missing or incorrect token. Please\nmake sure you supply a service token, either by setting the\nenvironment variable FLUX_SERVICE_TOKEN, or using the argument --token\nwith fluxctl.\n\n\n"
    );
}

#[test]
fn other_statuses_print_status_and_body() {
    let fluxd = FluxV1Standin::start(|r| match r.path.as_str() {
        "/api/flux/v6/services" => Answer::ErrorText(500, "boom"),
        // Flux's 400 for a bad body: JSON, but not a flux error.
        "/api/flux/v10/images" => Answer::ErrorJson(400, "{}".to_owned()),
        _ => Answer::ErrorJson(502, "not json".to_owned()),
    });
    let run = fluxctl(&["--url", &fluxd.url, "list-workloads"], &[]);
    assert_eq!(
        run.stderr,
        "Error: 500 Internal Server Error boom\nRun 'fluxctl list-workloads --help' for usage.\n"
    );
    let run = fluxctl(&["--url", &fluxd.url, "list-images"], &[]);
    assert_eq!(
        run.stderr,
        "Error: 400 Bad Request {}\nRun 'fluxctl list-images --help' for usage.\n"
    );
    let run = fluxctl(&["--url", &fluxd.url, "identity"], &[]);
    assert!(
        run.stderr
            .starts_with("Error: decoding response body of error: expected ident"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_answer_is_named() {
    let fluxd = FluxV1Standin::start(|_| Answer::Json(r#"[{"ID":"not an id"}]"#));
    let run = fluxctl(&["--url", &fluxd.url, "list-workloads"], &[]);
    assert!(
        run.stderr.starts_with(
            "Error: decoding response from server: parsing not an id: invalid service ID"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn no_server_listening() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/api/flux");
    let run = fluxctl(&["--url", &url, "list-workloads"], &[]);
    assert!(!run.ok);
    assert!(
        run.stderr.starts_with(&format!(
            "Error: executing HTTP request: GET {url}/v6/services?namespace=default: "
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Connection refused") || run.stderr.contains("connection refused"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_request_that_takes_too_long() {
    let fluxd = FluxV1Standin::start(|_| Answer::Hang);
    let run = fluxctl(
        &["--url", &fluxd.url, "--timeout", "1s", "list-workloads"],
        &[],
    );
    assert_eq!(
        run.stderr,
        format!(
            "Error: executing HTTP request: GET {}/v6/services?namespace=default: timed out\nRun 'fluxctl list-workloads --help' for usage.\n",
            fluxd.url
        )
    );
}

#[test]
fn a_job_that_fails() {
    let fluxd = FluxV1Standin::start(|r| match r.path.as_str() {
        "/api/flux/v9/update-manifests" => Answer::Json(r#""job""#),
        _ => Answer::Json(
            r#"{"Result":{"result":{"default:deployment/x":{"Status":"failed","Error":"container(s) not found: app","PerContainer":null}}},"Err":"default:deployment/x failed: container(s) not found: app","StatusString":"failed"}"#,
        ),
    });
    let run = fluxctl(
        &[
            "--url",
            &fluxd.url,
            "release",
            "--workload=deployment/x",
            "-i",
            "app:v2",
            "--user=",
        ],
        &[],
    );
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        "Submitting release ...\nError: default:deployment/x failed: container(s) not found: app\nRun 'fluxctl release --help' for usage.\n"
    );
}

#[test]
fn a_job_that_never_ends() {
    let fluxd = FluxV1Standin::start(|r| match r.path.as_str() {
        "/api/flux/v9/update-manifests" => Answer::Json(r#""job""#),
        _ => Answer::Json(r#"{"Result":{},"Err":"","StatusString":"running"}"#),
    });
    let run = fluxctl(
        &[
            "--url",
            &fluxd.url,
            "--timeout",
            "1s",
            "lock",
            "-w",
            "deployment/x",
            "--user=",
        ],
        &[],
    );
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        format!(
            "{}\nError: timeout\nRun 'fluxctl lock --help' for usage.\n",
            fluxctl::JOB_TIMEOUT_MESSAGE
        )
    );
    // Flux's backoff: 100 ms, 200 ms, 400 ms, then the next wait (800 ms)
    // would end after the second: four polls.
    assert_eq!(fluxd.requests_to("/v6/jobs").len(), 4);
}

#[test]
fn a_commit_that_is_not_applied_in_time_is_not_an_error() {
    let polls = Arc::new(AtomicUsize::new(0));
    let fluxd = FluxV1Standin::start(move |r| match r.path.as_str() {
        "/api/flux/v9/update-manifests" => Answer::Json(r#""job""#),
        "/api/flux/v6/jobs" => {
            polls.fetch_add(1, Ordering::SeqCst);
            Answer::Json(
                r#"{"Result":{"revision":"0123456789abcdef","result":{"default:deployment/x":{"Status":"success","PerContainer":null}}},"Err":"","StatusString":"succeeded"}"#,
            )
        }
        _ => Answer::Json(r#"["0123456789abcdef"]"#),
    });
    let run = fluxctl(
        &[
            "--url",
            &fluxd.url,
            "--timeout",
            "1s",
            "release",
            "--all",
            "-i",
            "app:v2",
            "--user=",
        ],
        &[],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "Submitting release ...\nCommit pushed:\t0123456\n{}\n",
            fluxctl::SYNC_TIMEOUT_MESSAGE
        )
    );
}

#[test]
fn a_sync_job_that_fails() {
    let fluxd = FluxV1Standin::start(|r| match r.path.as_str() {
        "/api/flux/v9/git-repo-config" => Answer::Json(
            r#"{"remote":{"url":"u","branch":"main","path":""},"publicSSHKey":{"key":"","fingerprints":null},"status":"ready","errors":""}"#,
        ),
        "/api/flux/v9/update-manifests" => {
            Answer::Json(r#""8d0f3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6""#)
        }
        _ => Answer::Json(
            r#"{"Result":{},"Err":"fetching: remote hung up","StatusString":"failed"}"#,
        ),
    });
    let run = fluxctl(&["--url", &fluxd.url, "sync"], &[]);
    assert_eq!(
        run.stderr,
        "Synchronizing with u\nFailed to complete sync job (ID \"8d0f3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6\")\nError: fetching: remote hung up\nRun 'fluxctl sync --help' for usage.\n"
    );
}
