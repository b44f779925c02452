//! Loading fixture trees: ids, sources, scopes, Lists, and every kind of bad
//! input (the awkward ones generated into a temp dir).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use manifests::{ClusterScopedKinds, Error, GroupKind, LoadOptions, Loaded, Loader, load};

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/.fixtures/load")
}

fn options_with_namespace(namespace: &str) -> LoadOptions {
    let mut options = LoadOptions::default();
    options.default_namespace = namespace.to_owned();
    options
}

/// `id @ path:line` of each resource, in load order.
fn listing(loaded: &Loaded) -> Vec<String> {
    loaded
        .resources
        .iter()
        .map(|resource| format!("{} @ {}", resource.id(), resource.source()))
        .collect()
}

fn messages(loaded: &Loaded) -> Vec<String> {
    loaded.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn loads_the_whole_tree_in_a_stable_order() {
    let loaded = load(
        &fixtures().join("tree"),
        &["."],
        &options_with_namespace("demo"),
    );
    assert!(loaded.is_complete(), "{:#?}", loaded.errors);
    assert_eq!(
        listing(&loaded),
        [
            // A CRD in the tree makes its kind cluster-scoped; the namespace
            // written on the ClusterIssuer is ignored for its id.
            "<cluster>:customresourcedefinition/clusterissuers.cert-manager.io @ crds/cluster-issuer.yaml:1",
            "<cluster>:clusterissuer/letsencrypt @ crds/cluster-issuer.yaml:21 (document 2)",
            // The three HelmRelease kinds.
            "demo:helmrelease/xposer @ helm/flux-v1beta1.yaml:1",
            "demo:fluxhelmrelease/legacy @ helm/fluxhelmrelease.yaml:1",
            "demo:helmrelease/redis @ helm/helm-fluxcd-v1.yaml:1",
            // Lists expanded, each item at its own line.
            "demo:configmap/typed-list-config @ lists/configmaplist.yaml:7",
            "demo:configmap/listed-config @ lists/list.yaml:4",
            "demo:serviceaccount/listed-account @ lists/list.yaml:12",
            // The seed's v1beta1 CRDs and RBAC, as written there.
            "<cluster>:customresourcedefinition/helmreleases.flux.weave.works @ seed/crd.yaml:1",
            "<cluster>:customresourcedefinition/fluxhelmreleases.helm.integrations.flux.weave.works @ seed/crd.yaml:80 (document 2)",
            "flux:serviceaccount/flux @ seed/flux-rbac.yaml:1",
            "flux:rolebinding/flux-binding @ seed/flux-rbac.yaml:6 (document 2)",
            "flux:role/flux-role @ seed/flux-rbac.yaml:21 (document 3)",
            "demo:rolebinding/flux-demo-binding @ seed/flux-rbac.yaml:31 (document 4)",
            "demo:role/flux-demo-role @ seed/flux-rbac.yaml:46 (document 5)",
            "kube-system:rolebinding/flux-system-binding @ seed/flux-rbac.yaml:56 (document 6)",
            "kube-system:role/flux-system-role @ seed/flux-rbac.yaml:71 (document 7)",
            "kube-system:serviceaccount/tiller @ seed/tiller.yaml:1",
            "flux:rolebinding/tiller-flux-binding @ seed/tiller.yaml:6 (document 2)",
            "flux:role/tiller-flux-role @ seed/tiller.yaml:21 (document 3)",
            "demo:rolebinding/tiller-demo-binding @ seed/tiller.yaml:31 (document 4)",
            "demo:role/tiller-demo-role @ seed/tiller.yaml:46 (document 5)",
            "kube-system:rolebinding/tiller-system-binding @ seed/tiller.yaml:56 (document 6)",
            "kube-system:role/tiller-system-role @ seed/tiller.yaml:71 (document 7)",
            // Workloads; `.yml` too; empty and comment-only documents count
            // in the document index but load nothing.
            "demo:daemonset/node-exporter @ workloads/daemonset.yml:2",
            "demo:statefulset/db @ workloads/more.yaml:1",
            "demo:cronjob/backup @ workloads/more.yaml:22 (document 4)",
            "demo:job/migrate @ workloads/more.yaml:39 (document 5)",
            "demo:service/podinfo @ workloads/more.yaml:48 (document 6)",
            "demo:deployment/podinfo @ workloads/podinfo.yaml:1",
        ]
    );
    // Hidden files and directories, and files that are not YAML, are skipped.
    assert!(
        !loaded
            .resources
            .iter()
            .any(|r| matches!(r.name(), "hidden" | "json"))
    );
    // The same tree loads the same way again.
    let again = load(
        &fixtures().join("tree"),
        &["."],
        &options_with_namespace("demo"),
    );
    assert_eq!(listing(&again), listing(&loaded));
}

#[test]
fn resources_keep_their_fields_and_object() {
    let loaded = load(
        &fixtures().join("tree"),
        &["workloads", "helm"],
        &LoadOptions::default(),
    );
    assert!(loaded.is_complete(), "{:#?}", loaded.errors);
    let podinfo = loaded
        .get(&"demo:deployment/podinfo".parse().unwrap())
        .unwrap();
    assert_eq!(podinfo.api_version(), "apps/v1");
    assert_eq!(podinfo.kind(), "Deployment");
    assert_eq!(podinfo.name(), "podinfo");
    assert_eq!(podinfo.namespace(), Some("demo"));
    assert_eq!(podinfo.annotation("fluxcd.io/automated"), Some("true"));
    assert_eq!(
        podinfo.annotation("fluxcd.io/tag.podinfo"),
        Some("semver:~3.1")
    );
    assert_eq!(podinfo.label("app"), Some("podinfo"));
    let spec = &podinfo.object()["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][1]["image"],
        "docker.io/library/nginx:1.25"
    );
    // YAML 1.1 octal, as Kubernetes reads it.
    assert_eq!(spec["volumes"][0]["configMap"]["defaultMode"], 420);

    // No namespace written: the default namespace, here "default".
    let exporter = &loaded.resources[0];
    assert_eq!(exporter.id().to_string(), "default:daemonset/node-exporter");
    assert_eq!(exporter.namespace(), None);

    let redis = loaded
        .get(&"demo:helmrelease/redis".parse().unwrap())
        .unwrap();
    assert_eq!(redis.api_group(), "helm.fluxcd.io");
    assert_eq!(redis.object()["spec"]["values"]["image"]["tag"], "5.0.7");
}

#[test]
fn line_numbers_in_multi_document_files() {
    let loaded = load(&fixtures().join("lines"), &["."], &LoadOptions::default());
    assert!(loaded.is_complete(), "{:#?}", loaded.errors);
    assert_eq!(
        listing(&loaded),
        [
            // CRLF line endings.
            "default:configmap/crlf-one @ crlf.yaml:1",
            "default:configmap/crlf-two @ crlf.yaml:5 (document 2)",
            // A file that starts without `---`, after a comment.
            "default:configmap/one @ documents.yaml:2",
            "default:configmap/two @ documents.yaml:5 (document 2)",
            // A `%YAML` directive before `---`, after a `...` end marker.
            "default:configmap/three @ documents.yaml:11 (document 3)",
            // A bare document after `...`: its first line with content.
            "default:configmap/four @ documents.yaml:18 (document 4)",
            // Content on the `---` line.
            "default:configmap/five @ documents.yaml:21 (document 5)",
            "default:configmap/six @ documents.yaml:22 (document 6)",
        ]
    );
    let six = loaded.resources.last().unwrap();
    assert_eq!(
        six.object()["data"]["script"],
        "---\n...\necho done\n",
        "marker-like lines inside an indented block scalar are content"
    );
}

#[test]
fn options_change_the_default_namespace_and_the_scopes() {
    let root = fixtures().join("tree");
    let loaded = load(&root, &["lists"], &options_with_namespace("team-a"));
    assert_eq!(
        loaded.resources[0].id().to_string(),
        "team-a:configmap/typed-list-config"
    );

    /// The id of the one resource in `text`.
    fn id_of(options: LoadOptions, text: &str) -> String {
        let mut loader = Loader::new(options);
        loader.add_file(Path::new("one.yaml"), text.as_bytes());
        loader.finish().resources[0].id().to_string()
    }
    let issuer = "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: le\n";
    // Without the CRD in the load, ClusterIssuer is namespaced...
    assert_eq!(
        id_of(LoadOptions::default(), issuer),
        "default:clusterissuer/le"
    );
    // ...unless the caller says otherwise.
    let mut options = LoadOptions::default();
    options
        .cluster_scoped_kinds
        .insert(GroupKind::new("cert-manager.io", "ClusterIssuer"));
    assert_eq!(id_of(options, issuer), "<cluster>:clusterissuer/le");

    // With no built-in table, even a Namespace is namespaced.
    let mut options = LoadOptions::default();
    options.cluster_scoped_kinds = ClusterScopedKinds::empty();
    assert_eq!(
        id_of(
            options,
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
        ),
        "default:namespace/demo"
    );
}

#[test]
fn paths_are_files_or_directories_each_loaded_once() {
    let root = fixtures().join("tree");
    let loaded = load(
        &root,
        &[
            "workloads/podinfo.yaml",
            "workloads",
            "./workloads/../workloads",
        ],
        &LoadOptions::default(),
    );
    assert!(loaded.is_complete(), "{:#?}", loaded.errors);
    // The file named first comes first; overlapping paths add nothing twice.
    assert_eq!(
        listing(&loaded),
        [
            "demo:deployment/podinfo @ workloads/podinfo.yaml:1",
            "default:daemonset/node-exporter @ workloads/daemonset.yml:2",
            "demo:statefulset/db @ workloads/more.yaml:1",
            "demo:cronjob/backup @ workloads/more.yaml:22 (document 4)",
            "demo:job/migrate @ workloads/more.yaml:39 (document 5)",
            "demo:service/podinfo @ workloads/more.yaml:48 (document 6)",
        ]
    );
    // An absolute path inside the root is fine too.
    let absolute = load(
        &root,
        &[root.join("helm/flux-v1beta1.yaml")],
        &LoadOptions::default(),
    );
    assert_eq!(
        listing(&absolute),
        ["demo:helmrelease/xposer @ helm/flux-v1beta1.yaml:1"]
    );
}

#[test]
fn bad_files_and_documents_are_reported_and_the_rest_loads() {
    let loaded = load(
        &fixtures().join("bad"),
        &["."],
        &options_with_namespace("demo"),
    );
    assert_eq!(
        listing(&loaded),
        [
            "demo:configmap/first-item @ bad-list.yaml:4",
            "demo:configmap/third-item @ bad-list.yaml:13",
            "demo:configmap/survivor @ good.yaml:1",
            "demo:configmap/before-the-bad-one @ malformed.yaml:1",
            "demo:configmap/after-the-bad-one @ malformed.yaml:12 (document 3)",
        ]
    );
    assert_eq!(
        messages(&loaded),
        [
            "invalid resource at bad-list.yaml:9: List item 2: missing metadata.name",
            "invalid resource at bad-list.yaml:18 (document 2): the items of a List must be a sequence",
            "malformed YAML at malformed.yaml:11 (document 2): unclosed bracket '['",
            "invalid resource at missing-fields.yaml:1: missing apiVersion",
            "invalid resource at missing-fields.yaml:4 (document 2): missing kind",
            "invalid resource at missing-fields.yaml:8 (document 3): missing metadata.name",
            "invalid resource at missing-fields.yaml:13 (document 4): metadata.annotations.\"fluxcd.io/automated\" must be a string, found a boolean (quote it)",
            "invalid resource at missing-fields.yaml:20 (document 5): expected a Kubernetes object (a mapping), found a sequence",
            "resource demo:deployment/twice is defined twice: at duplicate-a.yaml:1 and at duplicate-b.yaml:3; neither is applied",
        ]
    );
    // The errors are typed, with their places as data.
    let Error::DuplicateResource { first, second, .. } = loaded.errors.last().unwrap() else {
        panic!("{:?}", loaded.errors.last())
    };
    assert_eq!(first.path, Path::new("duplicate-a.yaml"));
    assert_eq!(
        (second.path.as_path(), second.line),
        (Path::new("duplicate-b.yaml"), 3)
    );
}

/// A temp checkout with one good file, plus whatever a test adds.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("good.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n",
    )
    .unwrap();
    dir
}

