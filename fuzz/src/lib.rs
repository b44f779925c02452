//! The bodies of the fuzz targets: one function per parser of outside input,
//! each taking the fuzzer's bytes. They must never panic; the properties
//! they check (an edit changes only its target, an id prints back to itself)
//! panic on purpose when broken.
//!
//! `fuzz_targets/*.rs` wrap each for libFuzzer (`cargo +nightly fuzz run
//! NAME`); the test at the end runs each over its corpus in `corpus/NAME/`
//! on stable, so the targets keep building and the corpus keeps passing.

use std::path::Path;
use std::str::FromStr;

use manifests::edit::{self, Edit};
use manifests::{LoadOptions, Loader, Resource, ResourceId, TagCandidate, TagFilter};
use serde_json::Value;

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Splits `data` at its first newline: (first line, rest).
fn split_line(data: &str) -> (&str, &str) {
    data.split_once('\n').unwrap_or((data, ""))
}

fn load(path: &str, bytes: &[u8]) -> Vec<Resource> {
    let mut loader = Loader::new(LoadOptions::default());
    loader.add_file(Path::new(path), bytes);
    loader.finish().resources
}

/// The manifest loader: YAML documents, Lists, anchors, aliases, depth.
pub fn loader(data: &[u8]) {
    let resources = load("fuzz.yaml", data);
    for resource in &resources {
        let _ = resource.id().to_string();
        let _ = manifests::images::container_images(resource.object(), resource.id());
    }
}

const FUZZ_KEY: &str = "fuzz.example/key";

/// `object` without the fuzz annotation (and without an annotations map
/// left empty by its removal).
fn without_fuzz_key(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(annotations) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        annotations.remove(FUZZ_KEY);
    }
    let empty = object["metadata"]["annotations"]
        .as_object()
        .is_some_and(serde_json::Map::is_empty);
    if empty && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("annotations");
    }
    object
}

/// Format-preserving edits: the first byte picks the edit and the resource;
/// the result must load again with the same resources, the others unchanged
/// and the target changed only where the edit says.
pub fn edit(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some(text) = text(rest) else {
        return;
    };
    let before = load("fuzz.yaml", text.as_bytes());
    if before.is_empty() {
        return;
    }
    let target = &before[usize::from(selector >> 2) % before.len()];
    let edit = match selector & 3 {
        0 => Edit::SetAnnotation {
            key: FUZZ_KEY.to_owned(),
            value: "fuzzed: \"value\"".to_owned(),
        },
        1 => Edit::RemoveAnnotation {
            key: FUZZ_KEY.to_owned(),
        },
        2 => Edit::SetAnnotation {
            key: FUZZ_KEY.to_owned(),
            value: "1.2.3".to_owned(),
        },
        _ => Edit::SetAnnotation {
            key: FUZZ_KEY.to_owned(),
            value: String::new(),
        },
    };
    let Ok(edited) = edit::apply(text, target.source(), target.id(), &edit) else {
        return;
    };
    let after = load("fuzz.yaml", edited.as_bytes());
    assert_eq!(
        before.iter().map(Resource::id).collect::<Vec<_>>(),
        after.iter().map(Resource::id).collect::<Vec<_>>(),
        "the edit changed which resources the file holds:\n{edited}"
    );
    for (old, new) in before.iter().zip(&after) {
        if old.id() == target.id() {
            assert_eq!(
                without_fuzz_key(old.object()),
                without_fuzz_key(new.object()),
                "the edit changed more than its annotation:\n{edited}"
            );
            let value = new.object()["metadata"]["annotations"][FUZZ_KEY].as_str();
            match &edit {
                Edit::SetAnnotation { value: wanted, .. } => {
                    assert_eq!(value, Some(wanted.as_str()), "{edited}");
                }
                _ => assert_eq!(value, None, "{edited}"),
            }
        } else {
            assert_eq!(
                old.object(),
                new.object(),
                "the edit changed another resource:\n{edited}"
            );
        }
    }
}

/// Tag filters (first line) against tags (the other lines), and the tags
/// as image references.
pub fn tag_filter(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    let (expression, tags) = split_line(text);
    let candidates: Vec<TagCandidate> = tags.lines().map(TagCandidate::new).collect();
    if let Ok(filter) = TagFilter::parse(expression) {
        for tag in tags.lines() {
            let _ = filter.matches(tag);
        }
        let _ = filter.rank(&candidates);
        let _ = filter.newest(&candidates);
    }
    for line in text.lines() {
        if let Ok(image) = registry_poller::ImageRef::parse(line) {
            let printed = image.to_string();
            let again = registry_poller::ImageRef::parse(&printed)
                .unwrap_or_else(|e| panic!("{line:?} printed as {printed:?}, which fails: {e}"));
            assert_eq!(again.to_string(), printed, "{line:?}");
        }
        let _ = registry_poller::Repository::parse(line);
    }
}

