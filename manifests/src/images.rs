//! The container images a resource runs, and where each is written.
//!
//! Workloads (Deployment, DaemonSet, StatefulSet, ReplicaSet, Job, CronJob,
//! Pod) list their `initContainers` and `containers`. HelmReleases (Flux's
//! `flux.weave.works/v1beta1` and `helm.fluxcd.io/v1` HelmRelease and the
//! legacy `helm.integrations.flux.weave.works/v1alpha2` FluxHelmRelease) name
//! images in their `values` by convention, as Flux v1 read them:
//!
//! ```yaml
//! values:
//!   image: repo/app:1.0            # container "chart-image"
//!   sidecar:                       # container "sidecar"
//!     image: repo/side             # also: registry + image + tag,
//!     tag: "2.1"                   # image: {repository, tag}, image: {registry, repository, tag}
//! ```
//!
//! and by explicit mappings, `repository.fluxcd.io/<alias>`,
//! `registry.fluxcd.io/<alias>` and `tag.fluxcd.io/<alias>` annotations whose
//! values are dot paths under `spec.values`.
//!
//! Each [`ContainerImage`] says where its image is written ([`ImageFields`]),
//! so an edit can write a new image back in the same shape.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::{Error, ResourceId};

/// The container name of an image at the top of a HelmRelease's `values`.
pub const CHART_IMAGE: &str = "chart-image";
/// Annotation prefix mapping a HelmRelease image's registry to a values path.
pub const REGISTRY_MAPPING_PREFIX: &str = "registry.fluxcd.io/";
/// Annotation prefix mapping a HelmRelease image's repository to a values path.
pub const REPOSITORY_MAPPING_PREFIX: &str = "repository.fluxcd.io/";
/// Annotation prefix mapping a HelmRelease image's tag to a values path.
pub const TAG_MAPPING_PREFIX: &str = "tag.fluxcd.io/";

/// The HelmRelease kinds whose values name images: `(apiVersion, kind)`.
pub const HELM_RELEASE_KINDS: [(&str, &str); 3] = [
    ("flux.weave.works/v1beta1", "HelmRelease"),
    ("helm.fluxcd.io/v1", "HelmRelease"),
    (
        "helm.integrations.flux.weave.works/v1alpha2",
        "FluxHelmRelease",
    ),
];

/// One step of a path from the root of an object to a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSegment {
    /// A key of a mapping.
    Key(String),
    /// An index into a sequence.
    Index(usize),
}

/// A path from the root of an object to a value.
pub type ValuePath = Vec<PathSegment>;

/// Formats a path as `spec.template.spec.containers[0].image`.
pub fn display_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            PathSegment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Where and how a container's image is written in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageFields {
    /// The whole reference in one string (`image: repo/app:1.0`).
    Reference(ValuePath),
    /// The reference split over fields: an optional registry, the repository
    /// (which holds the tag too when there is no tag field), an optional tag.
    Parts {
        /// Field holding the registry host, if separate.
        registry: Option<ValuePath>,
        /// Field holding the repository path.
        repository: ValuePath,
        /// Field holding the tag, if separate.
        tag: Option<ValuePath>,
    },
}

