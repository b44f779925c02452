//! The server's routes over a real listener on 127.0.0.1, with a small job
//! queue double (this tier only; the e2e tests run the real daemon).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::api::{Change, JobId, JobStatus, UpdateKind, UpdateSpec};
use crate::contract::{JobQueue, NoObserver, RequestError};
use crate::health::DEFAULT_STUCK_AFTER;

const KNOWN_JOB: &str = "01234567-89ab-cdef-0123-456789abcdef";

#[derive(Default)]
struct Jobs {
    submitted: Mutex<Vec<UpdateSpec>>,
    notified: Mutex<Vec<Change>>,
}

impl JobQueue for Jobs {
    fn submit(&self, spec: UpdateSpec) -> BoxFuture<'_, Result<JobId, RequestError>> {
        Box::pin(async move {
            if let UpdateKind::Policy(updates) = &spec.kind
                && updates.is_empty()
            {
                return Err(RequestError::Invalid("no policy updates".to_owned()));
            }
            self.submitted.lock().unwrap().push(spec);
            Ok(JobId(KNOWN_JOB.to_owned()))
        })
    }

    fn job_status<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<JobStatus, RequestError>> {
        Box::pin(async move {
            if id.as_str() == KNOWN_JOB {
                Ok(JobStatus::default())
            } else {
                Err(RequestError::UnknownJob(id.to_string()))
            }
        })
    }

    fn sync_status<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, RequestError>> {
        Box::pin(async move {
            if reference == "nowhere" {
                Err(RequestError::Unavailable("git is unreachable".to_owned()))
            } else {
                Ok(Vec::new())
            }
        })
    }

    fn notify(&self, change: Change) -> BoxFuture<'_, Result<(), RequestError>> {
        Box::pin(async move {
            self.notified.lock().unwrap().push(change);
            Ok(())
        })
    }
}

