//! The Helm operator's flags: `fluxd helm-operator` takes Flux's
//! helm-operator 1.4 flags with their defaults, and the 0.x operator's flags
//! that the seed-era chart passes (Tiller's are accepted, logged once, and
//! ignored; `--git-url`, `--git-branch` and `--git-charts-path` give
//! FluxHelmRelease charts from the daemon's repository). The flags that tune
//! the operator ([`OperatorTuning`]) are also the daemon's, for
//! `fluxd --helm-operator`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};

use crate::api::parse_go_duration;
use crate::{Error, LogFormat, MAX_FLAG_DURATION};

/// What tunes the Helm operator, in either form (`fluxd helm-operator`, or
/// `fluxd --helm-operator` beside the daemon).
#[derive(Clone, Debug, Args)]
#[non_exhaustive]
pub struct OperatorTuning {
    /// How often every HelmRelease is checked against its Helm release.
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = positive_duration)]
    pub charts_sync_interval: Duration,

    /// How often status.releaseStatus is refreshed from Helm's storage.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub status_update_interval: Duration,

    /// Run `helm dependency update` for charts from git before releasing them.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub update_chart_deps: bool,

    /// Log what changes in a release's values before upgrading it (values
    /// read from Secrets are masked).
    #[arg(long, value_name = "BOOL", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub log_release_diffs: bool,

    /// HelmReleases reconciled at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub workers: usize,

    /// Git ref of chart sources that name none.
    #[arg(long, value_name = "REF", default_value = "master")]
    pub git_default_ref: String,

    /// The helm binary (Helm 3 or 4).
    #[arg(long, value_name = "FILE", default_value = "helm")]
    pub helm_binary: PathBuf,

    /// The operator's own directory (made private, 0700): helm's homes, chart
    /// downloads, git mirrors. Default: $XDG_STATE_HOME/fluxd/helm-operator,
    /// else ~/.local/state/fluxd/helm-operator.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// ssh hosts (`host` or `host:port`) the deploy key may be offered to for
    /// chart sources, besides the daemon's own repository; others need their
    /// own key in chart.secretRef. Repeat or separate with commas.
    #[arg(long, value_name = "HOST", value_delimiter = ',')]
    pub git_ssh_allowed_hosts: Vec<String>,

    /// Let HelmReleases take charts from paths and file:// URLs on the
    /// operator's machine.
    #[arg(long)]
    pub git_allow_local: bool,

    /// Let HelmReleases point chart repositories, values URLs, OCI registries
    /// and git remotes at loopback and link-local addresses (the node, the
    /// cloud metadata service).
    #[arg(long)]
    pub allow_internal_urls: bool,

    /// OCI registries (`host:port`) reached over plain HTTP. Repeat or
    /// separate with commas.
    #[arg(long, value_name = "HOST", value_delimiter = ',')]
    pub oci_plain_http_host: Vec<String>,

    /// How long releases in progress may go on after SIGTERM before their
    /// helm processes are stopped.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = positive_duration)]
    pub shutdown_grace: Duration,

    /// Where Helm 2 (Tiller) kept its releases: looked at so that a Helm 2
    /// release is never installed a second time (there is no Tiller here).
    #[arg(long, value_name = "NAMESPACE", default_value = "kube-system")]
    pub tiller_namespace: String,

    /// Path in the daemon's repository FluxHelmRelease's chartGitPath is relative to.
    #[arg(long, value_name = "PATH", default_value = "charts")]
    pub git_charts_path: String,
}

/// `fluxd helm-operator`: the Helm operator alone, as its own Deployment.
#[derive(Clone, Debug, Args)]
#[non_exhaustive]
pub struct HelmOperatorFlags {
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, then the
    /// in-cluster ServiceAccount).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Address of the Kubernetes API server (accepted for helm-operator's
    /// command lines; the kubeconfig's is used).
    #[arg(long, value_name = "URL", hide = true)]
    pub master: Option<String>,

    /// Watch HelmReleases in this namespace only (helm-operator's one
    /// namespace; a comma list is accepted too). Default: all namespaces.
    #[arg(long, value_name = "NAMESPACE", value_delimiter = ',')]
    pub allow_namespace: Vec<String>,

    /// Where /metrics, /healthz and POST /api/v1/sync-git are served.
    #[arg(short = 'l', long, value_name = "ADDR", default_value = ":3030")]
    pub listen: String,