impl ImageFields {
    /// The values to write so the object names `image`, one per field, in
    /// the same shape as now. An image that cannot be split the way the
    /// fields need (no registry for a registry field, no tag for a tag field,
    /// a digest) is an error.
    pub fn writes(&self, image: &str) -> Result<Vec<(ValuePath, String)>, Error> {
        let (registry, repository, tag) = match self {
            Self::Reference(path) => return Ok(vec![(path.clone(), image.to_owned())]),
            Self::Parts {
                registry,
                repository,
                tag,
            } => (registry, repository, tag),
        };
        let invalid = |reason: &str| Error::InvalidImageRef {
            image: image.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = ImageRef::parse(image).map_err(|reason| invalid(&reason))?;
        let mut writes = Vec::new();
        if let Some(path) = registry {
            let domain = parsed
                .domain
                .ok_or_else(|| invalid("no registry host for the registry field"))?;
            writes.push((path.clone(), domain.to_owned()));
        }
        let name = match (registry, parsed.domain) {
            (None, Some(domain)) => format!("{domain}/{}", parsed.path),
            _ => parsed.path.to_owned(),
        };
        match (tag, parsed.tag) {
            (Some(path), Some(value)) => {
                writes.push((repository.clone(), name));
                writes.push((path.clone(), value.to_owned()));
            }
            (Some(_), None) => return Err(invalid("no tag for the tag field")),
            (None, Some(value)) => writes.push((repository.clone(), format!("{name}:{value}"))),
            (None, None) => writes.push((repository.clone(), name)),
        }
        Ok(writes)
    }

    /// The paths of every field, for messages.
    pub fn paths(&self) -> Vec<&ValuePath> {
        match self {
            Self::Reference(path) => vec![path],
            Self::Parts {
                registry,
                repository,
                tag,
            } => registry
                .iter()
                .chain(std::iter::once(repository))
                .chain(tag.iter())
                .collect(),
        }
    }
}

/// A container and its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    /// The container's name (for HelmReleases: `chart-image`, the values key,
    /// or the mapping alias).
    pub name: String,
    /// The image reference as one string, e.g. `quay.io/org/app:1.2.3`.
    pub image: String,
    /// Where the image is written.
    pub fields: ImageFields,
}

impl fmt::Display for ContainerImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.image)
    }
}

/// The path from the object's root to the pod spec of a workload kind, or
/// `None` when the kind has no pod template.
pub fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Deployment" | "DaemonSet" | "StatefulSet" | "ReplicaSet" | "Job" => {
            &["spec", "template", "spec"]
        }
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        "Pod" => &["spec"],
        _ => return None,
    })
}

/// True when the object is one of the [`HELM_RELEASE_KINDS`].
pub fn is_helm_release(object: &Value) -> bool {
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    let kind = object.get("kind").and_then(Value::as_str);
    HELM_RELEASE_KINDS
        .iter()
        .any(|(a, k)| api_version == Some(a) && kind == Some(k))
}

/// The containers of a workload or HelmRelease and their images; empty for
/// other kinds. A workload container without a string `name` or `image` is
/// an error naming the resource; values that do not look like an image are
/// simply not containers.
pub fn container_images(object: &Value, id: &ResourceId) -> Result<Vec<ContainerImage>, Error> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    if let Some(path) = pod_spec_path(kind) {
        return workload_containers(object, path, id);
    }
    if is_helm_release(object) {
        return Ok(helm_release_containers(object));
    }
    Ok(Vec::new())
}

fn workload_containers(
    object: &Value,
    spec_path: &[&str],
    id: &ResourceId,
) -> Result<Vec<ContainerImage>, Error> {
    let mut spec = object;
    for key in spec_path {
        match spec.get(key) {
            Some(next) => spec = next,
            None => return Ok(Vec::new()),
        }
    }
    let mut out = Vec::new();
    for list in ["initContainers", "containers"] {
        let items = match spec.get(list) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(Error::InvalidContainer {
                    id: Box::new(id.clone()),
                    reason: format!("{}.{list} is not a list", spec_path.join(".")),
                });
            }
        };
        for (index, item) in items.iter().enumerate() {
            let at = || format!("{}.{list}[{index}]", spec_path.join("."));
            let Some(name) = item.get("name").and_then(Value::as_str) else {
                return Err(Error::InvalidContainer {
                    id: Box::new(id.clone()),
                    reason: format!("{} has no string name", at()),
                });
            };
            let Some(image) = item.get("image").and_then(Value::as_str) else {
                return Err(Error::InvalidContainer {
                    id: Box::new(id.clone()),
                    reason: format!("container {name:?} ({}) has no string image", at()),
                });
            };
            let mut path: ValuePath = spec_path
                .iter()
                .map(|k| PathSegment::Key((*k).to_owned()))
                .collect();
            path.extend([
                PathSegment::Key(list.to_owned()),
                PathSegment::Index(index),
                PathSegment::Key("image".to_owned()),
            ]);
            out.push(ContainerImage {
                name: name.to_owned(),
                image: image.to_owned(),
                fields: ImageFields::Reference(path),
            });
        }
    }
    Ok(out)
}

