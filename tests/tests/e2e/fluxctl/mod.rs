//! fluxctl against the real control plane: against a real fluxd process
//! syncing a repository over ssh (its tables, JSON, identity, save, and
//! every route of fluxd's API), and how it finds fluxd's pod without
//! `--url` (no pod, several, one) and what it says. The control
//! plane has no nodes, so pods never run by themselves: the tests create
//! them and set `status.phase` through the status subresource as admin.

// Test helpers may unwrap, like `#[test]` functions: a panic is a test failure.
#![allow(clippy::unwrap_used)]

mod daemon;
mod portforward;

/// What one fluxctl run printed.
#[derive(Debug)]
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs fluxctl in-process (its own runtime, on a thread of its own) with
/// only `env` as its environment.
async fn fluxctl(args: &[&str], env: &[(&str, String)]) -> Run {
    let args: Vec<String> = std::iter::once("fluxctl")
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect();
    let env: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let lookup = |name: &str| env.get(name).cloned();
            let mut out = Vec::new();
            let mut err = Vec::new();
            let mut io = fluxctl::Io {
                out: &mut out,
                err: &mut err,
                terminal: false,
            };
            let result = fluxctl::run_with(&args, &lookup, &mut io);
            Run {
                ok: result.is_ok(),
                stdout: String::from_utf8(out).unwrap(),
                stderr: String::from_utf8(err).unwrap(),
            }
        })
        .join()
        .unwrap()
    })
    .await
    .unwrap()
}
