//! A Helm repository's `index.yaml` and choosing a chart version from it.

use std::collections::HashMap;

use serde::Deserialize;

use crate::Error;

/// The parts of `index.yaml` the operator reads.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RepoIndex {
    /// Chart name to its versions.
    #[serde(default)]
    pub entries: HashMap<String, Vec<ChartVersion>>,
}

/// One version of a chart in the index.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ChartVersion {
    /// Chart name.
    #[serde(default)]
    pub name: String,
    /// Chart version (semver).
    pub version: String,
    /// Where the archive is: absolute, or relative to the repository URL.
    #[serde(default)]
    pub urls: Vec<String>,
    /// sha256 of the archive, hex.
    #[serde(default)]
    pub digest: Option<String>,
}

impl RepoIndex {
    /// Parses `index.yaml`.
    pub fn parse(text: &str, url: &str) -> Result<Self, Error> {
        crate::yaml::from_str(text).map_err(|e| Error::ChartRepository {
            url: url.to_owned(),
            reason: format!("index.yaml is not a Helm repository index: {e}"),
        })
    }

    /// The version of `name` matching `wanted`: an exact version, or a semver
    /// range (`^1.2`, `>=1.0 <2.0`, `1.x`), newest stable match first.
    pub fn select(&self, url: &str, name: &str, wanted: &str) -> Result<&ChartVersion, Error> {
        let not_found = |reason: String| Error::Chart {
            chart: format!("{name} {wanted} from {url}"),
            reason,
        };
        let Some(versions) = self.entries.get(name).filter(|v| !v.is_empty()) else {
            return Err(not_found(format!(
                "the repository has no chart named {name:?}"
            )));
        };
        let wanted = wanted.trim();
        let bare = wanted.strip_prefix('v').unwrap_or(wanted);
        if let Some(exact) = versions.iter().find(|v| {
            v.version == wanted || v.version.strip_prefix('v').unwrap_or(&v.version) == bare
        }) {
            return Ok(exact);
        }
        let requirement = parse_requirement(wanted).map_err(|e| {
            not_found(format!(
                "no version {wanted} (and it is not a semver range: {e}); available: {}",
                available(versions)
            ))
        })?;
        versions
            .iter()
            .filter_map(|v| {
                let parsed =
                    semver::Version::parse(v.version.strip_prefix('v').unwrap_or(&v.version))
                        .ok()?;
                requirement.matches(&parsed).then_some((parsed, v))
            })
            .max_by(|(a, _), (b, _)| a.cmp(b))
            .map(|(_, v)| v)
            .ok_or_else(|| {
                not_found(format!(
                    "no version matches {wanted}; available: {}",
                    available(versions)
                ))
            })
    }
}

/// Helm writes ranges with spaces (`>=1.0 <2.0`); the semver crate wants commas.
fn parse_requirement(text: &str) -> Result<semver::VersionReq, semver::Error> {
    let normalized = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(",")
        .replace(",,", ",");
    semver::VersionReq::parse(&normalized)
}

fn available(versions: &[ChartVersion]) -> String {
    let mut listed: Vec<&str> = versions
        .iter()
        .take(10)
        .map(|v| v.version.as_str())
        .collect();
    if versions.len() > 10 {
        listed.push("...");
    }
    listed.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r"
apiVersion: v1
entries:
  app:
  - name: app
    version: 1.10.0
    urls: [app-1.10.0.tgz]
    digest: aaaa
  - name: app
    version: 1.2.0
    urls: ['https://cdn.example.com/app-1.2.0.tgz']
    digest: bbbb
  - name: app
    version: 2.0.0-rc.1
    urls: [app-2.0.0-rc.1.tgz]
generated: '2024-01-01T00:00:00Z'
";

    #[test]
    fn exact_versions_and_ranges() {
        let index = RepoIndex::parse(INDEX, "u").unwrap();
        assert_eq!(
            index.select("u", "app", "1.2.0").unwrap().digest.as_deref(),
            Some("bbbb")
        );
        assert_eq!(index.select("u", "app", "v1.2.0").unwrap().version, "1.2.0");
        assert_eq!(index.select("u", "app", "^1.0").unwrap().version, "1.10.0");
        assert_eq!(
            index.select("u", "app", ">=1.0 <1.5").unwrap().version,
            "1.2.0"
        );
        assert_eq!(
            index.select("u", "app", "2.0.0-rc.1").unwrap().version,
            "2.0.0-rc.1"
        );
    }

    #[test]
    fn missing_charts_and_versions_say_what_exists() {
        let index = RepoIndex::parse(INDEX, "u").unwrap();
        let err = index.select("u", "nope", "1.0.0").unwrap_err().to_string();
        assert!(err.contains("no chart named \"nope\""), "{err}");
        let err = index.select("u", "app", "9.9.9").unwrap_err().to_string();
        assert!(err.contains("available: 1.10.0, 1.2.0"), "{err}");
        let err = index
            .select("u", "app", "not a version")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a semver range"), "{err}");
        let err = RepoIndex::parse("entries: [1, 2]", "http://r")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("http://r") && err.contains("not a Helm repository index"),
            "{err}"
        );
    }
}
