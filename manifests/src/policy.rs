//! Policies that users set on resources with annotations, as Flux v1 read them.
//!
//! Every policy is read under both prefixes Flux used, `fluxcd.io/` and the
//! older `flux.weave.works/`; tag filters are also read from
//! `filter.fluxcd.io/<container>`:
//!
//! | annotation | meaning |
//! |---|---|
//! | `fluxcd.io/automated: "true"` | new images are released automatically |
//! | `fluxcd.io/locked: "true"` | nothing changes this resource's images (`locked_msg`, `locked_user` say why and who) |
//! | `fluxcd.io/ignore: "true"` | never applied, automated or pruned |
//! | `fluxcd.io/ignore: sync_only` | applied, but never pruned |
//! | `fluxcd.io/tag.<container>: <filter>` | which tags the container may move to ([`TagFilter`]) |
//!
//! ```
//! use manifests::{Policies, ResourceId};
//!
//! let object = serde_json::json!({
//!     "metadata": {"name": "web", "annotations": {
//!         "flux.weave.works/automated": "true",
//!         "fluxcd.io/tag.web": "semver:~1.2",
//!     }}
//! });
//! let id = ResourceId::namespaced("demo", "Deployment", "web");
//! let policies = Policies::from_object(&object, &id).unwrap();
//! assert!(policies.automated);
//! assert!(policies.tag_filter("web").matches("1.2.9"));
//! assert!(policies.tag_filter("sidecar").matches("anything"));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

pub use crate::filter::{SemverConstraint, TagCandidate, TagFilter, TagRanking, Version};
use crate::{Error, ResourceId};

/// The current annotation prefix for policies.
pub const POLICY_PREFIX: &str = "fluxcd.io/";
/// The prefix Flux used before `fluxcd.io/`; still read, and written back
/// where a resource already uses it.
pub const ALTERNATE_POLICY_PREFIX: &str = "flux.weave.works/";
/// A second way to write a tag filter: `filter.fluxcd.io/<container>`.
pub const FILTER_POLICY_PREFIX: &str = "filter.fluxcd.io/";

const IGNORE_SYNC_ONLY: &str = "sync_only";

/// One policy, as named after the prefix of its annotation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Policy {
    /// `automated`
    Automated,
    /// `locked`
    Locked,
    /// `locked_msg`
    LockedMsg,
    /// `locked_user`
    LockedUser,
    /// `ignore`
    Ignore,
    /// `tag.<container>`: the tag filter of one container.
    Tag(String),
}

impl Policy {
    /// The name after the prefix: `automated`, `tag.web`, ...
    pub fn name(&self) -> String {
        match self {
            Self::Automated => "automated".to_owned(),
            Self::Locked => "locked".to_owned(),
            Self::LockedMsg => "locked_msg".to_owned(),
            Self::LockedUser => "locked_user".to_owned(),
            Self::Ignore => "ignore".to_owned(),
            Self::Tag(container) => format!("tag.{container}"),
        }
    }

    /// The policy a name after the prefix stands for, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "automated" => Self::Automated,
            "locked" => Self::Locked,
            "locked_msg" => Self::LockedMsg,
            "locked_user" => Self::LockedUser,
            "ignore" => Self::Ignore,
            _ => Self::Tag(name.strip_prefix("tag.")?.to_owned()),
        })
    }

    /// Every annotation key this policy may be written under, in the order
    /// they are read (the first one present wins).
    pub fn annotation_keys(&self) -> Vec<String> {
        let name = self.name();
        let mut keys = vec![
            format!("{POLICY_PREFIX}{name}"),
            format!("{ALTERNATE_POLICY_PREFIX}{name}"),
        ];
        if let Self::Tag(container) = self {
            keys.push(format!("{FILTER_POLICY_PREFIX}{container}"));
        }
        keys
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// What the `ignore` policy says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ignore {
    /// Not ignored (no annotation, or any value other than the two below).
    #[default]
    No,
    /// `"true"`: never applied, automated or pruned.
    Yes,
    /// `"sync_only"`: applied, but never pruned.
    SyncOnly,
}

