//! The three processes of a control plane and the flags they run with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::binaries::Binaries;
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
pub(crate) struct Files {
    pub(crate) ca_cert: PathBuf,
    pub(crate) serving_cert: PathBuf,
    pub(crate) serving_key: PathBuf,
    pub(crate) service_account_key: PathBuf,
    pub(crate) service_account_public_key: PathBuf,
    pub(crate) token_auth: PathBuf,
    pub(crate) controller_manager_kubeconfig: PathBuf,
}

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

/// Starts kube-apiserver against `etcd_url` on a free loopback port; returns
/// at once (readiness is awaited over HTTPS by the caller) with the server and
/// its address.
pub(crate) fn spawn_apiserver(
    binaries: &Binaries,
    dir: &Path,
    files: &Files,
    etcd_url: &str,
) -> Result<(Server, SocketAddr), Error> {
    let addr = loopback(free_port()?);
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
        // No nodes: nothing serves the `kubernetes` Service's endpoints, and a
        // loopback endpoint would be rejected anyway.
        "--endpoint-reconciler-type=none".to_owned(),
        "--profiling=false".to_owned(),
    ]);
    let server = Server::spawn("kube-apiserver", &command, &dir.join("kube-apiserver.log"))?;
    Ok((server, addr))
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
