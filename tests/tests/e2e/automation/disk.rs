//! A full disk under the state directory (`--daemon-state-dir`: the job
//! queue's `jobs.json` and the registry cache): fluxd runs in a mount
//! namespace of its own where that directory is a small tmpfs, which the
//! test fills to the last byte through `/proc/PID/root`, so writes there
//! fail with a real `ENOSPC` while git and everything else work. fluxd says
//! so, keeps the queue and the cache in memory, never leaves a partial
//! file, and writes both again once space returns.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tests::controlplane::wait_for;
use tests::fluxd::FluxdCommand;

use super::{Setup, TIMEOUT, deployment};

/// A plan of releasing every image to its latest: a job that writes nothing
/// to git, only to the queue.
const PLAN: &str = r#"{"type":"image","cause":{"Message":"","User":""},"spec":{"ServiceSpecs":["<all>"],"ImageSpec":"<all latest>","Kind":"plan","Excludes":null,"Force":false}}"#;

/// Submits [`PLAN`]; its job id.
async fn plan(http: &reqwest::Client, api: &str) -> String {
    let answer = http
        .post(format!("{api}/api/flux/v9/update-manifests"))
        .header("Content-Type", "application/json")
        .body(PLAN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("submitting a plan: {e}"));
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str::<String>(&body).unwrap_or_else(|e| panic!("job id {body:?}: {e}"))
}

/// The state of job `id` as the API tells it.
async fn job_state(http: &reqwest::Client, api: &str, id: &str) -> String {
    let answer = http
        .get(format!("{api}/api/flux/v6/jobs?id={id}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("reading job {id}: {e}"));
    let body = answer.text().await.unwrap_or_default();
    let status: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("job status {body:?}: {e}"));
    status["StatusString"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Fills the filesystem of `file` to the last byte.
fn fill(file: &Path) {
    let mut out =
        std::fs::File::create(file).unwrap_or_else(|e| panic!("creating {}: {e}", file.display()));
    let chunk = vec![0u8; 4096];
    loop {
        match out.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", file.display()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_state_directory_is_said_kept_in_memory_and_written_again() {
    let mut setup = Setup::new("auto-disk").await;
    setup.push("app", "1.0.0", 1);
    let ns = setup.ns.name().to_owned();
    let image = format!("{}:1.0.0", setup.image("app"));
    setup
        .repo
        .write("deploy/app.yaml", &deployment(&ns, "app", &image, &[]))
        .unwrap_or_else(|e| panic!("{e}"));
    setup
        .repo
        .commit_and_push("app")
        .unwrap_or_else(|e| panic!("{e}"));
    let state = setup.state_dir();
    std::fs::create_dir_all(&state).unwrap_or_else(|e| panic!("{e}"));

    let mut fluxd = FluxdCommand::new(env!("CARGO_BIN_EXE_fluxd-e2e"))
        .unwrap_or_else(|e| panic!("{e}"))
        .wrapped([
            "unshare",
            "-m",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            r#"mount -t tmpfs -o size=256k tmpfs "$1" && shift && exec "$@""#,
            "sh",
            state
                .to_str()
                .unwrap_or_else(|| panic!("state dir not UTF-8")),
        ])
        .args(setup.args(&["--automation-interval=2s"]))
        .start(setup.dir.path())
        .unwrap_or_else(|e| panic!("starting fluxd: {e}"));
    let api = fluxd
        .api_url(TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", fluxd.log_text()));
    let pid = fluxd.pid().unwrap_or_else(|| panic!("no fluxd process"));
    // The state directory as fluxd sees it, inside its mount namespace.
    let seen = PathBuf::from(format!("/proc/{pid}/root{}", state.display()));
    let jobs = seen.join("jobs.json");
    let cache = seen.join("registry-cache.json");
    let http = reqwest::Client::new();

    wait_for(TIMEOUT, "the registry cache file", || async {
        std::fs::read_to_string(&cache).is_ok_and(|c| c.contains("team/app"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", fluxd.log_text()));
    let first = plan(&http, &api).await;
    wait_for(TIMEOUT, "the first job in jobs.json", || async {
        std::fs::read_to_string(&jobs).is_ok_and(|j| j.contains(&first))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let jobs_before = std::fs::read(&jobs).unwrap_or_else(|e| panic!("{e}"));
    let cache_before = std::fs::read(&cache).unwrap_or_else(|e| panic!("{e}"));

    // Full: both writes fail and say why; the API still answers from memory.
    fill(&seen.join("filler"));
    let second = plan(&http, &api).await;
    let warned = fluxd
        .wait_for_log(TIMEOUT, "the job queue's write failure", |line| {
            line.is("cannot write the job queue file; the queue is kept in memory and written again at its next change")
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        warned
            .str("error")
            .is_some_and(|e| e.contains("No space left on device")),
        "{warned}"
    );
    assert!(warned.str("path").is_some_and(|p| p.ends_with("jobs.json")));
    assert_eq!(job_state(&http, &api, &second).await, "succeeded");
    setup.push("app", "1.1.0", 2);
    let warned = fluxd
        .wait_for_log(TIMEOUT, "the registry cache's write failure", |line| {
            line.message()
                .starts_with("could not write the registry cache")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", fluxd.log_text()));
    let error = warned.str("error").unwrap_or_default();
    assert!(
        error.contains("No space left on device") && error.contains("registry-cache.json"),
        "{warned}"
    );
    // Neither file was touched, and no partial file is left.
    assert_eq!(
        std::fs::read(&jobs).unwrap_or_else(|e| panic!("{e}")),
        jobs_before
    );
    assert_eq!(
        std::fs::read(&cache).unwrap_or_else(|e| panic!("{e}")),
        cache_before
    );
    assert_eq!(names(&seen), ["filler", "jobs.json", "registry-cache.json"]);

    // Space again: the cache is written at the next poll, the queue at its
    // next change, each with everything kept meanwhile.
    std::fs::remove_file(seen.join("filler")).unwrap_or_else(|e| panic!("{e}"));
    fluxd
        .wait_for_log(TIMEOUT, "the cache written again", |line| {
            line.is("registry cache written again")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", fluxd.log_text()));
    let cache_now = std::fs::read(&cache).unwrap_or_else(|e| panic!("{e}"));
    let cache_now: Value = serde_json::from_slice(&cache_now).unwrap_or_else(|e| panic!("{e}"));
    assert!(cache_now.to_string().contains("1.1.0"), "{cache_now}");
    let third = plan(&http, &api).await;
    fluxd
        .wait_for_log(TIMEOUT, "the queue written again", |line| {
            line.is("job queue file written again")
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let table: Value =
        serde_json::from_slice(&std::fs::read(&jobs).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("jobs.json: {e}"));
    for id in [&first, &second, &third] {
        assert!(
            table.to_string().contains(id.as_str()),
            "{id} not in {table}"
        );
    }
    fluxd
        .check_running()
        .unwrap_or_else(|e| panic!("fluxd exited: {e}"));
    fluxd.stop();
}