struct Server {
    addr: std::net::SocketAddr,
    jobs: Arc<Jobs>,
    health: Arc<Health>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start(configure: impl FnOnce(Api) -> Api) -> Server {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new(metrics.clone(), DEFAULT_STUCK_AFTER));
    let jobs = Arc::new(Jobs::default());
    let api = configure(Api::new(metrics, health.clone()).with_jobs(jobs.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, api.router())
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Server {
        addr,
        jobs,
        health,
        stop: Some(stop),
    }
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One HTTP/1.1 request, as plain as fluxctl's (no Content-Type).
async fn call(server: &Server, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    // A body past the limit may be refused before it is all sent.
    let _ = stream.write_all(body).await;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

const JSON: &str = "Accept: application/json";

async fn get(server: &Server, path: &str) -> Reply {
    call(server, "GET", path, &[JSON], b"").await
}

#[tokio::test]
async fn version_ping_and_flux_answers_to_unknown_paths() {
    let server = start(|api| api).await;
    let version = get(&server, "/api/flux/v11/version").await;
    assert_eq!(version.status, 200);
    assert!(
        version.head.contains("application/json; charset=utf-8"),
        "{}",
        version.head
    );
    assert_eq!(version.json(), env!("CARGO_PKG_VERSION"));
    assert_eq!(get(&server, "/api/flux/v11/ping").await.status, 204);

    let gone = get(&server, "/api/flux/v4/services").await;
    assert_eq!(gone.status, 410);
    assert_eq!(gone.json()["error"], "API endpoint deprecated");
    assert_eq!(gone.json()["type"], "missing");

    for path in [
        "/api/flux/v12/nothing",
        "/api/flux/v6/jobs",
        "/api/flux/v6/sync",
        "/elsewhere",
    ] {
        let missing = get(&server, path).await;
        assert_eq!(missing.status, 404, "{path}");
        assert_eq!(missing.json()["error"], "API endpoint not found", "{path}");
        assert!(
            missing.json()["help"].as_str().unwrap().contains(path),
            "{path}"
        );
    }
    // A wrong method is no route either.
    assert_eq!(
        call(&server, "DELETE", "/api/flux/v6/services", &[JSON], b"")
            .await
            .status,
        404
    );
    // Without Accept, the one-line error; with another Accept, the help.
    let plain = call(&server, "GET", "/api/flux/v12/x", &[], b"").await;
    assert_eq!(plain.body, "API endpoint not found");
    let help = call(
        &server,
        "GET",
        "/api/flux/v12/x",
        &["Accept: text/plain"],
        b"",
    )
    .await;
    assert!(
        help.body
            .starts_with("The API endpoint requested is not supported"),
        "{}",
        help.body
    );
}

#[tokio::test]
async fn job_routes_go_to_the_queue() {
    let server = start(|api| api).await;
    let spec = br#"{"type":"sync","cause":{"Message":"","User":"me"},"spec":{}}"#;
    let submitted = call(
        &server,
        "POST",
        "/api/flux/v9/update-manifests",
        &[JSON],
        spec,
    )
    .await;
    assert_eq!(submitted.status, 200, "{}", submitted.body);
    assert_eq!(submitted.json(), KNOWN_JOB);
    assert_eq!(server.jobs.submitted.lock().unwrap()[0].cause.user, "me");

    let status = get(&server, &format!("/api/flux/v6/jobs?id={KNOWN_JOB}")).await;
    assert_eq!(
        status.body,
        r#"{"Result":{},"Err":"","StatusString":"queued"}"#
    );
    let unknown = get(&server, "/api/flux/v6/jobs?id=nope").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "unknown job \"nope\"");
    assert!(
        unknown.json()["help"]
            .as_str()
            .unwrap()
            .starts_with("Job not found")
    );

    assert_eq!(get(&server, "/api/flux/v6/sync?ref=main").await.body, "[]");
    let unavailable = get(&server, "/api/flux/v6/sync?ref=nowhere").await;
    assert_eq!(
        (unavailable.status, unavailable.json()["type"].as_str()),
        (500, Some("server"))
    );

    let notify = br#"{"Kind":"git","Source":{"URL":"ssh://git@host/repo","Branch":"main"}}"#;
    assert_eq!(
        call(&server, "POST", "/api/flux/v11/notify", &[JSON], notify)
            .await
            .status,
        202
    );
    assert_eq!(server.jobs.notified.lock().unwrap().len(), 1);

    let policies = br#"{"default:deployment/app":{"add":{"locked":"true"}}}"#;
    let patched = call(
        &server,
        "PATCH",
        "/api/flux/v6/policies?user=me&message=hold",
        &[JSON],
        policies,
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let refused = call(&server, "PATCH", "/api/flux/v6/policies", &[JSON], b"{}").await;
    assert_eq!(
        (refused.status, refused.json()["type"].as_str()),
        (422, Some("user"))
    );

    let release = call(
        &server,
        "POST",
        "/api/flux/v6/update-images?service=default:deployment/app&image=org/app:1.2&kind=execute&exclude=default:deployment/other",
        &[JSON],
        b"",
    )
    .await;
    assert_eq!(release.status, 200, "{}", release.body);
    let last = server
        .jobs
        .submitted
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    let UpdateKind::Image(image) = last.kind else {
        panic!("{last:?}")
    };
    assert_eq!(image.image_spec.to_string(), "org/app:1.2");
    assert_eq!(image.excludes.len(), 1);
}

#[tokio::test]
async fn bad_requests_name_what_is_wrong() {
    let server = start(|api| api).await;
    let bad = call(
        &server,
        "POST",
        "/api/flux/v9/update-manifests",
        &[JSON],
        b"{\"type\":",
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("the request body is not an update spec"),
        "{}",
        bad.body
    );
    let unknown = call(
        &server,
        "POST",
        "/api/flux/v9/update-manifests",
        &[JSON],
        br#"{"type":"dance","cause":{},"spec":{}}"#,
    )
    .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);

    let big = vec![b' '; MAX_BODY + 1];
    let oversized = call(
        &server,
        "POST",
        "/api/flux/v9/update-manifests",
        &[JSON],
        &big,
    )
    .await;
    assert_eq!(oversized.status, 413, "{}", oversized.body);

    let release = call(
        &server,
        "POST",
        "/api/flux/v6/update-images?service=nonsense&image=a:1&kind=execute",
        &[JSON],
        b"",
    )
    .await;
    assert_eq!(release.status, 400);
    assert!(
        release.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("query parameter service=\"nonsense\""),
        "{}",
        release.body
    );
    let kind = call(
        &server,
        "POST",
        "/api/flux/v6/update-images?service=%3Call%3E&image=a:1&kind=later",
        &[JSON],
        b"",
    )
    .await;
    assert_eq!(kind.status, 400, "{}", kind.body);
    let tagless = call(
        &server,
        "POST",
        "/api/flux/v6/update-images?service=%3Call%3E&image=a&kind=plan",
        &[JSON],
        b"",
    )
    .await;
    assert!(
        tagless.json()["error"]
            .as_str()
            .unwrap()
            .contains("blank tag"),
        "{}",
        tagless.body
    );

    let both = get(
        &server,
        "/api/flux/v11/services?namespace=a&services=a:deployment/b",
    )
    .await;
    assert_eq!(both.status, 400);
    assert_eq!(
        both.json()["error"],
        "cannot filter by 'namespace' and 'workloads' at the same time"
    );
    let field = get(&server, "/api/flux/v10/images?containerFields=Name,Colour").await;
    assert_eq!(field.json()["error"], "Colour is an invalid field");
    let not_bool = call(
        &server,
        "POST",
        "/api/flux/v9/git-repo-config",
        &[JSON],
        b"\"yes\"",
    )
    .await;
    assert_eq!(not_bool.status, 400);
    let notify = call(
        &server,
        "POST",
        "/api/flux/v11/notify",
        &[JSON],
        br#"{"Kind":"weather"}"#,
    )
    .await;
    assert_eq!(notify.status, 400);
    assert!(
        notify.json()["error"]
            .as_str()
            .unwrap()
            .contains("unknown kind of change"),
        "{}",
        notify.body
    );
}

#[tokio::test]
async fn without_a_queue_job_routes_are_a_server_error() {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new(Arc::new(NoObserver), DEFAULT_STUCK_AFTER));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let api = Api::new(metrics, health.clone());
    tokio::spawn(async move { axum::serve(listener, api.router()).await });
    let server = Server {
        addr,
        jobs: Arc::default(),
        health,
        stop: None,
    };
    let answer = get(&server, "/api/flux/v6/jobs?id=x").await;
    assert_eq!(answer.status, 500);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("jobs are not available: ")
    );
    // No cluster: empty listings, no images.
    assert_eq!(get(&server, "/api/flux/v6/services").await.body, "[]");
    assert_eq!(get(&server, "/api/flux/v10/images").await.body, "[]");
    let config = call(
        &server,
        "POST",
        "/api/flux/v9/git-repo-config",
        &[JSON],
        b"false",
    )
    .await;
    assert_eq!(
        config.body,
        r#"{"remote":{"url":"","branch":"","path":""},"publicSSHKey":{"key":"","fingerprints":null},"status":"new","errors":""}"#
    );
    let regenerate = call(&server, "POST", "/api/flux/v6/identity.pub", &[JSON], b"").await;
    assert_eq!(regenerate.status, 422);
}

