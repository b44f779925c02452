//! Registry credentials from Kubernetes pull secrets and docker config files,
//! matched to a repository the way Docker and the kubelet match them.
//!
//! Keys such as `https://index.docker.io/v1/`, `docker.io`, `http://host:5000`
//! or `host:5000/team` are reduced to a host (lower-case, with port; Docker
//! Hub's aliases become `docker.io`) and an optional path prefix. A repository
//! takes the most specific entry: exact host before a `*.example.com`
//! wildcard, longer path prefix before shorter, earlier before later.
//!
//! Credential helpers (`credsStore`, `credHelpers`) and identity tokens are
//! not supported: they run programs or OAuth flows outside this crate. Entries
//! that use them are skipped with a warning.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;

use crate::Error;
use crate::reference::{DOCKER_HUB, Repository};

/// Secret type of a Kubernetes pull secret in `config.json` form.
pub const DOCKER_CONFIG_JSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// Secret type of a Kubernetes pull secret in legacy `.dockercfg` form.
pub const DOCKER_CFG_TYPE: &str = "kubernetes.io/dockercfg";

/// A user name and password for one registry. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    username: String,
    password: String,
}

impl BasicAuth {
    /// Credentials from a user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password. Never log it.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Credentials for any number of registries, in priority order.
///
/// Cheap to clone (entries are shared).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    entries: Arc<Vec<Entry>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Lower-case host with port; a leading `*.` label may be a wildcard.
    host: String,
    /// Path prefix without leading or trailing `/`; empty for the whole host.
    path: String,
    auth: BasicAuth,
}

/// One entry of `auths` (or of a `.dockercfg`).
#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

impl Credentials {
    /// No credentials: every registry is asked anonymously.
    pub fn none() -> Self {
        Self::default()
    }

    /// Credentials for one registry host (as written in references, e.g.
    /// `127.0.0.1:5000` or `docker.io`).
    pub fn for_host(host: &str, auth: BasicAuth) -> Self {
        let (host, path) = normalise_key(host);
        Self {
            entries: Arc::new(vec![Entry { host, path, auth }]),
        }
    }

