//! Flux v1's own tests of its image and policy rules, ported: the cases of
//! `pkg/cluster/kubernetes/resource/helmrelease_test.go` (every values shape
//! of a HelmRelease's images, read and written back), of
//! `pkg/cluster/kubernetes/update_test.go` (image updates in workload
//! manifests), of `pkg/image/image_test.go` (how a reference splits) and of
//! `pkg/policy/policy_test.go` (tag patterns of containers). The manifests
//! are written anew for the same situations; each test names the Flux case
//! it stands for. Where fluxd deliberately differs, the test says so.

use manifests::images::container_images;
use manifests::{LoadOptions, Loader, Policies, ResourceId, TagFilter, edit};

/// The resources of `text` loaded as file `test.yaml`.
fn load(text: &str) -> Vec<manifests::Resource> {
    let mut loader = Loader::new(LoadOptions::default());
    loader.add_file("test.yaml".as_ref(), text.as_bytes());
    let loaded = loader.finish();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    loaded.resources
}

/// `(container, image)` of resource `id` of `text`, in the order listed.
fn containers(text: &str, id: &str) -> Vec<(String, String)> {
    let resources = load(text);
    let resource = resources
        .iter()
        .find(|r| r.id().to_string() == id)
        .unwrap_or_else(|| panic!("no {id} in {resources:?}"));
    container_images(resource.object(), resource.id())
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.image))
        .collect()
}

/// `text` with container `container` of resource `id` set to `image`.
fn set_image(text: &str, id: &str, container: &str, image: &str) -> String {
    let resources = load(text);
    let resource = resources
        .iter()
        .find(|r| r.id().to_string() == id)
        .unwrap_or_else(|| panic!("no {id}"));
    edit::set_image(text, resource.source(), resource.id(), container, image)
        .unwrap_or_else(|e| panic!("{id} {container}: {e}"))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

// --- HelmRelease images (helmrelease_test.go) --------------------------------

/// A `helm.fluxcd.io/v1` HelmRelease `ghost:helmrelease/ghost` with these
/// annotation lines and values (both indented as under their key).
fn release(annotations: &str, values: &str) -> String {
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("  annotations:\n{annotations}")
    };
    format!(
        "apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: ghost
  namespace: ghost
{annotations}spec:
  chart:
    git: git@example.com:team/charts
    ref: main
    path: charts/ghost
  values:
{values}"
    )
}

const GHOST: &str = "ghost:helmrelease/ghost";

/// Reads `values`, checks the one container, sets `new` and reads it back.
fn read_then_write(annotations: &str, values: &str, expected: (&str, &str), new: &str) -> String {
    let text = release(annotations, values);
    assert_eq!(containers(&text, GHOST), pairs(&[expected]), "{text}");
    let edited = set_image(&text, GHOST, expected.0, new);
    assert_eq!(
        containers(&edited, GHOST),
        pairs(&[(expected.0, new)]),
        "{edited}"
    );
    edited
}

#[test]
fn sorted_containers_put_chart_image_first() {
    // TestSortedContainers.
    let text = release(
        "",
        "    zzz:\n      image: org/z:1\n    image: org/top:1\n    aaa:\n      image: org/a:1\n    fff:\n      image: org/f:1\n",
    );
    let names: Vec<String> = containers(&text, GHOST).into_iter().map(|c| c.0).collect();
    assert_eq!(names, ["chart-image", "aaa", "fff", "zzz"]);
}