/// Resource ids, in manifests and in fluxd's API: what parses prints back
/// to an id that parses to the same.
pub fn resource_id(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    if let Ok(id) = ResourceId::from_str(text) {
        let printed = id.to_string();
        let again = ResourceId::from_str(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(again, id, "{text:?}");
    }
    if let Ok(id) = fluxd::api::ResourceId::from_str(text) {
        let printed = id.to_string();
        assert!(
            fluxd::api::ResourceId::from_str(&printed).is_ok(),
            "{text:?} printed as {printed:?}, which fails"
        );
    }
    let _ = fluxd::api::ResourceSpec::from_str(text);
}

/// known_hosts files.
pub fn known_hosts(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = gitsync::KnownHosts::parse(text, Path::new("known_hosts"));
    }
}

/// Registry JSON: the first byte picks tag list, manifest or index, config,
/// or token answer.
pub fn registry_json(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => registry_poller::fuzzing::tag_list(body),
        1 => registry_poller::fuzzing::manifest(body),
        2 => registry_poller::fuzzing::config(body),
        _ => registry_poller::fuzzing::token_answer(body),
    }
}

/// Registry headers: `WWW-Authenticate`, `Link` and `Retry-After`.
pub fn registry_headers(data: &[u8]) {
    registry_poller::fuzzing::link(data);
    if let Some(text) = text(data) {
        registry_poller::fuzzing::challenge(text);
        registry_poller::fuzzing::retry_after(text);
    }
}

/// A chart repository's `index.yaml` (first line: the chart and version
/// wanted, as `name version`).
pub fn chart_index(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    let (wanted, index) = split_line(text);
    let url = "https://charts.example/";
    if let Ok(parsed) = helmops::chartrepo::RepoIndex::parse(index, url) {
        let (name, version) = wanted.split_once(' ').unwrap_or((wanted, ""));
        let _ = parsed.select(url, name, version);
    }
}

/// A chart's `Chart.yaml` (its `file://` dependencies).
pub fn chart_yaml(data: &[u8]) {
    thread_local! {
        static DIR: Option<tempfile_dir::Dir> = tempfile_dir::Dir::new();
    }
    DIR.with(|dir| {
        let Some(dir) = dir else {
            return;
        };
        if std::fs::write(dir.path().join("Chart.yaml"), data).is_ok() {
            let _ = helmops::internals::file_dependencies(dir.path());
            let _ = helmops::internals::has_dependencies(dir.path());
        }
    });
}

/// HelmRelease objects of the three API versions, into the operator's model.
pub fn helm_release(data: &[u8]) {
    use helmops::model::HelmReleaseResource;
    let Some(text) = text(data) else {
        return;
    };
    if let Ok(release) = serde_saphyr::from_str::<helmops::api::v1::HelmRelease>(text) {
        let _ = release.to_release();
    }
    if let Ok(release) = serde_saphyr::from_str::<helmops::api::v1beta1::HelmRelease>(text) {
        let _ = release.to_release();
    }
    if let Ok(release) = serde_saphyr::from_str::<helmops::api::v1alpha2::FluxHelmRelease>(text) {
        let _ = release.to_release();
    }
    if let Ok(values) = helmops::values::parse_values(text, "fuzz") {
        let _ = values.len();
    }
}

/// Bodies and parameters of fluxd's HTTP API.
pub fn api_bodies(data: &[u8]) {
    use fluxd::api;
    let _ = serde_json::from_slice::<api::UpdateSpec>(data);
    let _ = serde_json::from_slice::<api::PolicyUpdates>(data);
    let _ = serde_json::from_slice::<api::ReleaseImageSpec>(data);
    let _ = serde_json::from_slice::<api::ReleaseContainersSpec>(data);
    let _ = serde_json::from_slice::<api::Change>(data);
    let _ = serde_json::from_slice::<api::JobStatus>(data);
    if let Some(text) = text(data) {
        let _ = api::ImageSpec::from_str(text);
        let _ = api::ImageRef::from_str(text);
        let _ = api::ReleaseKind::parse(text);
    }
}

/// Go durations, and fluxd's command line (arguments split on spaces).
pub fn go_flags(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    let (duration, args) = split_line(text);
    let _ = fluxd::parse_go_duration(duration);
    let args: Vec<&str> = args.split([' ', '\n']).filter(|a| !a.is_empty()).collect();
    if let Ok(flags) = fluxd::Flags::from_command_line(std::iter::once("fluxd").chain(args)) {
        let _ = fluxd::Config::from_flags(&flags);
    }
}

/// A private scratch directory for targets that read files.
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Option<Self> {
            let path = std::env::temp_dir().join(format!(
                "fluxrs-fuzz-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&path).ok()?;
            Some(Self(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Every target over every file of its corpus (`corpus/NAME/`): the smoke
/// that runs on stable, in CI, without libFuzzer.
#[cfg(test)]
mod corpus {
    use std::path::PathBuf;

    fn run(name: &str, target: fn(&[u8])) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} is empty", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            target(&data);
        }
    }

    macro_rules! corpus_tests {
        ($($name:ident),* $(,)?) => {
            $(
                #[test]
                fn $name() {
                    run(stringify!($name), super::$name);
                }
            )*
        };
    }

    corpus_tests!(
        loader,
        edit,
        tag_filter,
        resource_id,
        known_hosts,
        registry_json,
        registry_headers,
        chart_index,
        chart_yaml,
        helm_release,
        api_bodies,
        go_flags,
    );
}
