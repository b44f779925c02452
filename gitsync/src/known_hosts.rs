//! OpenSSH `known_hosts`: parsing and host key checking.
//!
//! Supports plain host patterns (comma lists, `*` and `?` wildcards, `!`
//! negation), `[host]:port` for servers off port 22, hashed `|1|salt|hash`
//! entries (HMAC-SHA1, as `ssh-keygen -H` writes them) and `@revoked` keys.
//! `@cert-authority` lines are read but never match: libssh2 does not present
//! host certificates.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{KeyInit, Mac};
use sha2::Digest as _;

use crate::Error;

/// A parsed known_hosts file.
#[derive(Clone, Debug, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
    /// Where the entries came from, for error messages.
    source: String,
}

#[derive(Clone, Debug)]
struct Entry {
    marker: Option<Marker>,
    hosts: Hosts,
    key_type: String,
    key: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    CertAuthority,
    Revoked,
}

#[derive(Clone, Debug)]
enum Hosts {
    /// `|1|salt|hash`.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Comma-separated patterns, lower-cased; `negated` ones start with `!`.
    Patterns(Vec<Pattern>),
}

#[derive(Clone, Debug)]
struct Pattern {
    negated: bool,
    text: String,
}

impl KnownHosts {
    /// Reads a known_hosts file. Errors name the file and line.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading known_hosts {}", path.display()), e))?;
        Self::parse(&text, path)
    }

    /// Parses known_hosts text; `origin` names it in errors (a path, or e.g. a
    /// Secret's name).
    pub fn parse(text: &str, origin: &Path) -> Result<Self, Error> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = parse_line(line).map_err(|reason| Error::KnownHostsSyntax {
                path: origin.to_owned(),
                line: index + 1,
                reason,
            })?;
            entries.push(entry);
        }
        Ok(Self {
            entries,
            source: origin.display().to_string(),
        })
    }

    /// These entries and `other`'s together (e.g. the system file and the
    /// user's), named after both in errors.
    #[must_use]
    pub fn merge(mut self, other: Self) -> Self {
        self.entries.extend(other.entries);
        self.source = match (self.source.is_empty(), other.source.is_empty()) {
            (true, _) => other.source,
            (_, true) => self.source,
            _ => format!("{} and {}", self.source, other.source),
        };
        self
    }

    /// Number of entries read.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries (every host is then unknown).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks the host key `key` (the ssh wire-format blob the server sent) of
    /// `host` on `port`. Unknown, mismatched and revoked keys are errors naming
    /// the host, the key type and the key's fingerprint.
    pub fn check(&self, host: &str, port: u16, key: &[u8]) -> Result<(), Error> {
        let name = host_name(host, port);
        let key_type = key_type(key).unwrap_or_else(|| "unknown".to_owned());
        if self
            .entries
            .iter()
            .any(|e| e.marker == Some(Marker::Revoked) && e.key == key)
        {
            return Err(Error::HostKeyRevoked {
                host: name,
                key_type,
                known_hosts: self.source.clone(),
            });
        }
        let mut same_type_other_key = None;
        for entry in self
            .entries
            .iter()
            .filter(|e| e.marker.is_none() && e.hosts.matches(&name))
        {
            if entry.key == key {
                return Ok(());
            }
            if entry.key_type == key_type && same_type_other_key.is_none() {
                same_type_other_key = Some(fingerprint(&entry.key));
            }
        }
        let fingerprint = fingerprint(key);
        let known_hosts = self.source.clone();
        Err(match same_type_other_key {
            Some(known_fingerprint) => Error::HostKeyMismatch {
                host: name,
                key_type,
                fingerprint,
                known_hosts: format!("{known_hosts}, which has {known_fingerprint}"),
            },
            None => Error::HostKeyUnknown {
                host: name,
                key_type,
                fingerprint,
                known_hosts,
            },
        })
    }
}

/// The name known_hosts uses for a host: `host` on port 22, else `[host]:port`.
pub(crate) fn host_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else if host.starts_with('[') {
        format!("{host}:{port}")
    } else {
        format!("[{host}]:{port}")
    }
}

/// The `ssh-keyscan` command that prints the known_hosts line of the key of
/// type `key_type` of `name` (`host`, or `[host]:port`).
pub(crate) fn keyscan_command(name: &str, key_type: &str) -> String {
    let (host, port) = match name
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("]:"))
    {
        Some((host, port)) => (host, port.parse().unwrap_or(22)),
        None => (name, 22u16),
    };
    let short = match key_type {
        "ssh-ed25519" => "ed25519",
        "ssh-rsa" | "rsa-sha2-256" | "rsa-sha2-512" => "rsa",
        t if t.starts_with("ecdsa-") => "ecdsa",
        other => other,
    };
    if port == 22 {
        format!("ssh-keyscan -t {short} {host}")
    } else {
        format!("ssh-keyscan -t {short} -p {port} {host}")
    }
}