#[test]
fn top_level_image_shapes() {
    // TestParseImageOnlyFormat.
    let edited = read_then_write(
        "",
        "    first: post\n    image: bitnami/ghost:1.21.5-r0\n    persistence:\n      enabled: false\n",
        ("chart-image", "bitnami/ghost:1.21.5-r0"),
        "bitnami/ghost:1.22.0-r1",
    );
    assert!(
        edited.contains("    image: bitnami/ghost:1.22.0-r1\n"),
        "{edited}"
    );
    // TestParseImageTagFormat: the tag stays in its own field.
    let edited = read_then_write(
        "",
        "    image: bitnami/ghost\n    tag: 1.21.5-r0\n",
        ("chart-image", "bitnami/ghost:1.21.5-r0"),
        "bitnami/ghost:1.22.0-r1",
    );
    assert!(
        edited.contains("    image: bitnami/ghost\n    tag: 1.22.0-r1\n"),
        "{edited}"
    );
    // TestParseRegistryImageTagFormat.
    let edited = read_then_write(
        "",
        "    registry: registry.com\n    image: bitnami/ghost\n    tag: 1.21.5-r0\n",
        ("chart-image", "registry.com/bitnami/ghost:1.21.5-r0"),
        "other.example.com/bitnami/ghost:2",
    );
    assert!(
        edited.contains(
            "    registry: other.example.com\n    image: bitnami/ghost\n    tag: \"2\"\n"
        ),
        "{edited}"
    );
    // TestParseRegistryImageFormat: registry and image, the tag in the image.
    let edited = read_then_write(
        "",
        "    registry: registry.com\n    image: bitnami/ghost:1.21.5-r0\n",
        ("chart-image", "registry.com/bitnami/ghost:1.21.5-r0"),
        "registry.com/bitnami/ghost:1.22",
    );
    assert!(
        edited.contains("    image: bitnami/ghost:1.22\n"),
        "{edited}"
    );
    // TestParseImageObjectFormat.
    read_then_write(
        "",
        "    image:\n      repository: bitnami/ghost\n      tag: 1.21.5-r0\n",
        ("chart-image", "bitnami/ghost:1.21.5-r0"),
        "bitnami/ghost:1.22.0",
    );
}

#[test]
fn named_container_shapes() {
    // TestParseNamedImageFormat.
    read_then_write(
        "",
        "    other:\n      not: \"containing image\"\n    db:\n      first: post\n      image: bitnami/ghost:1.21.5-r0\n",
        ("db", "bitnami/ghost:1.21.5-r0"),
        "bitnami/ghost:some-other-tag",
    );
    // TestParseNamedImageTagFormat.
    read_then_write(
        "",
        "    db:\n      image: bitnami/ghost\n      tag: 1.21.5-r0\n",
        ("db", "bitnami/ghost:1.21.5-r0"),
        "bitnami/ghost:some-other-tag",
    );
    // TestParseNamedRegistryImageTagFormat: a new registry too.
    let edited = read_then_write(
        "",
        "    db:\n      registry: registry.com\n      image: bitnami/ghost\n      tag: 1.21.5-r0\n",
        ("db", "registry.com/bitnami/ghost:1.21.5-r0"),
        "someotherregistry.com/bitnami/ghost:some-other-tag",
    );
    assert!(
        edited.contains("      registry: someotherregistry.com\n"),
        "{edited}"
    );
    // TestParseNamedRegistryImageFormat.
    read_then_write(
        "",
        "    db:\n      registry: registry.com\n      image: bitnami/ghost:1.21.5-r0\n",
        ("db", "registry.com/bitnami/ghost:1.21.5-r0"),
        "someotherregistry.com/bitnami/ghost:some-other-tag",
    );
    // TestParseNamedImageObjectFormat.
    read_then_write(
        "",
        "    db:\n      image:\n        repository: bitnami/ghost\n        tag: 1.21.5-r0\n",
        ("db", "bitnami/ghost:1.21.5-r0"),
        "bitnami/ghost:some-other-tag",
    );
    // TestParseNamedImageObjectFormatWithRegistry.
    read_then_write(
        "",
        "    db:\n      image:\n        registry: registry.com\n        repository: bitnami/ghost\n        tag: 1.21.5-r0\n",
        ("db", "registry.com/bitnami/ghost:1.21.5-r0"),
        "someotherregistry.com/bitnami/ghost:some-other-tag",
    );
    // TestParseNamedImageObjectFormatWithRegistryAndMultiElementImage: the
    // repository keeps all three of its elements.
    let edited = read_then_write(
        "",
        "    db:\n      image:\n        registry: registry.com\n        repository: public/bitnami/ghost\n        tag: 1.21.5-r0\n",
        ("db", "registry.com/public/bitnami/ghost:1.21.5-r0"),
        "someotherregistry.com/public/bitnami/ghost:some-other-tag",
    );
    assert!(
        edited.contains(
            "        registry: someotherregistry.com\n        repository: public/bitnami/ghost\n        tag: some-other-tag\n"
        ),
        "{edited}"
    );
    // TestParseNamedImageObjectFormatWithRegistryWitoutTag.
    let edited = read_then_write(
        "",
        "    db:\n      image:\n        registry: registry.com\n        repository: bitnami/ghost:1.21.5-r0\n",
        ("db", "registry.com/bitnami/ghost:1.21.5-r0"),
        "someotherregistry.com/bitnami/ghost:some-other-tag",
    );
    assert!(
        edited.contains("        repository: bitnami/ghost:some-other-tag\n"),
        "{edited}"
    );
}