impl Ignore {
    /// Reads only the `ignore` policy of an object (either prefix). Never
    /// fails: an absent, non-string or unknown value is [`Ignore::No`].
    ///
    /// ```
    /// use manifests::Ignore;
    ///
    /// let object = serde_json::json!({"metadata": {"annotations": {"flux.weave.works/ignore": "sync_only"}}});
    /// assert_eq!(Ignore::of_object(&object), Ignore::SyncOnly);
    /// assert_eq!(Ignore::of_object(&serde_json::json!({})), Ignore::No);
    /// ```
    pub fn of_object(object: &Value) -> Self {
        let Some(annotations) = annotations_object(object) else {
            return Self::No;
        };
        let value = Policy::Ignore
            .annotation_keys()
            .iter()
            .find_map(|key| annotations.get(key.as_str()));
        match value.and_then(Value::as_str) {
            Some("true") => Self::Yes,
            Some(IGNORE_SYNC_ONLY) => Self::SyncOnly,
            _ => Self::No,
        }
    }

    /// True when a sync applies the resource.
    pub fn is_applied(self) -> bool {
        self != Self::Yes
    }

    /// True when a sync may delete the resource once it leaves git.
    pub fn is_prunable(self) -> bool {
        self == Self::No
    }
}

/// The policies of one resource, read from its annotations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policies {
    /// `automated` is exactly `"true"`.
    pub automated: bool,
    /// `locked` is exactly `"true"`.
    pub locked: bool,
    /// `locked_msg`, if set.
    pub locked_msg: Option<String>,
    /// `locked_user`, if set.
    pub locked_user: Option<String>,
    /// `ignore`.
    pub ignore: Ignore,
    /// Tag filters by container name.
    pub tag_filters: BTreeMap<String, TagFilter>,
}

impl Policies {
    /// Reads the policies from an object's `metadata.annotations`. An
    /// annotation value that is not a string, or a tag filter that does not
    /// parse, is an error naming the resource (and container).
    pub fn from_object(object: &Value, id: &ResourceId) -> Result<Self, Error> {
        let annotations = string_annotations(object, id)?;
        let get = |policy: &Policy| {
            policy
                .annotation_keys()
                .iter()
                .find_map(|key| annotations.get(key.as_str()).copied())
        };
        let mut policies = Self {
            automated: get(&Policy::Automated) == Some("true"),
            locked: get(&Policy::Locked) == Some("true"),
            locked_msg: get(&Policy::LockedMsg).map(str::to_owned),
            locked_user: get(&Policy::LockedUser).map(str::to_owned),
            ignore: match get(&Policy::Ignore) {
                Some("true") => Ignore::Yes,
                Some(IGNORE_SYNC_ONLY) => Ignore::SyncOnly,
                _ => Ignore::No,
            },
            tag_filters: BTreeMap::new(),
        };
        let containers = annotations.keys().filter_map(|key| {
            [POLICY_PREFIX, ALTERNATE_POLICY_PREFIX]
                .iter()
                .find_map(|prefix| key.strip_prefix(prefix)?.strip_prefix("tag."))
                .or_else(|| key.strip_prefix(FILTER_POLICY_PREFIX))
        });
        for container in containers {
            if policies.tag_filters.contains_key(container) {
                continue;
            }
            let policy = Policy::Tag(container.to_owned());
            let Some(expression) = get(&policy) else {
                continue;
            };
            let filter = TagFilter::parse(expression).map_err(|err| match err {
                Error::InvalidTagFilter { expression, reason } => Error::InvalidPolicyFilter {
                    id: Box::new(id.clone()),
                    container: container.to_owned(),
                    expression,
                    reason,
                },
                other => other,
            })?;
            policies.tag_filters.insert(container.to_owned(), filter);
        }
        Ok(policies)
    }

    /// The tag filter of a container: its `tag.<container>` policy, else
    /// every tag (`glob:*`).
    pub fn tag_filter(&self, container: &str) -> TagFilter {
        self.tag_filters.get(container).cloned().unwrap_or_default()
    }
}

/// The prefix a policy written onto this object gets: the one its
/// annotations already use (`fluxcd.io/` first), else `fluxcd.io/`.
pub fn write_prefix(object: &Value) -> &'static str {
    let keys: Vec<&str> = annotations_object(object)
        .map(|map| map.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if keys.iter().any(|k| k.starts_with(POLICY_PREFIX)) {
        POLICY_PREFIX
    } else if keys.iter().any(|k| k.starts_with(ALTERNATE_POLICY_PREFIX)) {
        ALTERNATE_POLICY_PREFIX
    } else {
        POLICY_PREFIX
    }
}

/// The annotation key under which `policy` is written on this object: the
/// key already holding it, else the object's [`write_prefix`] and the name.
pub fn annotation_key(object: &Value, policy: &Policy) -> String {
    present_annotation_keys(object, policy)
        .into_iter()
        .next()
        .unwrap_or_else(|| format!("{}{}", write_prefix(object), policy.name()))
}

