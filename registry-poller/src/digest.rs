//! Content digests (`sha256:<64 hex>`), stored compactly.

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::Error;

/// A content digest. SHA-256 digests, nearly all of them, are kept as 32 raw
/// bytes inline; any other algorithm as its text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(Repr);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Repr {
    Sha256([u8; 32]),
    Other(Box<str>),
}

impl Digest {
    /// Parses `algorithm:hex` as the OCI image spec defines it.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidDigest {
            digest: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (algorithm, hex_part) = text
            .split_once(':')
            .ok_or_else(|| bad("expected algorithm:hex"))?;
        let algorithm_ok = !algorithm.is_empty()
            && algorithm.starts_with(|c: char| c.is_ascii_alphabetic())
            && algorithm
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c));
        if !algorithm_ok {
            return Err(bad("invalid algorithm"));
        }
        if hex_part.len() < 32 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("expected at least 32 hexadecimal digits"));
        }
        if algorithm == "sha256" {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex_part.to_ascii_lowercase(), &mut bytes)
                .map_err(|_| bad("a sha256 digest has 64 hexadecimal digits"))?;
            return Ok(Self(Repr::Sha256(bytes)));
        }
        Ok(Self(Repr::Other(text.into())))
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        let hash = Sha256::digest(bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(hash.as_slice());
        Self(Repr::Sha256(out))
    }

    /// Whether `bytes` hash to this digest; `None` when the algorithm is not
    /// one this crate computes.
    pub fn verifies(&self, bytes: &[u8]) -> Option<bool> {
        match &self.0 {
            Repr::Sha256(_) => Some(*self == Self::sha256_of(bytes)),
            Repr::Other(_) => None,
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Sha256(bytes) => write!(f, "sha256:{}", hex::encode(bytes)),
            Repr::Other(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl std::str::FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_verifies() {
        let d = Digest::sha256_of(b"hello");
        let text = d.to_string();
        assert_eq!(
            text,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(Digest::parse(&text).unwrap(), d);
        assert_eq!(
            Digest::parse(&text.to_uppercase().replace("SHA", "sha")).unwrap(),
            d
        );
        assert_eq!(d.verifies(b"hello"), Some(true));
        assert_eq!(d.verifies(b"world"), Some(false));
        let other = Digest::parse(&format!("sha512:{}", "ab".repeat(64))).unwrap();
        assert_eq!(other.verifies(b""), None);
        assert!(std::mem::size_of::<Digest>() <= 40);
    }

    #[test]
    fn rejects_bad_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:xyz",
            "sha256:abc",
            "1sha:".to_owned().as_str(),
        ] {
            let text = Digest::parse(bad).unwrap_err().to_string();
            assert!(text.contains(&format!("{bad:?}")), "{text}");
        }
        let short = format!("sha256:{}", "a".repeat(40));
        assert!(Digest::parse(&short).is_err());
    }
}
