//! Container registries, polled cheaply and politely.
//!
//! This crate will own image references (parsed and normalised as Docker does),
//! the registry HTTP API v2 / OCI distribution client, credentials (Kubernetes
//! pull secrets, docker `config.json`, the bearer-token flow), rate limits and
//! backoff, a cache keyed by digest, and the polling loop whose per-repository
//! snapshot of tags (digest, creation time, last success, last error) the daemon
//! reads without waiting on the network. It knows nothing of manifests or
//! policies.