    /// Reads the data of a Kubernetes pull secret of type `secret_type`
    /// ([`DOCKER_CONFIG_JSON_TYPE`] or [`DOCKER_CFG_TYPE`]); `data` maps keys
    /// (`.dockerconfigjson`, `.dockercfg`) to decoded bytes; `name` (e.g.
    /// `namespace/secret`) appears in errors.
    pub fn from_pull_secret(
        name: &str,
        secret_type: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, Error> {
        let (key, legacy) = match secret_type {
            DOCKER_CONFIG_JSON_TYPE => (".dockerconfigjson", false),
            DOCKER_CFG_TYPE => (".dockercfg", true),
            other => {
                return Err(credentials_error(
                    name,
                    format!("secret type {other:?} is not an image pull secret"),
                ));
            }
        };
        let bytes = data
            .get(key)
            .ok_or_else(|| credentials_error(name, format!("no {key} key in the secret")))?;
        if legacy {
            Self::from_dockercfg(name, bytes)
        } else {
            Self::from_docker_config_json(name, bytes)
        }
    }

    /// Reads a docker `config.json` (or a `.dockerconfigjson` value):
    /// `{"auths": {"host": {"auth": "base64(user:pass)"}}}` or with
    /// `username`/`password`. `source_name` appears in errors.
    pub fn from_docker_config_json(source_name: &str, bytes: &[u8]) -> Result<Self, Error> {
        let config: ConfigFile = serde_json::from_slice(bytes)
            .map_err(|e| credentials_error(source_name, format!("not a docker config: {e}")))?;
        if let Some(store) = &config.creds_store {
            tracing::warn!(source = source_name, store = %store, "credential stores are not supported; using only inline auths");
        }
        for (host, helper) in &config.cred_helpers {
            tracing::warn!(source = source_name, registry = %host, helper = %helper, "credential helpers are not supported; skipped");
        }
        Self::from_entries(source_name, config.auths)
    }

    /// Reads a legacy `.dockercfg`: a map of registry to entry, no `auths`.
    pub fn from_dockercfg(source_name: &str, bytes: &[u8]) -> Result<Self, Error> {
        let entries: BTreeMap<String, AuthEntry> = serde_json::from_slice(bytes)
            .map_err(|e| credentials_error(source_name, format!("not a .dockercfg: {e}")))?;
        Self::from_entries(source_name, entries)
    }

    /// Reads a docker `config.json` file.
    pub fn from_docker_config_file(path: &Path) -> Result<Self, Error> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| credentials_error(&name, e.to_string()))?;
        Self::from_docker_config_json(&name, &bytes)
    }

    fn from_entries(source_name: &str, map: BTreeMap<String, AuthEntry>) -> Result<Self, Error> {
        let mut entries = Vec::with_capacity(map.len());
        for (key, entry) in map {
            let auth = match decode_entry(&entry) {
                Ok(Some(auth)) => auth,
                Ok(None) if entry.identity_token.is_some() => {
                    tracing::warn!(source = source_name, registry = %key, "identity tokens are not supported; entry skipped");
                    continue;
                }
                Ok(None) => {
                    tracing::warn!(source = source_name, registry = %key, "entry has no user name and password; skipped");
                    continue;
                }
                Err(reason) => {
                    return Err(credentials_error(
                        source_name,
                        format!("entry {key:?}: {reason}"),
                    ));
                }
            };
            let (host, path) = normalise_key(&key);
            if host.is_empty() {
                return Err(credentials_error(
                    source_name,
                    format!("entry {key:?}: no registry host"),
                ));
            }
            entries.push(Entry { host, path, auth });
        }
        Ok(Self {
            entries: Arc::new(entries),
        })
    }

    /// These credentials followed by `other`'s (which are tried only where
    /// these have no entry of the same specificity).
    pub fn merged(&self, other: &Self) -> Self {
        if other.entries.is_empty() {
            return self.clone();
        }
        if self.entries.is_empty() {
            return other.clone();
        }
        let mut entries = Vec::with_capacity(self.entries.len() + other.entries.len());
        entries.extend(self.entries.iter().cloned());
        for entry in other.entries.iter() {
            if !entries.contains(entry) {
                entries.push(entry.clone());
            }
        }
        Self {
            entries: Arc::new(entries),
        }
    }

    /// Whether there are no credentials at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The credentials for `repository`, if any entry matches.
    pub fn lookup(&self, repository: &Repository) -> Option<&BasicAuth> {
        let host = repository.registry().to_ascii_lowercase();
        let path = repository.path();
        self.entries
            .iter()
            .filter_map(|entry| {
                let wildcard = match host_matches(&entry.host, &host) {
                    HostMatch::Exact => false,
                    HostMatch::Wildcard => true,
                    HostMatch::No => return None,
                };
                if !path_has_prefix(path, &entry.path) {
                    return None;
                }
                Some((entry, wildcard))
            })
            // Most specific first; `min_by_key` keeps the earliest of equals.
            .min_by_key(|(entry, wildcard)| (*wildcard, std::cmp::Reverse(entry.path.len())))
            .map(|(entry, _)| &entry.auth)
    }
}

fn credentials_error(source_name: &str, reason: String) -> Error {
    Error::Credentials {
        source_name: source_name.to_owned(),
        reason,
    }
}

/// `auth` (base64 of `user:password`) wins over `username`/`password`, as in
/// Docker. `Ok(None)` for an entry with neither (an identity token alone).
fn decode_entry(entry: &AuthEntry) -> Result<Option<BasicAuth>, String> {
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| "`auth` is not base64".to_owned())?;
        let text = String::from_utf8(decoded).map_err(|_| "`auth` is not UTF-8".to_owned())?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| "`auth` is not user:password".to_owned())?;
        return Ok(Some(BasicAuth::new(user, password.trim_end_matches('\n'))));
    }
    match (&entry.username, &entry.password) {
        (Some(user), Some(password)) if !user.is_empty() => {
            Ok(Some(BasicAuth::new(user.clone(), password.clone())))
        }
        // Nothing usable, or an identity token (an OAuth flow not supported).
        _ => Ok(None),
    }
}

