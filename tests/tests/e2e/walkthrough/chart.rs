//! `deploy/chart/flux` rendered by the real helm: the seed's values
//! unchanged, a Flux 1.13.3 user's values, the restricted RBAC mode, values
//! of the wrong type refused by the schema; every argument rendered for fluxd
//! and for `fluxd helm-operator` is accepted by their own flag parsers.

use super::{chart_dir, container_args, fixture, helm, object, render};

/// fluxd's parser and configuration accept `args` (the Deployment's);
/// files the chart mounts from its ConfigMaps are read from a copy of them
/// (`/etc/fluxd/ssh-config/...` points into `mounted`, when given).
fn assert_fluxd_accepts(args: &[String]) {
    assert_fluxd_accepts_with(args, None);
}

fn assert_fluxd_accepts_with(args: &[String], mounted: Option<&std::path::Path>) {
    let args = with_mount(args, mounted);
    let flags = fluxd::Flags::from_command_line(
        std::iter::once("fluxd".to_owned()).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| panic!("fluxd refuses {args:?}: {e}"));
    fluxd::Config::from_flags(&flags).unwrap_or_else(|e| panic!("fluxd refuses {args:?}: {e}"));
}

/// `args` with the ssh-config mount's path pointing into `mounted`.
fn with_mount(args: &[String], mounted: Option<&std::path::Path>) -> Vec<String> {
    args.iter()
        .map(|arg| match mounted {
            Some(dir) => arg.replace("/etc/fluxd/ssh-config", &dir.display().to_string()),
            None => arg.clone(),
        })
        .collect()
}

/// The files of ConfigMap `name` written into a new directory, as a volume mounts them.
fn mount_config_map(objects: &[serde_json::Value], name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in object(objects, "ConfigMap", name)["data"]
        .as_object()
        .unwrap()
    {
        std::fs::write(dir.path().join(key), value.as_str().unwrap()).unwrap();
    }
    dir
}

/// `fluxd helm-operator`'s parser and configuration accept `args`.
fn assert_operator_accepts(args: &[String]) {
    assert_operator_accepts_with(args, None);
}

fn assert_operator_accepts_with(args: &[String], mounted: Option<&std::path::Path>) {
    let args = with_mount(args, mounted);
    assert_eq!(args.first().map(String::as_str), Some("helm-operator"));
    let flags = fluxd::Flags::from_command_line(
        std::iter::once("fluxd".to_owned()).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| panic!("fluxd helm-operator refuses {args:?}: {e}"));
    let Some(fluxd::Command::HelmOperator(operator)) = &flags.command else {
        panic!("not the helm-operator command: {args:?}");
    };
    fluxd::helm_operator::HelmOperatorConfig::from_flags(operator)
        .unwrap_or_else(|e| panic!("fluxd helm-operator refuses {args:?}: {e}"));
}

fn kinds(objects: &[serde_json::Value]) -> Vec<String> {
    let mut kinds: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    kinds.sort();
    kinds
}

#[test]
fn helm_lint_is_clean() {
    let home = tempfile::tempdir().unwrap();
    for values in [None, Some("values.yaml"), Some("flux-1.13.3-values.yaml")] {
        let mut command = helm(home.path());
        command.arg("lint").arg("--strict").arg(chart_dir());
        if let Some(values) = values {
            command.arg("-f").arg(fixture(values));
        }
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{values:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("0 chart(s) failed"), "{stdout}");
        assert!(
            !stdout.contains("[WARNING]") && !stdout.contains("[ERROR]"),
            "{stdout}"
        );
    }
}