/// The key type named inside an ssh public key blob (its first string).
fn key_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4usize.checked_add(len)?)?;
    String::from_utf8(name.to_vec()).ok()
}

/// `SHA256:<base64>`, as `ssh-keygen -l` prints it.
pub(crate) fn fingerprint(blob: &[u8]) -> String {
    format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(sha2::Sha256::digest(blob))
    )
}

fn parse_line(line: &str) -> Result<Entry, String> {
    let mut fields = line.split_whitespace();
    let mut first = fields.next().ok_or("empty line")?;
    let marker = if let Some(marker) = first.strip_prefix('@') {
        let marker = match marker {
            "cert-authority" => Marker::CertAuthority,
            "revoked" => Marker::Revoked,
            other => return Err(format!("unknown marker `@{other}`")),
        };
        first = fields.next().ok_or("no host patterns after the marker")?;
        Some(marker)
    } else {
        None
    };
    let hosts = parse_hosts(first)?;
    let key_type = fields.next().ok_or("no key type")?.to_owned();
    let encoded = fields.next().ok_or("no key")?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|e| format!("the key is not valid base64: {e}"))?;
    match self::key_type(&key) {
        Some(inner) if inner == key_type => {}
        Some(inner) => {
            return Err(format!(
                "the key is of type `{inner}` but the line says `{key_type}`"
            ));
        }
        None => return Err("the key is not an ssh public key".to_owned()),
    }
    Ok(Entry {
        marker,
        hosts,
        key_type,
        key,
    })
}

fn parse_hosts(field: &str) -> Result<Hosts, String> {
    if let Some(hashed) = field.strip_prefix("|1|") {
        let (salt, hash) = hashed
            .split_once('|')
            .ok_or("a hashed host needs `|1|salt|hash`")?;
        let salt = STANDARD
            .decode(salt)
            .map_err(|e| format!("hashed host salt is not base64: {e}"))?;
        let hash = STANDARD
            .decode(hash)
            .map_err(|e| format!("hashed host hash is not base64: {e}"))?;
        return Ok(Hosts::Hashed { salt, hash });
    }
    if field.starts_with('|') {
        return Err("unsupported hashed host format (only `|1|` exists)".to_owned());
    }
    let patterns = field
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.strip_prefix('!') {
            Some(rest) => Pattern {
                negated: true,
                text: rest.to_ascii_lowercase(),
            },
            None => Pattern {
                negated: false,
                text: p.to_ascii_lowercase(),
            },
        })
        .collect::<Vec<_>>();
    if patterns.is_empty() {
        return Err("no host patterns".to_owned());
    }
    Ok(Hosts::Patterns(patterns))
}

impl Hosts {
    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Hashed { salt, hash } => {
                let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            Self::Patterns(patterns) => {
                let mut matched = false;
                for pattern in patterns {
                    if wildcard_match(pattern.text.as_bytes(), name.as_bytes()) {
                        if pattern.negated {
                            return false;
                        }
                        matched = true;
                    }
                }
                matched
            }
        }
    }
}