#[test]
fn a_registry_field_is_the_host_whatever_it_looks_like() {
    // Flux parsed `<registry>/<repository>` as one reference, so a registry
    // without a dot (`registry: myregistry`) became part of the path and
    // was written back empty. fluxd takes the field for what it says.
    let edited = read_then_write(
        "",
        "    image:\n      registry: myregistry:5000\n      repository: team/app\n      tag: \"1.0\"\n",
        ("chart-image", "myregistry:5000/team/app:1.0"),
        "myregistry:5000/team/app:1.1",
    );
    assert!(edited.contains("      tag: \"1.1\"\n"), "{edited}");
    let text = release(
        "",
        "    image:\n      registry: intranet\n      repository: app\n      tag: \"1\"\n",
    );
    assert_eq!(
        containers(&text, GHOST),
        pairs(&[("chart-image", "intranet/app:1")])
    );
}

#[test]
fn mapped_images() {
    // TestParseMappedImageOnly.
    read_then_write(
        "    repository.fluxcd.io/mariadb: customRepository\n",
        "    first: post\n    customRepository: bitnami/mariadb:10.1.30-r1\n",
        ("mariadb", "bitnami/mariadb:10.1.30-r1"),
        "bitnami/mariadb:some-other-tag",
    );
    // TestParseMappedImageTag.
    let edited = read_then_write(
        "    repository.fluxcd.io/mariadb: customRepository\n    tag.fluxcd.io/mariadb: customTag\n",
        "    customRepository: bitnami/mariadb\n    customTag: 10.1.30-r1\n",
        ("mariadb", "bitnami/mariadb:10.1.30-r1"),
        "bitnami/mariadb:some-other-tag",
    );
    assert!(
        edited.contains("    customTag: some-other-tag\n"),
        "{edited}"
    );
    // TestParseMappedRegistryImage.
    read_then_write(
        "    registry.fluxcd.io/mariadb: customRegistry\n    repository.fluxcd.io/mariadb: customRepository\n",
        "    customRegistry: docker.io\n    customRepository: bitnami/mariadb:10.1.30-r1\n",
        ("mariadb", "docker.io/bitnami/mariadb:10.1.30-r1"),
        "docker.io/bitnami/mariadb:some-other-tag",
    );
    // TestParseMappedRegistryImageTag.
    read_then_write(
        "    registry.fluxcd.io/mariadb: customRegistry\n    repository.fluxcd.io/mariadb: customRepository\n    tag.fluxcd.io/mariadb: customTag\n",
        "    customRegistry: index.docker.io\n    customRepository: bitnami/mariadb\n    customTag: 10.1.30-r1\n",
        ("mariadb", "index.docker.io/bitnami/mariadb:10.1.30-r1"),
        "index.docker.io/bitnami/mariadb:some-other-tag",
    );
    // TestParseMappedTagOnly: a tag alone is no image.
    let text = release(
        "    tag.fluxcd.io/mariadb: customTag\n",
        "    first: post\n    customTag: 10.1.30-r1\n",
    );
    assert_eq!(containers(&text, GHOST), []);
}