/// `https://index.docker.io/v1/` -> (`docker.io`, ``); `host:5000/team/` ->
/// (`host:5000`, `team`).
fn normalise_key(key: &str) -> (String, String) {
    let key = key.trim();
    let lower = key.to_ascii_lowercase();
    let key = if lower.starts_with("https://") {
        &key[8..]
    } else if lower.starts_with("http://") {
        &key[7..]
    } else {
        key
    };
    let (host, path) = key.split_once('/').unwrap_or((key, ""));
    let host = host.to_ascii_lowercase();
    let host = match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_owned()
        }
        _ => host,
    };
    let path = path.trim_matches('/');
    // API version paths (`/v1/`, `/v2/`) are not repository prefixes.
    let path = if path == "v1" || path == "v2" {
        ""
    } else {
        path
    };
    (host, path.to_owned())
}

enum HostMatch {
    Exact,
    Wildcard,
    No,
}

/// Exact match, or kubelet-style globs per label (`*.example.com` matches
/// `a.example.com` but not `example.com` nor `a.b.example.com`); ports must
/// be equal.
fn host_matches(pattern: &str, host: &str) -> HostMatch {
    if pattern == host {
        return HostMatch::Exact;
    }
    if !pattern.contains('*') {
        return HostMatch::No;
    }
    let split = |h: &str| -> (String, String) {
        match h.rsplit_once(':') {
            Some((name, port)) if !name.ends_with(']') || h.starts_with('[') => {
                (name.to_owned(), port.to_owned())
            }
            _ => (h.to_owned(), String::new()),
        }
    };
    let (pattern_name, pattern_port) = split(pattern);
    let (host_name, host_port) = split(host);
    if pattern_port != host_port {
        return HostMatch::No;
    }
    let pattern_labels: Vec<&str> = pattern_name.split('.').collect();
    let host_labels: Vec<&str> = host_name.split('.').collect();
    if pattern_labels.len() != host_labels.len() {
        return HostMatch::No;
    }
    let all = pattern_labels
        .iter()
        .zip(&host_labels)
        .all(|(p, h)| label_matches(p, h));
    if all {
        HostMatch::Wildcard
    } else {
        HostMatch::No
    }
}

/// A label glob where `*` matches any run of characters.
fn label_matches(pattern: &str, label: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == label,
        Some((prefix, rest)) => {
            let Some(tail) = label.strip_prefix(prefix) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| label_matches(rest, &tail[i..]))
        }
    }
}

