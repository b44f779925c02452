//! What a HelmRelease may make the operator reach.
//!
//! A HelmRelease is written by whoever may write in its namespace, and the
//! operator acts with its own network position, files and credentials. So:
//!
//! - URLs from HelmReleases (chart repositories, `externalSourceRef`, OCI
//!   registries, git remotes) must not lead to loopback, link-local (the
//!   cloud metadata service at 169.254.169.254), unspecified or multicast
//!   addresses, unless [`AccessPolicy::allow_internal_urls`]. Host names are
//!   checked as they resolve, in the HTTP client's own resolver, so a name
//!   that resolves elsewhere on the second lookup gains nothing; redirects
//!   are checked too.
//! - Git chart sources that are paths on the operator's machine (a plain
//!   path or `file://`) are refused unless [`AccessPolicy::allow_local_git`].
//!
//! The deploy key's limits are [`crate::gitcharts::GitAccess`]'s.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::Error;

/// The operator's limits on what HelmReleases may reach. The default (also
/// [`AccessPolicy::new`]) allows nothing internal; the `with_*` setters open
/// what a deployment needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessPolicy {
    /// Let chart repositories, values URLs, OCI registries and git remotes
    /// be on loopback and link-local addresses (`--allow-internal-urls`).
    pub allow_internal_urls: bool,
    /// Let `chart.git` be a path or `file://` URL on the operator's machine
    /// (`--git-allow-local`).
    pub allow_local_git: bool,
    /// OCI registries (`host` or `host:port`) reached over plain HTTP
    /// (`--oci-plain-http-host`).
    pub oci_plain_http_hosts: Vec<String>,
}

impl AccessPolicy {
    /// No internal addresses, no local git, no plain-HTTP OCI registries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`allow_internal_urls`](Self::allow_internal_urls).
    #[must_use]
    pub fn with_allow_internal_urls(mut self, allow_internal_urls: bool) -> Self {
        self.allow_internal_urls = allow_internal_urls;
        self
    }

    /// Sets [`allow_local_git`](Self::allow_local_git).
    #[must_use]
    pub fn with_allow_local_git(mut self, allow_local_git: bool) -> Self {
        self.allow_local_git = allow_local_git;
        self
    }

    /// Sets [`oci_plain_http_hosts`](Self::oci_plain_http_hosts).
    #[must_use]
    pub fn with_oci_plain_http_hosts(
        mut self,
        oci_plain_http_hosts: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.oci_plain_http_hosts = oci_plain_http_hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Whether `addr` may be contacted for a HelmRelease.
    pub fn allows_address(&self, addr: IpAddr) -> bool {
        self.allow_internal_urls || !is_internal(addr)
    }

    /// Checks a URL's host before it is used: refuses hosts that are
    /// internal addresses written as such (names are checked as they resolve).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(format!(
                    "scheme {other}:// is not allowed (use http or https)"
                ));
            }
        }
        let Some(host) = url.host_str() else {
            return Err("the URL has no host".to_owned());
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self.check_ip(ip);
        }
        if bare.eq_ignore_ascii_case("localhost")
            || bare.to_ascii_lowercase().ends_with(".localhost")
        {
            return self.check_ip(IpAddr::from([127, 0, 0, 1]));
        }
        Ok(())
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if self.allows_address(ip) {
            Ok(())
        } else {
            Err(internal_refusal(&ip.to_string()))
        }
    }

    /// Resolves `host` and checks that it leads somewhere allowed (for git
    /// remotes, which libgit2 resolves itself: a best effort).
    pub async fn check_host(&self, host: &str, port: u16) -> Result<(), String> {
        if self.allow_internal_urls {
            return Ok(());
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.check_ip(ip);
        }
        let resolved: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => addrs.collect(),
            // Let the client report a name that does not resolve.
            Err(_) => return Ok(()),
        };
        if !resolved.is_empty() && resolved.iter().all(|a| !self.allows_address(a.ip())) {
            return Err(internal_refusal(host));
        }
        Ok(())
    }

    /// Whether the OCI registry `host` (with `:port` when not 443) speaks plain HTTP.
    pub fn oci_plain_http(&self, host: &str) -> bool {
        self.oci_plain_http_hosts.iter().any(|h| h == host)
    }
}

fn internal_refusal(host: &str) -> String {
    format!(
        "{host} is a loopback, link-local or otherwise internal address, which the operator does not contact for a HelmRelease (start it with --allow-internal-urls to allow it)"
    )
}

/// Loopback, link-local, unspecified, multicast and broadcast addresses
/// (IPv4-mapped IPv6 ones too).
pub(crate) fn is_internal(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// A DNS resolver that drops internal addresses (unless allowed).
struct GuardedResolver {
    policy: AccessPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?
                .collect();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| policy.allows_address(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(internal_refusal(&host).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client for everything a HelmRelease points at: its resolver
/// and redirects follow `policy`, at most five redirects.
pub fn http_client(policy: &AccessPolicy) -> Result<reqwest::Client, Error> {
    let redirects = policy.clone();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(300))
        .dns_resolver(Arc::new(GuardedResolver {
            policy: policy.clone(),
        }))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("more than 5 redirects");
            }
            match redirects.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(reason) => attempt.error(format!("redirected to a refused URL: {reason}")),
            }
        }))
        .build()
        .map_err(|e| Error::Startup {
            reason: format!("building the HTTP client: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for internal in [
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for external in ["10.0.0.1", "192.168.1.1", "8.8.8.8", "2001:db8::1"] {
            assert!(!is_internal(external.parse().unwrap()), "{external}");
        }
    }

    #[test]
    fn urls_with_internal_hosts_are_refused() {
        let policy = AccessPolicy::default();
        for url in [
            "http://127.0.0.1:8080/index.yaml",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/x",
            "http://localhost/x",
        ] {
            let err = policy.check_url(&url.parse().unwrap()).unwrap_err();
            assert!(err.contains("--allow-internal-urls"), "{url}: {err}");
        }
        assert!(
            policy
                .check_url(&"file:///etc/passwd".parse().unwrap())
                .is_err()
        );
        assert!(
            policy
                .check_url(&"https://charts.example.com/".parse().unwrap())
                .is_ok()
        );
        let open = AccessPolicy {
            allow_internal_urls: true,
            ..AccessPolicy::default()
        };
        assert!(
            open.check_url(&"http://127.0.0.1:8080/".parse().unwrap())
                .is_ok()
        );
    }
}
