//! Versions and constraints as Flux v1 read them (the Masterminds semver
//! library's rules): tags like `v1.2.3`, `1.2` or `1` are versions, and
//! constraints are written `~1.2`, `^1.2`, `1.2.x`, `*`, `>=1.0 <2.0`,
//! `>= 1.0, < 2.0`, `1.2 - 1.4` and alternatives joined by `||`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A version parsed leniently from an image tag: an optional `v`, one to three
/// numbers (missing ones are zero), an optional `-pre.release` and an optional
/// `+build` (ignored when comparing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<Identifier>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Identifier {
    Numeric(u64),
    Alpha(String),
}

impl Version {
    /// True when the version has a pre-release part.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    fn triple(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }
}

impl Ord for Identifier {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Numeric(a), Self::Numeric(b)) => a.cmp(b),
            (Self::Numeric(_), Self::Alpha(_)) => Ordering::Less,
            (Self::Alpha(_), Self::Numeric(_)) => Ordering::Greater,
            (Self::Alpha(a), Self::Alpha(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Identifier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// Semantic-version precedence: numbers, then a release above its
    /// pre-releases, then pre-release identifiers left to right.
    fn cmp(&self, other: &Self) -> Ordering {
        self.triple().cmp(&other.triple()).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let partial = Partial::parse(s, false)?;
        Ok(partial.version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        for (i, id) in self.pre.iter().enumerate() {
            f.write_str(if i == 0 { "-" } else { "." })?;
            match id {
                Identifier::Numeric(n) => write!(f, "{n}")?,
                Identifier::Alpha(a) => f.write_str(a)?,
            }
        }
        Ok(())
    }
}

/// How much of a constraint's version was written (the rest is a wildcard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    /// `*`, `x`: no number at all.
    Any,
    /// `1`, `1.x`: the major number only.
    Major,
    /// `1.2`, `1.2.x`: major and minor.
    Minor,
    /// `1.2.3`: all three.
    Patch,
}

/// A version as written in a constraint, possibly partial.
#[derive(Debug, Clone)]
struct Partial {
    version: Version,
    precision: Precision,
}

impl Partial {
    /// Parses `v1.2.3-pre+build`; with `wildcards`, parts may be `x`, `X` or
    /// `*` and may be missing (a bare version always may miss parts).
    fn parse(s: &str, wildcards: bool) -> Result<Self, String> {
        let bad = |why: &str| format!("{s:?} is not a version: {why}");
        let body = s.strip_prefix('v').unwrap_or(s);
        let (body, build) = match body.split_once('+') {
            Some((body, build)) => (body, Some(build)),
            None => (body, None),
        };
        if let Some(build) = build
            && build.split('.').any(|id| !is_identifier(id))
        {
            return Err(bad("bad build metadata"));
        }
        let (core, pre) = match body.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (body, None),
        };
        let mut numbers = [0u64; 3];
        let mut precision = Precision::Patch;
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 3 {
            return Err(bad("more than three numbers"));
        }
        for (i, part) in parts.iter().enumerate() {
            if wildcards && matches!(*part, "x" | "X" | "*") {
                if precision == Precision::Patch {
                    precision = [Precision::Any, Precision::Major, Precision::Minor][i];
                }
                continue;
            }
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("expected a number"));
            }
            if precision != Precision::Patch {
                // A number after a wildcard (`1.x.3`) is ignored, as Flux did.
                continue;
            }
            numbers[i] = part.parse().map_err(|_| bad("number too large"))?;
        }
        if precision == Precision::Patch && parts.len() < 3 {
            precision = [Precision::Major, Precision::Minor][parts.len() - 1];
        }
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => pre
                .split('.')
                .map(|id| parse_prerelease_identifier(id).ok_or_else(|| bad("bad pre-release")))
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            version: Version {
                major: numbers[0],
                minor: numbers[1],
                patch: numbers[2],
                pre,
            },
            precision,
        })
    }
}