fn key_path(base: &[PathSegment], keys: &[&str]) -> ValuePath {
    let mut path = base.to_vec();
    path.extend(keys.iter().map(|k| PathSegment::Key((*k).to_owned())));
    path
}

fn helm_release_containers(object: &Value) -> Vec<ContainerImage> {
    let base = key_path(&[], &["spec", "values"]);
    let Some(values) = object.pointer("/spec/values").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut found: BTreeMap<String, (String, ImageFields)> = BTreeMap::new();
    if let Some(image) = interpret_as_container(values, &base) {
        found.insert(CHART_IMAGE.to_owned(), image);
    }
    for (key, value) in values {
        if let Some(map) = value.as_object()
            && let Some(image) = interpret_as_container(map, &key_path(&base, &[key]))
        {
            found.insert(key.clone(), image);
        }
    }
    for (alias, mapping) in mappings(object) {
        if let Some(image) = mapping.interpret(values, &base) {
            found.insert(alias, image);
        }
    }
    let mut out: Vec<ContainerImage> = found
        .into_iter()
        .map(|(name, (image, fields))| ContainerImage {
            name,
            image,
            fields,
        })
        .collect();
    // `chart-image` first, then by name (as Flux listed them).
    out.sort_by_key(|c| (c.name != CHART_IMAGE, c.name.clone()));
    out
}

/// Reads `image` (a string, with optional sibling `registry` and `tag`, or a
/// mapping with `repository` and optional `registry` and `tag`) in `map`.
fn interpret_as_container(
    map: &serde_json::Map<String, Value>,
    at: &[PathSegment],
) -> Option<(String, ImageFields)> {
    match map.get("image")? {
        Value::String(image) => compose(
            map,
            key_path(at, &["image"]),
            image,
            key_path(at, &["registry"]),
            key_path(at, &["tag"]),
        ),
        Value::Object(inner) => {
            let image_at = key_path(at, &["image"]);
            let repository = inner.get("repository")?.as_str()?;
            compose(
                inner,
                key_path(&image_at, &["repository"]),
                repository,
                key_path(&image_at, &["registry"]),
                key_path(&image_at, &["tag"]),
            )
        }
        _ => None,
    }
}

/// The image named by a repository string and the optional string `registry`
/// and `tag` siblings in `map`. A sibling that is present but not a string
/// (say `tag: 1.2`, a number) makes this not an image: writing it back would
/// change its type.
fn compose(
    map: &serde_json::Map<String, Value>,
    repository_path: ValuePath,
    repository: &str,
    registry_path: ValuePath,
    tag_path: ValuePath,
) -> Option<(String, ImageFields)> {
    let registry = match map.get("registry") {
        None => None,
        Some(Value::String(registry)) => Some(registry.as_str()),
        Some(_) => return None,
    };
    let tag = match map.get("tag") {
        None => None,
        Some(Value::String(tag)) => Some(tag.as_str()),
        Some(_) => return None,
    };
    let image = compose_image(registry, repository, tag)?;
    let fields = if registry.is_none() && tag.is_none() {
        ImageFields::Reference(repository_path)
    } else {
        ImageFields::Parts {
            registry: registry.map(|_| registry_path),
            repository: repository_path,
            tag: tag.map(|_| tag_path),
        }
    };
    Some((image, fields))
}

