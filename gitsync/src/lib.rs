//! Git repositories for a GitOps daemon.
//!
//! This crate will own everything the daemon does with git: cloning and fetching
//! (`file://`, plain paths, `https://` with token or basic auth, `ssh://` and
//! scp-like URLs with a deploy key), polling a branch for new revisions, atomic
//! checkouts of a revision, the sync marker (an annotated tag moved after each
//! sync), committing and pushing with retry when the remote moved, and ssh
//! identities (key generation, known_hosts checking). It knows nothing of
//! Kubernetes.
