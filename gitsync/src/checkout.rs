//! Checkouts: the files of one revision in a directory that appears atomically.

use std::path::{Path, PathBuf};

use git2::Repository;
use git2::build::CheckoutBuilder;

use crate::{Error, Mirror, Revision};

/// Prefix of directories a checkout is built in before it is renamed into place.
const BUILDING_PREFIX: &str = ".building-";

/// The files of one revision, in a plain directory (no `.git`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    path: PathBuf,
    revision: Revision,
}

impl Checkout {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The revision it holds.
    pub fn revision(&self) -> Revision {
        self.revision
    }
}

impl Mirror {
    /// Checks `revision` out into `<root>/<revision>`.
    ///
    /// The files are written into a temporary directory beside it and renamed
    /// into place, so a reader sees either no directory or a complete one. A
    /// checkout that already exists is reused: a revision's files never change.
    /// The revision must have been fetched.
    pub async fn checkout(&self, revision: Revision, root: &Path) -> Result<Checkout, Error> {
        let root = root.to_owned();
        self.run("checkout from", 1, move |repo, remote| {
            let url = remote.url().to_string();
            let path = checkout_atomically(repo, revision, &root, &url)?;
            Ok(Checkout { path, revision })
        })
        .await
    }

    /// Removes the checkouts under `root` other than those of `keep`, and any
    /// half-built ones a crash left behind. Returns how many were removed.
    ///
    /// Runs under the mirror's lock, so no checkout of this mirror is being
    /// built meanwhile; do not share one `root` between mirrors.
    pub async fn prune_checkouts(&self, root: &Path, keep: &[Revision]) -> Result<usize, Error> {
        let root = root.to_owned();
        let keep: Vec<String> = keep.iter().map(ToString::to_string).collect();
        self.run("pruning checkouts of", 1, move |_, _| prune(&root, &keep))
            .await
    }
}

fn checkout_atomically(
    repo: &Repository,
    revision: Revision,
    root: &Path,
    url: &str,
) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(root)
        .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
    let target = root.join(revision.to_string());
    if target.is_dir() {
        return Ok(target);
    }
    let building = tempfile::Builder::new()
        .prefix(&format!("{BUILDING_PREFIX}{}-", revision.short()))
        .tempdir_in(root)
        .map_err(|e| Error::io(format!("creating a directory in {}", root.display()), e))?;
    write_tree(repo, revision, building.path(), url)?;
    match std::fs::rename(building.path(), &target) {
        Ok(()) => {
            // The directory now lives on as `target`; nothing left to delete.
            let _ = building.keep();
            tracing::debug!(revision = %revision, path = %target.display(), "checked out");
            Ok(target)
        }
        // Someone else put the same revision in place first: theirs is as good.
        Err(_) if target.is_dir() => Ok(target),
        Err(e) => Err(Error::io(
            format!("renaming a checkout into {}", target.display()),
            e,
        )),
    }
}

/// Writes the tree of `revision` into the empty directory `dir`, byte for
/// byte as stored (no line-ending or other filters). libgit2 refuses entries
/// that would escape `dir` or write into a `.git` (`..`, `.git`, names with a
/// `/`), so a hostile tree fails instead of being written elsewhere.
pub(crate) fn write_tree(
    repo: &Repository,
    revision: Revision,
    dir: &Path,
    url: &str,
) -> Result<(), Error> {
    let commit = repo
        .find_commit(revision.oid())
        .map_err(|_| Error::RevisionNotFound {
            url: url.to_owned(),
            revision: revision.to_string(),
        })?;
    let tree = commit.tree().map_err(|source| Error::Git {
        url: url.to_owned(),
        operation: "reading the tree of a commit in",
        source,
    })?;
    let mut options = CheckoutBuilder::new();
    options
        .target_dir(dir)
        .force()
        .recreate_missing(true)
        .update_index(false)
        .disable_filters(true);
    repo.checkout_tree(tree.as_object(), Some(&mut options))
        .map_err(|source| Error::Git {
            url: url.to_owned(),
            operation: "checking out a revision of",
            source,
        })
}

fn prune(root: &Path, keep: &[String]) -> Result<usize, Error> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(format!("listing {}", root.display()), e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", root.display()), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_checkout = name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit());
        let is_leftover = name.starts_with(BUILDING_PREFIX);
        if (is_checkout && !keep.iter().any(|k| k == name)) || is_leftover {
            let path = entry.path();
            std::fs::remove_dir_all(&path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}