/// One image reference from the fields a HelmRelease splits it over, as
/// Flux v1 joined them (`<registry>/<repository>:<tag>`). With a `registry`
/// field, the repository is the whole path, however many elements it has
/// (`registry: quay.io`, `repository: team/apps/web`), and the registry is
/// the host whatever it looks like; without one, the repository's first
/// element is a host when it looks like one.
fn compose_image(registry: Option<&str>, repository: &str, tag: Option<&str>) -> Option<String> {
    let text = match tag {
        Some(tag) => format!("{repository}:{tag}"),
        None => repository.to_owned(),
    };
    let parsed = match registry {
        Some(registry) => {
            if registry.is_empty()
                || registry.contains(['/', '@'])
                || registry.contains(char::is_whitespace)
            {
                return None;
            }
            ImageRef {
                domain: Some(registry),
                ..ImageRef::parse_path(&text).ok()?
            }
        }
        None => ImageRef::parse(&text).ok()?,
    };
    Some(parsed.to_string())
}

/// The dot paths an alias's mapping annotations give.
#[derive(Debug, Default)]
struct Mapping {
    registry: Option<String>,
    repository: Option<String>,
    tag: Option<String>,
}

fn mappings(object: &Value) -> BTreeMap<String, Mapping> {
    let mut out: BTreeMap<String, Mapping> = BTreeMap::new();
    let Some(annotations) = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    else {
        return out;
    };
    for (key, value) in annotations {
        let Some(path) = value.as_str() else { continue };
        let prefixes = [
            REGISTRY_MAPPING_PREFIX,
            REPOSITORY_MAPPING_PREFIX,
            TAG_MAPPING_PREFIX,
        ];
        for (i, prefix) in prefixes.iter().enumerate() {
            if let Some(alias) = key.strip_prefix(prefix) {
                let entry = out.entry(alias.to_owned()).or_default();
                let slot = [&mut entry.registry, &mut entry.repository, &mut entry.tag];
                if let Some(slot) = slot.into_iter().nth(i) {
                    *slot = Some(path.to_owned());
                }
            }
        }
    }
    out
}

impl Mapping {
    fn interpret(
        &self,
        values: &serde_json::Map<String, Value>,
        base: &[PathSegment],
    ) -> Option<(String, ImageFields)> {
        let lookup = |dots: &str| -> Option<(ValuePath, &str)> {
            let keys: Vec<&str> = dots.split('.').collect();
            let mut here = values.get(*keys.first()?)?;
            for key in &keys[1..] {
                here = here.get(key)?;
            }
            Some((key_path(base, &keys), here.as_str()?))
        };
        let (repository_path, repository) = lookup(self.repository.as_deref()?)?;
        let registry = match &self.registry {
            Some(dots) => Some(lookup(dots)?),
            None => None,
        };
        let tag = match &self.tag {
            Some(dots) => Some(lookup(dots)?),
            None => None,
        };
        let image = compose_image(
            registry.as_ref().map(|(_, registry)| *registry),
            repository,
            tag.as_ref().map(|(_, tag)| *tag),
        )?;
        let fields = match (registry, tag) {
            (None, None) => ImageFields::Reference(repository_path),
            (registry, tag) => ImageFields::Parts {
                registry: registry.map(|(path, _)| path),
                repository: repository_path,
                tag: tag.map(|(path, _)| path),
            },
        };
        Some((image, fields))
    }
}