/// The keys of this object's annotations that hold `policy` (under any
/// prefix), in reading order.
pub fn present_annotation_keys(object: &Value, policy: &Policy) -> Vec<String> {
    let Some(map) = annotations_object(object) else {
        return Vec::new();
    };
    policy
        .annotation_keys()
        .into_iter()
        .filter(|key| map.contains_key(key))
        .collect()
}

/// Every policy an object's annotations set, by name, as Flux's API lists
/// them (`PoliciesFromAnnotations`): each `fluxcd.io/<policy>` (or the older
/// `flux.weave.works/<policy>`, which `fluxcd.io/` wins over) and each
/// `filter.fluxcd.io/<container>` as `tag.<container>`; the boolean
/// policies (`automated`, `locked`, `ignore`) only when `"true"`.
/// Annotations whose value is not a string are left out: this reads for a
/// listing, where [`Policies::from_object`] reads to act and refuses them.
pub fn listed(object: &Value) -> BTreeMap<String, String> {
    const BOOLEAN: [&str; 3] = ["automated", "locked", "ignore"];
    let mut out = BTreeMap::new();
    let Some(annotations) = annotations_object(object) else {
        return out;
    };
    for (key, value) in annotations {
        let Some(value) = value.as_str() else {
            continue;
        };
        let name = if let Some(container) = key.strip_prefix(FILTER_POLICY_PREFIX) {
            format!("tag.{container}")
        } else if let Some(name) = [POLICY_PREFIX, ALTERNATE_POLICY_PREFIX]
            .iter()
            .find_map(|prefix| key.strip_prefix(prefix))
        {
            name.to_owned()
        } else {
            continue;
        };
        if BOOLEAN.contains(&name.as_str()) && value != "true" {
            continue;
        }
        if key.starts_with(ALTERNATE_POLICY_PREFIX) && out.contains_key(&name) {
            continue;
        }
        out.insert(name, value.to_owned());
    }
    out
}

fn annotations_object(object: &Value) -> Option<&serde_json::Map<String, Value>> {
    object.get("metadata")?.get("annotations")?.as_object()
}