#[test]
fn the_seeds_values_render_fluxd_and_the_operator_without_rbac_or_crds() {
    let values = fixture("values.yaml");
    let objects = render("flux", &["-f", values.to_str().unwrap()]).unwrap();
    assert_eq!(
        kinds(&objects),
        [
            "ConfigMap/flux-kube-config",
            "ConfigMap/flux-ssh-config",
            "Deployment/flux",
            "Deployment/flux-helm-operator",
            "Secret/flux-git-deploy",
            "Service/flux",
        ]
    );
    let deployment = object(&objects, "Deployment", "flux");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["app"], "flux");
    assert_eq!(labels["release"], "flux");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "flux");
    let container = &pod["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], 3030);
    let mounts = container["volumeMounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == "git-key" && m["mountPath"] == "/etc/fluxd/ssh"),
        "{mounts:?}"
    );
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == "state" && m["mountPath"] == "/var/fluxd/state"),
        "{mounts:?}"
    );
    let volumes = pod["volumes"].as_array().unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["name"] == "git-key" && v["secret"]["secretName"] == "flux-git-deploy"),
        "{volumes:?}"
    );
    let service = object(&objects, "Service", "flux");
    assert_eq!(service["spec"]["ports"][0]["port"], 3030);
    assert_eq!(service["spec"]["selector"]["app"], "flux");
    assert!(
        object(&objects, "Secret", "flux-git-deploy")
            .get("data")
            .is_none()
    );

    let args = container_args(&objects, "flux");
    for expected in [
        "--git-url=ssh://git@github.com/stakater/flux-helm-test",
        "--git-poll-interval=10s",
        "--sync-interval=10s",
        "--registry-poll-interval=200m",
        "--registry-exclude-image=*",
        "--k8s-secret-name=flux-git-deploy",
        "--ssh-keygen-dir=/var/fluxd/keygen",
    ] {
        assert!(
            args.iter().any(|a| a == expected),
            "{expected} not in {args:?}"
        );
    }
    assert_eq!(
        args.last().map(String::as_str),
        Some("--k8s-namespace-whitelist=demo")
    );
    assert_fluxd_accepts(&args);

    let operator = container_args(&objects, "flux-helm-operator");
    for expected in [
        "--update-chart-deps=false",
        "--git-url=ssh://git@github.com/stakater/flux-helm-test",
        // The namespaces fluxd is restricted to, so the restricted
        // ServiceAccount is not asked to watch every namespace.
        "--allow-namespace=demo",
        "--tiller-namespace=kube-system",
    ] {
        assert!(
            operator.iter().any(|a| a == expected),
            "{expected} not in {operator:?}"
        );
    }
    assert_operator_accepts(&operator);
    let operator_pod =
        &object(&objects, "Deployment", "flux-helm-operator")["spec"]["template"]["spec"];
    assert_eq!(operator_pod["containers"][0]["command"][0], "fluxd");
    let volumes = operator_pod["volumes"].as_array().unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"] == "flux-git-deploy"),
        "{volumes:?}"
    );
}