/// An image reference split the way Flux v1 split it: an optional registry
/// host, the repository path, an optional tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ImageRef<'a> {
    domain: Option<&'a str>,
    path: &'a str,
    tag: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// A whole reference: `[host/]path[:tag]`, the first element a host
    /// when more elements follow it or it looks like one ([`is_domain`]).
    fn parse(s: &'a str) -> Result<Self, String> {
        let (domain, rest) = match s.split_once('/') {
            Some((first, rest)) if rest.contains('/') || is_domain(first) => (Some(first), rest),
            _ => (None, s),
        };
        if domain
            .is_some_and(|d| d.is_empty() || d.contains(char::is_whitespace) || d.contains('@'))
        {
            return Err("malformed".to_owned());
        }
        Ok(Self {
            domain,
            ..Self::parse_path(rest)?
        })
    }

    /// A repository path with an optional tag and no registry host, however
    /// many elements it has (`team/apps/web:1.0`).
    fn parse_path(s: &'a str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("empty".to_owned());
        }
        if s.contains('@') {
            return Err("digest references are not supported here".to_owned());
        }
        if s.starts_with('/') || s.ends_with('/') || s.contains(char::is_whitespace) {
            return Err("malformed".to_owned());
        }
        let (path, tag) = match s.split_once(':') {
            None => (s, None),
            Some((path, tag)) if !path.is_empty() && !tag.is_empty() && !tag.contains(':') => {
                (path, Some(tag))
            }
            Some(_) => return Err("expected <name> or <name>:<tag>".to_owned()),
        };
        if path.split('/').any(str::is_empty) {
            return Err("empty path component".to_owned());
        }
        Ok(Self {
            domain: None,
            path,
            tag,
        })
    }
}

/// A first path component is a registry host when it looks like one
/// (`localhost`, a dot, or a port), as docker decides.
fn is_domain(first: &str) -> bool {
    first == "localhost" || first.contains('.') || first.contains(':')
}

impl fmt::Display for ImageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(domain) = self.domain {
            write!(f, "{domain}/")?;
        }
        f.write_str(self.path)?;
        if let Some(tag) = self.tag {
            write!(f, ":{tag}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs_split_like_flux() {
        let table: &[(&str, Option<&str>, &str, Option<&str>)] = &[
            ("alpine", None, "alpine", None),
            ("alpine:3.5", None, "alpine", Some("3.5")),
            ("weaveworks/scope:1", None, "weaveworks/scope", Some("1")),
            ("quay.io/org/app:v2", Some("quay.io"), "org/app", Some("v2")),
            ("localhost/app", Some("localhost"), "app", None),
            (
                "localhost:5000/a/b/c:t",
                Some("localhost:5000"),
                "a/b/c",
                Some("t"),
            ),
            ("reg/a/b", Some("reg"), "a/b", None),
        ];
        for (s, domain, path, tag) in table {
            let r = ImageRef::parse(s).unwrap();
            assert_eq!((r.domain, r.path, r.tag), (*domain, *path, *tag), "{s}");
            assert_eq!(r.to_string(), *s);
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a:b:c",
            "a:",
            ":b",
            "a//b",
            "a@sha256:00",
            "a b",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_follow_the_shape() {
        let p = |s: &str| vec![PathSegment::Key(s.to_owned())];
        let parts = ImageFields::Parts {
            registry: Some(p("registry")),
            repository: p("image"),
            tag: Some(p("tag")),
        };
        assert_eq!(
            parts.writes("quay.io/org/app:2").unwrap(),
            vec![
                (p("registry"), "quay.io".to_owned()),
                (p("image"), "org/app".to_owned()),
                (p("tag"), "2".to_owned())
            ]
        );
        assert!(parts.writes("org/app:2").is_err());
        assert!(parts.writes("quay.io/org/app").is_err());
        let repo_tag = ImageFields::Parts {
            registry: None,
            repository: p("repository"),
            tag: Some(p("tag")),
        };
        assert_eq!(
            repo_tag.writes("quay.io/org/app:2").unwrap(),
            vec![
                (p("repository"), "quay.io/org/app".to_owned()),
                (p("tag"), "2".to_owned())
            ]
        );
        let registry_only = ImageFields::Parts {
            registry: Some(p("registry")),
            repository: p("image"),
            tag: None,
        };
        assert_eq!(
            registry_only.writes("r.io/app:3").unwrap(),
            vec![
                (p("registry"), "r.io".to_owned()),
                (p("image"), "app:3".to_owned())
            ]
        );
    }
}