fn path_has_prefix(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn repo(s: &str) -> Repository {
        Repository::parse(s).unwrap()
    }

    fn user_for(creds: &Credentials, r: &str) -> Option<String> {
        creds.lookup(&repo(r)).map(|a| a.username().to_owned())
    }

    #[test]
    fn reads_dockerconfigjson_and_matches_docker_hub_aliases() {
        let json = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "127.0.0.1:5000": {{"username": "u2", "password": "p2"}},
                "HTTPS://Quay.IO": {{"auth": "{}"}}
            }}}}"#,
            b64("hub:secret:with:colons"),
            b64("quay:pw")
        );
        let mut data = BTreeMap::new();
        data.insert(".dockerconfigjson".to_owned(), json.into_bytes());
        let creds =
            Credentials::from_pull_secret("ns/pull", DOCKER_CONFIG_JSON_TYPE, &data).unwrap();
        let hub = creds.lookup(&repo("nginx")).unwrap();
        assert_eq!(hub.username(), "hub");
        assert_eq!(hub.password(), "secret:with:colons");
        assert_eq!(
            user_for(&creds, "index.docker.io/org/app").as_deref(),
            Some("hub")
        );
        assert_eq!(
            user_for(&creds, "127.0.0.1:5000/team/app").as_deref(),
            Some("u2")
        );
        assert_eq!(user_for(&creds, "quay.io/org/app").as_deref(), Some("quay"));
        // Ports are part of the host.
        assert_eq!(user_for(&creds, "127.0.0.1:5001/team/app"), None);
        assert_eq!(user_for(&creds, "127.0.0.1/team/app"), None);
        assert!(!format!("{creds:?}").contains("secret"));
    }

    #[test]
    fn reads_dockercfg_and_config_files() {
        let cfg = format!(
            r#"{{"registry.example.com": {{"auth": "{}", "email": "x@y"}}}}"#,
            b64("a:b")
        );
        let mut data = BTreeMap::new();
        data.insert(".dockercfg".to_owned(), cfg.into_bytes());
        let creds = Credentials::from_pull_secret("ns/old", DOCKER_CFG_TYPE, &data).unwrap();
        assert_eq!(
            user_for(&creds, "registry.example.com/x").as_deref(),
            Some("a")
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths": {"ghcr.io": {"username": "g", "password": "p"}, "helper.io": {}},
                "credHelpers": {"gcr.io": "gcloud"}, "credsStore": "desktop"}"#,
        )
        .unwrap();
        let creds = Credentials::from_docker_config_file(&path).unwrap();
        assert_eq!(user_for(&creds, "ghcr.io/o/a").as_deref(), Some("g"));
        assert_eq!(user_for(&creds, "helper.io/o/a"), None);
    }

    #[test]
    fn most_specific_entry_wins() {
        let json = format!(
            r#"{{"auths": {{
                "*.example.com": {{"auth": "{}"}},
                "reg.example.com": {{"auth": "{}"}},
                "reg.example.com/team": {{"auth": "{}"}}
            }}}}"#,
            b64("wild:1"),
            b64("host:1"),
            b64("team:1")
        );
        let creds = Credentials::from_docker_config_json("cfg", json.as_bytes()).unwrap();
        assert_eq!(
            user_for(&creds, "reg.example.com/team/app").as_deref(),
            Some("team")
        );
        assert_eq!(
            user_for(&creds, "reg.example.com/teamx/app").as_deref(),
            Some("host")
        );
        assert_eq!(
            user_for(&creds, "other.example.com/a").as_deref(),
            Some("wild")
        );
        assert_eq!(user_for(&creds, "a.b.example.com/a"), None);
        assert_eq!(user_for(&creds, "example.com/a"), None);

        let first = Credentials::for_host("docker.io", BasicAuth::new("first", "x"));
        let second = Credentials::for_host("index.docker.io", BasicAuth::new("second", "y"));
        assert_eq!(
            user_for(&first.merged(&second), "nginx").as_deref(),
            Some("first")
        );
        assert_eq!(
            user_for(&second.merged(&first), "nginx").as_deref(),
            Some("second")
        );
    }

    #[test]
    fn bad_secrets_are_errors_without_secrets() {
        let mut data = BTreeMap::new();
        let err = Credentials::from_pull_secret("ns/s", "Opaque", &data).unwrap_err();
        assert!(err.to_string().contains("ns/s"), "{err}");
        let err =
            Credentials::from_pull_secret("ns/s", DOCKER_CONFIG_JSON_TYPE, &data).unwrap_err();
        assert!(err.to_string().contains(".dockerconfigjson"), "{err}");
        data.insert(".dockerconfigjson".to_owned(), b"{not json".to_vec());
        let err =
            Credentials::from_pull_secret("ns/s", DOCKER_CONFIG_JSON_TYPE, &data).unwrap_err();
        assert!(err.to_string().contains("not a docker config"), "{err}");
        let bad = r#"{"auths": {"r.io": {"auth": "!!!not base64-supersecret"}}}"#;
        let err = Credentials::from_docker_config_json("cfg", bad.as_bytes()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("r.io") && text.contains("base64"), "{text}");
        assert!(!text.contains("supersecret"), "{text}");
        let no_colon = format!(
            r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
            b64("justuser")
        );
        let err = Credentials::from_docker_config_json("cfg", no_colon.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("user:password"), "{err}");
    }

    #[test]
    fn label_globs() {
        assert!(label_matches("*", "abc"));
        assert!(label_matches("a*c", "abbc"));
        assert!(!label_matches("a*c", "abd"));
        assert!(label_matches("*-eu", "reg-eu"));
    }
}