#[test]
fn a_flux_1_13_3_users_values_map_to_fluxds_arguments() {
    let values = fixture("flux-1.13.3-values.yaml");
    let objects = render("flux", &["-f", values.to_str().unwrap()]).unwrap();
    let args = container_args(&objects, "flux");
    for expected in [
        "--log-format=json",
        "--git-url=git@example.com:team/config.git",
        "--git-branch=main",
        "--git-path=clusters/prod",
        "--git-user=Config Bot",
        "--git-email=bot@example.com",
        "--git-label=prod-sync",
        "--git-poll-interval=1m",
        "--git-timeout=30s",
        "--git-ci-skip=true",
        "--git-verify-signatures-mode=first-parent",
        "--k8s-secret-name=my-deploy-key",
        "--k8s-secret-data-key=id_ed25519",
        "--git-known-hosts=/etc/fluxd/ssh-config/known_hosts",
        "--sync-state=secret",
        "--sync-interval=3m",
        "--sync-timeout=2m",
        "--automation-interval=10m",
        "--registry-rps=50",
        "--registry-burst=10",
        "--registry-exclude-image=k8s.gcr.io/*,quay.io/*",
        "--registry-include-image=registry.example.com/*",
        "--registry-insecure-host=registry.local:5000",
        "--registry-disable-scanning",
        "--sync-garbage-collection=true",
    ] {
        assert!(
            args.iter().any(|a| a == expected),
            "{expected} not in {args:?}"
        );
    }
    assert!(
        !args
            .iter()
            .any(|a| a.starts_with("--git-verify-signatures=")),
        "{args:?}"
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--memcached")),
        "{args:?}"
    );
    let ssh_config = mount_config_map(&objects, "flux-ssh-config");
    assert_fluxd_accepts_with(&args, Some(ssh_config.path()));
    assert_operator_accepts_with(
        &container_args(&objects, "flux-helm-operator"),
        Some(ssh_config.path()),
    );

    // Their own Secret: the chart makes none.
    assert!(!objects.iter().any(|o| o["kind"] == "Secret"));
    let deployment = object(&objects, "Deployment", "flux");
    let template = &deployment["spec"]["template"];
    assert_eq!(template["metadata"]["labels"]["team"], "platform");
    assert_eq!(
        template["metadata"]["annotations"]["example.com/owner"],
        "platform"
    );
    assert_eq!(
        template["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
    let pod = &template["spec"];
    assert_eq!(pod["nodeSelector"]["pool"], "system");
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert_eq!(
        pod["containers"][0]["image"],
        "registry.example.com/fluxd:0.1.0"
    );
    assert_eq!(
        pod["containers"][0]["resources"]["limits"]["memory"],
        "256Mi"
    );
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "extra")
    );
    let known_hosts = object(&objects, "ConfigMap", "flux-ssh-config");
    assert!(
        known_hosts["data"]["known_hosts"]
            .as_str()
            .unwrap()
            .starts_with("example.com ssh-ed25519 ")
    );
    assert_eq!(
        object(&objects, "Service", "flux")["spec"]["type"],
        "NodePort"
    );
    let monitor = object(&objects, "ServiceMonitor", "flux");
    assert_eq!(monitor["metadata"]["labels"]["team"], "platform");
    assert_eq!(monitor["spec"]["endpoints"][0]["interval"], "30s");
    // Default RBAC: the cluster-wide role of Flux's chart.
    let role = object(&objects, "ClusterRole", "flux");
    assert_eq!(role["rules"][0]["verbs"][0], "*");
    object(&objects, "ClusterRoleBinding", "flux");

    // helmOperator.createCRD: exactly the CRDs of deploy/crds, unchanged.
    let crds_dir = tests::tools::workspace_root().join("deploy/crds");
    let mut files: Vec<_> = std::fs::read_dir(&crds_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3);
    for file in files {
        let from_file: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let name = from_file["metadata"]["name"].as_str().unwrap();
        assert_eq!(
            object(&objects, "CustomResourceDefinition", name),
            &from_file,
            "{}",
            file.display()
        );
    }
}