#[test]
fn mapped_image_paths_at_any_depth() {
    // TestParseMappedImageFormats.
    let text = release(
        "    repository.fluxcd.io/AAA: customRepository
    tag.fluxcd.io/AAA: customTag
    repository.fluxcd.io/CCC: CCC.customRepository
    tag.fluxcd.io/CCC: CCC.customTag
    repository.fluxcd.io/NNN: NNN.image.customRepository
    registry.fluxcd.io/ZZZ: ZZZ.nested.deep.customRegistry
    repository.fluxcd.io/ZZZ: ZZZ.nested.deep.customRepository
    tag.fluxcd.io/ZZZ: ZZZ.nested.deep.customTag
",
        "    customRepository: repo/imageOne
    customTag: tagOne
    CCC:
      customRepository: repo/imageTwo
      customTag: tagTwo
    NNN:
      image:
        customRepository: repo/imageThree:tagThree
    ZZZ:
      nested:
        deep:
          customRegistry: registry.com
          customRepository: repo/imageFour
          customTag: tagFour
",
    );
    assert_eq!(
        containers(&text, GHOST),
        pairs(&[
            ("AAA", "repo/imageOne:tagOne"),
            ("CCC", "repo/imageTwo:tagTwo"),
            ("NNN", "repo/imageThree:tagThree"),
            ("ZZZ", "registry.com/repo/imageFour:tagFour"),
        ])
    );
    let edited = set_image(&text, GHOST, "ZZZ", "registry.com/repo/imageFour:tagFive");
    assert!(
        edited.contains("          customTag: tagFive\n"),
        "{edited}"
    );
}

#[test]
fn every_shape_in_one_release() {
    // TestParseAllFormatsInOne.
    let text = release(
        "    repository.fluxcd.io/ZZZ: ZZZ.customRepository\n    tag.fluxcd.io/ZZZ: ZZZ.customTag\n",
        "    image: repo/imageOne:tagOne
    AAA:
      image: repo/imageTwo
      tag: tagTwo
    DDD:
      image:
        repository: repo/imageThree
        tag: tagThree
      persistence:
        enabled: false
    HHH:
      registry: registry.com
      image: repo/imageFour
      tag: tagFour
    NNN:
      image:
        registry: registry.com
        repository: repo/imageFive:tagFive
    XXX:
      image:
        registry: registry.com
        repository: repo/imageSix
        tag: tagSix
    ZZZ:
      customRepository: repo/imageSeven
      customTag: tagSeven
",
    );
    let expected = pairs(&[
        ("chart-image", "repo/imageOne:tagOne"),
        ("AAA", "repo/imageTwo:tagTwo"),
        ("DDD", "repo/imageThree:tagThree"),
        ("HHH", "registry.com/repo/imageFour:tagFour"),
        ("NNN", "registry.com/repo/imageFive:tagFive"),
        ("XXX", "registry.com/repo/imageSix:tagSix"),
        ("ZZZ", "repo/imageSeven:tagSeven"),
    ]);
    assert_eq!(containers(&text, GHOST), expected);
    // Each written back in its own shape, one after the other.
    let mut edited = text.clone();
    for (name, image) in &expected {
        let new = image.replace("tag", "new");
        edited = set_image(&edited, GHOST, name, &new);
    }
    let renamed: Vec<(String, String)> = expected
        .iter()
        .map(|(name, image)| (name.clone(), image.replace("tag", "new")))
        .collect();
    assert_eq!(containers(&edited, GHOST), renamed);
}