fn assert_only_good_loaded(loaded: &Loaded) {
    assert_eq!(
        listing(loaded),
        ["default:configmap/good @ good.yaml:1"],
        "errors: {:#?}",
        loaded.errors
    );
}

#[test]
fn non_utf8_bytes() {
    let dir = checkout();
    fs::write(
        dir.path().join("latin1.yaml"),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n",
    )
    .unwrap();
    let loaded = load(dir.path(), &["."], &LoadOptions::default());
    assert_only_good_loaded(&loaded);
    assert_eq!(
        messages(&loaded),
        ["\"latin1.yaml\" is not UTF-8: invalid bytes on line 4"]
    );
}

#[test]
fn symlinks_out_of_the_checkout_and_loops() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    fs::write(
        outside.path().join("secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n",
    )
    .unwrap();
    let dir = checkout();
    let root = dir.path();
    symlink(
        outside.path().join("secret.yaml"),
        root.join("file-out.yaml"),
    )
    .unwrap();
    symlink(outside.path(), root.join("dir-out")).unwrap();
    fs::create_dir(root.join("sub")).unwrap();
    symlink("..", root.join("sub/parent")).unwrap();
    symlink("self.yaml", root.join("self.yaml")).unwrap();
    // Links that stay inside are followed; a file reached twice loads once,
    // under its real path.
    symlink("good.yaml", root.join("link-to-good.yaml")).unwrap();
    // Links to non-YAML files outside are no concern.
    symlink("/etc/hostname", root.join("notes.txt")).unwrap();

    let loaded = load(root, &["."], &LoadOptions::default());
    assert_only_good_loaded(&loaded);
    let outside_path = outside.path().canonicalize().unwrap();
    let mut errors = messages(&loaded);
    errors.sort();
    assert_eq!(
        errors,
        [
            format!("symlink \"dir-out\" leads outside the checkout (to {outside_path:?})"),
            format!(
                "symlink \"file-out.yaml\" leads outside the checkout (to {:?})",
                outside_path.join("secret.yaml")
            ),
            "symlink \"self.yaml\" forms a loop".to_owned(),
            "symlink \"sub/parent\" forms a loop".to_owned(),
        ]
    );

    // A path argument through a link out of the root is refused too.
    let loaded = load(root, &["dir-out"], &LoadOptions::default());
    assert!(loaded.resources.is_empty());
    assert_eq!(
        messages(&loaded),
        ["path \"dir-out\" is outside the checkout root"]
    );
}

