//! Checksums of loaded resources and sets: content only, any order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use manifests::{Checksum, LoadOptions, Loader, load};

use crate::load::fixtures;

#[test]
fn same_content_in_another_yaml_style_has_the_same_checksum() {
    let root = fixtures().join("styles");
    let block = load(&root, &["block"], &LoadOptions::default());
    let flow = load(&root, &["flow"], &LoadOptions::default());
    assert!(block.is_complete() && flow.is_complete());
    let (block, flow) = (&block.resources[0], &flow.resources[0]);
    assert_eq!(block.id(), flow.id());
    assert_eq!(Checksum::of_resource(block), Checksum::of_resource(flow));
    assert_eq!(
        Checksum::of_set([block]),
        Checksum::of_set([flow]),
        "sets of equal resources are equal"
    );
}

#[test]
fn a_set_checksum_ignores_load_order_and_sees_every_change() {
    let root = fixtures().join("tree");
    let forward = load(
        &root,
        &["helm", "workloads", "seed"],
        &LoadOptions::default(),
    );
    let backward = load(
        &root,
        &["seed", "workloads", "helm"],
        &LoadOptions::default(),
    );
    assert_ne!(
        forward.resources[0].id(),
        backward.resources[0].id(),
        "the orders differ"
    );
    let sum = Checksum::of_set(&forward.resources);
    assert_eq!(sum, Checksum::of_set(&backward.resources));
    assert_eq!(sum.to_hex().len(), 64);

    // One changed value changes the set's checksum.
    let mut loader = Loader::new(LoadOptions::default());
    loader.add_tree(&root, &["helm", "workloads", "seed"]);
    let text = std::fs::read_to_string(root.join("helm/helm-fluxcd-v1.yaml")).unwrap();
    let changed = text.replace("tag: 5.0.7", "tag: 5.0.8");
    assert_ne!(text, changed);
    let mut other = Loader::new(LoadOptions::default());
    other.add_tree(&root, &["workloads", "seed"]);
    other.add_file(Path::new("helm/helm-fluxcd-v1.yaml"), changed.as_bytes());
    other.add_tree(
        &root,
        &["helm/flux-v1beta1.yaml", "helm/fluxhelmrelease.yaml"],
    );
    let (same, changed) = (loader.finish(), other.finish());
    assert!(same.is_complete() && changed.is_complete());
    assert_eq!(Checksum::of_set(&same.resources), sum);
    assert_ne!(Checksum::of_set(&changed.resources), sum);

    // A namespace-less resource's id depends on the default namespace, and
    // so does the set's checksum.
    let other_namespace = {
        let mut options = LoadOptions::default();
        options.default_namespace = "elsewhere".to_owned();
        load(&root, &["helm", "workloads", "seed"], &options)
    };
    assert_ne!(Checksum::of_set(&other_namespace.resources), sum);
}
