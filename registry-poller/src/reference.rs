//! Image references, parsed and normalised the way Docker does.
//!
//! `nginx` is `docker.io/library/nginx`, `index.docker.io/x/y` is
//! `docker.io/x/y`, a first component with a `.` or `:` (or `localhost`, or an
//! upper-case letter) is a registry host, possibly with a port. A reference may
//! carry a tag, a digest, or both.

use std::fmt;
use std::str::FromStr;

use crate::Error;
use crate::digest::Digest;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// Docker Hub's legacy name, normalised to [`DOCKER_HUB`].
pub(crate) const LEGACY_DOCKER_HUB: &str = "index.docker.io";
/// Prefix of Docker Hub's official images (`nginx` is `library/nginx`).
const OFFICIAL_PREFIX: &str = "library/";
/// Longest repository name (registry and path) Docker accepts.
const MAX_NAME_LEN: usize = 255;
/// Longest tag.
const MAX_TAG_LEN: usize = 128;

/// An image repository: a registry host (with port, if any) and a path.
///
/// Ordered and hashed by its normalised form, so it works as a map key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Repository {
    registry: Box<str>,
    path: Box<str>,
}

impl Repository {
    /// Parses a repository name without tag or digest (`nginx`,
    /// `ghcr.io/org/app`, `localhost:5000/app`).
    pub fn parse(name: &str) -> Result<Self, Error> {
        let image = ImageRef::parse(name)?;
        if image.tag.is_some() || image.digest.is_some() {
            return Err(invalid(name, "a repository name has no tag or digest"));
        }
        Ok(image.repository)
    }

    /// The registry host as written in references, with port (`docker.io`,
    /// `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path within the registry (`library/nginx`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The host the registry API is served from: Docker Hub's API lives at
    /// `registry-1.docker.io`; every other registry at its own name.
    pub fn api_host(&self) -> &str {
        if &*self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// The short form Docker prints: `nginx` for `docker.io/library/nginx`,
    /// `org/app` for `docker.io/org/app`, the full name otherwise.
    pub fn familiar(&self) -> String {
        if &*self.registry == DOCKER_HUB {
            self.path
                .strip_prefix(OFFICIAL_PREFIX)
                .unwrap_or(&self.path)
                .to_owned()
        } else {
            self.to_string()
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

impl FromStr for Repository {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// A full image reference: repository, optional tag, optional digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    repository: Repository,
    tag: Option<Box<str>>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses and normalises a reference such as `nginx:1.25`,
    /// `ghcr.io/org/app@sha256:...` or `localhost:5000/app:v1@sha256:...`.
    /// The error names the reference and what is wrong with it.
    pub fn parse(reference: &str) -> Result<Self, Error> {
        if reference.is_empty() {
            return Err(invalid(reference, "empty reference"));
        }
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => {
                let digest = Digest::parse(digest)
                    .map_err(|e| invalid(reference, &format!("bad digest: {e}")))?;
                (rest, Some(digest))
            }
            None => (reference, None),
        };
        // A tag follows the last ':' after the last '/' (an earlier ':' is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                check_tag(tag).map_err(|reason| invalid(reference, reason))?;
                (&rest[..last_slash + i], Some(Box::from(tag)))
            }
            None => (rest, None),
        };
        let repository = parse_name(name).map_err(|reason| invalid(reference, &reason))?;
        Ok(Self {
            repository,
            tag,
            digest,
        })
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference has one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Self, Error> {
        check_tag(tag).map_err(|reason| invalid(tag, reason))?;
        Ok(Self {
            repository: self.repository.clone(),
            tag: Some(tag.into()),
            digest: None,
        })
    }

    /// The short form Docker prints (`nginx:1.25`); see [`Repository::familiar`].
    pub fn familiar(&self) -> String {
        let mut out = self.repository.familiar();
        self.push_suffix(&mut out);
        out
    }

    fn push_suffix(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(&digest.to_string());
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.repository.to_string();
        self.push_suffix(&mut out);
        f.write_str(&out)
    }
}

impl FromStr for ImageRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

fn invalid(reference: &str, reason: &str) -> Error {
    Error::InvalidReference {
        reference: reference.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Splits the registry host off as Docker's `splitDockerDomain` does, then
/// checks both halves against the reference grammar.
fn parse_name(name: &str) -> Result<Repository, String> {
    if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("a 64-character hexadecimal string is an image id, not a name".to_owned());
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first, rest.to_owned())
        }
        _ => (DOCKER_HUB, name.to_owned()),
    };
    let registry = if registry == LEGACY_DOCKER_HUB {
        DOCKER_HUB
    } else {
        registry
    };
    check_host(registry)?;
    let path = if registry == DOCKER_HUB && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("repository name must be lowercase".to_owned());
    }
    for component in path.split('/') {
        check_path_component(component)?;
    }
    if registry.len() + 1 + path.len() > MAX_NAME_LEN {
        return Err(format!(
            "repository name longer than {MAX_NAME_LEN} characters"
        ));
    }
    Ok(Repository {
        registry: registry.into(),
        path: path.into(),
    })
}

