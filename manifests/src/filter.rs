//! Tag filters: which image tags a container may move to, and which is newest.
//!
//! A filter is written in an annotation (`fluxcd.io/tag.<container>`) the way
//! Flux v1 users wrote it:
//!
//! | expression | meaning |
//! |---|---|
//! | `*`, `glob:master-*` | a glob where `*` matches any run of characters (no prefix means glob) |
//! | `semver:~1.2`, `semver:>=1.0 <2.0` | a semantic-version constraint, Masterminds style |
//! | `regex:^v\d+$`, `regexp:...` | a regular expression, unanchored |
//!
//! ```
//! use manifests::{TagCandidate, TagFilter};
//!
//! let filter: TagFilter = "semver:~1.2".parse().unwrap();
//! assert!(filter.matches("v1.2.7"));
//! assert!(!filter.matches("1.3.0"));
//!
//! let tags = [TagCandidate::new("1.2.0"), TagCandidate::new("1.2.10"), TagCandidate::new("1.3.0")];
//! assert_eq!(filter.newest(&tags).map(|c| c.tag.as_str()), Some("1.2.10"));
//! ```

mod semver;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use crate::Error;

pub use semver::{SemverConstraint, Version};

const GLOB_PREFIX: &str = "glob:";
const SEMVER_PREFIX: &str = "semver:";
const REGEXP_PREFIX: &str = "regexp:";
const REGEX_PREFIX: &str = "regex:";

/// A tag filter from a `tag.<container>` policy.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TagFilter {
    /// A glob: `*` matches any run of characters (including none), every other
    /// character matches itself. The string is the pattern without `glob:`.
    Glob(String),
    /// A semantic-version constraint; tags that are not versions never match.
    Semver(SemverConstraint),
    /// A regular expression matched anywhere in the tag.
    Regex(regex::Regex),
}

/// An image tag offered to a filter, with the time its image was created when
/// the registry told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCandidate {
    /// The tag.
    pub tag: String,
    /// When the image was created, if known.
    pub created: Option<SystemTime>,
}

impl TagCandidate {
    /// A candidate whose creation time is unknown.
    pub fn new(tag: impl Into<String>) -> Self {
        Self {
            tag: tag.into(),
            created: None,
        }
    }

    /// A candidate created at `created`.
    pub fn created_at(tag: impl Into<String>, created: SystemTime) -> Self {
        Self {
            tag: tag.into(),
            created: Some(created),
        }
    }
}

/// The matching candidates of a filter, newest first, or the reason no
/// order can be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRanking<'a> {
    /// The candidates that match, newest first.
    Ordered(Vec<&'a TagCandidate>),
    /// A matching candidate has no creation time and the filter orders by
    /// time, so no choice is made (Flux v1 did the same rather than guess).
    UnknownCreationTime {
        /// The first matching tag without a creation time.
        tag: &'a str,
    },
}

impl TagFilter {
    /// The filter that matches every tag (`glob:*`), used when a container has
    /// no tag policy.
    pub fn all() -> Self {
        Self::Glob("*".to_owned())
    }

    /// Parses a filter expression (see the module docs).
    pub fn parse(expression: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidTagFilter {
            expression: expression.to_owned(),
            reason,
        };
        if let Some(constraint) = expression.strip_prefix(SEMVER_PREFIX) {
            return constraint
                .parse::<SemverConstraint>()
                .map(Self::Semver)
                .map_err(invalid);
        }
        let regex = expression
            .strip_prefix(REGEXP_PREFIX)
            .or_else(|| expression.strip_prefix(REGEX_PREFIX));
        if let Some(pattern) = regex {
            return regex::Regex::new(pattern)
                .map(Self::Regex)
                .map_err(|err| invalid(err.to_string()));
        }
        let glob = expression.strip_prefix(GLOB_PREFIX).unwrap_or(expression);
        Ok(Self::Glob(glob.to_owned()))
    }

