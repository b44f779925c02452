//! Finding the YAML files under paths of a checkout, safely.
//!
//! A directory holding a `Chart.yaml` is a Helm chart, not manifests (its
//! templates are not YAML until rendered): it is skipped whole, and so is a
//! path given inside one, as Flux v1 skipped charts.
//!
//! Every path is resolved and checked to stay inside the checkout root, and so
//! is every symlink met on the way: a checkout is input, and a link to
//! `/etc` or a link back to its own parent must not make the loader read
//! outside the repository or forever. The order is deterministic: paths in
//! the order given, entries by name, real entries before symlinked ones (so a
//! file reached both ways gets its real path), each file once.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::Error;

/// A file to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundFile {
    /// Where to read it (resolved).
    pub(crate) absolute: PathBuf,
    /// Its path relative to the checkout root, as found (through links).
    pub(crate) relative: PathBuf,
}

/// True for `*.yaml` and `*.yml` (case-sensitive, as Flux matched them).
pub(crate) fn is_yaml_name(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.ends_with(b".yaml") || name.ends_with(b".yml")
}

fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// A directory to read: its resolved path and its path as found.
struct Directory {
    actual: PathBuf,
    relative: PathBuf,
}

/// A symlink met while reading directories, followed after the real entries.
struct Link {
    /// The link itself, relative to the root.
    relative: PathBuf,
    /// The resolved directory containing the link.
    parent: PathBuf,
    /// The link's path on disk.
    path: PathBuf,
}

/// The file that makes a directory a Helm chart.
pub(crate) const CHART_FILE: &str = "Chart.yaml";

pub(crate) struct Walk<'e> {
    root: PathBuf,
    files: Vec<FoundFile>,
    charts: Vec<PathBuf>,
    seen_files: HashSet<PathBuf>,
    seen_directories: HashSet<PathBuf>,
    links: VecDeque<Link>,
    errors: &'e mut Vec<Error>,
}

impl<'e> Walk<'e> {
    /// A walk of the checkout at `root`; `None` (and an error) when the root
    /// itself cannot be resolved.
    pub(crate) fn new(root: &Path, errors: &'e mut Vec<Error>) -> Option<Self> {
        let root = match root.canonicalize() {
            Ok(root) => root,
            Err(source) => {
                errors.push(Error::Io {
                    path: root.to_owned(),
                    source,
                });
                return None;
            }
        };
        Some(Self {
            root,
            files: Vec::new(),
            charts: Vec::new(),
            seen_files: HashSet::new(),
            seen_directories: HashSet::new(),
            links: VecDeque::new(),
            errors,
        })
    }

