//! Kubernetes' name rules (RFC 1123), shared by everything that checks a
//! namespace, an object name or a Helm release name.

/// Whether `name` is a DNS label (RFC 1123) as Kubernetes checks namespace
/// names: 1 to 63 lower-case letters, digits and `-`, starting and ending
/// with a letter or digit.
///
/// ```
/// assert!(manifests::names::is_dns_label("demo-1"));
/// assert!(!manifests::names::is_dns_label("-demo"));
/// assert!(!manifests::names::is_dns_label("Demo"));
/// ```
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

/// Whether `name` is a DNS subdomain (RFC 1123) as Kubernetes checks most
/// object names: at most 253 characters of DNS labels joined by `.`.
///
/// ```
/// assert!(manifests::names::is_dns_subdomain("flux-git-deploy"));
/// assert!(manifests::names::is_dns_subdomain("a.b-c"));
/// assert!(!manifests::names::is_dns_subdomain("a..b"));
/// ```
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for good in ["a", "0", "demo", "a-b", &"x".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"x".repeat(64), "é"] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn subdomains() {
        assert!(is_dns_subdomain("kube-system"));
        assert!(is_dns_subdomain(&format!("{}.{}", "a".repeat(63), "b")));
        assert!(!is_dns_subdomain(""));
        assert!(!is_dns_subdomain(".a"));
        assert!(!is_dns_subdomain(&"a.".repeat(127)));
    }
}
