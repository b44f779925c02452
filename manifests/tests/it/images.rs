//! Container images of workloads and HelmReleases, with where each is written.

use manifests::images::{container_images, display_path};
use manifests::{ContainerImage, ImageFields, ResourceId};
use serde_json::Value;

fn read(yaml: &str) -> (Value, ResourceId) {
    let object: Value = serde_saphyr::from_str(yaml).unwrap();
    let kind = object["kind"].as_str().unwrap().to_owned();
    let name = object["metadata"]["name"].as_str().unwrap().to_owned();
    (object, ResourceId::namespaced("demo", &kind, &name))
}

fn images(yaml: &str) -> Vec<ContainerImage> {
    let (object, id) = read(yaml);
    container_images(&object, &id).unwrap()
}

/// `name=image@path[,path...]` for each container.
fn summary(yaml: &str) -> Vec<String> {
    images(yaml)
        .iter()
        .map(|c| {
            let paths: Vec<String> = c.fields.paths().iter().map(|p| display_path(p)).collect();
            format!("{}={}@{}", c.name, c.image, paths.join(","))
        })
        .collect()
}

#[test]
fn workload_kinds() {
    let deployment = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers:
      - name: migrate
        image: org/migrate:1
      containers:
      - name: web
        image: nginx:1.25
      - name: side
        image: quay.io/org/side@sha256:abc
";
    assert_eq!(
        summary(deployment),
        [
            "migrate=org/migrate:1@spec.template.spec.initContainers[0].image",
            "web=nginx:1.25@spec.template.spec.containers[0].image",
            "side=quay.io/org/side@sha256:abc@spec.template.spec.containers[1].image",
        ]
    );
    for kind in ["DaemonSet", "StatefulSet", "ReplicaSet", "Job"] {
        let yaml = deployment.replace("Deployment", kind);
        assert_eq!(summary(&yaml).len(), 3, "{kind}");
    }
    let cronjob = "
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: '@daily'
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {name: job, image: 'org/job:2'}
";
    assert_eq!(
        summary(cronjob),
        ["job=org/job:2@spec.jobTemplate.spec.template.spec.containers[0].image"]
    );
    let pod = "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: busybox}]
";
    assert_eq!(summary(pod), ["c=busybox@spec.containers[0].image"]);
    let service = "
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {containers: [{name: c, image: busybox}]}
";
    assert!(images(service).is_empty());
}

#[test]
fn malformed_workloads_are_errors_naming_the_resource() {
    for (containers, want) in [
        ("[{image: nginx}]", "no string name"),
        ("[{name: web}]", "\"web\""),
        ("[{name: web, image: 5}]", "no string image"),
        ("{name: web}", "not a list"),
    ] {
        let yaml = format!(
            "kind: Deployment\nmetadata: {{name: web}}\nspec: {{template: {{spec: {{containers: {containers}}}}}}}\n"
        );
        let (object, id) = read(&yaml);
        let err = container_images(&object, &id).unwrap_err().to_string();
        assert!(err.contains("demo:deployment/web"), "{err}");
        assert!(err.contains(want), "{err}");
    }
}

const HELM_RELEASE: &str = "
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: app
spec:
  chart: {repository: 'https://charts.example.com', name: app, version: 1.0.0}
  values:
    image: org/app:1.0
    whole:
      image: quay.io/org/whole:2.0
    imageAndTag:
      image: org/split
      tag: '3.1'
    registryImageTag:
      registry: registry.example.com:5000
      image: team/three
      tag: v4
    registryAndImage:
      registry: r.example.com
      image: team/two:5
    repositoryTag:
      image:
        repository: org/nested
        tag: '6'
    registryRepositoryTag:
      image:
        registry: docker.io
        repository: bitnami/redis
        tag: 7.0.5
    numericTag:
      image: org/numeric
      tag: 1.2
    notAnImage:
      replicas: 3
";

