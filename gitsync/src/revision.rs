//! Commit ids.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A commit id (full hexadecimal SHA-1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Revision(git2::Oid);

impl Revision {
    pub(crate) fn from_oid(oid: git2::Oid) -> Self {
        Self(oid)
    }

    pub(crate) fn oid(self) -> git2::Oid {
        self.0
    }

    /// The first seven hex digits, for logs.
    pub fn short(&self) -> String {
        let mut text = self.0.to_string();
        text.truncate(7);
        text
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Revision({})", self.0)
    }
}

impl FromStr for Revision {
    type Err = Error;

    /// Parses a full 40-digit hexadecimal commit id (abbreviations are refused:
    /// they are ambiguous).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 40 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidRevision(s.to_owned()));
        }
        git2::Oid::from_str(s)
            .map(Self)
            .map_err(|_| Error::InvalidRevision(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_ids_only() {
        let text = "0123456789abcdef0123456789abcdef01234567";
        let revision: Revision = text.parse().unwrap();
        assert_eq!(revision.to_string(), text);
        assert_eq!(revision.short(), "0123456");
        assert!("0123456".parse::<Revision>().is_err());
        assert!(
            "z123456789abcdef0123456789abcdef01234567"
                .parse::<Revision>()
                .is_err()
        );
    }
}