    /// Adds everything under `path` (relative to the root; a file is taken
    /// whatever its name).
    pub(crate) fn add_path(&mut self, path: &Path) {
        // An absolute path is fine when it is inside the root.
        let joined = if path.is_absolute() {
            path.to_owned()
        } else {
            match normalize(path) {
                Some(relative) => self.root.join(relative),
                None => {
                    self.errors.push(Error::PathOutsideRoot {
                        path: path.to_owned(),
                    });
                    return;
                }
            }
        };
        let actual = match joined.canonicalize() {
            Ok(actual) => actual,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.errors.push(Error::PathNotFound {
                    path: path.to_owned(),
                });
                return;
            }
            Err(source) => {
                self.errors.push(Error::Io {
                    path: path.to_owned(),
                    source,
                });
                return;
            }
        };
        let relative = match joined.strip_prefix(&self.root) {
            Ok(relative) if !path.is_absolute() => relative.to_owned(),
            _ => match actual.strip_prefix(&self.root) {
                Ok(relative) => relative.to_owned(),
                Err(_) => {
                    self.errors.push(Error::PathOutsideRoot {
                        path: path.to_owned(),
                    });
                    return;
                }
            },
        };
        if !actual.starts_with(&self.root) {
            self.errors.push(Error::PathOutsideRoot {
                path: path.to_owned(),
            });
            return;
        }
        if let Some(chart) = self.enclosing_chart(&actual) {
            self.skip_chart(&chart);
            return;
        }
        match fs::metadata(&actual) {
            Ok(meta) if meta.is_dir() => self.walk(actual, relative),
            Ok(meta) if meta.is_file() => self.add_file(actual, relative),
            Ok(_) => self.errors.push(Error::NotAFile { path: relative }),
            Err(source) => self.errors.push(Error::Io {
                path: relative,
                source,
            }),
        }
    }

    /// The files found, in order, once all paths are added (following the
    /// symlinks met on the way), and the chart directories skipped.
    pub(crate) fn finish(mut self) -> (Vec<FoundFile>, Vec<PathBuf>) {
        while let Some(link) = self.links.pop_front() {
            self.follow(link);
        }
        (self.files, self.charts)
    }

    /// The chart directory `actual` (resolved, inside the root) is in, if
    /// any: itself when it is a chart's directory, else its nearest
    /// ancestor up to the root that holds a `Chart.yaml`.
    fn enclosing_chart(&self, actual: &Path) -> Option<PathBuf> {
        let mut here = if actual.is_dir() {
            Some(actual)
        } else {
            actual.parent()
        };
        while let Some(directory) = here {
            if !directory.starts_with(&self.root) {
                return None;
            }
            if is_chart(directory) {
                return Some(directory.to_owned());
            }
            here = directory.parent();
        }
        None
    }

    /// Records the chart directory at `actual` (once), relative to the root.
    fn skip_chart(&mut self, actual: &Path) {
        let relative = actual
            .strip_prefix(&self.root)
            .map_or_else(|_| actual.to_path_buf(), Path::to_path_buf);
        if !self.charts.contains(&relative) {
            self.charts.push(relative);
        }
    }

    fn add_file(&mut self, actual: PathBuf, relative: PathBuf) {
        if self.seen_files.insert(actual.clone()) {
            self.files.push(FoundFile {
                absolute: actual,
                relative,
            });
        }
    }

    /// Reads a directory tree depth-first without recursion (a hostile
    /// checkout can nest deeply).
    fn walk(&mut self, actual: PathBuf, relative: PathBuf) {
        let mut stack = vec![Directory { actual, relative }];
        while let Some(directory) = stack.pop() {
            if !self.seen_directories.insert(directory.actual.clone()) {
                continue;
            }
            if is_chart(&directory.actual) {
                if !self.charts.contains(&directory.relative) {
                    self.charts.push(directory.relative);
                }
                continue;
            }
            let mut entries = match read_directory(&directory.actual) {
                Ok(entries) => entries,
                Err(source) => {
                    self.errors.push(Error::Io {
                        path: directory.relative,
                        source,
                    });
                    continue;
                }
            };
            entries.sort_by(|(a, _), (b, _)| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
            let mut subdirectories = Vec::new();
            for (name, file_type) in entries {
                if is_hidden(&name) {
                    continue;
                }
                let actual = directory.actual.join(&name);
                let relative = directory.relative.join(&name);
                if file_type.is_symlink() {
                    self.links.push_back(Link {
                        relative,
                        parent: directory.actual.clone(),
                        path: actual,
                    });
                } else if file_type.is_dir() {
                    subdirectories.push(Directory { actual, relative });
                } else if is_yaml_name(&name) {
                    if file_type.is_file() {
                        self.add_file(actual, relative);
                    } else {
                        self.errors.push(Error::NotAFile { path: relative });
                    }
                }
            }
            // Popped in name order.
            stack.extend(subdirectories.into_iter().rev());
        }
    }

    fn follow(&mut self, link: Link) {
        let target = match link.path.canonicalize() {
            Ok(target) => target,
            Err(err) if is_loop(&err) => {
                self.errors.push(Error::SymlinkLoop {
                    path: link.relative,
                });
                return;
            }
            Err(source) => {
                // A dangling link matters only where it would have been YAML.
                if link.path.file_name().is_some_and(is_yaml_name) {
                    self.errors.push(Error::Io {
                        path: link.relative,
                        source,
                    });
                }
                return;
            }
        };
        let meta = match fs::metadata(&target) {
            Ok(meta) => meta,
            Err(source) => {
                self.errors.push(Error::Io {
                    path: link.relative,
                    source,
                });
                return;
            }
        };
        let counts = meta.is_dir() || link.path.file_name().is_some_and(is_yaml_name);
        if !counts {
            return;
        }
        if !target.starts_with(&self.root) {
            self.errors.push(Error::SymlinkOutsideRoot {
                path: link.relative,
                target,
            });
            return;
        }
        if meta.is_dir() {
            if link.parent.starts_with(&target) {
                self.errors.push(Error::SymlinkLoop {
                    path: link.relative,
                });
            } else {
                self.walk(target, link.relative);
            }
        } else if meta.is_file() {
            self.add_file(target, link.relative);
        } else {
            self.errors.push(Error::NotAFile {
                path: link.relative,
            });
        }
    }
}

/// True when `directory` holds a `Chart.yaml` file.
fn is_chart(directory: &Path) -> bool {
    directory.join(CHART_FILE).is_file()
}

fn read_directory(path: &Path) -> io::Result<Vec<(std::ffi::OsString, fs::FileType)>> {
    fs::read_dir(path)?
        .map(|entry| {
            let entry = entry?;
            Ok((entry.file_name(), entry.file_type()?))
        })
        .collect()
}

/// ELOOP: too many levels of symbolic links.
fn is_loop(err: &io::Error) -> bool {
    const ELOOP: i32 = 40;
    err.raw_os_error() == Some(ELOOP)
}

/// `path` without `.` components and with `..` applied; `None` when it is
/// absolute or climbs above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => normal.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !normal.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_names() {
        for name in ["a.yaml", "a.yml", ".yaml", "b.c.yaml"] {
            assert!(is_yaml_name(OsStr::new(name)), "{name}");
        }
        for name in ["a.json", "a.YAML", "yaml", "a.yaml.bak", "a.yamll"] {
            assert!(!is_yaml_name(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn normalizes_inside_the_root_only() {
        assert_eq!(
            normalize(Path::new("a/./b/../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(normalize(Path::new(".")), Some(PathBuf::new()));
        assert_eq!(normalize(Path::new("")), Some(PathBuf::new()));
        assert_eq!(normalize(Path::new("a/..")), Some(PathBuf::new()));
        assert_eq!(normalize(Path::new("..")), None);
        assert_eq!(normalize(Path::new("a/../../b")), None);
        assert_eq!(normalize(Path::new("/etc")), None);
    }
}