#[test]
fn files_over_the_size_limit() {
    let dir = checkout();
    let mut big = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n");
    while big.len() < 4096 {
        big.push_str("  key: 0123456789012345678901234567890123456789\n");
    }
    fs::write(dir.path().join("big.yaml"), &big).unwrap();
    let mut options = LoadOptions::default();
    options.max_file_bytes = 1024;
    let loaded = load(dir.path(), &["."], &options);
    assert_only_good_loaded(&loaded);
    assert_eq!(
        messages(&loaded),
        [format!(
            "\"big.yaml\" is {} bytes, over the limit of 1024 bytes",
            big.len()
        )]
    );
}

#[test]
fn alias_bombs() {
    let dir = checkout();
    // "Billion laughs": 10^9 strings if expanded.
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let (previous, name) = (pair[0], pair[1]);
        let refs = vec![format!("*{previous}"); 10].join(", ");
        bomb.push_str(&format!("  {name}: &{name} [{refs}]\n"));
    }
    fs::write(dir.path().join("bomb.yaml"), &bomb).unwrap();
    let loaded = load(dir.path(), &["."], &LoadOptions::default());
    assert_only_good_loaded(&loaded);
    assert_eq!(loaded.errors.len(), 1);
    let Error::YamlLimit { at, message } = &loaded.errors[0] else {
        panic!("{:?}", loaded.errors)
    };
    assert_eq!(at.path, Path::new("bomb.yaml"));
    assert!((6..=14).contains(&at.line), "{at}");
    assert!(!message.is_empty());
}

