//! The loader and the editor agree on where each resource is: every resource
//! loaded from a fixture can be edited through its own `SourceLocation`, and loading the
//! edited file finds exactly that change.

use std::fs;
use std::path::Path;

use manifests::edit::Edit;
use manifests::{LoadOptions, Resource, load};

use crate::load::fixtures;

/// Loads `root`, applies `edit_for(resource)` to each resource in turn (each
/// time to a fresh copy of its file) and checks the reload.
fn edit_each(root: &Path, check: impl Fn(&Resource, &Resource)) -> usize {
    let loaded = load(root, &["."], &LoadOptions::default());
    let mut edited = 0;
    for resource in &loaded.resources {
        let path = root.join(&resource.source().path);
        let text = fs::read_to_string(&path).unwrap();
        let new_text = resource
            .edit(
                &text,
                &Edit::SetAnnotation {
                    key: "example.com/cross-check".to_owned(),
                    value: resource.id().to_string(),
                },
            )
            .unwrap_or_else(|e| panic!("{} at {}: {e}", resource.id(), resource.source()));

        let scratch = tempfile::tempdir().unwrap();
        let file = scratch.path().join(&resource.source().path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, new_text).unwrap();
        let reloaded = load(scratch.path(), &["."], &LoadOptions::default());
        let after = reloaded
            .get(resource.id())
            .unwrap_or_else(|| panic!("{} vanished after its edit", resource.id()));
        assert_eq!(after.source(), resource.source(), "{} moved", resource.id());
        check(resource, after);
        edited += 1;
    }
    edited
}

fn annotation_set(before: &Resource, after: &Resource) {
    assert_eq!(
        after.annotation("example.com/cross-check"),
        Some(before.id().to_string().as_str())
    );
    let mut expected = before.object().clone();
    let mut actual = after.object().clone();
    for object in [&mut expected, &mut actual] {
        let metadata = object["metadata"].as_object_mut().unwrap();
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(|a| a.as_object_mut())
        {
            annotations.remove("example.com/cross-check");
        }
        // `annotations:` with no value, `{}` and no key at all are the same
        // set of annotations.
        if metadata
            .get("annotations")
            .is_some_and(|a| a.is_null() || a.as_object().is_some_and(serde_json::Map::is_empty))
        {
            metadata.remove("annotations");
        }
    }
    assert_eq!(
        expected,
        actual,
        "{}: more than the annotation changed",
        before.id()
    );
}

#[test]
fn every_fixture_resource_is_editable_through_its_source() {
    let mut total = 0;
    for tree in ["tree", "lines", "styles"] {
        total += edit_each(&fixtures().join(tree), annotation_set);
    }
    assert!(total > 20, "only {total} resources edited");
}

#[test]
fn document_indexes_agree_on_awkward_streams() {
    let dir = tempfile::tempdir().unwrap();
    // Comments before the first marker, empty documents, end markers, a
    // directive, and a document that is only a comment.
    fs::write(
        dir.path().join("awkward.yaml"),
        "# leading comment\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n...\n%YAML 1.2\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\n\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: c\n  annotations:\n    keep: \"me\"\nspec: {}\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("bare.yml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: d\n",
    )
    .unwrap();
    assert_eq!(edit_each(dir.path(), annotation_set), 4);
}

#[test]
fn every_container_image_is_editable_through_its_source() {
    let root = fixtures().join("tree");
    let loaded = load(&root, &["."], &LoadOptions::default());
    let mut edited = 0;
    for resource in &loaded.resources {
        for container in resource.container_images().unwrap() {
            let text = fs::read_to_string(root.join(&resource.source().path)).unwrap();
            let image = "registry.example.com:5000/team/new:9.9.9".to_owned();
            let new_text = resource
                .edit(
                    &text,
                    &Edit::SetImage {
                        container: container.name.clone(),
                        image: image.clone(),
                    },
                )
                .unwrap_or_else(|e| panic!("{} container {}: {e}", resource.id(), container.name));
            let scratch = tempfile::tempdir().unwrap();
            let file = scratch.path().join(&resource.source().path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(&file, new_text).unwrap();
            let reloaded = load(scratch.path(), &["."], &LoadOptions::default());
            let after = reloaded.get(resource.id()).unwrap();
            let images = after.container_images().unwrap();
            let changed = images.iter().find(|c| c.name == container.name).unwrap();
            assert_eq!(
                changed.image,
                image,
                "{} container {}",
                resource.id(),
                container.name
            );
            edited += 1;
        }
    }
    assert!(edited >= 5, "only {edited} containers edited");
}
