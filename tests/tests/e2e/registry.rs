//! Registry polling against Debian's docker-registry, with images pushed by
//! skopeo or over HTTP, and axum fronts that add bearer tokens, tag paging
//! and misbehaviour.

// Test helpers, not only `#[test]` functions, may unwrap: a panic is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod bounds;
mod faults;
mod paging;
mod secrets;
mod tags;

use std::time::{Duration, SystemTime};

use registry_poller::{
    ClientConfig, PollerConfig, Repository, RepositorySnapshot, RequestCounts, Snapshot,
};

/// A poller config for loopback registries over plain HTTP, without the
/// production rate limit (tests count requests, not seconds).
fn config(insecure_hosts: &[String]) -> PollerConfig {
    PollerConfig::new().with_client(
        ClientConfig::new()
            .with_insecure_hosts(insecure_hosts.to_vec())
            .with_rps(10_000.0)
            .with_burst(1_000),
    )
}

fn repository(host: &str, path: &str) -> Repository {
    Repository::parse(&format!("{host}/{path}")).unwrap()
}

/// The repository's snapshot, which must exist.
fn repo_snapshot(snapshot: &Snapshot, repository: &Repository) -> RepositorySnapshot {
    snapshot
        .repository(repository)
        .unwrap_or_else(|| panic!("{repository} is not in the snapshot"))
        .as_ref()
        .clone()
}

fn tag_names(repo: &RepositorySnapshot) -> Vec<String> {
    repo.tags().iter().map(|t| t.name().to_owned()).collect()
}

fn error_of(repo: &RepositorySnapshot) -> String {
    repo.last_error()
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

/// A time `seconds` after the epoch.
fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Request counts: tag lists, manifests, blobs, tokens.
fn requests(tags: u64, manifest: u64, blob: u64, token: u64) -> RequestCounts {
    let mut counts = RequestCounts::default();
    counts.tags = tags;
    counts.manifest = manifest;
    counts.blob = blob;
    counts.token = token;
    counts
}

/// A registry with `count` generated tags (`t000`...) in `path`, behind a
/// front that pages tag lists by `page_size`; the digests pushed.
async fn paged_registry(
    path: &str,
    count: usize,
    page_size: usize,
) -> (
    tests::registry::DockerRegistry,
    tests::registry::RegistryFront,
    Vec<String>,
) {
    let registry = tests::registry::DockerRegistry::start().unwrap();
    let digests = tests::registry::BulkPusher::new(&registry.url(), None)
        .push_generated(path, count, 1_700_000_000)
        .await
        .unwrap();
    let front = tests::registry::RegistryFront::start(tests::registry::FrontConfig {
        backend: registry.url(),
        page_size: Some(page_size),
        ..tests::registry::FrontConfig::default()
    })
    .await
    .unwrap();
    (registry, front, digests)
}