    /// Timeout of each git network operation.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = positive_duration)]
    pub git_timeout: Duration,

    /// How often git chart sources are fetched.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = positive_duration)]
    pub git_poll_interval: Duration,

    /// The daemon's repository, for FluxHelmRelease charts (the 0.x operator's flag).
    #[arg(long, value_name = "URL")]
    pub git_url: Option<String>,

    /// Branch of --git-url.
    #[arg(long, value_name = "BRANCH", default_value = "master")]
    pub git_branch: String,

    /// Directory the deploy-key Secret is mounted at.
    #[arg(long, value_name = "DIR", default_value = "/etc/fluxd/ssh")]
    pub k8s_secret_volume_mount_path: PathBuf,

    /// File in --k8s-secret-volume-mount-path holding the ssh private key.
    #[arg(long, value_name = "KEY", default_value = "identity")]
    pub k8s_secret_data_key: String,

    /// ssh private key file (default: the mounted deploy key, when it exists).
    #[arg(long, value_name = "FILE")]
    pub git_ssh_key: Option<PathBuf>,

    /// known_hosts file ssh host keys are checked against
    /// (default: /etc/ssh/ssh_known_hosts, when it exists).
    #[arg(long, value_name = "FILE")]
    pub git_known_hosts: Option<PathBuf>,

    /// Log format: fmt (logfmt, as helm-operator wrote it) or json.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "fmt")]
    pub log_format: LogFormat,

    /// Log level or filter (`info`, `debug`, `helmops=debug`); RUST_LOG overrides it.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log_level: String,

    /// Helm versions to run releases with (helm-operator's flag; only v3 is
    /// run here: Helm 2 releases get a condition saying how to migrate).
    #[arg(
        long,
        value_name = "VERSIONS",
        value_delimiter = ',',
        env = "HELM_VERSION"
    )]
    pub enabled_helm_versions: Vec<String>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub tuning: OperatorTuning,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub tiller: TillerFlags,
}

/// Flags of Helm 2's Tiller and of helm-operator's 2to3 conversion: accepted
/// so existing command lines start the operator, and ignored (logged once).
#[derive(Clone, Debug, Default, Args)]
#[non_exhaustive]
#[allow(missing_docs)]
pub struct TillerFlags {
    #[arg(long, hide = true)]
    pub tiller_ip: Option<String>,
    #[arg(long, hide = true)]
    pub tiller_port: Option<String>,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub tiller_tls_enable: Option<String>,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub tiller_tls_verify: Option<String>,
    #[arg(long, hide = true)]
    pub tiller_tls_key_path: Option<String>,
    #[arg(long, hide = true)]
    pub tiller_tls_cert_path: Option<String>,
    #[arg(long, hide = true)]
    pub tiller_tls_ca_cert_path: Option<String>,
    #[arg(long, hide = true)]
    pub tiller_tls_hostname: Option<String>,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub convert_tiller_out_cluster: Option<String>,
    #[arg(long, hide = true)]
    pub convert_release_storage: Option<String>,
    #[arg(long, hide = true, value_delimiter = ',')]
    pub helm_repository_import: Vec<String>,
}

impl TillerFlags {
    /// The Tiller and conversion flags that were given, by name.
    pub fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        let flags: [(&'static str, bool); 11] = [
            ("--tiller-ip", self.tiller_ip.is_some()),
            ("--tiller-port", self.tiller_port.is_some()),
            ("--tiller-tls-enable", self.tiller_tls_enable.is_some()),
            ("--tiller-tls-verify", self.tiller_tls_verify.is_some()),
            ("--tiller-tls-key-path", self.tiller_tls_key_path.is_some()),
            (
                "--tiller-tls-cert-path",
                self.tiller_tls_cert_path.is_some(),
            ),
            (
                "--tiller-tls-ca-cert-path",
                self.tiller_tls_ca_cert_path.is_some(),
            ),
            ("--tiller-tls-hostname", self.tiller_tls_hostname.is_some()),
            (
                "--convert-tiller-out-cluster",
                self.convert_tiller_out_cluster.is_some(),
            ),
            (
                "--convert-release-storage",
                self.convert_release_storage.is_some(),
            ),
            (
                "--helm-repository-import",
                !self.helm_repository_import.is_empty(),
            ),
        ];
        for (flag, set) in flags {
            if set {
                given.push(flag);
            }
        }
        given
    }
}