#[test]
fn values_that_are_not_images() {
    // Flux read a non-string `tag` (`tag: 1.2`, a YAML number) as no tag,
    // and wrote the new tag into `image`, leaving the number for the chart
    // to use. fluxd does not take such a value for an image at all: writing
    // it back would change its type.
    let text = release(
        "",
        "    image: org/app\n    tag: 1.2\n    db:\n      image: {repository: 3}\n",
    );
    assert_eq!(containers(&text, GHOST), []);
}

// --- Workload image updates (update_test.go) ---------------------------------

/// One of update_test.go's situations: set `image` on `container` of `id`.
struct Update {
    flux_case: &'static str,
    id: &'static str,
    container: &'static str,
    image: &'static str,
    input: &'static str,
}

/// The text an update must produce: the input with only the image's bytes
/// changed (inside its quotes, if it has them).
fn expected_of(update: &Update, old: &str) -> String {
    for written in [format!("image: {old}\n"), format!("image: '{old}'\n")] {
        if update.input.contains(&written) {
            return update
                .input
                .replacen(&written, &written.replacen(old, update.image, 1), 1);
        }
    }
    panic!("{}: no image line {old}", update.flux_case)
}

#[test]
fn workload_updates_change_only_the_image() {
    let updates = [
        Update {
            flux_case: "common case (unusual indentation after containers:)",
            id: "extra:deployment/pr-assigner",
            container: "pr-assigner",
            image: "quay.io/weaveworks/pr-assigner:master-1234567",
            input: "---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pr-assigner
  namespace: extra
spec:
  template:
    spec:
      imagePullSecrets:
      - name: quay-secret
      containers:
      - name: pr-assigner
        image: quay.io/weaveworks/pr-assigner:master-6f5e816
        env:
        - name: TOKEN
          valueFrom:
            secretKeyRef: {name: pr-assigner, key: token}
",
        },
        Update {
            flux_case: "new version like number (and a comment after a sibling)",
            id: "default:deployment/fluxy",
            container: "fluxy",
            image: "weaveworks/fluxy:1234567",
            input: "apiVersion: apps/v1
kind: Deployment
metadata:
  name: fluxy
spec:
  template:
    spec:
      containers:
      - name: fluxy
        image: weaveworks/fluxy:master-a000001
        imagePullPolicy: Never # must build manually
",
        },
        Update {
            flux_case: "name label out of order, one-space indent and a comment",
            id: "monitoring:deployment/grafana",
            container: "grafana",
            image: "quay.io/weaveworks/grafana:master-37aaf67",
            input: "apiVersion: apps/v1
kind: Deployment
metadata:
 namespace: monitoring
 name: grafana # comment, and only one space indent
spec:
  template:
    spec:
      containers:
      - name: grafana
        image: quay.io/weaveworks/grafana:master-ac5658a
      - name: gfdatasource
        image: quay.io/weaveworks/gfdatasource:master-e50ecf2
",
        },
        Update {
            flux_case: "version (tag) with dots and underscores, to a commit id",
            id: "sock-shop:deployment/front-end",
            container: "front-end",
            image: "weaveworksdemos/front-end:7f511af2d21fd601b86b3bed7baa6adfa9c8c669",
            input: "apiVersion: apps/v1
kind: Deployment
metadata: {name: front-end, namespace: sock-shop}
spec:
  template:
    spec:
      containers:
      - name: front-end
        image: weaveworksdemos/front-end:v_0.2.0
        securityContext:
          capabilities:
            drop:
            - all
",
        },
        Update {
            flux_case: "minimal dockerhub image name",
            id: "default:deployment/nginx",
            container: "nginx",
            image: "nginx:1.10-alpine",
            input: "apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  template:
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
",
        },
        Update {
            flux_case: "reordered keys (image before name)",
            id: "default:deployment/nginx",
            container: "nginx2",
            image: "nginx:1.10-alpine",
            input: "apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  template:
    spec:
      containers:
      - image: nginx:1.9
        name: nginx
      - image: nginx:1.9
        name: nginx2
",
        },
        Update {
            flux_case: "single quotes",
            id: "kube-system:daemonset/weave-net",
            container: "weave",
            image: "weaveworks/weave-kube:2.2.1",
            input: "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: weave-net
  namespace: kube-system
spec:
  template:
    spec:
      containers:
        - name: weave
          image: 'weaveworks/weave-kube:2.2.0'
",
        },
        Update {
            flux_case: "in multidoc",
            id: "default:deployment/helloworld",
            container: "helloworld",
            image: "quay.io/weaveworks/helloworld:master-a000002",
            input: "---
apiVersion: v1
kind: Namespace
metadata:
  name: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: helloworld
spec:
  template:
    spec:
      containers:
      - name: helloworld
        image: quay.io/weaveworks/helloworld:master-a000001
---
apiVersion: v1
kind: Service
metadata:
  name: helloworld
",
        },
        Update {
            flux_case: "in kubernetes List resource",
            id: "default:deployment/helloworld",
            container: "helloworld",
            image: "quay.io/weaveworks/helloworld:master-a000002",
            input: "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: helloworld
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: helloworld
  spec:
    template:
      spec:
        containers:
        - name: helloworld
          image: quay.io/weaveworks/helloworld:master-a000001
",
        },
        Update {
            flux_case: "initContainer",
            id: "default:deployment/weave",
            container: "weave-init",
            image: "weaveworks/weave-kube:2.2.1",
            input: "apiVersion: apps/v1
kind: Deployment
metadata:
  name: weave
spec:
  template:
    spec:
      initContainers:
      - name: weave-init
        image: weaveworks/weave-kube:2.2.0
      containers:
      - name: weave
        image: weaveworks/weave-kube:2.2.0
",
        },
    ];
    for update in &updates {
        let before = containers(update.input, update.id);
        let old = before
            .iter()
            .find(|(name, _)| name == update.container)
            .unwrap_or_else(|| panic!("{}: no container {}", update.flux_case, update.container))
            .1
            .clone();
        let edited = set_image(update.input, update.id, update.container, update.image);
        // Flux's kubeyaml re-indented some documents (the one-space case);
        // fluxd changes the image's bytes and nothing else.
        let expected = if update.flux_case.starts_with("reordered keys") {
            update.input.replacen(
                "image: nginx:1.9\n        name: nginx2",
                "image: nginx:1.10-alpine\n        name: nginx2",
                1,
            )
        } else {
            expected_of(update, &old)
        };
        assert_eq!(edited, expected, "{}", update.flux_case);
        let after = containers(&edited, update.id);
        for ((name, image), (_, was)) in after.iter().zip(&before) {
            if name == update.container {
                assert_eq!(image, update.image, "{}", update.flux_case);
            } else {
                assert_eq!(image, was, "{}: {name} changed", update.flux_case);
            }
        }
    }
    // The reverse of "new version like number".
    let forward = set_image(
        updates[1].input,
        updates[1].id,
        "fluxy",
        "weaveworks/fluxy:1234567",
    );
    let back = set_image(
        &forward,
        updates[1].id,
        "fluxy",
        "weaveworks/fluxy:master-a000001",
    );
    assert_eq!(back, updates[1].input);
}

