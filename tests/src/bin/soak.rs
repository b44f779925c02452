//! The soak run of issue 15: fluxd and the Helm operator against the real
//! control plane, git over ssh and a real registry for a given time, under
//! load, with their memory and open files sampled.
//!
//! `tests/scripts/soak.sh MINUTES [ARGS]` builds fluxd and this driver and
//! runs it; `soak --help` lists the settings. In the default `load` mode:
//! a commit every 10 s (a marker ConfigMap's counter, a ConfigMap added and
//! an older one removed so garbage collection has work, and every sixth
//! commit a HelmRelease's values), a new image tag every 30 s for an
//! automated Deployment, 20 API clients polling `v6/services`, `v10/images`
//! and `v6/jobs`, and `fluxd helm-operator` releasing the HelmRelease. The
//! `idle` mode runs fluxd alone on a small repository and changes nothing.
//! `--objects N` adds N ConfigMaps to the repository (100 per file).
//!
//! Every sample (each minute) reads `/proc/PID/status` (VmRSS, and RssAnon:
//! the heap and stacks, without the binary's code pages) and counts
//! `/proc/PID/fd` of each process. At the end it checks that every commit
//! was applied (the marker's counter reached the cluster, and the sync tag
//! reached the head), that every automation commit is correct (it moved
//! the image forward, to a tag pushed by then, touching nothing else, and
//! the image in git ends at the newest tag), that garbage collection
//! removed what left git, and that the HelmRelease has the last values;
//! then prints the samples and a summary. The exit status is 1 when a check
//! fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::ListParams;
use tests::controlplane::ControlPlane;
use tests::fluxd::{Daemon, FluxdCommand};
use tests::git::GitFixture;
use tests::helm::ChartRepository;
use tests::registry::{BulkPusher, DockerRegistry};
use tests::sshd::Sshd;

/// Creation time of tag `t000`; tag `tN` is N seconds later, so the newest
/// tag is always the highest number.
const TAG_EPOCH: i64 = 1_750_000_000;
/// ConfigMaps added for garbage collection that stay in git at a time.
const GC_KEPT: u64 = 3;
/// ConfigMaps per generated file in `--objects` mode.
const OBJECTS_PER_FILE: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Commits, tags, API clients and the Helm operator.
    Load,
    /// fluxd alone on a small repository; nothing changes.
    Idle,
}

/// The soak run: fluxd (and the Helm operator) under load, sampled.
#[derive(Debug, Parser)]
#[command(name = "soak")]
struct Args {
    /// Minutes to run once everything is set up and first synced.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// The fluxd binary (the release build is what users run).
    #[arg(long)]
    fluxd: PathBuf,
    /// What to do meanwhile.
    #[arg(long, value_enum, default_value = "load")]
    mode: Mode,
    /// ConfigMaps generated in the repository besides the rest.
    #[arg(long, default_value_t = 0)]
    objects: usize,
    /// API clients polling fluxd (load mode).
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Seconds between commits (load mode).
    #[arg(long, default_value_t = 10)]
    commit_every: u64,
    /// Seconds between new image tags (load mode).
    #[arg(long, default_value_t = 30)]
    tag_every: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 60)]
    sample_every: u64,
    /// Minutes counted as warm-up in the summary (default: a sixth of the
    /// run, at least one sample).
    #[arg(long)]
    warmup: Option<f64>,
    /// Run the Helm operator in load mode (`--operator=false` to leave it out).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    operator: bool,
    /// Keep the working directory (logs, repository) instead of removing it.
    #[arg(long)]
    keep: bool,
    /// An environment variable for fluxd and the operator (`KEY=VALUE`,
    /// repeatable), e.g. `MALLOC_ARENA_MAX=2` to compare allocators' settings.
    #[arg(long, value_name = "KEY=VALUE")]
    fluxd_env: Vec<String>,
}

/// `command` with the `--fluxd-env` variables.
fn with_env(mut command: FluxdCommand, env: &[String]) -> Result<FluxdCommand> {
    for pair in env {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--fluxd-env {pair:?} is not KEY=VALUE"))?;
        command = command.env(key, value);
    }
    Ok(command)
}

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,kube_client::client::builder=off")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("soak: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::from(2)
        }
    }
}

fn say(text: impl std::fmt::Display) {
    println!("[soak {}] {text}", chrono_now());
}

/// `HH:MM:SS` UTC now.
fn chrono_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default)]
struct Reading {
    rss_kib: u64,
    /// RssAnon: heap and stacks, without file-backed pages (the binary).
    anon_kib: u64,
    fds: usize,
}

/// VmRSS, RssAnon and open file descriptors of `pid`; `None` if it is gone.
fn read_process(pid: u32) -> Option<Reading> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    let rss_kib = field("VmRSS:")?;
    let anon_kib = field("RssAnon:").unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some(Reading {
        rss_kib,
        anon_kib,
        fds,
    })
}