#[tokio::test]
async fn a_token_guards_every_route_but_the_probes() {
    let server = start(|api| api.with_token(Some("s3cret".to_owned()))).await;
    let refused = get(&server, "/api/flux/v6/services").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"], "request failed authentication");
    let wrong = call(
        &server,
        "GET",
        "/api/flux/v6/services",
        &[JSON, "Authorization: Bearer nope"],
        b"",
    )
    .await;
    assert_eq!(wrong.status, 401);
    for header in [
        "Authorization: Bearer s3cret",
        "Authorization: Scope-Probe token=s3cret",
    ] {
        assert_eq!(
            call(
                &server,
                "GET",
                "/api/flux/v6/services",
                &[JSON, header],
                b""
            )
            .await
            .status,
            200,
            "{header}"
        );
    }
    assert_eq!(get(&server, "/api/flux/v6/identity.pub").await.status, 200);
    assert_eq!(get(&server, "/healthz").await.status, 200);
    assert_eq!(get(&server, "/readyz").await.status, 503);
}

#[tokio::test]
async fn probes_and_request_metrics() {
    let server = start(|api| api).await;
    let ready = get(&server, "/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body, "the repository is not cloned yet\n");
    server.health.cloned();
    server
        .health
        .sync_finished(Duration::from_millis(5), None, 3, 0);
    assert_eq!(get(&server, "/readyz").await.status, 200);
    assert_eq!(get(&server, "/healthz").await.body, "OK\n");

    get(&server, "/api/flux/v6/services").await;
    get(&server, "/api/flux/v3/services").await;
    let metrics = get(&server, "/metrics").await;
    assert_eq!(metrics.status, 200);
    for line in [
        "flux_request_duration_seconds_count{method=\"GET\",route=\"ListServices\",status_code=\"200\"} 1",
        "flux_request_duration_seconds_count{method=\"GET\",route=\"Deprecated\",status_code=\"410\"} 1",
        "flux_daemon_sync_manifests{success=\"true\"} 3",
        "flux_git_ready 1",
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "{line} not in\n{}",
            metrics.body
        );
    }
    // With --listen-metrics, /metrics is not on the API's port.
    let elsewhere = start(|api| api.serving_metrics(false)).await;
    assert_eq!(get(&elsewhere, "/metrics").await.status, 404);
}
