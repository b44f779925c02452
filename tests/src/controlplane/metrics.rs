//! Request counts from the apiserver's `/metrics`, for tests and benchmarks
//! that count what a client asked of the API.

use std::collections::BTreeMap;

use crate::Error;

/// The counter read.
const METRIC: &str = "apiserver_request_total";

/// What a request did, as the apiserver labels it (summed over response
/// codes, API versions, scopes and dry-run).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey {
    /// `GET`, `LIST`, `WATCH`, `POST`, `PUT`, `PATCH`, `APPLY`, `DELETE`, ...
    pub verb: String,
    /// API group, empty for the core group.
    pub group: String,
    /// Resource (plural), empty for non-resource URLs.
    pub resource: String,
    /// Subresource, e.g. `status`; usually empty.
    pub subresource: String,
}

/// `apiserver_request_total` at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    counts: BTreeMap<RequestKey, u64>,
}

impl RequestCounts {
    /// Parses the Prometheus text exposition of `/metrics`, keeping only
    /// `apiserver_request_total`. A malformed line of that metric is an error
    /// naming its line number; other metrics are skipped unread.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut counts = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let Some(rest) = line.strip_prefix(METRIC) else {
                continue;
            };
            let what = || format!("/metrics line {}", index + 1);
            let (labels, value) = match rest.strip_prefix('{') {
                Some(rest) => parse_labels(rest).map_err(|m| Error::invalid(what(), m))?,
                // `apiserver_request_total_something`, or no labels at all.
                None if rest.starts_with([' ', '\t']) => (BTreeMap::new(), rest),
                None => continue,
            };
            let value = value.split_whitespace().next().unwrap_or_default();
            let value: f64 = value
                .parse()
                .map_err(|_| Error::invalid(what(), format!("bad sample value `{value}`")))?;
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::invalid(what(), format!("bad counter value {value}")));
            }
            let label = |name: &str| labels.get(name).cloned().unwrap_or_default();
            let key = RequestKey {
                verb: label("verb"),
                group: label("group"),
                resource: label("resource"),
                subresource: label("subresource"),
            };
            // Counters are integers; the text format may print large ones as floats.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let value = value as u64;
            *counts.entry(key).or_insert(0) += value;
        }
        Ok(Self { counts })
    }

    /// Requests with `verb` on `resource` (any group), e.g. `("LIST", "pods")`.
    pub fn get(&self, verb: &str, resource: &str) -> u64 {
        self.counts
            .iter()
            .filter(|(key, _)| key.verb == verb && key.resource == resource)
            .map(|(_, count)| count)
            .sum()
    }

    /// Requests with any verb on `resource`.
    pub fn for_resource(&self, resource: &str) -> u64 {
        self.counts
            .iter()
            .filter(|(key, _)| key.resource == resource)
            .map(|(_, count)| count)
            .sum()
    }

    /// All requests counted.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Every non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (&RequestKey, u64)> {
        self.counts
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(key, count)| (key, *count))
    }

    /// The requests made after `earlier` was read (counts never go down while
    /// the apiserver runs; a key missing from `self` counts as zero).
    pub fn since(&self, earlier: &Self) -> Self {
        let counts = self
            .counts
            .iter()
            .map(|(key, count)| {
                let before = earlier.counts.get(key).copied().unwrap_or(0);
                (key.clone(), count.saturating_sub(before))
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        Self { counts }
    }
}

/// Parses `name="value",...}` and returns the labels and what follows `}`.
fn parse_labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = text.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest
            .find('=')
            .ok_or_else(|| "label without `=`".to_owned())?;
        let name = rest[..eq].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad label name `{name}`"));
        }
        let value_text = rest[eq + 1..]
            .trim_start()
            .strip_prefix('"')
            .ok_or_else(|| format!("label `{name}` has no quoted value"))?;
        let mut value = String::new();
        let mut chars = value_text.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("label `{name}`: dangling escape")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(format!("label `{name}`: unterminated value")),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = value_text[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="cluster",subresource="",verb="LIST",version="v1"} 2
apiserver_request_total{code="201",component="apiserver",dry_run="",group="apps",resource="deployments",scope="namespace",subresource="",verb="POST",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="namespace",subresource="status",verb="PUT",version="v1"} 1.2e+01
apiserver_request_total_other{verb="GET"} 99
apiserver_request_duration_seconds_bucket{le="0.1",verb="GET"} 7
"#;

    #[test]
    fn sums_over_codes_scopes_and_versions() {
        let counts = RequestCounts::parse(SAMPLE).unwrap();
        assert_eq!(counts.get("LIST", "pods"), 5);
        assert_eq!(counts.get("POST", "deployments"), 1);
        assert_eq!(counts.get("PUT", "deployments"), 12);
        assert_eq!(counts.for_resource("deployments"), 13);
        assert_eq!(counts.total(), 18);
        assert_eq!(counts.get("GET", ""), 0, "other metrics are not counted");
    }

    #[test]
    fn since_subtracts_an_earlier_reading() {
        let earlier = RequestCounts::parse(SAMPLE).unwrap();
        let later = RequestCounts::parse(&SAMPLE.replace("} 3\n", "} 10\n")).unwrap();
        let diff = later.since(&earlier);
        assert_eq!(diff.get("LIST", "pods"), 7);
        assert_eq!(diff.total(), 7);
    }

    #[test]
    fn escaped_label_values() {
        let text = "apiserver_request_total{verb=\"GET\",resource=\"a\\\"b\\\\c\"} 4\n";
        let counts = RequestCounts::parse(text).unwrap();
        assert_eq!(counts.get("GET", "a\"b\\c"), 4);
    }

    #[test]
    fn malformed_lines_name_their_line() {
        for bad in [
            "x 1\napiserver_request_total{verb=\"GET\"} many\n",
            "x 1\napiserver_request_total{verb=\"GET} 1\n",
            "x 1\napiserver_request_total{verb=GET} 1\n",
            "x 1\napiserver_request_total{verb=\"GET\"} -1\n",
            "x 1\napiserver_request_total{verb=\"GET\"} NaN\n",
        ] {
            let err = RequestCounts::parse(bad).unwrap_err().to_string();
            assert!(err.contains("line 2"), "{bad:?}: {err}");
        }
    }
}