/// One row of the table.
#[derive(Clone, Debug)]
struct Sample {
    minute: f64,
    fluxd: Option<Reading>,
    operator: Option<Reading>,
    commits: u64,
    applied: u64,
    tags: u64,
    automation_commits: usize,
    api_ok: u64,
    api_errors: u64,
}

/// What the load tasks count.
#[derive(Debug, Default)]
struct Counters {
    /// Commits pushed by the driver: counter value -> when pushed.
    pushed: Mutex<BTreeMap<u64, Instant>>,
    /// Counter value -> how long until the cluster had it.
    applied: Mutex<BTreeMap<u64, Duration>>,
    /// Tags pushed: index -> when.
    tags: Mutex<BTreeMap<u64, Instant>>,
    api_ok: AtomicU64,
    api_errors: AtomicU64,
    /// The first few API errors, for the report.
    api_error_texts: Mutex<Vec<String>>,
    /// Commit pushes that had to be retried (fluxd pushed meanwhile).
    push_retries: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn marker(namespace: &str, n: u64) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: soak-marker\n  namespace: {namespace}\ndata:\n  n: \"{n}\"\n"
    )
}

fn gc_config_map(namespace: &str, n: u64) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: soak-gc-{n}\n  namespace: {namespace}\n  labels:\n    soak: gc\ndata:\n  n: \"{n}\"\n"
    )
}

fn app(namespace: &str, image: &str) -> String {
    tests::workloads::deployment(namespace, "app", image, &["fluxcd.io/automated: \"true\""])
}

fn helm_release(namespace: &str, repository: &str, n: u64) -> String {
    format!(
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: hello\n  namespace: {namespace}\nspec:\n  releaseName: hello\n  chart:\n    repository: {repository}\n    name: hello\n    version: 1.0.0\n  values:\n    data:\n      counter: \"{n}\"\n"
    )
}

/// File `i` of the generated objects: `OBJECTS_PER_FILE` small ConfigMaps.
fn objects_file(namespace: &str, file: usize, count: usize) -> String {
    let mut text = String::new();
    for j in 0..count {
        let n = file * OBJECTS_PER_FILE + j;
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: soak-object-{n:05}\n  namespace: {namespace}\n  labels:\n    soak: object\ndata:\n  index: \"{n}\"\n  text: \"generated object {n} of the soak run\"\n"
        ));
    }
    text
}

fn tag(index: u64) -> String {
    format!("t{index:03}")
}

/// The index of a generated tag (`t012` -> 12).
fn tag_index(tag: &str) -> Option<u64> {
    tag.strip_prefix('t')?.parse().ok()
}

