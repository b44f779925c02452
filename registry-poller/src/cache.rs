//! The digest cache and its file.
//!
//! In memory, image facts are keyed by manifest digest: a tag that points at a
//! known digest costs no manifest or config request, in any repository. The
//! file (JSON, versioned) also keeps each repository's tag -> digest map, so
//! a restarted poller starts from what it knew and a repository whose tags
//! did not change costs one request. The file is written atomically (a
//! temporary file in the same directory, synced, renamed over); a file that
//! cannot be read is logged and ignored, never fatal.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::digest::Digest;
use crate::manifest::{Platform, format_timestamp, parse_timestamp};
use crate::reference::Repository;

/// Version of the file format this crate writes and reads.
pub const CACHE_FILE_VERSION: u32 = 1;

/// What a cache file holds.
#[derive(Debug, Default)]
pub(crate) struct CacheContents {
    /// Image facts by manifest digest: the creation time (of the selected
    /// platform's image, for an index).
    pub(crate) images: Vec<(Digest, Option<SystemTime>)>,
    /// Each repository's tags and their digests.
    pub(crate) repositories: HashMap<Repository, Vec<(Box<str>, Digest)>>,
}

#[derive(Serialize, Deserialize)]
struct FileV1 {
    version: u32,
    platform: String,
    images: BTreeMap<String, ImageEntry>,
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize)]
struct ImageEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<String>,
}

/// Reads `path`. A missing file is an empty cache; any other problem is an
/// error (the poller logs it and starts empty).
pub(crate) fn load(path: &Path, platform: &Platform) -> Result<CacheContents, Error> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CacheContents::default()),
        Err(e) => return Err(file_error(path, e.to_string())),
    };
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let version: Version = serde_json::from_slice(&bytes)
        .map_err(|e| file_error(path, format!("not a cache file: {e}")))?;
    if version.version != CACHE_FILE_VERSION {
        return Err(file_error(
            path,
            format!(
                "format version {} is not {CACHE_FILE_VERSION}",
                version.version
            ),
        ));
    }
    let file: FileV1 = serde_json::from_slice(&bytes)
        .map_err(|e| file_error(path, format!("not a cache file: {e}")))?;
    if file.platform != platform.to_string() {
        return Err(file_error(
            path,
            format!("written for platform {}, not {platform}", file.platform),
        ));
    }
    let mut contents = CacheContents::default();
    for (digest, entry) in file.images {
        let digest = Digest::parse(&digest).map_err(|e| file_error(path, e.to_string()))?;
        let created = match entry.created {
            Some(text) => parse_timestamp(&text)
                .map_err(|e| file_error(path, format!("image {digest}: created {text:?}: {e}")))?,
            None => None,
        };
        contents.images.push((digest, created));
    }
    for (repository, tags) in file.repositories {
        let repository =
            Repository::parse(&repository).map_err(|e| file_error(path, e.to_string()))?;
        let mut list = Vec::with_capacity(tags.len());
        for (tag, digest) in tags {
            let digest = Digest::parse(&digest).map_err(|e| file_error(path, e.to_string()))?;
            list.push((tag.into_boxed_str(), digest));
        }
        contents.repositories.insert(repository, list);
    }
    Ok(contents)
}

/// The bytes of a cache file for these images and repositories.
pub(crate) fn encode<'a>(
    platform: &Platform,
    images: impl Iterator<Item = (&'a Digest, Option<SystemTime>)>,
    repositories: impl Iterator<Item = (&'a Repository, Vec<(&'a str, &'a Digest)>)>,
) -> Result<Vec<u8>, serde_json::Error> {
    let file = FileV1 {
        version: CACHE_FILE_VERSION,
        platform: platform.to_string(),
        images: images
            .map(|(digest, created)| {
                let created = created.and_then(format_timestamp);
                (digest.to_string(), ImageEntry { created })
            })
            .collect(),
        repositories: repositories
            .map(|(repository, tags)| {
                let tags = tags
                    .into_iter()
                    .map(|(tag, digest)| (tag.to_owned(), digest.to_string()))
                    .collect();
                (repository.to_string(), tags)
            })
            .collect(),
    };
    serde_json::to_vec(&file)
}

/// Writes `bytes` to `path` atomically: a sibling temporary file, synced,
/// then renamed over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| file_error(path, "not a file name".to_owned()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp: PathBuf = dir.join(tmp_name);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok::<(), std::io::Error>(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        file_error(path, e.to_string())
    })
}

fn file_error(path: &Path, reason: String) -> Error {
    Error::CacheFile {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let platform = Platform::default();
        let d1 = Digest::sha256_of(b"one");
        let d2 = Digest::sha256_of(b"two");
        let t = parse_timestamp("2024-01-02T03:04:05Z").unwrap();
        let mut images = vec![(d1.clone(), t), (d2.clone(), None)];
        images.sort();
        let repo = Repository::parse("127.0.0.1:5000/team/app").unwrap();
        let bytes = encode(
            &platform,
            images.iter().map(|(d, c)| (d, *c)),
            [(&repo, vec![("v1", &d1), ("v2", &d2)])].into_iter(),
        )
        .unwrap();
        write_atomically(&path, &bytes).unwrap();
        let loaded = load(&path, &platform).unwrap();
        let mut loaded_images = loaded.images.clone();
        loaded_images.sort();
        assert_eq!(loaded_images, images);
        assert_eq!(
            loaded.repositories[&repo],
            vec![("v1".into(), d1), ("v2".into(), d2)]
        );
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A missing file is an empty cache.
        assert!(
            load(&dir.path().join("none"), &platform)
                .unwrap()
                .images
                .is_empty()
        );
    }

    #[test]
    fn bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let platform = Platform::default();
        for (content, want) in [
            ("{truncated", "not a cache file"),
            (r#"{"version": 99}"#, "format version 99"),
            (
                r#"{"version": 1, "platform": "linux/arm64", "images": {}, "repositories": {}}"#,
                "linux/arm64",
            ),
            (
                r#"{"version": 1, "platform": "linux/amd64", "images": {"md5:x": {}}, "repositories": {}}"#,
                "md5:x",
            ),
            (
                r#"{"version": 1, "platform": "linux/amd64", "images": {}, "repositories": {"reg.io/UPPER": {}}}"#,
                "UPPER",
            ),
        ] {
            std::fs::write(&path, content).unwrap();
            let err = load(&path, &platform).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("cache.json"), "{err}");
        }
    }
}