#[test]
fn a_helm_release_with_an_image_map_updates_its_mapped_paths() {
    // "HelmRelease (v1; with image map)".
    let text = "apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: mariadb
  namespace: maria
  annotations:
    registry.fluxcd.io/mariadb: customRegistry
    repository.fluxcd.io/mariadb: customRepository
    tag.fluxcd.io/mariadb: customTag
spec:
  chart:
    repository: https://charts.example.com
    name: mariadb
    version: 5.2.3
  values:
    customRegistry: docker.io
    customRepository: bitnami/mariadb
    customTag: 10.1.30-r1
    persistence:
      enabled: false
";
    let edited = set_image(
        text,
        "maria:helmrelease/mariadb",
        "mariadb",
        "docker.io/bitnami/mariadb:10.1.33",
    );
    assert_eq!(
        edited,
        text.replace("customTag: 10.1.30-r1", "customTag: 10.1.33")
    );
}

// --- References (image_test.go) ----------------------------------------------

#[test]
fn references_split_as_flux_split_them() {
    // TestParseRef, through a HelmRelease's registry field: the host and the
    // path of a reference are what a `registry` + `repository` write gets.
    for (reference, registry, repository) in [
        ("localhost/hello:v1.1", "localhost", "hello"),
        ("localhost:5000/hello:v1.1", "localhost:5000", "hello"),
        ("example.com/hello:v1.1", "example.com", "hello"),
        ("quay.io/library/alpine:latest", "quay.io", "library/alpine"),
        (
            "localhost:5000/path/to/repo/alpine:mytag",
            "localhost:5000",
            "path/to/repo/alpine",
        ),
        (
            "docker.io/library/alpine:edge",
            "docker.io",
            "library/alpine",
        ),
    ] {
        let text = release(
            "",
            "    image:\n      registry: old.example.com\n      repository: old/path\n      tag: old\n",
        );
        let edited = set_image(&text, GHOST, "chart-image", reference);
        let tag = reference.rsplit_once(':').unwrap().1;
        assert!(
            edited.contains(&format!(
                "      registry: {registry}\n      repository: {repository}\n      tag: {tag}\n"
            )),
            "{reference}: {edited}"
        );
    }
    // TestParseRefErrorCases (and a reference with no host for a registry
    // field, which Flux wrote as an empty registry).
    let text = release(
        "",
        "    image:\n      registry: r.io\n      repository: a\n      tag: b\n",
    );
    let resources = load(&text);
    for bad in [
        ":tag",
        "/leading/slash",
        "trailing/slash/",
        "alpine:1",
        "a:b:c",
    ] {
        let result = edit::set_image(
            &text,
            resources[0].source(),
            resources[0].id(),
            "chart-image",
            bad,
        );
        assert!(result.is_err(), "{bad}: {result:?}");
    }
    // Digest references: Flux kept the digest beside the name; fluxd does not
    // read a HelmRelease value pinned by digest as an image it can update.
    let pinned = release(
        "",
        "    image: kennethreitz/httpbin@sha256:599fe5e5073102dbb0ee3dbb65f049dab44fa9fc251f6835c9990f8fb196a72b\n",
    );
    assert_eq!(containers(&pinned, GHOST), []);
}

// --- Tag patterns of containers (policy_test.go) -----------------------------

#[test]
fn tag_patterns_of_containers() {
    // Test_GetTagPattern: no policies, no matching policy, a match.
    let id: ResourceId = "default:deployment/hello".parse().unwrap();
    let object = |annotations: serde_json::Value| {
        serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "hello", "annotations": annotations}
        })
    };
    let none = Policies::from_object(&object(serde_json::Value::Null), &id).unwrap();
    assert_eq!(none.tag_filter("helloContainer"), TagFilter::all());
    let other = Policies::from_object(
        &object(serde_json::json!({"fluxcd.io/tag.other": "glob:1.*"})),
        &id,
    )
    .unwrap();
    assert_eq!(other.tag_filter("helloContainer"), TagFilter::all());
    let expected = TagFilter::parse("master-*").unwrap();
    for key in [
        "fluxcd.io/tag.helloContainer",
        "flux.weave.works/tag.helloContainer",
        "filter.fluxcd.io/helloContainer",
    ] {
        let set =
            Policies::from_object(&object(serde_json::json!({key: "glob:master-*"})), &id).unwrap();
        assert_eq!(set.tag_filter("helloContainer"), expected, "{key}");
    }
}
