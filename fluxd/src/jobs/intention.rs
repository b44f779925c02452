//! Intentions: the edits a job wants, by resource and meaning, not by text.

use std::path::Path;

use manifests::edit::Edit;
use manifests::{LoadOptions, Loaded, Policy, Resource, ResourceId};

/// One change a job wants made in git.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Intention {
    /// Set the image of `container` of `resource` to `image`.
    SetImage {
        /// The workload (or HelmRelease).
        resource: ResourceId,
        /// The container name (`chart-image` and the like for HelmReleases).
        container: String,
        /// The new image reference.
        image: String,
    },
    /// Set `policy` on `resource` to `value` (`"true"` for the boolean ones).
    SetPolicy {
        /// The resource.
        resource: ResourceId,
        /// The policy.
        policy: Policy,
        /// Its value.
        value: String,
    },
    /// Remove `policy` from `resource`.
    RemovePolicy {
        /// The resource.
        resource: ResourceId,
        /// The policy.
        policy: Policy,
    },
}

impl Intention {
    /// The resource it is about.
    pub fn resource(&self) -> &ResourceId {
        match self {
            Self::SetImage { resource, .. }
            | Self::SetPolicy { resource, .. }
            | Self::RemovePolicy { resource, .. } => resource,
        }
    }

    fn edit(&self) -> Edit {
        match self {
            Self::SetImage {
                container, image, ..
            } => Edit::SetImage {
                container: container.clone(),
                image: image.clone(),
            },
            Self::SetPolicy { policy, value, .. } => Edit::SetPolicy {
                policy: policy.clone(),
                value: value.clone(),
            },
            Self::RemovePolicy { policy, .. } => Edit::RemovePolicy {
                policy: policy.clone(),
            },
        }
    }
}

impl std::fmt::Display for Intention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SetImage {
                resource,
                container,
                image,
            } => write!(
                f,
                "set the image of container {container} of {resource} to {image}"
            ),
            Self::SetPolicy {
                resource,
                policy,
                value,
            } => write!(f, "set policy {} on {resource} to {value:?}", policy.name()),
            Self::RemovePolicy { resource, policy } => {
                write!(f, "remove policy {} from {resource}", policy.name())
            }
        }
    }
}

/// An intention that does not apply to the head it was tried on.
#[derive(Debug, thiserror::Error)]
#[error("cannot {intention}: {reason}")]
pub struct IntentionError {
    /// The intention, in words.
    pub intention: String,
    /// Why (the resource is gone, the file moved, the edit was refused, with
    /// file and line).
    pub reason: String,
}

/// Applies `intentions`, in order, to the checkout at `root`, whose
/// manifests under `paths` load with `options`. Files are only written once
/// every intention applied.
///
/// `known` is a load of the branch (the one the job was planned on): when
/// it says which files the intentions' resources are in, only those files
/// are loaded, not the whole tree; when a resource is not found there (the
/// head moved on), the whole tree is loaded, as without `known`.
pub(crate) fn apply(
    root: &Path,
    paths: &[String],
    options: &LoadOptions,
    intentions: &[Intention],
    known: Option<&[Resource]>,
) -> Result<(), IntentionError> {
    let load_paths: Vec<String> = if paths.is_empty() {
        vec![".".to_owned()]
    } else {
        paths.to_vec()
    };
    let loaded = match known.and_then(|known| load_files_of(root, options, intentions, known)) {
        Some(loaded) => loaded,
        None => manifests::load(root, &load_paths, options),
    };
    let mut edited: Vec<(std::path::PathBuf, String)> = Vec::new();
    for intention in intentions {
        let failed = |reason: String| IntentionError {
            intention: intention.to_string(),
            reason,
        };
        let resource: &Resource = loaded
            .resources
            .iter()
            .find(|r| r.id() == intention.resource())
            .ok_or_else(|| {
                let unloadable = loaded
                    .errors
                    .iter()
                    .find(|e| e.to_string().contains(&intention.resource().to_string()));
                failed(match unloadable {
                    Some(error) => format!("its manifest does not load: {error}"),
                    None => format!(
                        "{} is not in the repository (under {})",
                        intention.resource(),
                        load_paths.join(", ")
                    ),
                })
            })?;
        let path = resource.source().path.clone();
        let current = match edited.iter().find(|(p, _)| *p == path) {
            Some((_, text)) => text.clone(),
            None => std::fs::read_to_string(root.join(&path))
                .map_err(|e| failed(format!("reading {}: {e}", path.display())))?,
        };
        let text = resource
            .edit(&current, &intention.edit())
            .map_err(|e| failed(e.to_string()))?;
        match edited.iter_mut().find(|(p, _)| *p == path) {
            Some((_, slot)) => *slot = text,
            None => edited.push((path, text)),
        }
    }
    for (path, text) in edited {
        let full = root.join(&path);
        std::fs::write(&full, text).map_err(|e| IntentionError {
            intention: "write the edited files".to_owned(),
            reason: format!("{}: {e}", path.display()),
        })?;
    }
    Ok(())
}

