//! Image references and what a registry told fluxd about them, in Flux v1's
//! JSON shapes (`image.Ref`, `image.Name`, `image.Info`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ParseError;
use super::go::{StrVisitor, optional_time};

/// An image reference as written in a manifest: `[domain/]image[:tag]`, or
/// `[domain/]image@sha256:<hex>` when pinned by digest. The empty reference
/// (Go's zero `image.Ref`, written `""`) stands for "no image".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// The registry host (with port), empty for Docker Hub's implied one.
    pub domain: String,
    /// The repository path, e.g. `fluxcd/flux` or `alpine`.
    pub image: String,
    /// The tag, empty when there is none.
    pub tag: String,
    /// The sha256 digest (hex, without `sha256:`), empty when not pinned.
    pub sha: String,
}

/// Whether the first path element of a reference is a registry host, by
/// Flux's rule. Its `domainRegexp` (`localhost|(c([.]c)+)(:[0-9]+)?`, `c` a
/// DNS label) is not anchored, so it matches when the text contains
/// `localhost` or a dot with an alphanumeric character on both sides.
fn is_domain(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.contains("localhost")
        || bytes
            .windows(3)
            .any(|w| w[1] == b'.' && w[0].is_ascii_alphanumeric() && w[2].is_ascii_alphanumeric())
}

impl ImageRef {
    /// The repository name without tag or digest (`[domain/]image`).
    pub fn name(&self) -> ImageName {
        ImageName {
            domain: self.domain.clone(),
            image: self.image.clone(),
        }
    }

    /// The same reference with another tag (the digest kept), as Flux
    /// writes a release's target: the manifest's spelling of the name.
    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            tag: tag.to_owned(),
            ..self.clone()
        }
    }

    /// Whether this is the empty reference.
    pub fn is_empty(&self) -> bool {
        self.image.is_empty()
    }
}

impl FromStr for ImageRef {
    type Err = ParseError;

    /// Parses as Flux's `image.ParseRef`, with its error messages.
    fn from_str(text: &str) -> Result<Self, ParseError> {
        let malformed = || ParseError {
            message: format!(
                "parsing {text:?}: expected image name as either <image>:<tag> or just <image>: invalid image ID"
            ),
        };
        if text.is_empty() {
            return Err(ParseError {
                message: format!("parsing {text:?}: blank image name: invalid image ID"),
            });
        }
        if text.starts_with('/') || text.ends_with('/') {
            return Err(malformed());
        }
        let mut id = Self::default();
        let elements: Vec<&str> = text.split('/').collect();
        match elements.as_slice() {
            [_] => id.image = text.to_owned(),
            [first, second] => {
                if is_domain(first) {
                    id.domain = (*first).to_owned();
                    id.image = (*second).to_owned();
                } else {
                    id.image = text.to_owned();
                }
            }
            [first, rest @ ..] => {
                id.domain = (*first).to_owned();
                id.image = rest.join("/");
            }
            [] => return Err(malformed()),
        }
        if let Some((image, sha)) = id.image.split_once("@sha256:") {
            if image.is_empty() || sha.is_empty() {
                return Err(malformed());
            }
            let (image, sha) = (image.to_owned(), sha.to_owned());
            id.image = image;
            id.sha = sha;
        }
        let parts: Vec<&str> = id.image.split(':').collect();
        match parts.as_slice() {
            [_] => {}
            [image, tag] => {
                if image.is_empty() || tag.is_empty() {
                    return Err(malformed());
                }
                let (image, tag) = ((*image).to_owned(), (*tag).to_owned());
                id.image = image;
                id.tag = tag;
            }
            // Flux returns the bare error here, without "parsing ...".
            _ => {
                return Err(ParseError {
                    message: "expected image name as either <image>:<tag> or just <image>: invalid image ID".to_owned(),
                });
            }
        }
        Ok(id)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.image.is_empty() {
            return Ok(());
        }
        if !self.domain.is_empty() {
            write!(f, "{}/", self.domain)?;
        }
        f.write_str(&self.image)?;
        if !self.sha.is_empty() {
            write!(f, "@sha256:{}", self.sha)
        } else if !self.tag.is_empty() {
            write!(f, ":{}", self.tag)
        } else {
            Ok(())
        }
    }
}

impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The visitor of [`ImageRef`]: `""` is the empty reference (Go writes its
/// zero `Ref` so, and fluxd sends it for images it has no data for).
struct ImageRefVisitor;

impl serde::de::Visitor<'_> for ImageRefVisitor {
    type Value = ImageRef;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an image reference such as quay.io/org/app:1.2.3")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<ImageRef, E> {
        if value.is_empty() {
            Ok(ImageRef::default())
        } else {
            value.parse().map_err(E::custom)
        }
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ImageRefVisitor)
    }
}

