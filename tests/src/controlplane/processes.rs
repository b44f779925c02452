//! The processes of a control plane: their files, flags, start, readiness,
//! memory, and the janitor that removes their directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::Api;

use super::Kubeconfig;
use super::binaries::Binaries;
use super::pki::Pki;
use crate::Error;
use crate::net::{free_port, loopback};
use crate::process::Server;

/// Service ClusterIPs come from here; nothing routes to them (there are no nodes).
const SERVICE_CLUSTER_IP_RANGE: &str = "10.96.0.0/16";

/// The controllers kube-controller-manager runs: what namespaces, garbage
/// collection and ServiceAccounts need, plus the workload controllers that
/// give Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs
/// their status (pods stay Pending: there is no scheduler and no node), and
/// the aggregation that fills the built-in `admin`/`edit`/`view` ClusterRoles.
pub const CONTROLLERS: &[&str] = &[
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
];

/// Files the processes read, all in the control plane's directory.
#[derive(Debug)]
pub(crate) struct Files {
    pub(crate) ca_cert: PathBuf,
    pub(crate) serving_cert: PathBuf,
    pub(crate) serving_key: PathBuf,
    pub(crate) service_account_key: PathBuf,
    pub(crate) service_account_public_key: PathBuf,
    pub(crate) token_auth: PathBuf,
    pub(crate) controller_manager_kubeconfig: PathBuf,
}

/// How long the apiserver and the controllers get to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How often a start is retried when a port picked as free was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// Starts etcd on free loopback ports and waits for its client port.
/// Returns the server and its client URL.
pub(crate) fn start_etcd(binaries: &Binaries, dir: &Path) -> Result<(Server, String), Error> {
    retry_on_port_clash(|| {
        let client = loopback(free_port()?);
        let peer = loopback(free_port()?);
        let data = dir.join("etcd-data");
        let _ = std::fs::remove_dir_all(&data);
        let mut command = Command::new(&binaries.etcd);
        // etcd reads ETCD_* variables as flags, and refuses to start when one
        // shadows a flag given here: run it with none from the caller.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(key);
            }
        }
        command.args([
            "--name=default".to_owned(),
            format!("--data-dir={}", data.display()),
            format!("--listen-client-urls=http://{client}"),
            format!("--advertise-client-urls=http://{client}"),
            format!("--listen-peer-urls=http://{peer}"),
            format!("--initial-advertise-peer-urls=http://{peer}"),
            format!("--initial-cluster=default=http://{peer}"),
            "--initial-cluster-state=new".to_owned(),
            // A test cluster's data dies with it: skip fsync, as envtest does.
            "--unsafe-no-fsync=true".to_owned(),
            "--log-level=warn".to_owned(),
        ]);
        let mut server = Server::spawn("etcd", &command, &dir.join("etcd.log"))?;
        server.wait_for_port(client, Duration::from_secs(30))?;
        Ok((server, format!("http://{client}")))
    })
}

/// Starts kube-apiserver against `etcd_url` on `addr`; returns at once
/// (readiness is awaited over HTTPS by the caller).
pub(crate) fn spawn_apiserver(
    binaries: &Binaries,
    dir: &Path,
    files: &Files,
    etcd_url: &str,
    addr: SocketAddr,
) -> Result<Server, Error> {
    let mut command = Command::new(&binaries.kube_apiserver);
    command.args([
        format!("--etcd-servers={etcd_url}"),
        "--bind-address=127.0.0.1".to_owned(),
        "--advertise-address=127.0.0.1".to_owned(),
        format!("--secure-port={}", addr.port()),
        format!("--cert-dir={}", dir.join("apiserver-certs").display()),
        format!("--tls-cert-file={}", files.serving_cert.display()),
        format!("--tls-private-key-file={}", files.serving_key.display()),
        format!("--token-auth-file={}", files.token_auth.display()),
        "--authorization-mode=RBAC".to_owned(),
        format!("--service-account-issuer=https://{addr}"),
        format!(
            "--service-account-key-file={}",
            files.service_account_public_key.display()
        ),
        format!(
            "--service-account-signing-key-file={}",
            files.service_account_key.display()
        ),
        format!("--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"),
        "--allow-privileged=true".to_owned(),
        // Admission stays at the release's default plugins, as on a real
        // cluster: none of them needs a node (ServiceAccount admission needs
        // the `default` ServiceAccount, which the controller manager makes;
        // Priority needs the system PriorityClasses, which the apiserver makes).
        // No nodes: nothing serves the `kubernetes` Service's endpoints, and a
        // loopback endpoint would be rejected anyway.
        "--endpoint-reconciler-type=none".to_owned(),
        "--profiling=false".to_owned(),
    ]);
    // A restart logs to a file of its own, keeping the first start's log.
    let log = if dir.join("kube-apiserver.log").exists() {
        dir.join("kube-apiserver-restarted.log")
    } else {
        dir.join("kube-apiserver.log")
    };
    Server::spawn("kube-apiserver", &command, &log)
}

