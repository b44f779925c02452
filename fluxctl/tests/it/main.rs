//! fluxctl against a real HTTP server answering as Flux v1's fluxd (see
//! [`flux_v1_standin`]), and its command line without any server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod commands;
mod errors;
mod flux_v1_standin;
mod usage;

use std::collections::HashMap;

/// What one fluxctl run did.
#[derive(Debug)]
pub(crate) struct Run {
    /// Whether it succeeded (exit 0).
    pub(crate) ok: bool,
    /// What it wrote to stdout.
    pub(crate) stdout: String,
    /// What it wrote to stderr.
    pub(crate) stderr: String,
}

/// Runs fluxctl in-process with `args` (after `fluxctl`) and exactly the
/// environment `env` (nothing of the test process's).
pub(crate) fn fluxctl(args: &[&str], env: &[(&str, &str)]) -> Run {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    // No kubeconfig unless a test gives one.
    let lookup = move |name: &str| env.get(name).cloned();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut io = fluxctl::Io {
        out: &mut out,
        err: &mut err,
        terminal: false,
    };
    let result = fluxctl::run_with(
        std::iter::once("fluxctl").chain(args.iter().copied()),
        &lookup,
        &mut io,
    );
    Run {
        ok: result.is_ok(),
        stdout: String::from_utf8(out).unwrap(),
        stderr: String::from_utf8(err).unwrap(),
    }
}

/// The reference's `ControllerStatus` of `default:deployment/helloworld`.
pub(crate) const HELLOWORLD: &str = r#"{"ID":"default:deployment/helloworld","Containers":[{"Name":"helloworld","Current":{"ID":"quay.io/weaveworks/helloworld:master-a000002","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}}],"ReadOnly":"","Status":"ready","Rollout":{"Desired":1,"Updated":1,"Ready":1,"Available":1,"Outdated":0,"Messages":null},"SyncError":"","Antecedent":"","Labels":{"app":"helloworld"},"Automated":false,"Locked":false,"Ignore":false,"Policies":{}}"#;