/// The annotations that concern Flux, as strings; a Flux annotation whose value
/// is not a string is an error (Kubernetes would refuse it too).
fn string_annotations<'a>(
    object: &'a Value,
    id: &ResourceId,
) -> Result<BTreeMap<&'a str, &'a str>, Error> {
    let mut out = BTreeMap::new();
    let Some(map) = annotations_object(object) else {
        return Ok(out);
    };
    for (key, value) in map {
        let ours = [POLICY_PREFIX, ALTERNATE_POLICY_PREFIX, FILTER_POLICY_PREFIX]
            .iter()
            .any(|prefix| key.starts_with(prefix));
        if !ours {
            continue;
        }
        let Some(value) = value.as_str() else {
            return Err(Error::InvalidAnnotation {
                id: Box::new(id.clone()),
                key: key.clone(),
                reason: format!("value {value} is not a string (quote it)"),
            });
        };
        out.insert(key.as_str(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn id() -> ResourceId {
        ResourceId::namespaced("demo", "Deployment", "web")
    }

    #[test]
    fn listed_policies_read_as_fluxs_api_reads_them() {
        let object = json!({"metadata": {"annotations": {
            "fluxcd.io/automated": "true",
            "fluxcd.io/locked": "false",
            "flux.weave.works/locked_msg": "wait",
            "filter.fluxcd.io/app": "semver:~1",
            "fluxcd.io/tag.side": "glob:1.*",
            "kubernetes.io/other": "x",
            "fluxcd.io/ignore": "sync_only",
            "fluxcd.io/locked_user": "me",
            "flux.weave.works/locked_user": "older",
            "fluxcd.io/number": 3,
        }}});
        let policies = listed(&object);
        assert_eq!(
            policies,
            BTreeMap::from([
                ("automated".to_owned(), "true".to_owned()),
                ("locked_msg".to_owned(), "wait".to_owned()),
                ("locked_user".to_owned(), "me".to_owned()),
                ("tag.app".to_owned(), "semver:~1".to_owned()),
                ("tag.side".to_owned(), "glob:1.*".to_owned()),
            ])
        );
    }

    fn policies(annotations: Value) -> Policies {
        #![allow(clippy::needless_pass_by_value)]
        let object = json!({"metadata": {"name": "web", "annotations": annotations}});
        Policies::from_object(&object, &id()).unwrap()
    }

    #[test]
    fn booleans_are_true_only_for_exactly_true() {
        for (value, want) in [("true", true), ("True", false), ("yes", false), ("", false)] {
            let p = policies(json!({"fluxcd.io/automated": value, "fluxcd.io/locked": value}));
            assert_eq!(p.automated, want, "{value:?}");
            assert_eq!(p.locked, want, "{value:?}");
        }
    }

    #[test]
    fn both_prefixes_are_read() {
        let p = policies(json!({
            "flux.weave.works/locked": "true",
            "flux.weave.works/locked_msg": "broken build",
            "fluxcd.io/locked_user": "ada",
            "flux.weave.works/tag.web": "glob:v*",
            "filter.fluxcd.io/side": "semver:^2",
        }));
        assert!(p.locked);
        assert_eq!(p.locked_msg.as_deref(), Some("broken build"));
        assert_eq!(p.locked_user.as_deref(), Some("ada"));
        assert!(p.tag_filter("web").matches("v3"));
        assert!(!p.tag_filter("web").matches("3"));
        assert!(p.tag_filter("side").matches("2.5.0"));
    }

    #[test]
    fn fluxcd_prefix_wins_over_the_older_ones() {
        let p = policies(json!({
            "fluxcd.io/tag.web": "glob:a*",
            "flux.weave.works/tag.web": "glob:b*",
            "filter.fluxcd.io/web": "glob:c*",
        }));
        assert_eq!(p.tag_filter("web").to_string(), "glob:a*");
    }

    #[test]
    fn ignore_values() {
        for (value, want) in [
            ("true", Ignore::Yes),
            ("sync_only", Ignore::SyncOnly),
            ("false", Ignore::No),
            ("TRUE", Ignore::No),
        ] {
            assert_eq!(policies(json!({"fluxcd.io/ignore": value})).ignore, want);
        }
        assert!(!Ignore::Yes.is_applied() && !Ignore::Yes.is_prunable());
        assert!(Ignore::SyncOnly.is_applied() && !Ignore::SyncOnly.is_prunable());
        assert!(Ignore::No.is_applied() && Ignore::No.is_prunable());
    }

    #[test]
    fn invalid_filter_names_resource_container_and_expression() {
        let object = json!({"metadata": {"annotations": {"fluxcd.io/tag.web": "semver:>>1"}}});
        let err = Policies::from_object(&object, &id())
            .unwrap_err()
            .to_string();
        assert!(err.contains("demo:deployment/web"), "{err}");
        assert!(err.contains("web"), "{err}");
        assert!(err.contains(">>1"), "{err}");
    }

    #[test]
    fn non_string_values_are_errors() {
        let object = json!({"metadata": {"annotations": {"fluxcd.io/automated": true}}});
        let err = Policies::from_object(&object, &id())
            .unwrap_err()
            .to_string();
        assert!(err.contains("fluxcd.io/automated"), "{err}");
        // Other people's annotations are not ours to judge.
        let object = json!({"metadata": {"annotations": {"example.com/n": 1}}});
        assert!(Policies::from_object(&object, &id()).is_ok());
    }

    #[test]
    fn write_prefix_follows_the_object() {
        let with = |annotations: Value| json!({"metadata": {"annotations": annotations}});
        assert_eq!(write_prefix(&json!({"metadata": {}})), POLICY_PREFIX);
        assert_eq!(
            write_prefix(&with(json!({"flux.weave.works/automated": "true"}))),
            ALTERNATE_POLICY_PREFIX
        );
        assert_eq!(
            write_prefix(&with(
                json!({"flux.weave.works/a": "x", "fluxcd.io/b": "y"})
            )),
            POLICY_PREFIX
        );
        let object = with(json!({"flux.weave.works/locked": "true", "filter.fluxcd.io/web": "*"}));
        assert_eq!(
            annotation_key(&object, &Policy::Automated),
            "flux.weave.works/automated"
        );
        assert_eq!(
            annotation_key(&object, &Policy::Tag("web".into())),
            "filter.fluxcd.io/web"
        );
    }

    #[test]
    fn names_round_trip() {
        for policy in [
            Policy::Automated,
            Policy::Locked,
            Policy::LockedMsg,
            Policy::LockedUser,
            Policy::Ignore,
            Policy::Tag("web".into()),
        ] {
            assert_eq!(Policy::from_name(&policy.name()), Some(policy));
        }
        assert_eq!(Policy::from_name("nope"), None);
    }
}
