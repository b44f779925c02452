//! Starts a test control plane for manual use and keeps it until Ctrl-C.
//!
//! `cargo run -p tests --bin testcluster` prints the admin kubeconfig's path
//! and an `export KUBECONFIG=...` line; kubectl, helm or fluxd can then talk
//! to the cluster. Ctrl-C (or SIGTERM) stops etcd, kube-apiserver and
//! kube-controller-manager and removes their files; set
//! `FLUXRS_CONTROLPLANE_KEEP=1` to keep the files (logs, data) instead.

use std::process::ExitCode;

use tests::controlplane::ControlPlane;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // kube logs every failed request at ERROR, and start-up polls
                // /readyz until it stops failing.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("info,kube_client::client::builder=off")
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("testcluster: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), tests::Error> {
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| tests::Error::io("listening for SIGTERM", e))?;
    let cluster = ControlPlane::private().await?;
    println!(
        "control plane ready in {:.1} s",
        cluster.startup_time().as_secs_f64()
    );
    println!("apiserver:  {}", cluster.url());
    println!("kubeconfig: {}", cluster.kubeconfig_path().display());
    println!("logs:       {}", cluster.dir().display());
    for (program, bytes) in cluster.memory()? {
        println!("memory:     {program} {} MiB", bytes / (1024 * 1024));
    }
    println!();
    println!("export KUBECONFIG={}", cluster.kubeconfig_path().display());
    println!();
    println!("Ctrl-C stops it.");
    tokio::select! {
        result = tokio::signal::ctrl_c() => {
            result.map_err(|e| tests::Error::io("listening for Ctrl-C", e))?;
        }
        _ = terminate.recv() => {}
    }
    eprintln!("stopping");
    drop(cluster);
    Ok(())
}