/// An image repository without tag (Go's `image.Name`), written as an
/// object `{"Domain":..., "Image":...}` (in a `v9.Change`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageName {
    /// The registry host, empty for Docker Hub's implied one.
    #[serde(rename = "Domain")]
    pub domain: String,
    /// The repository path.
    #[serde(rename = "Image")]
    pub image: String,
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.image.is_empty() {
            return Ok(());
        }
        if !self.domain.is_empty() {
            write!(f, "{}/", self.domain)?;
        }
        f.write_str(&self.image)
    }
}

/// A container image of a release: a reference with a tag, or `<all latest>`
/// (every container to its newest allowed image).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageSpec {
    /// `<all latest>`.
    Latest,
    /// This image.
    Ref(ImageRef),
}

impl ImageSpec {
    /// The string Flux writes for [`ImageSpec::Latest`].
    pub const LATEST: &'static str = "<all latest>";
}

impl FromStr for ImageSpec {
    type Err = ParseError;

    /// Parses as Flux's `update.ParseImageSpec`: a reference needs a tag.
    fn from_str(text: &str) -> Result<Self, ParseError> {
        if text == Self::LATEST {
            return Ok(Self::Latest);
        }
        let reference: ImageRef = text.parse()?;
        if reference.tag.is_empty() {
            return Err(ParseError {
                message: "blank tag (if you want latest, explicitly state the tag :latest): invalid image ID".to_owned(),
            });
        }
        Ok(Self::Ref(reference))
    }
}

impl fmt::Display for ImageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest => f.write_str(Self::LATEST),
            Self::Ref(reference) => reference.fmt(f),
        }
    }
}

impl Serialize for ImageSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor::new(
            "an image reference with a tag, or <all latest>",
        ))
    }
}

/// The timestamp labels of an image Flux reads (`image.Labels`); each is
/// omitted when absent. A label that is not RFC 3339 reads as absent, as
/// Flux's `Info` decoder ignores its labels' errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLabels {
    /// `org.label-schema.build-date`.
    #[serde(
        rename = "org.label-schema.build-date",
        default,
        with = "lenient_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub build_date: Option<jiff::Timestamp>,
    /// `org.opencontainers.image.created`.
    #[serde(
        rename = "org.opencontainers.image.created",
        default,
        with = "lenient_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<jiff::Timestamp>,
}

mod lenient_time {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        value: &Option<jiff::Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        optional_time::serialize(value, serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<jiff::Timestamp>, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(value
            .as_str()
            .and_then(|text| super::super::go::parse_time(text).ok()))
    }
}

/// What fluxd knows of one image (Go's `image.Info` with its custom
/// marshaller): `ID` and `Labels` always present, the rest omitted when
/// empty; times in RFC 3339 (nanoseconds, UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The reference, usually tagged; `""` when fluxd has nothing.
    #[serde(rename = "ID", default)]
    pub id: ImageRef,
    /// The manifest digest fluxd fetched.
    #[serde(rename = "Digest", default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// The image (config) id.
    #[serde(rename = "ImageID", default, skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    /// The timestamp labels.
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "super::go::null_as_default"
    )]
    pub labels: ImageLabels,
    /// When the image was built.
    #[serde(
        rename = "CreatedAt",
        default,
        with = "optional_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<jiff::Timestamp>,
    /// When fluxd last fetched the manifest.
    #[serde(
        rename = "LastFetched",
        default,
        with = "optional_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_fetched: Option<jiff::Timestamp>,
}

impl ImageInfo {
    /// The info of an image fluxd has no registry data for.
    pub fn of(id: ImageRef) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ImageRef {
        text.parse().unwrap()
    }

