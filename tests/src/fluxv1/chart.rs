//! The arguments Flux v1's Helm charts give fluxd, rendered as their
//! templates render them (`chart/flux/templates/deployment.yaml`): the
//! current chart 1.13.3 (Flux 1.25.4) and the seed's 0.6.3 (Flux 1.10.1).

/// The flags of Flux v1 that the git write path of fluxd adds (ssh key
/// generation, signing, notes, commit messages); until it is in, these are
/// the only Flux flags this fluxd may not know. Tests of the charts'
/// arguments drop them while fluxd does not accept them, and keep them as
/// soon as it does.
pub const GIT_WRITE_FLAGS: &[&str] = &[
    "ssh-keygen-type",
    "ssh-keygen-bits",
    "ssh-keygen-format",
    "ssh-keygen-dir",
    "git-signing-key",
    "git-gpg-key-import",
    "git-verify-signatures",
    "git-verify-signatures-mode",
    "git-ci-skip",
    "git-ci-skip-message",
    "git-set-author",
    "git-notes-ref",
];

/// The values of chart 1.13.3 a test sets; everything else is the chart's
/// default.
#[derive(Debug, Clone)]
pub struct Values {
    /// The Helm release's name (`flux`).
    pub release: String,
    /// The release's namespace.
    pub release_namespace: String,
    /// `git.url`.
    pub git_url: String,
    /// `git.branch` (default `master`).
    pub git_branch: String,
    /// `git.path` (default empty).
    pub git_path: String,
    /// `git.pollInterval` (default `5m`), also the sync interval.
    pub git_poll_interval: String,
    /// `git.readonly`.
    pub git_readonly: bool,
    /// `clusterRole.create` (default true); false restricts fluxd to
    /// `allowed_namespaces` and the release's namespace.
    pub cluster_role: bool,
    /// `allowedNamespaces`.
    pub allowed_namespaces: Vec<String>,
    /// `defaultNamespace`.
    pub default_namespace: Option<String>,
    /// `syncGarbageCollection.enabled`.
    pub sync_garbage_collection: bool,
    /// `additionalArgs`.
    pub additional_args: Vec<String>,
}

impl Values {
    /// The chart's defaults for release `flux` in `namespace`, syncing `git_url`.
    pub fn new(namespace: &str, git_url: &str) -> Self {
        Self {
            release: "flux".to_owned(),
            release_namespace: namespace.to_owned(),
            git_url: git_url.to_owned(),
            git_branch: "master".to_owned(),
            git_path: String::new(),
            git_poll_interval: "5m".to_owned(),
            git_readonly: false,
            cluster_role: true,
            allowed_namespaces: Vec::new(),
            default_namespace: None,
            sync_garbage_collection: false,
            additional_args: Vec::new(),
        }
    }

    /// The chart's `flux.fullname`: the release name when it contains
    /// `flux`, else `<release>-flux`.
    pub fn fullname(&self) -> String {
        if self.release.contains("flux") {
            self.release.clone()
        } else {
            format!("{}-flux", self.release)
        }
    }
}

/// The container arguments of chart 1.13.3, in the template's order.
pub fn args_1_13_3(values: &Values) -> Vec<String> {
    let fullname = values.fullname();
    let mut args = Vec::new();
    if !values.cluster_role {
        let mut namespaces = values.allowed_namespaces.clone();
        namespaces.push(values.release_namespace.clone());
        args.push(format!("--k8s-allow-namespace={}", namespaces.join(",")));
    }
    if let Some(namespace) = &values.default_namespace {
        args.push(format!("--k8s-default-namespace={namespace}"));
    }
    args.extend([
        "--log-format=fmt".to_owned(),
        "--ssh-keygen-dir=/var/fluxd/keygen".to_owned(),
        "--ssh-keygen-format=RFC4716".to_owned(),
        format!("--k8s-secret-name={fullname}-git-deploy"),
        format!("--memcached-hostname={fullname}-memcached"),
        "--sync-state=git".to_owned(),
        "--memcached-service=".to_owned(),
        format!("--git-url={}", values.git_url),
        format!("--git-branch={}", values.git_branch),
        format!("--git-path={}", values.git_path),
        format!("--git-readonly={}", values.git_readonly),
        "--git-user=Weave Flux".to_owned(),
        "--git-email=support@weave.works".to_owned(),
        "--git-verify-signatures=false".to_owned(),
        "--git-set-author=false".to_owned(),
        format!("--git-poll-interval={}", values.git_poll_interval),
        "--git-timeout=20s".to_owned(),
        format!("--sync-interval={}", values.git_poll_interval),
        "--git-ci-skip=false".to_owned(),
        "--automation-interval=5m".to_owned(),
        "--registry-rps=200".to_owned(),
        "--registry-burst=125".to_owned(),
        "--registry-trace=false".to_owned(),
    ]);
    if values.sync_garbage_collection {
        args.push("--sync-garbage-collection=true".to_owned());
    }
    args.extend(values.additional_args.iter().cloned());
    args
}

/// The container arguments of chart 0.6.3 with the seed's values
/// (`git.pollInterval: 10s`, `registry.pollInterval: 200m`,
/// `registry.excludeImage: "*"`, `additionalArgs:
/// [--k8s-namespace-whitelist=demo]`), `demo` being `allowed`.
pub fn args_0_6_3_seed(git_url: &str, allowed: &str) -> Vec<String> {
    vec![
        "--ssh-keygen-dir=/var/fluxd/keygen".to_owned(),
        "--k8s-secret-name=flux-git-deploy".to_owned(),
        "--memcached-hostname=flux-memcached".to_owned(),
        "--memcached-service=".to_owned(),
        format!("--git-url={git_url}"),
        "--git-branch=master".to_owned(),
        "--git-path=".to_owned(),
        "--git-user=Weave Flux".to_owned(),
        "--git-email=support@weave.works".to_owned(),
        "--git-set-author=false".to_owned(),
        "--git-poll-interval=10s".to_owned(),
        "--git-timeout=20s".to_owned(),
        "--sync-interval=10s".to_owned(),
        "--git-ci-skip=false".to_owned(),
        "--registry-poll-interval=200m".to_owned(),
        "--registry-rps=200".to_owned(),
        "--registry-burst=125".to_owned(),
        "--registry-trace=false".to_owned(),
        "--registry-exclude-image=*".to_owned(),
        format!("--k8s-namespace-whitelist={allowed}"),
    ]
}

/// The kubeconfig chart 1.13.3 mounts (`kube.config`; with
/// `clusterRole.create=false` its namespace is the release's): a context
/// with a namespace, and no cluster.
pub fn kubeconfig(namespace: &str) -> String {
    format!(
        "apiVersion: v1\nclusters: []\ncontexts:\n- context:\n    cluster: \"\"\n    namespace: {namespace}\n    user: \"\"\n  name: default\ncurrent-context: default\nkind: Config\npreferences: {{}}\nusers: []\n"
    )
}

/// `args` without the flags this fluxd does not accept yet among
/// [`GIT_WRITE_FLAGS`] (`accepts` says whether it accepts a long name);
/// every other flag is kept, so a flag fluxd refuses to parse still fails.
pub fn accepted_now(args: &[String], accepts: impl Fn(&str) -> bool) -> Vec<String> {
    args.iter()
        .filter(|arg| {
            let name = arg
                .trim_start_matches('-')
                .split('=')
                .next()
                .unwrap_or_default();
            accepts(name) || !GIT_WRITE_FLAGS.contains(&name)
        })
        .cloned()
        .collect()
}