    /// True when `tag` matches the expression. This is the bare match; the
    /// ordering functions also drop `latest` (see [`TagFilter::admits`]).
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            Self::Glob(pattern) => glob_matches(pattern, tag),
            Self::Semver(constraint) => tag
                .parse::<Version>()
                .is_ok_and(|version| constraint.matches(&version)),
            Self::Regex(regex) => regex.is_match(tag),
        }
    }

    /// True when a tag may be chosen: it matches, and it is not `latest`
    /// (any case) unless the filter is exactly `glob:latest`.
    pub fn admits(&self, tag: &str) -> bool {
        if tag.eq_ignore_ascii_case("latest") && !self.is_latest() {
            return false;
        }
        self.matches(tag)
    }

    /// True when candidates are ordered by creation time (glob and regex);
    /// semver filters order by version.
    pub fn orders_by_creation_time(&self) -> bool {
        !matches!(self, Self::Semver(_))
    }

    /// The admitted candidates, newest first: semver order for semver filters
    /// (for equal versions the longer spelling, `1.10.0` before `1.10`), newest
    /// creation time otherwise with ties broken by tag.
    pub fn rank<'a>(&self, candidates: &'a [TagCandidate]) -> TagRanking<'a> {
        let mut admitted: Vec<&TagCandidate> = candidates
            .iter()
            .filter(|candidate| self.admits(&candidate.tag))
            .collect();
        if let Self::Semver(_) = self {
            let mut versioned: Vec<(Version, &TagCandidate)> = admitted
                .into_iter()
                .filter_map(|c| c.tag.parse::<Version>().ok().map(|v| (v, c)))
                .collect();
            versioned.sort_by(|(va, a), (vb, b)| match vb.cmp(va) {
                Ordering::Equal => b.tag.cmp(&a.tag),
                other => other,
            });
            return TagRanking::Ordered(versioned.into_iter().map(|(_, c)| c).collect());
        }
        if let Some(unknown) = admitted.iter().find(|c| c.created.is_none()) {
            return TagRanking::UnknownCreationTime { tag: &unknown.tag };
        }
        admitted.sort_by(|a, b| match b.created.cmp(&a.created) {
            Ordering::Equal => a.tag.cmp(&b.tag),
            other => other,
        });
        TagRanking::Ordered(admitted)
    }

    /// The newest admitted candidate, or `None` when nothing matches or no
    /// choice can be made (see [`TagRanking::UnknownCreationTime`]).
    pub fn newest<'a>(&self, candidates: &'a [TagCandidate]) -> Option<&'a TagCandidate> {
        match self.rank(candidates) {
            TagRanking::Ordered(ordered) => ordered.first().copied(),
            TagRanking::UnknownCreationTime { .. } => None,
        }
    }

    fn is_latest(&self) -> bool {
        matches!(self, Self::Glob(pattern) if pattern == "latest")
    }
}

impl Default for TagFilter {
    fn default() -> Self {
        Self::all()
    }
}

impl FromStr for TagFilter {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Display for TagFilter {
    /// The expression with its prefix, e.g. `glob:*` or `semver:~1.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Glob(pattern) => write!(f, "{GLOB_PREFIX}{pattern}"),
            Self::Semver(constraint) => write!(f, "{SEMVER_PREFIX}{constraint}"),
            Self::Regex(regex) => write!(f, "{REGEXP_PREFIX}{}", regex.as_str()),
        }
    }
}

impl PartialEq for TagFilter {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// Flux's glob: `*` matches any run of characters, everything else is literal.
/// An empty pattern matches only the empty tag.
fn glob_matches(pattern: &str, subject: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return subject.is_empty();
    };
    let Some(mut rest) = subject.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle.split_last() else {
        // No `*` at all: the pattern must equal the subject.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_edge_cases() {
        let table: &[(&str, &str, bool)] = &[
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("*-prod", "1.0-prod", true),
            ("v?", "v1", false),
            ("v?", "v?", true),
            ("[ab]", "a", false),
        ];
        for (pattern, subject, want) in table {
            assert_eq!(
                glob_matches(pattern, subject),
                *want,
                "{pattern} vs {subject}"
            );
        }
    }
}
