//! Polls one image repository of a registry and prints its newest semver
//! tag, with the digest and creation time of the image it points at.
//!
//! ```text
//! cargo run -p registry-poller --example newest_tag -- REPOSITORY [--insecure] [--pre]
//! ```
//!
//! - `REPOSITORY`: as in an image reference, without a tag: `nginx`,
//!   `ghcr.io/team/app`, `127.0.0.1:5000/team/app`.
//! - `--insecure`: speak plain HTTP to the repository's registry (a local
//!   test registry), as fluxd's `--registry-insecure-host` does.
//! - `--pre`: count pre-release versions (`1.2.0-rc.1`) too.
//! - Credentials, if the registry wants them: `REGISTRY_USERNAME` and
//!   `REGISTRY_PASSWORD` in the environment (basic auth, or exchanged for a
//!   bearer token as the registry asks).
//!
//! A tag counts when it is a semantic version, with or without a leading
//! `v` (`1.2.3`, `v1.2.3`). Prints `newest <tag> <digest> <created>` and
//! `tags <all> semver <n>`; exits 1 when the registry cannot be read or no
//! tag is a version, 2 on a bad command line.

use std::process::ExitCode;

use registry_poller::{
    BasicAuth, ClientConfig, Credentials, Poller, PollerConfig, Repository, TagInfo,
};

/// The command line.
struct Args {
    repository: Repository,
    insecure: bool,
    pre: bool,
}

const USAGE: &str = "usage: newest_tag REPOSITORY [--insecure] [--pre]";

fn parse_args() -> Result<Args, String> {
    let mut repository = None;
    let mut insecure = false;
    let mut pre = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--insecure" => insecure = true,
            "--pre" => pre = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
            name if repository.is_none() => {
                repository = Some(Repository::parse(name).map_err(|e| e.to_string())?);
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Args {
        repository: repository.ok_or("the repository is missing")?,
        insecure,
        pre,
    })
}

/// The tag's version: `1.2.3` or `v1.2.3`; `None` for other tags.
fn version_of(tag: &TagInfo, pre: bool) -> Option<semver::Version> {
    let text = tag.name().strip_prefix('v').unwrap_or(tag.name());
    let version = semver::Version::parse(text).ok()?;
    (pre || version.pre.is_empty()).then_some(version)
}

async fn run(args: Args) -> Result<(), String> {
    let mut client = ClientConfig::new();
    if args.insecure {
        client = client.with_insecure_hosts([args.repository.registry()]);
    }
    let poller = Poller::new(PollerConfig::new().with_client(client)).map_err(|e| e.to_string())?;
    let credentials = match (
        std::env::var("REGISTRY_USERNAME"),
        std::env::var("REGISTRY_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) => {
            Credentials::for_host(args.repository.registry(), BasicAuth::new(user, password))
        }
        _ => Credentials::none(),
    };
    poller.set_repositories([(args.repository.clone(), credentials)]);
    // One round now; a long-running reader would spawn `poller.run(..)` and
    // read `poller.snapshot()` (or `subscribe()`) whenever it likes.
    poller.poll_all().await;

    let snapshot = poller.snapshot();
    let repository = snapshot
        .repository(&args.repository)
        .ok_or_else(|| format!("{} is not polled", args.repository))?;
    if let Some(error) = repository.last_error() {
        return Err(error.message.clone());
    }
    let tags = repository.tags();
    let versions: Vec<(semver::Version, &TagInfo)> = tags
        .iter()
        .filter_map(|tag| Some((version_of(tag, args.pre)?, tag)))
        .collect();
    println!("tags {} semver {}", tags.len(), versions.len());
    let Some((_, newest)) = versions.iter().max_by(|a, b| a.0.cmp(&b.0)) else {
        return Err(format!("no tag of {} is a version", args.repository));
    };
    let created = newest
        .created()
        .and_then(|at| jiff::Timestamp::try_from(at).ok())
        .map_or_else(|| "-".to_owned(), |at| at.to_string());
    println!("newest {} {} {created}", newest.name(), newest.digest());
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("newest_tag: {error}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("newest_tag: {error}");
            ExitCode::from(1)
        }
    }
}