/// Go's listen address (`:3030` is every interface, `host:port` one).
pub(crate) fn parse_listen(text: &str) -> Result<SocketAddr, Error> {
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    full.parse().map_err(|_| {
        Error::flag(
            "--listen",
            format!("{text:?} is not an address (write it like :3030 or 127.0.0.1:3030)"),
        )
    })
}

/// A Go duration that is positive and at most a year.
fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_go_duration(text)?;
    if duration.is_zero() {
        return Err(format!("{text:?} is zero; give a positive duration"));
    }
    if duration > MAX_FLAG_DURATION {
        return Err(format!("{text:?} is longer than a year (8760h)"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Command, Flags};

    fn operator(args: &[&str]) -> Result<HelmOperatorFlags, clap::Error> {
        let flags = Flags::try_parse_from(
            ["fluxd", "helm-operator"]
                .into_iter()
                .chain(args.iter().copied()),
        )?;
        match flags.command {
            Some(Command::HelmOperator(flags)) => Ok(*flags),
            None => panic!("no subcommand"),
        }
    }

    #[test]
    fn helm_operator_defaults() {
        let flags = operator(&[]).unwrap();
        let t = &flags.tuning;
        assert_eq!(t.charts_sync_interval, Duration::from_secs(180));
        assert_eq!(t.status_update_interval, Duration::from_secs(10));
        assert!(t.update_chart_deps && !t.log_release_diffs);
        assert_eq!(t.workers, 2);
        assert_eq!(t.git_default_ref, "master");
        assert_eq!(flags.listen, ":3030");
        assert_eq!(flags.git_timeout, Duration::from_secs(20));
        assert_eq!(flags.git_poll_interval, Duration::from_secs(300));
        assert_eq!(flags.log_format, LogFormat::Fmt);
        assert_eq!(t.tiller_namespace, "kube-system");
        assert_eq!(t.git_charts_path, "charts");
        assert!(flags.allow_namespace.is_empty());
        assert!(flags.tiller.given().is_empty());
    }

    /// The arguments Flux's 0.6 chart renders for its helm-operator, and
    /// helm-operator 1.4's chart's, start the operator.
    #[test]
    fn the_charts_arguments_parse() {
        let old = operator(&[
            "--git-timeout=20s",
            "--charts-sync-interval=3m",
            "--update-chart-deps=false",
            "--log-release-diffs=false",
            "--allow-namespace=demo",
            "--tiller-namespace=kube-system",
            "--tiller-tls-enable",
            "--tiller-tls-key-path=/etc/fluxd/helm/tls.key",
            "--tiller-tls-cert-path=/etc/fluxd/helm/tls.crt",
            "--tiller-tls-verify",
            "--tiller-tls-ca-cert-path=/etc/fluxd/helm-ca/ca.crt",
            "--git-url=ssh://git@github.com/stakater/flux-helm-test",
            "--git-branch=master",
            "--git-charts-path=charts",
        ])
        .unwrap();
        assert!(!old.tuning.update_chart_deps);
        assert_eq!(old.allow_namespace, ["demo"]);
        assert_eq!(old.tiller.given().len(), 5);
        let new = operator(&[
            "--enabled-helm-versions=v3",
            "--log-format=json",
            "--git-timeout=20s",
            "--git-poll-interval=5m",
            "--git-default-ref=main",
            "--charts-sync-interval=3m",
            "--status-update-interval=30s",
            "--update-chart-deps=true",
            "--log-release-diffs=false",
            "--workers=4",
            "--allow-namespace=flux",
            "--tiller-ip=localhost",
            "--tiller-port=44134",
        ])
        .unwrap();
        assert_eq!(new.tuning.workers, 4);
        assert_eq!(new.enabled_helm_versions, ["v3"]);
        assert_eq!(new.log_format, LogFormat::Json);
        assert_eq!(new.tuning.status_update_interval, Duration::from_secs(30));
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, flag) in [
            (&["--workers=x"][..], "--workers"),
            (&["--charts-sync-interval=0"][..], "--charts-sync-interval"),
            (&["--log-format=xml"][..], "--log-format"),
            (&["--update-chart-deps=maybe"][..], "--update-chart-deps"),
        ] {
            let error = operator(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
        assert_eq!(
            parse_listen(":3030").unwrap(),
            "0.0.0.0:3030".parse::<SocketAddr>().unwrap()
        );
        assert!(parse_listen("nowhere").is_err());
    }
}
