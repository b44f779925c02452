//! The label and annotation a sync puts on every object it applies, derived
//! exactly as Flux v1 derived them, so objects Flux v1 applied are adopted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::ResourceId;

/// The garbage-collection mark label this engine writes.
pub const GC_MARK_LABEL: &str = "fluxcd.io/sync-gc-mark";
/// The mark label older Flux v1 releases wrote; read, never written.
pub const LEGACY_GC_MARK_LABEL: &str = "flux.weave.works/sync-gc-mark";
/// The checksum annotation: the checksum of the manifest last applied.
pub const CHECKSUM_ANNOTATION: &str = "fluxcd.io/sync-checksum";

/// The name of a sync set, as Flux v1's `makeGitConfigHash` derived it:
/// base64url (no padding) of the SHA-256 of the repository URL without
/// credentials, the branch and each path, concatenated with nothing between.
///
/// `safe_url` must be printed the way Flux printed it (password removed,
/// scp-like `git@host:path` rewritten to `ssh://git@host/path`); the caller
/// owns the URL type and passes its string.
///
/// ```
/// use manifests::cluster::sync_set_name;
///
/// let name = sync_set_name("ssh://git@github.com/stakater/flux-helm-test", "master", &["deploy"]);
/// assert_eq!(name.len(), 43);
/// assert!(!name.contains('='));
/// ```
pub fn sync_set_name(safe_url: &str, branch: &str, paths: &[impl AsRef<str>]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(safe_url.as_bytes());
    hasher.update(branch.as_bytes());
    for path in paths {
        hasher.update(path.as_ref().as_bytes());
    }
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// The garbage-collection mark of one object in one sync set, as Flux v1's
/// `makeGCMark` derived it: `sha256.` and base64url (no padding) of the
/// SHA-256 of the sync set name followed by the resource id. Including the id
/// means a label copied onto another object does not make that object
/// prunable.
///
/// ```
/// use manifests::ResourceId;
/// use manifests::cluster::gc_mark;
///
/// let id = ResourceId::namespaced("demo", "Deployment", "web");
/// let mark = gc_mark("set", &id);
/// assert!(mark.starts_with("sha256."));
/// assert!(mark.len() <= 63, "a valid label value");
/// ```
pub fn gc_mark(sync_set_name: &str, id: &ResourceId) -> String {
    gc_mark_of(sync_set_name, &id.to_string())
}

/// [`gc_mark`] of an id already printed.
pub(crate) fn gc_mark_of(sync_set_name: &str, id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(sync_set_name.as_bytes());
    hasher.update(id.as_bytes());
    format!("sha256.{}", URL_SAFE_NO_PAD.encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same computation spelled out with the primitives, byte for byte as
    /// Flux's Go code writes it.
    fn reference(parts: &[&str]) -> String {
        let joined: String = parts.concat();
        URL_SAFE_NO_PAD.encode(Sha256::digest(joined.as_bytes()))
    }

    #[test]
    fn sync_set_name_hashes_url_branch_and_paths_in_order() {
        let name = sync_set_name(
            "ssh://git@github.com/stakater/flux-helm-test",
            "master",
            &["deploy", "charts"],
        );
        assert_eq!(
            name,
            reference(&[
                "ssh://git@github.com/stakater/flux-helm-test",
                "master",
                "deploy",
                "charts"
            ])
        );
        // Order of paths matters, as in Flux.
        assert_ne!(
            name,
            sync_set_name(
                "ssh://git@github.com/stakater/flux-helm-test",
                "master",
                &["charts", "deploy"]
            )
        );
        // No paths at all is the URL and branch alone.
        let none: &[&str] = &[];
        assert_eq!(
            sync_set_name("file:///repo", "main", none),
            reference(&["file:///repo", "main"])
        );
    }

    #[test]
    fn known_values() {
        // sha256("") in base64url without padding: a fixed point to catch an
        // accidental change of alphabet or padding.
        let none: &[&str] = &[];
        assert_eq!(
            sync_set_name("", "", none),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        let mark = gc_mark_of("", "");
        assert_eq!(mark, "sha256.47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    }

    #[test]
    fn gc_mark_depends_on_set_and_id() {
        let web = ResourceId::namespaced("demo", "Deployment", "web");
        let mark = gc_mark("set-a", &web);
        assert_eq!(
            mark,
            format!("sha256.{}", reference(&["set-a", "demo:deployment/web"]))
        );
        assert_ne!(mark, gc_mark("set-b", &web));
        assert_ne!(
            mark,
            gc_mark(
                "set-a",
                &ResourceId::namespaced("demo", "Deployment", "api")
            )
        );
        let ns = ResourceId::cluster_scoped("Namespace", "demo");
        assert_eq!(
            gc_mark("set-a", &ns),
            format!(
                "sha256.{}",
                reference(&["set-a", "<cluster>:namespace/demo"])
            )
        );
        // A valid label value: at most 63 characters of [A-Za-z0-9._-].
        assert!(mark.len() <= 63);
        assert!(
            mark.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        );
    }
}