    #[test]
    fn parses_as_flux() {
        let r = parse("alpine");
        assert_eq!(
            (r.domain.as_str(), r.image.as_str(), r.tag.as_str()),
            ("", "alpine", "")
        );
        let r = parse("alpine:3.10.1");
        assert_eq!((r.image.as_str(), r.tag.as_str()), ("alpine", "3.10.1"));
        let r = parse("stefanprodan/podinfo:3.1.0");
        assert_eq!(
            (r.domain.as_str(), r.image.as_str()),
            ("", "stefanprodan/podinfo")
        );
        let r = parse("quay.io/weaveworks/helloworld:master-a000001");
        assert_eq!(
            (r.domain.as_str(), r.image.as_str(), r.tag.as_str()),
            ("quay.io", "weaveworks/helloworld", "master-a000001")
        );
        let r = parse("localhost:5000/app:v1");
        assert_eq!(
            (r.domain.as_str(), r.image.as_str(), r.tag.as_str()),
            ("localhost:5000", "app", "v1")
        );
        let r = parse("127.0.0.1:5000/team/app:v1");
        assert_eq!(
            (r.domain.as_str(), r.image.as_str()),
            ("127.0.0.1:5000", "team/app")
        );
        let r = parse("registry.example.com/app@sha256:abcd");
        assert_eq!(
            (r.domain.as_str(), r.image.as_str(), r.sha.as_str()),
            ("registry.example.com", "app", "abcd")
        );
        assert_eq!(r.to_string(), "registry.example.com/app@sha256:abcd");
        for text in [
            "alpine",
            "alpine:3.10.1",
            "quay.io/weaveworks/helloworld:master-a000001",
            "localhost:5000/app:v1",
        ] {
            assert_eq!(parse(text).to_string(), text);
        }
    }

    #[test]
    fn refuses_as_flux() {
        let message = |text: &str| text.parse::<ImageRef>().unwrap_err().to_string();
        assert_eq!(
            message(""),
            r#"parsing "": blank image name: invalid image ID"#
        );
        assert_eq!(
            message("/alpine"),
            r#"parsing "/alpine": expected image name as either <image>:<tag> or just <image>: invalid image ID"#
        );
        assert_eq!(
            message("alpine:"),
            r#"parsing "alpine:": expected image name as either <image>:<tag> or just <image>: invalid image ID"#
        );
        assert_eq!(
            message("a:b:c"),
            "expected image name as either <image>:<tag> or just <image>: invalid image ID"
        );
    }

    #[test]
    fn image_specs_as_flux() {
        // pkg/update/spec_test.go
        for (text, ok) in [
            ("valid/image:tag", true),
            ("image:tag", true),
            (":tag", false),
            ("image:", false),
            ("image", false),
            ("<all latest>", true),
            ("<invalid spec>", false),
        ] {
            let spec = text.parse::<ImageSpec>();
            assert_eq!(spec.is_ok(), ok, "{text}");
            if let Ok(spec) = spec {
                assert_eq!(spec.to_string(), text);
            }
        }
        assert_eq!(
            "image".parse::<ImageSpec>().unwrap_err().to_string(),
            "blank tag (if you want latest, explicitly state the tag :latest): invalid image ID"
        );
    }

    #[test]
    fn info_shapes() {
        // The zero Info, as fluxd writes LatestFiltered in /services.
        let zero = ImageInfo::default();
        assert_eq!(
            serde_json::to_string(&zero).unwrap(),
            r#"{"ID":"","Labels":{}}"#
        );
        let json = r#"{"ID":"quay.io/org/app:1.2.3","Digest":"sha256:aa","ImageID":"sha256:bb","Labels":{"org.label-schema.build-date":"2016-07-20T13:19:00Z","org.opencontainers.image.created":"2016-07-20T13:19:00.123456789Z"},"CreatedAt":"2016-07-20T13:19:00.5Z","LastFetched":"2020-03-20T13:53:00Z"}"#;
        let info: ImageInfo = serde_json::from_str(json).unwrap();
        assert_eq!(info.id.tag, "1.2.3");
        assert_eq!(serde_json::to_string(&info).unwrap(), json);
        // Offsets are read and written back in UTC, as Go's marshaller does.
        let info: ImageInfo = serde_json::from_str(
            r#"{"ID":"a:1","Labels":{},"CreatedAt":"2020-03-20T15:53:00+02:00"}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"ID":"a:1","Labels":{},"CreatedAt":"2020-03-20T13:53:00Z"}"#
        );
        // A bad label is dropped; a bad CreatedAt is an error.
        let info: ImageInfo = serde_json::from_str(
            r#"{"ID":"a:1","Labels":{"org.label-schema.build-date":"yesterday"}}"#,
        )
        .unwrap();
        assert_eq!(info.labels, ImageLabels::default());
        let error = serde_json::from_str::<ImageInfo>(r#"{"ID":"a:1","CreatedAt":"yesterday"}"#)
            .unwrap_err();
        assert!(error.to_string().contains("time \"yesterday\""), "{error}");
        // null labels (a nil struct pointer never happens in Go, but be kind).
        let info: ImageInfo = serde_json::from_str(r#"{"ID":"a:1","Labels":null}"#).unwrap();
        assert_eq!(info.labels, ImageLabels::default());
    }
}