fn is_identifier(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn parse_prerelease_identifier(id: &str) -> Option<Identifier> {
    if !is_identifier(id) {
        return None;
    }
    if id.bytes().all(|b| b.is_ascii_digit()) {
        if id.len() > 1 && id.starts_with('0') {
            return None;
        }
        return id.parse().ok().map(Identifier::Numeric);
    }
    Some(Identifier::Alpha(id.to_owned()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `=` or nothing: equal, or a range when the version is partial.
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    /// `~`, `~>`: patch updates (minor ones when only a major is given).
    Tilde,
    /// `^`: updates that keep the left-most non-zero number.
    Caret,
}

#[derive(Debug, Clone)]
struct Comparator {
    op: Op,
    bound: Partial,
}

impl Comparator {
    fn matches(&self, v: &Version) -> bool {
        let c = &self.bound.version;
        let precision = self.bound.precision;
        let partial = precision != Precision::Patch;
        match self.op {
            Op::Equal if partial => tilde(v, c, precision),
            Op::Equal => v.cmp(c) == Ordering::Equal,
            Op::NotEqual if partial => match precision {
                Precision::Any | Precision::Major => v.major != c.major,
                _ => (v.major, v.minor) != (c.major, c.minor),
            },
            Op::NotEqual => v.cmp(c) != Ordering::Equal,
            Op::Greater => match precision {
                Precision::Major => v.major > c.major,
                Precision::Minor => (v.major, v.minor) > (c.major, c.minor),
                Precision::Any | Precision::Patch => v > c,
            },
            Op::Less => v < c,
            Op::GreaterEqual => v >= c,
            Op::LessEqual => match precision {
                Precision::Major => v.major <= c.major,
                Precision::Minor => (v.major, v.minor) <= (c.major, c.minor),
                Precision::Any | Precision::Patch => v <= c,
            },
            Op::Tilde => tilde(v, c, precision),
            Op::Caret => {
                if precision == Precision::Any {
                    return true;
                }
                if v < c {
                    return false;
                }
                if c.major > 0 || precision == Precision::Major {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || precision == Precision::Minor {
                    return v.minor == c.minor;
                }
                v.minor == c.minor && v.patch == c.patch
            }
        }
    }
}

fn tilde(v: &Version, c: &Version, precision: Precision) -> bool {
    if precision == Precision::Any {
        return true;
    }
    if v < c {
        return false;
    }
    match precision {
        Precision::Major => v.major == c.major,
        _ => (v.major, v.minor) == (c.major, c.minor),
    }
}

/// A semantic-version constraint in Masterminds syntax. A version matches
/// when it satisfies every comparator of one of the `||` alternatives.
/// A pre-release version matches only an alternative that names a
/// pre-release of the same `major.minor.patch` (`>=1.2.3-beta.1 <2.0.0`
/// admits `1.2.3-beta.2` but not `2.0.0-rc.1`).
#[derive(Debug, Clone)]
pub struct SemverConstraint {
    source: String,
    any_of: Vec<Vec<Comparator>>,
}

impl SemverConstraint {
    /// True when `version` satisfies the constraint.
    pub fn matches(&self, version: &Version) -> bool {
        self.any_of.iter().any(|all_of| {
            let prerelease_named = || {
                all_of.iter().any(|c| {
                    c.bound.version.is_prerelease() && c.bound.version.triple() == version.triple()
                })
            };
            (!version.is_prerelease() || prerelease_named())
                && all_of.iter().all(|c| c.matches(version))
        })
    }
}

impl fmt::Display for SemverConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for SemverConstraint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let any_of = s
            .split("||")
            .map(parse_all_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            source: s.trim().to_owned(),
            any_of,
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Op(Op),
    Version(&'a str),
    Comma,
    Hyphen,
}

fn tokenize(s: &str) -> Result<Vec<Token<'_>>, String> {
    let mut tokens = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        let Some(first) = rest.chars().next() else {
            return Ok(tokens);
        };
        if first == ',' {
            tokens.push(Token::Comma);
            rest = &rest[1..];
            continue;
        }
        const OPS: [(&str, Op); 11] = [
            ("!=", Op::NotEqual),
            (">=", Op::GreaterEqual),
            ("=>", Op::GreaterEqual),
            ("<=", Op::LessEqual),
            ("=<", Op::LessEqual),
            ("~>", Op::Tilde),
            (">", Op::Greater),
            ("<", Op::Less),
            ("=", Op::Equal),
            ("~", Op::Tilde),
            ("^", Op::Caret),
        ];
        if let Some((text, op)) = OPS.iter().find(|(text, _)| rest.starts_with(text)) {
            tokens.push(Token::Op(*op));
            rest = &rest[text.len()..];
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '+' | '-')))
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(format!("unexpected {first:?} in constraint"));
        }
        let word = &rest[..end];
        tokens.push(if word == "-" {
            Token::Hyphen
        } else {
            Token::Version(word)
        });
        rest = &rest[end..];
    }
}

fn parse_all_of(s: &str) -> Result<Vec<Comparator>, String> {
    let tokens = tokenize(s)?;
    if tokens.is_empty() {
        return Err(format!("empty constraint in {s:?}"));
    }
    let mut comparators = Vec::new();
    let mut i = 0;
    let mut expect_comparator = true;
    while i < tokens.len() {
        match tokens[i] {
            Token::Comma if !expect_comparator => {
                expect_comparator = true;
                i += 1;
                continue;
            }
            Token::Comma | Token::Hyphen => {
                return Err(format!("misplaced separator in {:?}", s.trim()));
            }
            _ => {}
        }
        let op = match tokens[i] {
            Token::Op(op) => {
                i += 1;
                Some(op)
            }
            _ => None,
        };
        let Some(Token::Version(low)) = tokens.get(i) else {
            return Err(format!("expected a version in {:?}", s.trim()));
        };
        i += 1;
        if op.is_none() && tokens.get(i) == Some(&Token::Hyphen) {
            let Some(Token::Version(high)) = tokens.get(i + 1) else {
                return Err(format!("range without an upper end in {:?}", s.trim()));
            };
            comparators.push(Comparator {
                op: Op::GreaterEqual,
                bound: Partial::parse(low, true)?,
            });
            comparators.push(Comparator {
                op: Op::LessEqual,
                bound: Partial::parse(high, true)?,
            });
            i += 2;
        } else {
            comparators.push(Comparator {
                op: op.unwrap_or(Op::Equal),
                bound: Partial::parse(low, true)?,
            });
        }
        expect_comparator = false;
    }
    if expect_comparator {
        return Err(format!("trailing separator in {:?}", s.trim()));
    }
    Ok(comparators)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn versions_parse_leniently() {
        assert_eq!(v("v1.2.3"), v("1.2.3"));
        assert_eq!(v("1"), v("1.0.0"));
        assert_eq!(v("1.2"), v("1.2.0"));
        assert_eq!(v("1.2.3+build.5"), v("1.2.3"));
        for bad in [
            "",
            "latest",
            "v",
            "1.2.3.4",
            "1..2",
            "1.2.3-",
            "1.2.3-01",
            "a1",
            "1.2.3-a..b",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }

    #[test]
    fn precedence() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }
}