#[test]
fn deeply_nested_documents() {
    let dir = checkout();
    let depth = 500;
    let flow = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flow\ndata: {}1{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    fs::write(dir.path().join("flow.yaml"), flow).unwrap();
    let mut block =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: block\ndata:\n");
    for level in 1..depth {
        block.push_str(&" ".repeat(level));
        block.push_str("x:\n");
    }
    fs::write(dir.path().join("nested.yaml"), block).unwrap();

    let loaded = load(dir.path(), &["."], &LoadOptions::default());
    assert_only_good_loaded(&loaded);
    let places: Vec<String> = loaded
        .errors
        .iter()
        .map(|error| match error {
            Error::YamlLimit { at, .. } => at.to_string(),
            other => panic!("{other}"),
        })
        .collect();
    // Where the limit (100 levels) is passed: the root mapping is level 1,
    // the mapping under `data:` (line 6) level 2, line 105 level 101.
    assert_eq!(places, ["flow.yaml:5", "nested.yaml:105"]);
}

/// A document nested just inside the depth budget loads on any thread: the
/// parser recurses per level, and a thread with little stack (a tokio
/// blocking thread has 2 MiB) must neither overflow nor refuse it.
#[test]
fn deep_documents_load_on_a_small_stack() {
    let dir = checkout();
    let mut block =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n");
    // Levels: the root mapping, `data`'s mapping, then one per line.
    for level in 1..=97 {
        block.push_str(&" ".repeat(level));
        block.push_str("x:\n");
    }
    fs::create_dir(dir.path().join("deep")).unwrap();
    fs::write(dir.path().join("deep/deep.yaml"), &block).unwrap();
    let root = dir.path().to_owned();
    let loaded = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || load(&root, &["deep"], &LoadOptions::default()))
        .unwrap()
        .join()
        .unwrap();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert_eq!(loaded.resources.len(), 1);

    // A budget above the cap counts as the cap: 1,000 levels.
    let mut options = LoadOptions::default();
    options.max_depth = usize::MAX;
    let mut deeper =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n");
    for level in 1..=1_100 {
        deeper.push_str(&" ".repeat(level));
        deeper.push_str("x:\n");
    }
    fs::write(dir.path().join("deep/deep.yaml"), &deeper).unwrap();
    let root = dir.path().to_owned();
    let loaded = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || load(&root, &["deep"], &options))
        .unwrap()
        .join()
        .unwrap();
    match loaded.errors.as_slice() {
        [Error::YamlLimit { at, .. }] => assert_eq!(at.to_string(), "deep/deep.yaml:1005"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn path_arguments_that_escape_or_do_not_exist() {
    let dir = checkout();
    let root = dir.path();
    let loaded = load(
        root,
        &["../", "a/../../etc", "/etc", "missing", "good.yaml"],
        &LoadOptions::default(),
    );
    assert_only_good_loaded(&loaded);
    assert_eq!(
        messages(&loaded),
        [
            "path \"../\" is outside the checkout root",
            "path \"a/../../etc\" is outside the checkout root",
            "path \"/etc\" is outside the checkout root",
            "path \"missing\" does not exist in the checkout",
        ]
    );

    let nowhere = load(&root.join("no-such-root"), &["."], &LoadOptions::default());
    assert!(nowhere.resources.is_empty());
    assert!(
        matches!(&nowhere.errors[..], [Error::Io { path, .. }] if path.ends_with("no-such-root")),
        "{:?}",
        nowhere.errors
    );
}

#[test]
fn special_files_are_not_read() {
    let dir = checkout();
    let fifo = dir.path().join("pipe.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let loaded = load(dir.path(), &["."], &LoadOptions::default());
    assert_only_good_loaded(&loaded);
    assert_eq!(messages(&loaded), ["\"pipe.yaml\" is not a regular file"]);
}

/// Writes `files` (path, content) under `root`, making directories.
fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
}

/// A chart's template: not YAML until Helm renders it.
const TEMPLATE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n{{ include \"labels\" . | indent 4 }}\n";

#[test]
fn helm_chart_directories_are_skipped_as_flux_skipped_them() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            (
                "apps/web.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n",
            ),
            (
                "charts/app/Chart.yaml",
                "apiVersion: v2\nname: app\nversion: 1.0.0\n",
            ),
            ("charts/app/values.yaml", "image: nginx:1.27\n"),
            ("charts/app/templates/deployment.yaml", TEMPLATE),
            (
                "charts/app/charts/sub/Chart.yaml",
                "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
            ),
            ("charts/app/charts/sub/templates/cm.yaml", TEMPLATE),
            // A chart without values.yaml is a chart too (Flux wanted both).
            (
                "charts/bare/Chart.yaml",
                "apiVersion: v2\nname: bare\nversion: 0.1.0\n",
            ),
            ("charts/bare/templates/cm.yaml", TEMPLATE),
            // values.yaml alone does not make a chart.
            (
                "config/values.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: values}\n",
            ),
            // Chart.yaml must be a file.
            ("odd/Chart.yaml/readme.txt", "not a chart file\n"),
            (
                "odd/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: odd}\n",
            ),
        ],
    );
    let loaded = load(dir.path(), &["."], &LoadOptions::default());
    assert!(loaded.is_complete(), "{:#?}", loaded.errors);
    let ids: Vec<String> = loaded
        .resources
        .iter()
        .map(|r| r.id().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "default:configmap/web",
            "default:configmap/values",
            "default:configmap/odd"
        ]
    );
    assert_eq!(
        loaded.skipped_charts,
        [PathBuf::from("charts/app"), PathBuf::from("charts/bare")]
    );

    // A path given inside a chart, or a chart itself, loads nothing.
    for path in [
        "charts/app/templates",
        "charts/app/templates/deployment.yaml",
        "charts/bare",
    ] {
        let loaded = load(dir.path(), &[path], &LoadOptions::default());
        assert!(loaded.is_complete(), "{path}: {:#?}", loaded.errors);
        assert!(loaded.resources.is_empty(), "{path}");
        assert_eq!(loaded.skipped_charts.len(), 1, "{path}");
    }
    // A symlink to a chart is a chart too.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(
            dir.path().join("charts/app"),
            dir.path().join("apps/linked"),
        )
        .unwrap();
        let loaded = load(dir.path(), &["apps"], &LoadOptions::default());
        assert!(loaded.is_complete(), "{:#?}", loaded.errors);
        assert_eq!(loaded.resources.len(), 1);
        assert_eq!(loaded.skipped_charts, [PathBuf::from("apps/linked")]);
    }
}

