//! Manifests, indexes and image configs: the few fields the poller reads.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use serde::Deserialize;

use crate::Error;
use crate::digest::Digest;

/// Docker v2 schema 2 image manifest.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker v2 manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The `Accept` header for manifest requests: every type this client reads.
pub(crate) const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The platform whose image a manifest list or index resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl Platform {
    /// `linux/amd64`, the default.
    pub fn linux_amd64() -> Self {
        Self {
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            variant: None,
        }
    }

    /// Parses `os/architecture[/variant]` (`linux/arm64/v8`).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidPlatform {
            platform: text.to_owned(),
        };
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
        let architecture = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
        let variant = parts.next();
        if parts.next().is_some() || variant == Some("") {
            return Err(bad());
        }
        Ok(Self {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        })
    }

    fn matches(&self, other: &PlatformJson) -> bool {
        other.os == self.os
            && other.architecture == self.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl Default for Platform {
    fn default() -> Self {
        Self::linux_amd64()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// What a manifest body says, as far as the poller cares.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestKind {
    /// An image manifest: its config blob holds the creation time.
    Image {
        /// Digest of the config blob.
        config: Digest,
    },
    /// A manifest list or index: the image of the selected platform.
    Index {
        /// Digest of the platform's image manifest.
        platform_manifest: Digest,
    },
}

#[derive(Deserialize)]
struct ManifestJson {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<DescriptorJson>,
    #[serde(default)]
    manifests: Option<Vec<IndexEntryJson>>,
}

#[derive(Deserialize)]
struct DescriptorJson {
    digest: String,
}

#[derive(Deserialize)]
struct IndexEntryJson {
    digest: String,
    #[serde(default)]
    platform: Option<PlatformJson>,
}

#[derive(Deserialize)]
struct PlatformJson {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

/// Reads a manifest body. `content_type` is the response's `Content-Type`
/// (without parameters); the body's own `mediaType` is used when the header
/// is absent or generic. `reference` appears in errors.
pub(crate) fn parse_manifest(
    reference: &str,
    content_type: Option<&str>,
    body: &[u8],
    platform: &Platform,
    url: &str,
) -> Result<ManifestKind, Error> {
    let json: ManifestJson = serde_json::from_slice(body).map_err(|e| Error::InvalidResponse {
        url: url.to_owned(),
        reason: format!("manifest is not JSON: {e}"),
    })?;
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "application/octet-stream");
    let media_type = header
        .or(json.media_type.as_deref())
        .or_else(|| {
            // OCI allows leaving mediaType out; tell by shape.
            if json.manifests.is_some() {
                Some(OCI_INDEX)
            } else if json.config.is_some() {
                Some(OCI_MANIFEST)
            } else {
                None
            }
        })
        .unwrap_or("")
        .to_owned();
    let missing = |what: &str| Error::InvalidResponse {
        url: url.to_owned(),
        reason: format!("{media_type} without {what}"),
    };
    match media_type.as_str() {
        DOCKER_MANIFEST_V2 | OCI_MANIFEST => {
            let config = json.config.ok_or_else(|| missing("config"))?;
            Ok(ManifestKind::Image {
                config: Digest::parse(&config.digest)?,
            })
        }
        DOCKER_MANIFEST_LIST | OCI_INDEX => {
            let entries = json.manifests.ok_or_else(|| missing("manifests"))?;
            let chosen = entries
                .iter()
                .find(|e| e.platform.as_ref().is_some_and(|p| platform.matches(p)))
                .ok_or_else(|| Error::NoMatchingPlatform {
                    reference: reference.to_owned(),
                    platform: platform.to_string(),
                })?;
            Ok(ManifestKind::Index {
                platform_manifest: Digest::parse(&chosen.digest)?,
            })
        }
        _ => Err(Error::UnsupportedMediaType {
            reference: reference.to_owned(),
            media_type,
        }),
    }
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<ContainerConfig>,
}

#[derive(Deserialize)]
struct ContainerConfig {
    #[serde(default, rename = "Labels")]
    labels: Option<std::collections::HashMap<String, String>>,
}

/// The labels that may carry an image's build time, the first one set wins
/// (`--registry-use-labels`, as Flux read them).
const TIME_LABELS: [&str; 2] = [
    "org.opencontainers.image.created",
    "org.label-schema.build-date",
];

/// The `created` time of an image config blob; `None` when absent or the
/// zero time some builders write. With `use_labels`, a time in one of
/// [`TIME_LABELS`] comes first; a label that is not a time is passed over.
pub(crate) fn parse_config_created(
    body: &[u8],
    url: &str,
    use_labels: bool,
) -> Result<Option<SystemTime>, Error> {
    let config: ConfigJson = serde_json::from_slice(body).map_err(|e| Error::InvalidResponse {
        url: url.to_owned(),
        reason: format!("image config is not JSON: {e}"),
    })?;
    if use_labels {
        let labels = config.config.as_ref().and_then(|c| c.labels.as_ref());
        let labelled = TIME_LABELS
            .iter()
            .filter_map(|label| labels?.get(*label))
            .find_map(|value| parse_timestamp(value).ok().flatten());
        if labelled.is_some() {
            return Ok(labelled);
        }
    }
    let Some(created) = config.created.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    parse_timestamp(&created).map_err(|reason| Error::InvalidResponse {
        url: url.to_owned(),
        reason: format!("created {created:?}: {reason}"),
    })
}

/// An RFC 3339 time; the Go zero time (year 1) is `None`.
pub(crate) fn parse_timestamp(text: &str) -> Result<Option<SystemTime>, String> {
    let ts: jiff::Timestamp = text.parse().map_err(|e: jiff::Error| e.to_string())?;
    if ts.as_second() <= -62_135_596_800 {
        return Ok(None);
    }
    SystemTime::try_from(ts)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// RFC 3339 text of a time, for the cache file.
pub(crate) fn format_timestamp(time: SystemTime) -> Option<String> {
    jiff::Timestamp::try_from(time).ok().map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const ARM: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const AMD: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn parse(ct: Option<&str>, body: &str, platform: &str) -> Result<ManifestKind, Error> {
        parse_manifest(
            "r/a:v1",
            ct,
            body.as_bytes(),
            &Platform::parse(platform).unwrap(),
            "u",
        )
    }

    #[test]
    fn image_manifests_by_header_body_or_shape() {
        let body = format!(r#"{{"schemaVersion": 2, "config": {{"digest": "{CONFIG}"}}}}"#);
        let want = ManifestKind::Image {
            config: Digest::parse(CONFIG).unwrap(),
        };
        assert_eq!(
            parse(Some(OCI_MANIFEST), &body, "linux/amd64").unwrap(),
            want
        );
        assert_eq!(parse(None, &body, "linux/amd64").unwrap(), want);
        let typed = format!(
            r#"{{"mediaType": "{DOCKER_MANIFEST_V2}", "config": {{"digest": "{CONFIG}"}}}}"#
        );
        assert_eq!(
            parse(Some("application/json"), &typed, "linux/amd64").unwrap(),
            want
        );
    }

    #[test]
    fn indexes_pick_the_platform() {
        let body = format!(
            r#"{{"manifests": [
                {{"digest": "{ARM}", "platform": {{"os": "linux", "architecture": "arm64", "variant": "v8"}}}},
                {{"digest": "{AMD}", "platform": {{"os": "linux", "architecture": "amd64"}}}}
            ]}}"#
        );
        let pick = |p| match parse(Some(OCI_INDEX), &body, p).unwrap() {
            ManifestKind::Index { platform_manifest } => platform_manifest.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(pick("linux/amd64"), AMD);
        assert_eq!(pick("linux/arm64"), ARM);
        assert_eq!(pick("linux/arm64/v8"), ARM);
        let err = parse(Some(DOCKER_MANIFEST_LIST), &body, "windows/amd64").unwrap_err();
        assert!(err.to_string().contains("windows/amd64"), "{err}");
    }

    #[test]
    fn bad_manifests_are_errors() {
        let err = parse(Some("application/vnd.example+json"), "{}", "linux/amd64").unwrap_err();
        assert!(matches!(err, Error::UnsupportedMediaType { .. }), "{err}");
        assert!(err.to_string().contains("r/a:v1"));
        let err = parse(Some(OCI_MANIFEST), "<html>", "linux/amd64").unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
        let err = parse(Some(OCI_MANIFEST), "{}", "linux/amd64").unwrap_err();
        assert!(err.to_string().contains("without config"), "{err}");
        let err = parse(None, "{}", "linux/amd64").unwrap_err();
        assert!(matches!(err, Error::UnsupportedMediaType { .. }), "{err}");
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/arm/v7/x").is_err());
    }

    #[test]
    fn config_created() {
        let t = parse_config_created(br#"{"created": "2024-03-01T12:00:00.5Z"}"#, "u", false)
            .unwrap()
            .unwrap();
        assert_eq!(format_timestamp(t).unwrap(), "2024-03-01T12:00:00.5Z");
        assert_eq!(parse_config_created(b"{}", "u", false).unwrap(), None);
        assert_eq!(
            parse_config_created(br#"{"created": "0001-01-01T00:00:00Z"}"#, "u", false).unwrap(),
            None
        );
        assert!(parse_config_created(br#"{"created": "yesterday"}"#, "u", false).is_err());
        assert!(parse_config_created(b"garbage", "u", false).is_err());

        // Labels, when the repository uses them: OCI's, then label-schema's,
        // then `created`; a label that is no time is passed over.
        let labelled = |labels: &str| {
            let body = format!(
                r#"{{"created": "1980-01-01T00:00:00Z", "config": {{"Labels": {labels}}}}}"#
            );
            parse_config_created(body.as_bytes(), "u", true).unwrap()
        };
        let time = |s: &str| parse_timestamp(s).unwrap();
        let both = r#"{"org.opencontainers.image.created": "2024-05-01T00:00:00Z",
            "org.label-schema.build-date": "2023-01-01T00:00:00Z"}"#;
        assert_eq!(labelled(both), time("2024-05-01T00:00:00Z"));
        let schema = r#"{"org.label-schema.build-date": "2023-01-01T00:00:00Z"}"#;
        assert_eq!(labelled(schema), time("2023-01-01T00:00:00Z"));
        let bad = r#"{"org.opencontainers.image.created": "soon",
            "org.label-schema.build-date": "2023-01-01T00:00:00Z"}"#;
        assert_eq!(labelled(bad), time("2023-01-01T00:00:00Z"));
        assert_eq!(labelled("{}"), time("1980-01-01T00:00:00Z"));
        assert_eq!(labelled("null"), time("1980-01-01T00:00:00Z"));
        // Without use_labels the labels are not read.
        let body = br#"{"created": "1980-01-01T00:00:00Z",
            "config": {"Labels": {"org.label-schema.build-date": "2023-01-01T00:00:00Z"}}}"#;
        assert_eq!(
            parse_config_created(body, "u", false).unwrap(),
            time("1980-01-01T00:00:00Z")
        );
    }
}