/// `host[:port]` where host is dot-separated labels of letters, digits and
/// inner dashes, or a bracketed IPv6 address.
fn check_host(registry: &str) -> Result<(), String> {
    let bad = || format!("invalid registry host {registry:?}");
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or_else(bad)?;
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(bad());
        }
        match after {
            "" => ("", None),
            _ => ("", Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        }
    };
    if !registry.starts_with('[') {
        if host.is_empty() {
            return Err(bad());
        }
        for label in host.split('.') {
            let bytes = label.as_bytes();
            let ok = !bytes.is_empty()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes.first() != Some(&b'-')
                && bytes.last() != Some(&b'-');
            if !ok {
                return Err(bad());
            }
        }
    }
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    Ok(())
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or runs of `-`.
fn check_path_component(component: &str) -> Result<(), String> {
    let bad = || format!("invalid path component {component:?}");
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad());
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> Result<(), &'static str> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match bytes.first() {
        None => Err("empty tag"),
        _ if bytes.len() > MAX_TAG_LEN => Err("tag longer than 128 characters"),
        Some(&b) if !word(b) => Err("a tag starts with a letter, digit or '_'"),
        _ if !bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-') => {
            Err("a tag has only letters, digits, '_', '.' and '-'")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        ImageRef::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("nginx"), "docker.io/library/nginx");
        assert_eq!(full("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(full("org/app"), "docker.io/org/app");
        assert_eq!(full("docker.io/nginx"), "docker.io/library/nginx");
        assert_eq!(full("index.docker.io/nginx"), "docker.io/library/nginx");
        assert_eq!(full("index.docker.io/org/app:v1"), "docker.io/org/app:v1");
        assert_eq!(full("ghcr.io/org/team/app:v1"), "ghcr.io/org/team/app:v1");
        assert_eq!(full("localhost/app"), "localhost/app");
        assert_eq!(full("localhost:5000/app:v2"), "localhost:5000/app:v2");
        assert_eq!(full("127.0.0.1:5000/team/app"), "127.0.0.1:5000/team/app");
        assert_eq!(full("[::1]:5000/app:v1"), "[::1]:5000/app:v1");
        assert_eq!(full("Example/app"), "Example/app");
        assert_eq!(
            full("a.b/c__d/e-f/g.h_i---j:V_1.0-rc"),
            "a.b/c__d/e-f/g.h_i---j:V_1.0-rc"
        );
    }

    #[test]
    fn parts_and_familiar_form() {
        let image = ImageRef::parse(&("nginx:1.25@sha256:".to_owned() + &"a".repeat(64))).unwrap();
        assert_eq!(image.repository().registry(), "docker.io");
        assert_eq!(image.repository().path(), "library/nginx");
        assert_eq!(image.repository().api_host(), "registry-1.docker.io");
        assert_eq!(image.tag(), Some("1.25"));
        assert_eq!(
            image.digest().unwrap().to_string(),
            format!("sha256:{}", "a".repeat(64))
        );
        assert!(image.familiar().starts_with("nginx:1.25@sha256:"));
        let other = ImageRef::parse("docker.io/org/app:v1").unwrap();
        assert_eq!(other.familiar(), "org/app:v1");
        let local = ImageRef::parse("localhost:5000/app").unwrap();
        assert_eq!(local.familiar(), "localhost:5000/app");
        assert_eq!(local.repository().api_host(), "localhost:5000");
        assert_eq!(
            local.with_tag("v9").unwrap().to_string(),
            "localhost:5000/app:v9"
        );
        assert_eq!(
            Repository::parse("nginx").unwrap(),
            Repository::parse("docker.io/library/nginx").unwrap()
        );
    }

    #[test]
    fn errors_name_the_reference() {
        for (bad, why) in [
            ("", "empty"),
            ("Nginx", "lowercase"),
            ("nginx:", "empty tag"),
            ("nginx:-x", "starts with"),
            ("nginx:a/b", "registry host"),
            ("app@sha256:zz", "digest"),
            ("a..b/c", "registry host"),
            ("host:port/app", "registry host"),
            ("reg.io/-app", "path component"),
            ("reg.io/app//x", "path component"),
            ("reg.io/a___b", "path component"),
            ("nginx:1 2", "letters"),
            ("nginx", ""),
        ] {
            let result = ImageRef::parse(bad);
            if bad == "nginx" {
                assert!(result.is_ok());
                continue;
            }
            let text = result.unwrap_err().to_string();
            assert!(text.contains(&format!("{bad:?}")), "{text}");
            assert!(text.contains(why), "{bad}: {text}");
        }
        let hex = "a".repeat(64);
        assert!(
            ImageRef::parse(&hex)
                .unwrap_err()
                .to_string()
                .contains("image id")
        );
        let long = format!("reg.io/{}", "a".repeat(260));
        assert!(
            ImageRef::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("longer")
        );
        let text = Repository::parse("nginx:1").unwrap_err().to_string();
        assert!(text.contains("no tag"), "{text}");
    }
}