/// This repository, as a GitOps tree: its files (those git tracks or would
/// track; never `target/`) load without one error; its charts are skipped
/// and its test fixtures are in a hidden directory.
#[test]
fn this_repository_loads_clean() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let listed = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(workspace)
        .output()
        .unwrap();
    assert!(listed.status.success());
    let dir = tempfile::tempdir().unwrap();
    for name in listed
        .stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
    {
        let name = std::str::from_utf8(name).unwrap();
        let from = workspace.join(name);
        if !from.is_file() {
            continue; // deleted, not yet committed
        }
        let to = dir.path().join(name);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap();
    }
    let loaded = load(dir.path(), &["."], &LoadOptions::default());
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(!loaded.resources.is_empty());
    assert!(
        loaded
            .skipped_charts
            .contains(&PathBuf::from("examples/charts/xposer")),
        "{:?}",
        loaded.skipped_charts
    );
}

#[test]
fn a_load_is_bounded_in_files_and_in_total_bytes() {
    let config_map = |i: usize| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: demo\n")
    };
    let mut options = LoadOptions::default();
    options.max_files = 3;
    let mut loader = Loader::new(options);
    for i in 0..5 {
        loader.add_file(format!("f{i}.yaml").as_ref(), config_map(i).as_bytes());
    }
    let loaded = loader.finish();
    assert_eq!(loaded.resources.len(), 3);
    assert_eq!(
        messages(&loaded),
        ["more than 3 files to load: \"f3.yaml\" and the files after it were not read"]
    );
    assert!(matches!(
        loaded.errors[0],
        Error::TooManyFiles { limit: 3, .. }
    ));

    // Bytes over all files: each file is 64 bytes, the third passes 150.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..4 {
        fs::write(dir.path().join(format!("f{i}.yaml")), config_map(i)).unwrap();
    }
    let mut options = LoadOptions::default();
    options.max_total_bytes = 150;
    let loaded = load(dir.path(), &["."], &options);
    assert_eq!(loaded.resources.len(), 2);
    assert_eq!(
        messages(&loaded),
        [
            "the files to load pass 150 bytes together: \"f2.yaml\" and the files after it were not read"
        ]
    );
    assert!(!loaded.is_complete());
}
