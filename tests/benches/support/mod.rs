//! What the sync benchmarks share: generated trees of objects, the
//! control plane's request counts and CPU seconds, peak memory, reports.

// A benchmark that cannot set up has nothing to measure.
#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use tests::controlplane::{ControlPlane, RequestCounts};

/// Namespaces the objects are spread over.
pub(crate) const NAMESPACES: usize = 10;

/// The Namespaces `<prefix>-0` to `<prefix>-9`, as one YAML stream.
pub(crate) fn namespaces(prefixes: &[&str]) -> String {
    let mut namespaces = String::new();
    for prefix in prefixes {
        for index in 0..NAMESPACES {
            let _ = write!(
                namespaces,
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {prefix}-{index}\n---\n"
            );
        }
    }
    namespaces
}

/// CPU seconds used so far by each process of the control plane and by this
/// one, by program name.
pub(crate) fn cpu_seconds(cluster: &ControlPlane) -> BTreeMap<String, f64> {
    let dir = cluster.dir().to_string_lossy().into_owned();
    let mut found = BTreeMap::new();
    let own = std::process::id().to_string();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let path = entry.path();
        let pid = entry.file_name().to_string_lossy().into_owned();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect();
        let program = args
            .first()
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        let name = if pid == own {
            "engine (this process)".to_owned()
        } else if program != "bash" && program != "sh" && args.iter().any(|a| a.contains(&dir)) {
            program
        } else {
            continue;
        };
        if let Some(seconds) = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|stat| stat_cpu_seconds(&stat))
        {
            *found.entry(name).or_insert(0.0) += seconds;
        }
    }
    found
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds (100 ticks a second).
pub(crate) fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name may hold spaces: fields count from after its `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

pub(crate) fn report_cpu(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) {
    let used: Vec<String> = after
        .iter()
        .map(|(name, seconds)| {
            format!(
                "{name} {:.2}",
                seconds - before.get(name).copied().unwrap_or(0.0)
            )
        })
        .collect();
    println!("    cpu seconds: {}", used.join(", "));
}

pub(crate) fn report_phase(
    name: &str,
    time: Duration,
    requests: &RequestCounts,
    own: Option<(&BTreeMap<String, usize>, usize)>,
    peak_kib: u64,
) {
    let mut verbs: BTreeMap<&str, u64> = BTreeMap::new();
    for (key, count) in requests.iter() {
        *verbs.entry(key.verb.as_str()).or_default() += count;
    }
    let verbs: Vec<String> = verbs
        .iter()
        .map(|(verb, n)| format!("{verb} {n}"))
        .collect();
    println!(
        "{name:<36} {:>9}  peak {:>7.1} MiB",
        secs(time),
        peak_kib as f64 / 1024.0
    );
    println!("    apiserver: {}", verbs.join(", "));
    if let Some((methods, writes)) = own {
        let methods: Vec<String> = methods.iter().map(|(m, n)| format!("{m} {n}")).collect();
        println!(
            "    engine's client: {} (writes: {writes})",
            methods.join(", ")
        );
    }
}

/// Waits until the controllers are quiet: under 50 requests in a second, or
/// 60 s at most.
pub(crate) async fn settle(cluster: &ControlPlane) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = cluster.request_counts().await?;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = cluster.request_counts().await?;
        // The two /metrics reads count too.
        if now.since(&last).total() < 50 {
            return Ok(());
        }
        last = now;
    }
    Ok(())
}

/// Writes `size` objects into `dir/<prefix>-<n>/<kind>.yaml`, one file per
/// namespace and kind.
pub(crate) fn write_tree(dir: &Path, prefix: &str, size: usize) -> std::io::Result<()> {
    let mut files: BTreeMap<(usize, &str), String> = BTreeMap::new();
    for index in 0..size {
        let namespace = index % NAMESPACES;
        let ns = format!("{prefix}-{namespace}");
        let (kind, yaml) = match (index / NAMESPACES) % 4 {
            0 => ("configmap", config_map(&ns, index)),
            1 => ("secret", secret(&ns, index)),
            2 => ("service", service(&ns, index)),
            _ => ("deployment", deployment(&ns, index)),
        };
        let file = files.entry((namespace, kind)).or_default();
        file.push_str(&yaml);
        file.push_str("---\n");
    }
    for ((namespace, kind), yaml) in files {
        let path = dir.join(format!("{prefix}-{namespace}"));
        std::fs::create_dir_all(&path)?;
        std::fs::write(path.join(format!("{kind}.yaml")), yaml)?;
    }
    Ok(())
}

pub(crate) fn config_map(ns: &str, index: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{index}\n  namespace: {ns}\n  labels:\n    app: app-{index}\ndata:\n  LOG_LEVEL: info\n  FEATURE_FLAGS: \"a,b,c\"\n  settings.yaml: |\n    server:\n      port: 8080\n      replicas: {index}\n"
    )
}

pub(crate) fn secret(ns: &str, index: usize) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-{index}\n  namespace: {ns}\ntype: Opaque\nstringData:\n  username: user-{index}\n  password: p4ssw0rd-{index}\ndata:\n  token: dG9rZW4tMTIzNDU2\n"
    )
}

pub(crate) fn service(ns: &str, index: usize) -> String {
    let headless = if std::env::var_os("SYNC_BENCH_HEADLESS").is_some() {
        "\n  clusterIP: None"
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{index}\n  namespace: {ns}\n  labels:\n    app: app-{index}\nspec:{headless}\n  selector:\n    app: app-{index}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n"
    )
}

pub(crate) fn deployment(ns: &str, index: usize) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{index}
  namespace: {ns}
  labels:
    app: app-{index}
  annotations:
    fluxcd.io/automated: "true"
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app-{index}
  template:
    metadata:
      labels:
        app: app-{index}
    spec:
      containers:
      - name: app
        image: ghcr.io/example/app:1.{index}.0
        ports:
        - containerPort: 8080
          name: http
        env:
        - name: INDEX
          value: "{index}"
        resources:
          requests:
            cpu: 0.1
            memory: 128Mi
          limits:
            memory: 256Mi
        readinessProbe:
          httpGet:
            path: /healthz
            port: http
"#
    )
}

pub(crate) fn field_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

/// Resets this process's peak RSS (Linux: `5` to `/proc/self/clear_refs`).
pub(crate) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub(crate) fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| field_kib(&s, "VmHWM:"))
        .unwrap_or(0)
}

pub(crate) fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// The benchmarks' logs on stderr (`RUST_LOG`, else `default_filter`) and
/// their runtime: two worker threads, as the machines they are measured on
/// have two cores.
pub(crate) fn runtime(default_filter: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}