/// The tag of the app's image in a manifest.
fn image_tag_in(manifest: &str, repository: &str) -> Option<String> {
    let start = manifest.find(&format!("{repository}:"))? + repository.len() + 1;
    let rest = &manifest[start..];
    let end = rest
        .find(|c: char| c == '"' || c.is_whitespace())
        .unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// Dropped in this order: the namespace goes while the cluster still runs.
struct Scene {
    namespace: tests::controlplane::TestNamespace,
    cluster: ControlPlane,
    _work: tempfile::TempDir,
    work: PathBuf,
    sshd: Sshd,
    repo: GitFixture,
    registry: DockerRegistry,
    charts: Option<ChartRepository>,
}

async fn set_up(args: &Args) -> Result<Scene> {
    let started = Instant::now();
    let work_dir = tempfile::Builder::new()
        .prefix("fluxd-soak-")
        .tempdir()
        .map_err(|e| format!("creating the work dir: {e}"))?;
    let work = work_dir.path().to_owned();
    let cluster = ControlPlane::private()
        .await
        .map_err(|e| format!("starting the control plane: {e}"))?;
    let namespace = cluster
        .namespace("soak")
        .await
        .map_err(|e| format!("creating the namespace: {e}"))?;
    let sshd = Sshd::start().map_err(|e| format!("starting sshd: {e}"))?;
    std::fs::create_dir_all(work.join("repo")).map_err(|e| e.to_string())?;
    let repo = GitFixture::new(&work.join("repo"), "main").map_err(|e| e.to_string())?;
    std::fs::write(
        work.join("key"),
        sshd.client_key().map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        work.join("known_hosts"),
        sshd.known_hosts_line().map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let registry = DockerRegistry::start().map_err(|e| format!("starting the registry: {e}"))?;
    let charts = if args.mode == Mode::Load && args.operator {
        tests::helm::operator::install_crds(&cluster)
            .await
            .map_err(|e| format!("installing the HelmRelease CRDs: {e}"))?;
        let helm = tests::tools::helm().map_err(|e| e.to_string())?;
        let chart = tests::helm::configmap_chart(&work.join("chart"), "hello", "1.0.0")
            .map_err(|e| e.to_string())?;
        tests::helm::package_into_repo(&helm, &chart, &work.join("charts"))
            .map_err(|e| e.to_string())?;
        Some(
            ChartRepository::start(work.join("charts"), None)
                .await
                .map_err(|e| format!("starting the chart repository: {e}"))?,
        )
    } else {
        None
    };
    say(format_args!(
        "set up in {:.1} s: control plane {}, namespace {}, registry {}",
        started.elapsed().as_secs_f64(),
        cluster.url(),
        namespace.name(),
        registry.host()
    ));
    Ok(Scene {
        _work: work_dir,
        work,
        cluster,
        namespace,
        sshd,
        repo,
        registry,
        charts,
    })
}

/// The repository's first commit: the marker, the app, the HelmRelease
/// and the generated objects.
fn first_commit(args: &Args, scene: &Scene, image_repository: &str) -> Result<String> {
    let ns = scene.namespace.name();
    let repo = &scene.repo;
    repo.write("deploy/marker.yaml", &marker(ns, 0))
        .map_err(|e| e.to_string())?;
    repo.write(
        "deploy/app.yaml",
        &app(ns, &format!("{image_repository}:{}", tag(0))),
    )
    .map_err(|e| e.to_string())?;
    if let Some(charts) = &scene.charts {
        repo.write("deploy/release.yaml", &helm_release(ns, &charts.url(), 0))
            .map_err(|e| e.to_string())?;
    }
    let files = args.objects.div_ceil(OBJECTS_PER_FILE);
    for file in 0..files {
        let count = OBJECTS_PER_FILE.min(args.objects - file * OBJECTS_PER_FILE);
        repo.write(
            &format!("deploy/objects/part-{file:03}.yaml"),
            &objects_file(ns, file, count),
        )
        .map_err(|e| e.to_string())?;
    }
    repo.commit_and_push("soak: first commit")
        .map_err(|e| e.to_string())
}

fn fluxd_command(binary: &Path, scene: &Scene) -> Result<FluxdCommand> {
    let path = |p: &Path| p.display().to_string();
    let flags: Vec<String> = vec![
        format!("--git-url={}", scene.sshd.url(scene.repo.bare_path())),
        "--git-branch=main".into(),
        format!("--git-ssh-key={}", path(&scene.work.join("key"))),
        format!(
            "--git-known-hosts={}",
            path(&scene.work.join("known_hosts"))
        ),
        format!("--kubeconfig={}", path(scene.cluster.kubeconfig_path())),
        format!("--k8s-allow-namespace={}", scene.namespace.name()),
        format!("--git-mirror-dir={}", path(&scene.work.join("mirror"))),
        format!("--daemon-state-dir={}", path(&scene.work.join("state"))),
        format!("--registry-insecure-host={}", scene.registry.host()),
        "--sync-garbage-collection".into(),
        "--git-poll-interval=2s".into(),
        "--sync-interval=1m".into(),
        "--automation-interval=10s".into(),
    ];
    Ok(FluxdCommand::new(binary)
        .map_err(|e| e.to_string())?
        .args(flags))
}

fn operator_command(args: &Args, scene: &Scene) -> Result<FluxdCommand> {
    let helm = tests::tools::helm().map_err(|e| e.to_string())?;
    Ok(FluxdCommand::new(&args.fluxd)
        .map_err(|e| e.to_string())?
        .arg("helm-operator")
        .arg("--kubeconfig")
        .arg(scene.cluster.kubeconfig_path())
        .args(["--allow-namespace", scene.namespace.name()])
        .arg("--helm-binary")
        .arg(helm)
        .arg("--state-dir")
        .arg(scene.work.join("operator-state"))
        .args(["--charts-sync-interval", "30s", "--allow-internal-urls"]))
}

/// The counter of the marker ConfigMap in the cluster.
async fn marker_in_cluster(api: &Api<ConfigMap>) -> Option<u64> {
    let cm = api.get_opt("soak-marker").await.ok()??;
    cm.data?.get("n")?.parse().ok()
}

/// Commits every `every` until `stop`: marker `n`, ConfigMap `soak-gc-n`
/// added and `soak-gc-(n-GC_KEPT)` removed, the HelmRelease's values every
/// sixth commit. On a thread: git is blocking.
fn committer(
    repo: GitFixture,
    namespace: String,
    charts_url: Option<String>,
    every: Duration,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    failures: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<GitFixture> {
    std::thread::spawn(move || {
        let mut n = 0u64;
        let mut next = Instant::now() + every;
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now < next {
                std::thread::sleep((next - now).min(Duration::from_millis(200)));
                continue;
            }
            next += every;
            n += 1;
            let result = (|| -> Result<()> {
                repo.git(["pull", "--quiet", "--rebase", "origin", "main"])
                    .map_err(|e| e.to_string())?;
                repo.write("deploy/marker.yaml", &marker(&namespace, n))
                    .map_err(|e| e.to_string())?;
                repo.write(
                    &format!("deploy/gc/soak-gc-{n}.yaml"),
                    &gc_config_map(&namespace, n),
                )
                .map_err(|e| e.to_string())?;
                if n > GC_KEPT {
                    let _ = repo.remove(&format!("deploy/gc/soak-gc-{}.yaml", n - GC_KEPT));
                }
                if let Some(url) = &charts_url
                    && n.is_multiple_of(6)
                {
                    repo.write("deploy/release.yaml", &helm_release(&namespace, url, n))
                        .map_err(|e| e.to_string())?;
                }
                repo.commit(&format!("soak: marker {n}"))
                    .map_err(|e| e.to_string())?;
                for attempt in 0.. {
                    match repo.push() {
                        Ok(()) => break,
                        Err(e) if attempt < 5 => {
                            counters.push_retries.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(error = %e, "push rejected; rebasing");
                            repo.git(["pull", "--quiet", "--rebase", "origin", "main"])
                                .map_err(|e| e.to_string())?;
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
                lock(&counters.pushed).insert(n, Instant::now());
                Ok(())
            })();
            if let Err(e) = result {
                lock(&failures).push(format!("commit {n}: {e}"));
                n -= 1;
                let _ = repo.git(["reset", "--quiet", "--hard", "origin/main"]);
            }
        }
        repo
    })
}

/// The HTTP API's routes the clients poll, in turn.
fn api_paths(job: &str) -> [String; 3] {
    [
        "/api/flux/v6/services".to_owned(),
        "/api/flux/v10/images?service=%3Call%3E".to_owned(),
        format!("/api/flux/v6/jobs?id={job}"),
    ]
}

async fn api_client(
    base: String,
    job: String,
    client_index: usize,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let paths = api_paths(&job);
    let mut i = client_index;
    // Spread the clients over the second.
    tokio::time::sleep(Duration::from_millis(50 * client_index as u64)).await;
    while !stop.load(Ordering::SeqCst) {
        let path = &paths[i % paths.len()];
        i += 1;
        let outcome = match http.get(format!("{base}{path}")).send().await {
            Ok(answer) if answer.status().is_success() => {
                answer.bytes().await.map(drop).map_err(|e| e.to_string())
            }
            Ok(answer) => Err(format!("{path}: {}", answer.status())),
            Err(e) => Err(format!("{path}: {e}")),
        };
        match outcome {
            Ok(()) => {
                counters.api_ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                counters.api_errors.fetch_add(1, Ordering::Relaxed);
                let mut texts = lock(&counters.api_error_texts);
                if texts.len() < 5 {
                    texts.push(e);
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Submits a plan job (it writes nothing) for the clients to poll.
async fn plan_job(base: &str) -> Result<String> {
    const PLAN: &str = r#"{"type":"image","cause":{"Message":"","User":"soak"},"spec":{"ServiceSpecs":["<all>"],"ImageSpec":"<all latest>","Kind":"plan","Excludes":null,"Force":false}}"#;
    let answer = reqwest::Client::new()
        .post(format!("{base}/api/flux/v9/update-manifests"))
        .header("Content-Type", "application/json")
        .body(PLAN)
        .send()
        .await
        .map_err(|e| format!("submitting a plan job: {e}"))?;
    let body = answer.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str::<String>(&body).map_err(|e| format!("plan job answer {body:?}: {e}"))
}

/// Automation commits (committer `Weave Flux`) on the origin's branch,
/// oldest first: (revision, commit time in seconds).
fn automation_commits(repo: &GitFixture) -> Result<Vec<(String, u64)>> {
    let log = repo
        .git_bare(["log", "--reverse", "--format=%H %ct %cn", "main"])
        .map_err(|e| e.to_string())?;
    Ok(log
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let revision = parts.next()?.to_owned();
            let time = parts.next()?.parse().ok()?;
            (parts.next()? == "Weave Flux").then_some((revision, time))
        })
        .collect())
}

/// Checks every automation commit: it changes only `deploy/app.yaml`, to
/// a tag newer than its parent's, pushed before the commit. Problems, one
/// line each.
fn check_automation(
    repo: &GitFixture,
    image_repository: &str,
    tags_pushed: &BTreeMap<u64, u64>,
) -> Result<(usize, Vec<String>)> {
    let commits = automation_commits(repo)?;
    let mut problems = Vec::new();
    for (revision, time) in &commits {
        let short = &revision[..revision.len().min(10)];
        let files = repo
            .git_bare(["diff", "--name-only", &format!("{revision}^"), revision])
            .map_err(|e| e.to_string())?;
        if files.trim() != "deploy/app.yaml" {
            problems.push(format!(
                "{short} changed {files:?}, not only deploy/app.yaml"
            ));
        }
        let show = |rev: &str| {
            repo.git_bare(["show", &format!("{rev}:deploy/app.yaml")])
                .ok()
                .and_then(|m| image_tag_in(&m, image_repository))
                .and_then(|t| tag_index(&t))
        };
        let (Some(before), Some(after)) = (show(&format!("{revision}^")), show(revision)) else {
            problems.push(format!(
                "{short}: no image tag of {image_repository} before or after"
            ));
            continue;
        };
        if after <= before {
            problems.push(format!(
                "{short}: {} -> {}, not forward",
                tag(before),
                tag(after)
            ));
        }
        match tags_pushed.get(&after) {
            // Commit times are whole seconds.
            Some(pushed) if *pushed <= time + 1 => {}
            Some(pushed) => problems.push(format!(
                "{short}: {} committed at {time}, before it was pushed at {pushed}",
                tag(after)
            )),
            None => problems.push(format!("{short}: {} was never pushed", tag(after))),
        }
    }
    Ok((commits.len(), problems))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn run(args: Args) -> Result<bool> {
    if !args.fluxd.exists() {
        return Err(format!("no fluxd binary at {}", args.fluxd.display()));
    }
    let load = args.mode == Mode::Load;
    let scene = set_up(&args).await?;
    let ns = scene.namespace.name().to_owned();
    let image_repository = format!("{}/team/app", scene.registry.host());
    let pusher = BulkPusher::new(&scene.registry.url(), None);
    pusher
        .push_generated_tag("team/app", 0, TAG_EPOCH)
        .await
        .map_err(|e| format!("pushing {}: {e}", tag(0)))?;
    let tags_pushed_at: Arc<Mutex<BTreeMap<u64, u64>>> =
        Arc::new(Mutex::new(BTreeMap::from([(0, unix_now())])));
    let started = Instant::now();
    let first = first_commit(&args, &scene, &image_repository)?;
    say(format_args!(
        "first commit {} with {} generated objects",
        &first[..10],
        args.objects
    ));

    let mut fluxd = with_env(fluxd_command(&args.fluxd, &scene)?, &args.fluxd_env)?
        .start(&scene.work)
        .map_err(|e| format!("starting fluxd: {e}"))?;
    let api = fluxd
        .api_url(Duration::from_secs(120))
        .map_err(|e| format!("fluxd's API: {e}"))?;
    let fluxd_pid = fluxd.pid().ok_or("fluxd is not running")?;
    let client = scene.cluster.client().map_err(|e| e.to_string())?;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let sync_wait = Duration::from_secs(600 + args.objects as u64 / 5);
    let deadline = Instant::now() + sync_wait;
    loop {
        let tag_at = scene
            .repo
            .origin_ref("refs/tags/flux-sync")
            .map_err(|e| e.to_string())?;
        if marker_in_cluster(&config_maps).await == Some(0) && tag_at.is_some() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the first sync did not finish in {sync_wait:?}\n{}",
                tail(&fluxd.log_text(), 4000)
            ));
        }
        fluxd.check_running().map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    say(format_args!(
        "first sync applied {:.1} s after the first commit (fluxd pid {fluxd_pid}, API {api})",
        started.elapsed().as_secs_f64()
    ));
    let mut operator: Option<Daemon> = None;
    if load && let Some(_charts) = &scene.charts {
        let dir = scene.work.join("operator");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let daemon = with_env(operator_command(&args, &scene)?, &args.fluxd_env)?
            .start(&dir)
            .map_err(|e| format!("starting the operator: {e}"))?;
        operator = Some(daemon);
    }
    let operator_pid = match &mut operator {
        Some(op) => Some(
            op.wait_for_log(
                Duration::from_secs(120),
                "the operator's listener",
                |line| line.message().starts_with("serving /metrics"),
            )
            .map(|_| op.pid())
            .map_err(|e| format!("the operator: {e}"))?
            .ok_or("the operator is not running")?,
        ),
        None => None,
    };

    // The load.
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    let mut committer_thread = None;
    let run_started = Instant::now();
    let mut repo_back = None;
    let repo = scene.repo;
    if load {
        let job = plan_job(&api).await?;
        committer_thread = Some(committer(
            repo,
            ns.clone(),
            scene.charts.as_ref().map(ChartRepository::url),
            Duration::from_secs(args.commit_every),
            stop.clone(),
            counters.clone(),
            failures.clone(),
        ));
        for i in 0..args.clients {
            tasks.push(tokio::spawn(api_client(
                api.clone(),
                job.clone(),
                i,
                stop.clone(),
                counters.clone(),
            )));
        }
        let (stop_tags, counters_tags, tags_at) =
            (stop.clone(), counters.clone(), tags_pushed_at.clone());
        let failures_tags = failures.clone();
        let every = Duration::from_secs(args.tag_every);
        tasks.push(tokio::spawn(async move {
            let mut index = 0u64;
            let mut next = tokio::time::Instant::now() + every;
            while !stop_tags.load(Ordering::SeqCst) {
                if tokio::time::Instant::now() < next {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                next += every;
                index += 1;
                match pusher
                    .push_generated_tag("team/app", index as usize, TAG_EPOCH)
                    .await
                {
                    Ok(_) => {
                        lock(&tags_at).insert(index, unix_now());
                        lock(&counters_tags.tags).insert(index, Instant::now());
                    }
                    Err(e) => lock(&failures_tags).push(format!("tag {}: {e}", tag(index))),
                }
            }
        }));
    } else {
        repo_back = Some(repo);
    }
    // The watcher: when each commit's counter reached the cluster.
    {
        let (stop_w, counters_w, api_w) = (stop.clone(), counters.clone(), config_maps.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                if let Some(n) = marker_in_cluster(&api_w).await {
                    let pushed = lock(&counters_w.pushed).clone();
                    let mut applied = lock(&counters_w.applied);
                    for (k, at) in pushed.range(..=n) {
                        applied.entry(*k).or_insert_with(|| at.elapsed());
                    }
                }
                if stop_w.load(Ordering::SeqCst) {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }

    // Samples until the time is up.
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let every = Duration::from_secs(args.sample_every);
    let mut samples = Vec::new();
    let mut next_sample = run_started;
    // The automation commits are counted on the origin: the committer
    // thread holds the working clone.
    let origin_view = GitView::new(&scene.work.join("repo").join("origin.git"));
    let take = |counters: &Counters, minute: f64| Sample {
        minute,
        fluxd: read_process(fluxd_pid),
        operator: operator_pid.and_then(read_process),
        commits: lock(&counters.pushed).len() as u64,
        applied: lock(&counters.applied).len() as u64,
        tags: lock(&counters.tags).len() as u64,
        automation_commits: origin_view.automation_commits(),
        api_ok: counters.api_ok.load(Ordering::Relaxed),
        api_errors: counters.api_errors.load(Ordering::Relaxed),
    };
    loop {
        let now = Instant::now();
        if now >= next_sample {
            let minute = run_started.elapsed().as_secs_f64() / 60.0;
            let sample = take(&counters, minute);
            say(row(&sample));
            samples.push(sample);
            next_sample += every;
        }
        if run_started.elapsed() >= total {
            break;
        }
        if let Err(e) = fluxd.check_running() {
            lock(&failures).push(format!("fluxd exited: {e}"));
            break;
        }
        if let Some(op) = &mut operator
            && let Err(e) = op.check_running()
        {
            lock(&failures).push(format!("the operator exited: {e}"));
            break;
        }
        let until_sample = next_sample.saturating_duration_since(Instant::now());
        tokio::time::sleep(
            until_sample.clamp(Duration::from_millis(10), Duration::from_millis(500)),
        )
        .await;
    }
    let end_sample = take(&counters, run_started.elapsed().as_secs_f64() / 60.0);
    stop.store(true, Ordering::SeqCst);
    let repo = match committer_thread {
        Some(thread) => thread.join().map_err(|_| "the committer panicked")?,
        None => repo_back.ok_or("no repository")?,
    };
    for task in tasks {
        task.abort();
    }
    say("load stopped; waiting for the last commit and the newest tag to land");

    // Settle: the last commit applied, the sync tag at the head, the app at
    // the newest tag.
    let newest = lock(&tags_pushed_at).keys().max().copied().unwrap_or(0);
    let last_commit = lock(&counters.pushed).keys().max().copied().unwrap_or(0);
    let settle_deadline = Instant::now() + Duration::from_secs(300);
    let mut settled = false;
    while Instant::now() < settle_deadline {
        let head = repo
            .origin_ref("refs/heads/main")
            .map_err(|e| e.to_string())?;
        let synced = repo
            .origin_ref("refs/tags/flux-sync")
            .map_err(|e| e.to_string())?;
        let image = repo
            .git_bare(["show", "main:deploy/app.yaml"])
            .ok()
            .and_then(|m| image_tag_in(&m, &image_repository));
        let counter = marker_in_cluster(&config_maps).await.unwrap_or(0);
        if head.is_some()
            && head == synced
            && counter >= last_commit
            && (!load || image.as_deref() == Some(tag(newest).as_str()))
        {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    {
        // The watcher has stopped: a last look.
        if let Some(n) = marker_in_cluster(&config_maps).await {
            let pushed = lock(&counters.pushed).clone();
            let mut applied = lock(&counters.applied);
            for (k, at) in pushed.range(..=n) {
                applied.entry(*k).or_insert_with(|| at.elapsed());
            }
        }
    }
    let mut problems: Vec<String> = lock(&failures).clone();
    if !settled {
        problems.push(format!(
            "not settled within 5 minutes: head {:?}, sync tag {:?}, marker {:?} of {last_commit}, newest tag {}",
            repo.origin_ref("refs/heads/main").ok().flatten(),
            repo.origin_ref("refs/tags/flux-sync").ok().flatten(),
            marker_in_cluster(&config_maps).await,
            tag(newest)
        ));
    }
    let pushed = lock(&counters.pushed).len();
    let applied = lock(&counters.applied).clone();
    if applied.len() < pushed {
        problems.push(format!("{} of {pushed} commits applied", applied.len()));
    }
    let (automation, automation_problems) = if load {
        check_automation(&repo, &image_repository, &lock(&tags_pushed_at))?
    } else {
        (0, Vec::new())
    };
    problems.extend(automation_problems.iter().cloned());
    if load && last_commit > 0 {
        let gc = config_maps
            .list(&ListParams::default().labels("soak=gc"))
            .await
            .map_err(|e| e.to_string())?;
        let mut left: Vec<String> = gc
            .items
            .iter()
            .filter_map(|cm| cm.metadata.name.clone())
            .collect();
        left.sort();
        let mut wanted: Vec<String> = (last_commit.saturating_sub(GC_KEPT - 1)..=last_commit)
            .filter(|n| *n > 0)
            .map(|n| format!("soak-gc-{n}"))
            .collect();
        wanted.sort();
        if left != wanted {
            problems.push(format!(
                "garbage collection: the cluster has {left:?}, git {wanted:?}"
            ));
        }
    }
    let mut release_line = String::new();
    if operator.is_some() && last_commit >= 6 {
        let values_n = last_commit / 6 * 6;
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let data = config_maps
                .get_opt("hello-hello")
                .await
                .ok()
                .flatten()
                .and_then(|cm| cm.data)
                .and_then(|d| d.get("counter").cloned());
            if data.as_deref() == Some(values_n.to_string().as_str()) {
                release_line =
                    format!("the HelmRelease's ConfigMap has counter={values_n}, its last values");
                break;
            }
            if Instant::now() > deadline {
                problems.push(format!(
                    "the HelmRelease's ConfigMap has counter={data:?}, not {values_n}"
                ));
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let final_sample = take(&counters, run_started.elapsed().as_secs_f64() / 60.0);

    // The report.
    println!();
    println!(
        "## Soak run: {} mode, {} min, {} generated objects",
        if load { "load" } else { "idle" },
        args.minutes,
        args.objects
    );
    println!();
    println!(
        "fluxd: {} {}",
        args.fluxd.display(),
        args.fluxd_env.join(" ")
    );
    println!();
    println!("{}", header());
    for sample in &samples {
        println!("{}", row(sample));
    }
    println!("{}  (end of load)", row(&end_sample));
    println!("{}  (settled)", row(&final_sample));
    println!();
    let warmup = args
        .warmup
        .unwrap_or((args.minutes / 6.0).max(args.sample_every as f64 / 60.0));
    for (name, pick) in [
        (
            "fluxd",
            (|s: &Sample| s.fluxd) as fn(&Sample) -> Option<Reading>,
        ),
        ("operator", |s: &Sample| s.operator),
    ] {
        let all: Vec<(f64, Reading)> = samples
            .iter()
            .chain([&end_sample])
            .filter_map(|s| pick(s).map(|r| (s.minute, r)))
            .collect();
        if all.is_empty() {
            continue;
        }
        println!("{}", summary(name, &all, warmup));
    }
    let mut latencies: Vec<Duration> = applied.values().copied().collect();
    latencies.sort();
    if !latencies.is_empty() {
        println!(
            "commits: {pushed} pushed, {} applied (push to the cluster: median {:.1} s, max {:.1} s); {} pushes retried after fluxd pushed first",
            applied.len(),
            latencies[latencies.len() / 2].as_secs_f64(),
            latencies[latencies.len() - 1].as_secs_f64(),
            counters.push_retries.load(Ordering::Relaxed)
        );
    }
    if load {
        println!(
            "automation: {} tags pushed after t000, {automation} automation commits, {} problems; the image in git at the end: {}",
            newest,
            automation_problems.len(),
            repo.git_bare(["show", "main:deploy/app.yaml"])
                .ok()
                .and_then(|m| image_tag_in(&m, &image_repository))
                .unwrap_or_default()
        );
        println!(
            "API: {} requests answered, {} failed ({} clients, one request a second each){}",
            counters.api_ok.load(Ordering::Relaxed),
            counters.api_errors.load(Ordering::Relaxed),
            args.clients,
            lock(&counters.api_error_texts)
                .first()
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        );
    }
    if !release_line.is_empty() {
        println!("{release_line}");
    }
    let warnings = fluxd.count_logs(|l| l.level() == "WARN" || l.level() == "ERROR");
    println!(
        "fluxd log: {} lines, {warnings} warnings or errors",
        fluxd.logs().len()
    );
    if problems.is_empty() {
        println!("checks: all passed");
    } else {
        println!("checks: {} problems", problems.len());
        for p in &problems {
            println!("  - {p}");
        }
    }
    fluxd.stop();
    if let Some(op) = &mut operator {
        op.stop();
    }
    if args.keep {
        let kept = scene._work.keep();
        println!("kept {}", kept.display());
    }
    Ok(problems.is_empty())
}

/// Reads the origin without the working clone (which the committer owns).
struct GitView {
    bare: PathBuf,
}

impl GitView {
    fn new(bare: &Path) -> Self {
        Self {
            bare: bare.to_owned(),
        }
    }

    fn automation_commits(&self) -> usize {
        std::process::Command::new("git")
            .args(["log", "--format=%cn", "main"])
            .current_dir(&self.bare)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| *l == "Weave Flux")
                    .count()
            })
            .unwrap_or(0)
    }
}

fn header() -> String {
    "| min | fluxd RSS MiB | fluxd anon MiB | fluxd fds | operator RSS MiB | operator fds | commits | applied | tags | automation commits | API ok | API errors |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".to_owned()
}

/// One of a reading's sizes (KiB) in MiB, `-` without a reading.
fn mib(r: Option<Reading>, kib: fn(&Reading) -> u64) -> String {
    r.map_or("-".to_owned(), |r| {
        format!("{:.1}", kib(&r) as f64 / 1024.0)
    })
}

fn fds(r: Option<Reading>) -> String {
    r.map_or("-".to_owned(), |r| r.fds.to_string())
}

fn row(s: &Sample) -> String {
    format!(
        "| {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        s.minute,
        mib(s.fluxd, |r| r.rss_kib),
        mib(s.fluxd, |r| r.anon_kib),
        fds(s.fluxd),
        mib(s.operator, |r| r.rss_kib),
        fds(s.operator),
        s.commits,
        s.applied,
        s.tags,
        s.automation_commits,
        s.api_ok,
        s.api_errors
    )
}

/// Start, after warm-up (min, max), end, the slope after warm-up (least
/// squares, MiB per hour) and the fds' range.
fn summary(name: &str, all: &[(f64, Reading)], warmup: f64) -> String {
    let to_mib = |r: &Reading| r.rss_kib as f64 / 1024.0;
    let after: Vec<&(f64, Reading)> = all.iter().filter(|(m, _)| *m >= warmup).collect();
    let after = if after.is_empty() {
        all.iter().collect()
    } else {
        after
    };
    let min = after
        .iter()
        .map(|(_, r)| to_mib(r))
        .fold(f64::MAX, f64::min);
    let max = after.iter().map(|(_, r)| to_mib(r)).fold(0.0, f64::max);
    let n = after.len() as f64;
    let mean_x = after.iter().map(|(m, _)| *m).sum::<f64>() / n;
    let mean_y = after.iter().map(|(_, r)| to_mib(r)).sum::<f64>() / n;
    let sxx: f64 = after.iter().map(|(m, _)| (m - mean_x).powi(2)).sum();
    let sxy: f64 = after
        .iter()
        .map(|(m, r)| (m - mean_x) * (to_mib(r) - mean_y))
        .sum();
    let slope = if sxx > 0.0 { sxy / sxx * 60.0 } else { 0.0 };
    let anon = |r: &Reading| r.anon_kib as f64 / 1024.0;
    let anon_min = after.iter().map(|(_, r)| anon(r)).fold(f64::MAX, f64::min);
    let anon_max = after.iter().map(|(_, r)| anon(r)).fold(0.0, f64::max);
    let fd_min = after.iter().map(|(_, r)| r.fds).min().unwrap_or(0);
    let fd_max = after.iter().map(|(_, r)| r.fds).max().unwrap_or(0);
    let (first, last) = (&all[0].1, &all[all.len() - 1].1);
    format!(
        "{name}: RSS {:.1} MiB at the start; after {warmup:.1} min of warm-up {min:.1} to {max:.1} MiB, slope {slope:+.1} MiB/h over {} samples; {:.1} MiB at the end; of it anonymous (heap, stacks) {anon_min:.1} to {anon_max:.1} MiB after warm-up. fds {} at the start, {fd_min} to {fd_max} after warm-up, {} at the end",
        to_mib(first),
        after.len(),
        to_mib(last),
        first.fds,
        last.fds
    )
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

#[cfg(test)]
mod checks {
    use super::*;

    #[test]
    fn image_tags_are_read_from_manifests() {
        let manifest = app("ns", "127.0.0.1:5000/team/app:t012");
        assert_eq!(
            image_tag_in(&manifest, "127.0.0.1:5000/team/app").as_deref(),
            Some("t012")
        );
        assert_eq!(tag_index("t012"), Some(12));
        assert_eq!(tag(7), "t007");
    }

    #[test]
    fn the_summary_gives_the_range_and_slope_after_warm_up() {
        let r = |mib: u64, fds: usize| Reading {
            rss_kib: mib * 1024,
            anon_kib: mib * 512,
            fds,
        };
        let all = [
            (0.0, r(5, 10)),
            (1.0, r(30, 20)),
            (2.0, r(31, 21)),
            (3.0, r(32, 20)),
        ];
        let text = summary("fluxd", &all, 1.0);
        assert!(text.contains("30.0 to 32.0 MiB"), "{text}");
        assert!(text.contains("slope +60.0 MiB/h"), "{text}");
        assert!(text.contains("20 to 21 after warm-up"), "{text}");
        assert!(
            text.contains("anonymous (heap, stacks) 15.0 to 16.0 MiB"),
            "{text}"
        );
    }
}
