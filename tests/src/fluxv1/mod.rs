//! The state Flux v1 leaves a cluster and a repository in, for the tests of
//! swapping fluxd in: what its sync sent to `kubectl apply` ([`judge`], a
//! small Go program over the YAML library Flux used, so checksums are
//! Flux's byte for byte), applied with the real client-side `kubectl apply`
//! ([`apply_as_flux`]); the `flux-sync` tag as Flux wrote it
//! ([`tag_as_flux`]); the deploy-key Secret with Flux's keys
//! ([`deploy_key_secret`]); and the arguments Flux's Helm charts give fluxd
//! ([`chart`]).

pub mod chart;
pub mod judge;

use std::io::Write as _;
use std::process::Stdio;

use crate::Error;
use crate::controlplane::Kubeconfig;
use crate::git::GitFixture;

pub use judge::{FluxResource, FluxSync, flux_sync};

/// Runs the real `kubectl apply -f -` (client-side, as Flux v1 did) as
/// `user`, with `yaml` on its stdin; returns what kubectl printed.
pub fn apply_as_flux(user: &Kubeconfig, yaml: &str) -> Result<String, Error> {
    let mut command = user.kubectl()?;
    command
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| Error::io("starting kubectl apply", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(yaml.as_bytes())
            .map_err(|e| Error::io("writing to kubectl apply", e))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::io("waiting for kubectl apply", e))?;
    if !output.status.success() {
        return Err(Error::Command {
            command: "kubectl apply -f -".to_owned(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Moves Flux's sync tag to `revision` and pushes it, as Flux v1 did: an
/// annotated tag (`Sync pointer`) by its git user, force-moved and pushed.
pub fn tag_as_flux(repo: &GitFixture, tag: &str, revision: &str) -> Result<(), Error> {
    repo.git([
        "-c",
        "user.name=Weave Flux",
        "-c",
        "user.email=support@weave.works",
        "tag",
        "--force",
        "-a",
        "-m",
        "Sync pointer",
        tag,
        revision,
    ])?;
    repo.git(["push", "--force", "origin", "tag", tag])?;
    Ok(())
}

/// The deploy-key Secret as Flux v1 left it: `identity` (the private key)
/// and `identity.pub` in its data, as Flux's keyring patched them in.
pub fn deploy_key_secret(name: &str, namespace: &str, private: &str, public: &str) -> String {
    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\ntype: Opaque\ndata:\n  identity: {}\n  identity.pub: {}\n",
        b64(private),
        b64(public)
    )
}