#[test]
fn helm_release_value_shapes() {
    assert_eq!(
        summary(HELM_RELEASE),
        [
            "chart-image=org/app:1.0@spec.values.image",
            "imageAndTag=org/split:3.1@spec.values.imageAndTag.image,spec.values.imageAndTag.tag",
            "registryAndImage=r.example.com/team/two:5@spec.values.registryAndImage.registry,spec.values.registryAndImage.image",
            "registryImageTag=registry.example.com:5000/team/three:v4@spec.values.registryImageTag.registry,spec.values.registryImageTag.image,spec.values.registryImageTag.tag",
            "registryRepositoryTag=docker.io/bitnami/redis:7.0.5@spec.values.registryRepositoryTag.image.registry,spec.values.registryRepositoryTag.image.repository,spec.values.registryRepositoryTag.image.tag",
            "repositoryTag=org/nested:6@spec.values.repositoryTag.image.repository,spec.values.repositoryTag.image.tag",
            "whole=quay.io/org/whole:2.0@spec.values.whole.image",
        ]
    );
    let by_name = |name: &str| {
        images(HELM_RELEASE)
            .into_iter()
            .find(|c| c.name == name)
            .unwrap()
    };
    assert!(matches!(by_name("whole").fields, ImageFields::Reference(_)));
    assert!(matches!(
        by_name("imageAndTag").fields,
        ImageFields::Parts {
            registry: None,
            tag: Some(_),
            ..
        }
    ));
}

#[test]
fn helm_release_api_versions() {
    for (api_version, kind, counted) in [
        ("flux.weave.works/v1beta1", "HelmRelease", true),
        ("helm.fluxcd.io/v1", "HelmRelease", true),
        (
            "helm.integrations.flux.weave.works/v1alpha2",
            "FluxHelmRelease",
            true,
        ),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease", false),
        ("flux.weave.works/v1beta1", "FluxHelmRelease", false),
    ] {
        let yaml = format!(
            "apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\nspec:\n  values:\n    image: a/b:1\n"
        );
        assert_eq!(
            images(&yaml).len(),
            usize::from(counted),
            "{api_version} {kind}"
        );
    }
}

#[test]
fn mapping_annotations() {
    let yaml = "
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: mapped
  annotations:
    repository.fluxcd.io/app: app.image.repo
    tag.fluxcd.io/app: app.image.version
    registry.fluxcd.io/full: full.host
    repository.fluxcd.io/full: full.path
    tag.fluxcd.io/full: full.version
    registry.fluxcd.io/noTag: noTag.host
    repository.fluxcd.io/noTag: noTag.path
    repository.fluxcd.io/only: only.ref
    tag.fluxcd.io/tagOnly: only.ref
    repository.fluxcd.io/missing: nowhere.to.be.found
spec:
  values:
    app:
      image:
        repo: org/app
        version: '1.0'
    full: {host: quay.io, path: org/full, version: v2}
    noTag: {host: r.example.com, path: team/x:3}
    only: {ref: 'org/only:4'}
";
    assert_eq!(
        summary(yaml),
        [
            "app=org/app:1.0@spec.values.app.image.repo,spec.values.app.image.version",
            "full=quay.io/org/full:v2@spec.values.full.host,spec.values.full.path,spec.values.full.version",
            "noTag=r.example.com/team/x:3@spec.values.noTag.host,spec.values.noTag.path",
            "only=org/only:4@spec.values.only.ref",
        ]
    );
}

#[test]
fn mapped_images_override_conventional_ones() {
    let yaml = "
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: both
  annotations:
    repository.fluxcd.io/web: web.image
    tag.fluxcd.io/web: web.version
spec:
  values:
    web:
      image: org/web
      version: new
";
    // Without the annotations, only the conventional reading is there.
    let plain = yaml.replace("annotations:", "labels:");
    assert_eq!(summary(&plain), ["web=org/web@spec.values.web.image"]);
    assert_eq!(
        summary(yaml),
        ["web=org/web:new@spec.values.web.image,spec.values.web.version"]
    );
}