/// `*` matches any run of characters, `?` any one character.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an ssh wire-format public key blob of `key_type` with `body`.
    fn blob(key_type: &str, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(key_type.len() as u32).to_be_bytes());
        out.extend_from_slice(key_type.as_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn line(hosts: &str, key: &[u8]) -> String {
        let key_type = key_type(key).unwrap();
        format!("{hosts} {key_type} {} comment\n", STANDARD.encode(key))
    }

    fn parse(text: &str) -> KnownHosts {
        KnownHosts::parse(text, Path::new("known_hosts")).unwrap()
    }

    #[test]
    fn plain_entry_matches_on_port_22_only() {
        let key = blob("ssh-ed25519", &[1; 32]);
        let hosts = parse(&line("github.com,140.82.121.4", &key));
        hosts.check("github.com", 22, &key).unwrap();
        hosts.check("GitHub.com", 22, &key).unwrap();
        hosts.check("140.82.121.4", 22, &key).unwrap();
        let err = hosts
            .check("github.com", 2222, &key)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no ssh-ed25519 key for [github.com]:2222"),
            "{err}"
        );
        assert!(err.contains("SHA256:"), "{err}");
    }

    #[test]
    fn bracketed_port_entry() {
        let key = blob("ssh-ed25519", &[2; 32]);
        let hosts = parse(&line("[127.0.0.1]:2200", &key));
        hosts.check("127.0.0.1", 2200, &key).unwrap();
        assert!(matches!(
            hosts.check("127.0.0.1", 22, &key),
            Err(Error::HostKeyUnknown { .. })
        ));
    }

    #[test]
    fn mismatched_key_of_the_same_type_is_named() {
        let known = blob("ssh-ed25519", &[3; 32]);
        let offered = blob("ssh-ed25519", &[4; 32]);
        let hosts = parse(&line("git.example.com", &known));
        let err = hosts.check("git.example.com", 22, &offered).unwrap_err();
        assert!(matches!(err, Error::HostKeyMismatch { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("ssh-ed25519 key of git.example.com does not match"),
            "{text}"
        );
        assert!(text.contains(&fingerprint(&offered)), "{text}");
    }

    #[test]
    fn other_key_type_is_unknown_not_mismatched() {
        let known = blob("ssh-rsa", &[5; 64]);
        let offered = blob("ssh-ed25519", &[6; 32]);
        let hosts = parse(&line("git.example.com", &known));
        assert!(matches!(
            hosts.check("git.example.com", 22, &offered),
            Err(Error::HostKeyUnknown { .. })
        ));
    }

    #[test]
    fn hashed_entry() {
        // `ssh-keygen -H` form: HMAC-SHA1 keyed by the salt over the host name.
        let key = blob("ssh-ed25519", &[7; 32]);
        let salt = [9u8; 20];
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"[127.0.0.1]:2200");
        let hash = mac.finalize().into_bytes();
        let hosts = parse(&line(
            &format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(hash)),
            &key,
        ));
        hosts.check("127.0.0.1", 2200, &key).unwrap();
        assert!(hosts.check("127.0.0.1", 2201, &key).is_err());
    }

    #[test]
    fn wildcards_and_negation() {
        let key = blob("ssh-ed25519", &[8; 32]);
        let hosts = parse(&line("*.example.com,!evil.example.com,git?.corp", &key));
        hosts.check("git.example.com", 22, &key).unwrap();
        hosts.check("git1.corp", 22, &key).unwrap();
        assert!(hosts.check("evil.example.com", 22, &key).is_err());
        assert!(hosts.check("git12.corp", 22, &key).is_err());
        assert!(hosts.check("example.com", 22, &key).is_err());
    }

    #[test]
    fn revoked_key_is_refused_even_if_listed() {
        let key = blob("ssh-ed25519", &[10; 32]);
        let text = format!("{}@revoked * {}", line("host", &key), line("", &key).trim());
        let hosts = parse(&text);
        let err = hosts.check("host", 22, &key).unwrap_err();
        assert!(matches!(err, Error::HostKeyRevoked { .. }), "{err}");
    }

    #[test]
    fn cert_authority_lines_never_match() {
        let key = blob("ssh-ed25519", &[11; 32]);
        let hosts = parse(&format!("@cert-authority {}", line("*", &key)));
        assert!(hosts.check("host", 22, &key).is_err());
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let key = blob("ssh-ed25519", &[12; 32]);
        let hosts = parse(&format!("# a comment\n\n   \n{}", line("host", &key)));
        assert_eq!(hosts.len(), 1);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let key = blob("ssh-ed25519", &[13; 32]);
        let good = line("host", &key);
        for (text, expect) in [
            (format!("{good}host ssh-ed25519\n"), "no key"),
            (
                format!("{good}host ssh-ed25519 !!!notbase64\n"),
                "not valid base64",
            ),
            (
                format!("{good}@bogus host ssh-ed25519 AAAA\n"),
                "unknown marker `@bogus`",
            ),
            (format!("{good}|1|AAAA host\n"), "|1|salt|hash"),
            (
                format!("{good}host ssh-rsa {}\n", STANDARD.encode(&key)),
                "is of type `ssh-ed25519` but the line says `ssh-rsa`",
            ),
        ] {
            let err = KnownHosts::parse(&text, Path::new("/etc/ssh/known_hosts"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("/etc/ssh/known_hosts:2: "), "{err}");
            assert!(err.contains(expect), "{err} should contain {expect}");
        }
    }

    #[test]
    fn wildcard_matcher() {
        assert!(wildcard_match(b"*", b"anything"));
        assert!(wildcard_match(b"a*c", b"abbbc"));
        assert!(wildcard_match(b"a*b*c", b"axxbyyc"));
        assert!(!wildcard_match(b"a*c", b"abbb"));
        assert!(wildcard_match(b"[h]:*", b"[h]:22"));
    }
}