/// Loads only the files that `known` says hold the intentions' resources;
/// `None` when it does not know one of them, or one is not in its file.
fn load_files_of(
    root: &Path,
    options: &LoadOptions,
    intentions: &[Intention],
    known: &[Resource],
) -> Option<Loaded> {
    let mut files: Vec<&Path> = Vec::new();
    for intention in intentions {
        let resource = known.iter().find(|r| r.id() == intention.resource())?;
        let path = resource.source().path.as_path();
        if !files.contains(&path) {
            files.push(path);
        }
    }
    let loaded = manifests::load(root, &files, options);
    let all_found = intentions.iter().all(|intention| {
        loaded
            .resources
            .iter()
            .any(|r| r.id() == intention.resource())
    });
    if !all_found {
        tracing::debug!("a resource to edit moved: loading every manifest");
        return None;
    }
    tracing::debug!(files = files.len(), "loaded the files to edit");
    Some(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the front end
  namespace: demo
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25 # pinned
";

    #[test]
    fn applies_images_and_policies_and_says_what_no_longer_applies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("apps")).unwrap();
        std::fs::write(dir.path().join("apps/web.yaml"), DEPLOYMENT).unwrap();
        let id: ResourceId = "demo:deployment/web".parse().unwrap();
        let intentions = [
            Intention::SetImage {
                resource: id.clone(),
                container: "web".into(),
                image: "nginx:1.27".into(),
            },
            Intention::SetPolicy {
                resource: id.clone(),
                policy: Policy::Automated,
                value: "true".into(),
            },
        ];
        apply(dir.path(), &[], &LoadOptions::default(), &intentions, None).unwrap();
        let text = std::fs::read_to_string(dir.path().join("apps/web.yaml")).unwrap();
        assert!(text.contains("image: nginx:1.27 # pinned"), "{text}");
        assert!(text.contains("fluxcd.io/automated"), "{text}");
        assert!(text.contains("name: web # the front end"), "{text}");

        let gone = Intention::RemovePolicy {
            resource: "demo:deployment/gone".parse().unwrap(),
            policy: Policy::Locked,
        };
        let error = apply(dir.path(), &[], &LoadOptions::default(), &[gone], None).unwrap_err();
        assert!(
            error.to_string().contains("not in the repository"),
            "{error}"
        );
        let wrong = Intention::SetImage {
            resource: id,
            container: "nope".into(),
            image: "x:1".into(),
        };
        let error = apply(dir.path(), &[], &LoadOptions::default(), &[wrong], None).unwrap_err();
        assert!(error.to_string().contains("apps/web.yaml"), "{error}");
        assert!(error.to_string().contains("no container"), "{error}");
    }

    #[test]
    fn a_known_load_narrows_the_files_read_and_a_moved_resource_is_still_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("apps")).unwrap();
        std::fs::write(dir.path().join("apps/web.yaml"), DEPLOYMENT).unwrap();
        // Not a manifest the whole tree loads without error.
        std::fs::write(dir.path().join("apps/broken.yaml"), "a: [").unwrap();
        let options = LoadOptions::default();
        let known = manifests::load(dir.path(), &["."], &options);
        assert_eq!(known.errors.len(), 1, "{:?}", known.errors);
        let id: ResourceId = "demo:deployment/web".parse().unwrap();
        let set_image = |image: &str| Intention::SetImage {
            resource: id.clone(),
            container: "web".into(),
            image: image.into(),
        };
        let apply_known = |intentions: &[Intention]| {
            apply(
                dir.path(),
                &[],
                &options,
                intentions,
                Some(&known.resources),
            )
        };
        let intentions = [set_image("nginx:1.26")];
        let loaded = load_files_of(dir.path(), &options, &intentions, &known.resources).unwrap();
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        apply_known(&intentions).unwrap();
        let text = std::fs::read_to_string(dir.path().join("apps/web.yaml")).unwrap();
        assert!(text.contains("image: nginx:1.26 # pinned"), "{text}");

        // The head moved the Deployment to another file: the whole tree is read.
        std::fs::rename(
            dir.path().join("apps/web.yaml"),
            dir.path().join("apps/moved.yaml"),
        )
        .unwrap();
        let intentions = [set_image("nginx:1.27")];
        assert!(load_files_of(dir.path(), &options, &intentions, &known.resources).is_none());
        apply_known(&intentions).unwrap();
        let text = std::fs::read_to_string(dir.path().join("apps/moved.yaml")).unwrap();
        assert!(text.contains("image: nginx:1.27 # pinned"), "{text}");
        // A resource the known load lacks: the whole tree, and its reason.
        let gone = Intention::RemovePolicy {
            resource: "demo:deployment/gone".parse().unwrap(),
            policy: Policy::Locked,
        };
        let error = apply_known(&[gone]).unwrap_err();
        assert!(
            error.to_string().contains("not in the repository"),
            "{error}"
        );
    }
}