#[test]
fn without_the_cluster_role_rbac_is_roles_in_the_allowed_namespaces_only() {
    let objects = render(
        "flux",
        &[
            "--set",
            "git.url=ssh://git@example.com/config",
            "--set",
            "clusterRole.create=false",
            "--set",
            "allowedNamespaces={demo,apps}",
            "--set",
            "helmOperator.create=true",
        ],
    )
    .unwrap();
    let mut roles: Vec<(String, String)> = objects
        .iter()
        .filter(|o| o["kind"] == "Role" || o["kind"] == "RoleBinding")
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["metadata"]["namespace"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    roles.sort();
    let expected: Vec<(String, String)> = ["Role", "RoleBinding"]
        .iter()
        .flat_map(|kind| {
            ["apps", "demo", "flux"]
                .iter()
                .map(move |ns| ((*kind).to_owned(), (*ns).to_owned()))
        })
        .collect();
    assert_eq!(roles, expected);
    let cluster_role = object(&objects, "ClusterRole", "flux-crd");
    let rules = serde_json::to_string(&cluster_role["rules"]).unwrap();
    assert!(
        rules.contains("customresourcedefinitions") && rules.contains("namespaces"),
        "{rules}"
    );
    assert!(!rules.contains("\"*\""), "{rules}");
    assert!(
        !objects
            .iter()
            .any(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "flux")
    );
    let args = container_args(&objects, "flux");
    assert_eq!(args[0], "--k8s-allow-namespace=demo,apps,flux");
    assert_fluxd_accepts(&args);
    let operator = container_args(&objects, "flux-helm-operator");
    assert!(
        operator
            .iter()
            .any(|a| a == "--allow-namespace=demo,apps,flux"),
        "{operator:?}"
    );
    assert_operator_accepts(&operator);
    let kubeconfig = object(&objects, "ConfigMap", "flux-kube-config")["data"]["config"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(kubeconfig.contains("namespace: flux"), "{kubeconfig}");
}

#[test]
fn additional_args_are_passed_through_in_order() {
    let objects = render(
        "flux",
        &[
            "--set",
            "git.url=ssh://git@example.com/config",
            "--set",
            "additionalArgs={--git-sync-tag=prod-sync,--k8s-unsafe-exclude-resource=v1/Event}",
            "--set",
            "helmOperator.create=true",
            "--set",
            "helmOperator.additionalArgs={--workers=3}",
            "--set",
            "helmOperator.helmVersion=3",
        ],
    )
    .unwrap();
    let args = container_args(&objects, "flux");
    assert_eq!(
        &args[args.len() - 2..],
        [
            "--git-sync-tag=prod-sync",
            "--k8s-unsafe-exclude-resource=v1/Event"
        ]
    );
    assert_fluxd_accepts(&args);
    let operator = container_args(&objects, "flux-helm-operator");
    assert_eq!(operator.last().map(String::as_str), Some("--workers=3"));
    assert!(
        operator.iter().any(|a| a == "--helm-binary=helm3"),
        "{operator:?}"
    );
    assert!(
        !operator.iter().any(|a| a.starts_with("--allow-namespace")),
        "{operator:?}"
    );
    assert_operator_accepts(&operator);
    // Without helmOperator.create: no operator, no CRDs.
    let objects = render("flux", &["--set", "git.url=ssh://git@example.com/config"]).unwrap();
    assert!(
        !objects
            .iter()
            .any(|o| o["kind"] == "CustomResourceDefinition"
                || o["metadata"]["name"] == "flux-helm-operator")
    );
}

#[test]
fn values_of_the_wrong_type_are_refused_by_the_schema() {
    for (set, path) in [
        ("rbac.create=yes", "/rbac/create"),
        ("git.pollInterval=often", "/git/pollInterval"),
        ("replicaCount=-1", "/replicaCount"),
        ("logFormat=xml", "/logFormat"),
        ("helmOperator.createCRD=maybe", "/helmOperator/createCRD"),
        ("sync.state=etcd", "/sync/state"),
        ("helmOperator.helmVersion=2", "/helmOperator/helmVersion"),
    ] {
        let error = render("flux", &["--set", set]).unwrap_err();
        assert!(error.contains(path), "{set}: {error}");
    }
    let error = render("flux", &["--set-json", "additionalArgs={\"a\":1}"]).unwrap_err();
    assert!(error.contains("/additionalArgs"), "{error}");
    let error = render("flux", &["--set-json", "allowedNamespaces=\"demo\""]).unwrap_err();
    assert!(error.contains("/allowedNamespaces"), "{error}");
    // A value fluxd does not act on renders Flux's argument, which fluxd
    // refuses with a message saying so.
    let objects = render(
        "flux",
        &[
            "--set",
            "git.url=ssh://git@example.com/config",
            "--set",
            "manifestGeneration=true",
        ],
    )
    .unwrap();
    let args = container_args(&objects, "flux");
    let flags =
        fluxd::Flags::from_command_line(std::iter::once("fluxd".to_owned()).chain(args)).unwrap();
    let error = fluxd::Config::from_flags(&flags).unwrap_err().to_string();
    assert!(error.contains("--manifest-generation"), "{error}");
    // Keys the chart does not know are ignored, as Helm ignores them.
    render(
        "flux",
        &["--set", "memcached.enabled=true", "--set", "someone.else=1"],
    )
    .unwrap();
}

#[test]
fn notes_print_the_seeds_command_for_the_key() {
    let home = tempfile::tempdir().unwrap();
    let output = helm(home.path())
        .args(["install", "flux"])
        .arg(chart_dir())
        .args(["-n", "flux", "--dry-run=client", "-f"])
        .arg(fixture("values.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let notes = stdout.split("NOTES:").nth(1).unwrap_or_default();
    assert!(
        notes
            .contains("kubectl -n flux logs deployment/flux | grep identity.pub | cut -d '\"' -f2"),
        "{notes}"
    );
    assert!(notes.contains("deployment/flux-helm-operator"), "{notes}");
}