/// Starts kube-controller-manager; it waits for the apiserver by itself.
pub(crate) fn spawn_controller_manager(
    binaries: &Binaries,
    dir: &Path,
    files: &Files,
) -> Result<Server, Error> {
    let mut command = Command::new(&binaries.kube_controller_manager);
    command.args([
        format!(
            "--kubeconfig={}",
            files.controller_manager_kubeconfig.display()
        ),
        // No serving port: nothing scrapes it, and parallel control planes
        // would fight over the default one.
        "--secure-port=0".to_owned(),
        "--leader-elect=false".to_owned(),
        format!("--controllers={}", CONTROLLERS.join(",")),
        format!(
            "--service-account-private-key-file={}",
            files.service_account_key.display()
        ),
        format!("--root-ca-file={}", files.ca_cert.display()),
        format!("--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"),
    ]);
    Server::spawn(
        "kube-controller-manager",
        &command,
        &dir.join("kube-controller-manager.log"),
    )
}

/// Runs `start` again (with new ports) when it failed because a port chosen
/// as free was taken by someone else in the meantime.
pub(crate) fn retry_on_port_clash<T>(
    mut start: impl FnMut() -> Result<T, Error>,
) -> Result<T, Error> {
    let mut attempt = 1;
    loop {
        match start() {
            Err(error) if attempt < PORT_ATTEMPTS && is_port_clash(&error) => {
                tracing::warn!(attempt, %error, "port taken meanwhile; retrying on new ports");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Whether `error` is a server exiting because its address was in use.
pub(crate) fn is_port_clash(error: &Error) -> bool {
    matches!(error, Error::ServerExited { log_tail, .. } if log_tail.contains("address already in use"))
}

/// Polls until the apiserver's `/readyz` answers `ok` and the `default`
/// ServiceAccount exists (the controller manager is up), failing early with
/// the log tail if a process exits.
pub(crate) async fn wait_ready(servers: &mut [Server], admin: &Kubeconfig) -> Result<(), Error> {
    let began = Instant::now();
    let deadline = began + READY_TIMEOUT;
    let client = admin.client()?;
    let mut last;
    loop {
        servers.iter_mut().try_for_each(Server::check_running)?;
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|e| Error::invalid("GET /readyz", e.to_string()))?;
        match client.request_text(request).await {
            Ok(body) if body.trim() == "ok" => break,
            Ok(body) => last = body,
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(timeout("kube-apiserver /readyz", servers, &last));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::debug!(
        after_ms = began.elapsed().as_millis(),
        "kube-apiserver ready"
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(client, "default");
    loop {
        servers.iter_mut().try_for_each(Server::check_running)?;
        match accounts.get_opt("default").await {
            Ok(Some(_)) => {
                tracing::debug!(
                    after_ms = began.elapsed().as_millis(),
                    "controllers running"
                );
                return Ok(());
            }
            Ok(None) => last = "not yet created".to_owned(),
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(timeout(
                "kube-controller-manager to create ServiceAccount default/default",
                servers,
                &last,
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn timeout(what: &str, servers: &[Server], last: &str) -> Error {
    let logs = servers
        .iter()
        .map(|s| format!("--- {} ---\n{}", s.name(), s.log_tail(2048)))
        .collect::<Vec<_>>()
        .join("\n");
    Error::Timeout {
        what: what.to_owned(),
        after: READY_TIMEOUT,
        log_tail: format!("last answer: {last}\n{logs}"),
    }
}

/// Writes the certificates, keys and static token file.
pub(crate) fn write_files(
    dir: &Path,
    pki: &Pki,
    admin_token: &str,
    controller_manager_token: &str,
) -> Result<Files, Error> {
    let files = Files {
        ca_cert: dir.join("ca.crt"),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        service_account_key: dir.join("service-account.key"),
        service_account_public_key: dir.join("service-account.pub"),
        token_auth: dir.join("tokens.csv"),
        controller_manager_kubeconfig: dir.join("kube-controller-manager.kubeconfig"),
    };
    write(&files.ca_cert, &pki.ca_pem)?;
    write(&files.serving_cert, &pki.serving_cert_pem)?;
    write(&files.serving_key, &pki.serving_key_pem)?;
    write(&files.service_account_key, &pki.service_account_key_pem)?;
    write(
        &files.service_account_public_key,
        &pki.service_account_public_key_pem,
    )?;
    // token,user,uid,"group1,group2"
    write(
        &files.token_auth,
        &format!(
            "{admin_token},admin,admin,\"system:masters\"\n\
             {controller_manager_token},system:kube-controller-manager,kube-controller-manager,\"system:masters\"\n"
        ),
    )?;
    Ok(files)
}

/// A kubeconfig for a process the control plane runs itself.
pub(crate) fn write_kubeconfig_file(
    path: &Path,
    url: &str,
    ca_pem: &str,
    user: &str,
    token: &str,
) -> Result<(), Error> {
    let ca = path.with_extension("ca.crt");
    write(&ca, ca_pem)?;
    let contents = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": url, "certificate-authority": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    });
    write(path, &contents.to_string())
}

fn write(path: &Path, contents: &str) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Removes `dir` once its own stdin closes (the control plane was dropped or
/// the test process exited), retrying while the other processes still stop.
const JANITOR: &str = r#"
dir=$1
sleep infinity &
pause=$!
trap 'kill "$pause" 2>/dev/null
for _ in 1 2 3 4; do rm -rf -- "$dir" 2>/dev/null; [ -e "$dir" ] || exit 0; sleep 1; done
exit 0' TERM
wait "$pause"
"#;

pub(crate) fn spawn_janitor(dir: &Path) -> Result<Server, Error> {
    let mut command = Command::new("bash");
    command.arg("-c").arg(JANITOR).arg("janitor").arg(dir);
    Server::spawn("janitor", &command, Path::new("/dev/null"))
}

/// VmRSS (bytes) of the processes whose command line names `dir`, by
/// program name; the shells (watchdogs, janitor) that carry the same
/// arguments are left out.
pub(crate) fn resident_memory(dir: &Path) -> Result<Vec<(String, u64)>, Error> {
    let dir = dir.to_string_lossy().into_owned();
    let proc = std::fs::read_dir("/proc").map_err(|e| Error::io("listing /proc", e))?;
    let mut found = Vec::new();
    for entry in proc.flatten() {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let mut args = cmdline
            .split(|b| *b == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned());
        let program = args.next().unwrap_or_default();
        let name = program.rsplit('/').next().unwrap_or_default().to_owned();
        // The watchdogs and the janitor are shells carrying the same arguments.
        if name == "bash" || name == "sh" || !args.any(|arg| arg.contains(&dir)) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(path.join("status")) else {
            continue;
        };
        let rss_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| {
                value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            });
        if let Some(kib) = rss_kib {
            found.push((name, kib * 1024));
        }
    }
    found.sort();
    Ok(found)
}
