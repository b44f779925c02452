//! The `helm` binary as a subprocess.
//!
//! [`Helm::detect`] runs `helm version` once and remembers whether the binary
//! is Helm 3 or Helm 4; every later call builds the flags for that version
//! ([`args`]). Helm runs with:
//!
//! - its cache, config and data homes in a directory the operator owns
//!   (never the user's home), and every other `HELM_*` variable cleared;
//! - the operator's own credentials: `KUBECONFIG` when a path is configured,
//!   otherwise whatever helm finds (the in-cluster service account in a pod);
//! - values in a 0600 temporary file, never on the command line.
//!
//! Every invocation is counted ([`Helm::invocations`]), which is how tests and
//! benchmarks prove that an unchanged resync runs helm zero times.
//!
//! [`Helm::terminate`] stops every running helm (the operator's shutdown,
//! once its grace is over): SIGTERM first, which makes Helm 3 and 4 record an
//! interrupted install or upgrade as `failed` instead of leaving it
//! `pending-*`, then SIGKILL after [`TERM_GRACE`].

pub(crate) mod args;
mod output;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub(crate) use args::UpgradeRequest;
pub use output::HelmMajor;
pub(crate) use output::{
    HistoryEntry, ReleaseInfo, error_summary, is_release_not_found, parse_history, parse_release,
    parse_version,
};
use serde_json::{Map, Value};

use crate::Error;
use crate::model::RollbackPolicy;

/// Extra time given to a helm process beyond its own `--timeout` before it
/// is killed.
const KILL_GRACE: Duration = Duration::from_secs(120);
/// Time limit of helm calls that do not take a `--timeout`.
const SHORT_CALL: Duration = Duration::from_secs(300);
/// How long a helm sent SIGTERM has to exit before it is killed.
pub const TERM_GRACE: Duration = Duration::from_secs(5);

/// How to run helm.
#[derive(Clone, Debug)]
pub struct HelmSettings {
    /// The binary (`helm` on `PATH` by default).
    pub binary: PathBuf,
    /// Directory for helm's cache, config and data homes.
    pub home: PathBuf,
    /// Kubeconfig helm uses; `None` lets helm find its own (in-cluster).
    pub kubeconfig: Option<PathBuf>,
}

/// A detected helm binary.
#[derive(Clone, Debug)]
pub struct Helm {
    settings: HelmSettings,
    major: HelmMajor,
    version: semver::Version,
    invocations: Arc<AtomicU64>,
    terminating: Arc<tokio::sync::watch::Sender<bool>>,
}

/// What a finished helm process left behind.
#[derive(Debug)]
struct Finished {
    stdout: String,
    stderr: String,
    success: bool,
    status: String,
}

impl Helm {
    /// Runs `helm version` and prepares helm's home directories.
    pub async fn detect(settings: HelmSettings) -> Result<Self, Error> {
        for dir in ["cache", "config", "data"] {
            let path = settings.home.join(dir);
            tokio::fs::create_dir_all(&path)
                .await
                .map_err(|e| Error::io(format!("creating helm home {}", path.display()), e))?;
        }
        let mut helm = Self {
            settings,
            major: HelmMajor::V3,
            version: semver::Version::new(0, 0, 0),
            invocations: Arc::new(AtomicU64::new(0)),
            terminating: Arc::new(tokio::sync::watch::Sender::new(false)),
        };
        let args: Vec<OsString> = ["version", "--template", "{{.Version}}"]
            .iter()
            .map(OsString::from)
            .collect();
        let finished = helm
            .run_raw(&args, SHORT_CALL)
            .await
            .map_err(|e| Error::HelmBinary {
                binary: helm.settings.binary.clone(),
                reason: e.to_string(),
            })?;
        if !finished.success {
            return Err(Error::HelmBinary {
                binary: helm.settings.binary.clone(),
                reason: format!(
                    "`helm version` failed ({}): {}",
                    finished.status,
                    error_summary(&finished.stderr)
                ),
            });
        }
        let (major, version) =
            parse_version(&finished.stdout).map_err(|reason| Error::HelmBinary {
                binary: helm.settings.binary.clone(),
                reason,
            })?;
        helm.major = major;
        helm.version = version;
        tracing::info!(binary = %helm.settings.binary.display(), version = %helm.version, "helm detected");
        Ok(helm)
    }

    /// Helm 3 or Helm 4.
    pub fn major(&self) -> HelmMajor {
        self.major
    }

    /// The full version.
    pub fn version(&self) -> &semver::Version {
        &self.version
    }

    /// How many helm processes were started so far (the version check included).
    pub fn invocations(&self) -> u64 {
        self.invocations.load(Ordering::Relaxed)
    }

    /// The settings helm runs with.
    pub fn settings(&self) -> &HelmSettings {
        &self.settings
    }

    /// Stops every helm process running now or started later: SIGTERM, then
    /// SIGKILL after [`TERM_GRACE`]. Their calls fail with "stopped".
    pub fn terminate(&self) {
        self.terminating.send_replace(true);
    }

    /// `helm upgrade --install`; the release as helm reports it.
    pub async fn upgrade_install(
        &self,
        request: &UpgradeRequest<'_>,
    ) -> Result<ReleaseInfo, Error> {
        let args = args::upgrade(self.major, request);
        let finished = self
            .run_checked(&args, request.options.timeout + KILL_GRACE)
            .await?;
        parse_release("upgrade", &finished.stdout)
    }

    /// `helm rollback` to `revision` (the previous one when `None`).
    pub async fn rollback(
        &self,
        release_name: &str,
        namespace: &str,
        revision: Option<i64>,
        policy: &RollbackPolicy,
    ) -> Result<(), Error> {
        let args = args::rollback(self.major, release_name, namespace, revision, policy);
        self.run_checked(&args, policy.timeout + KILL_GRACE).await?;
        Ok(())
    }

    /// `helm uninstall`; `false` when there was no such release.
    pub async fn uninstall(
        &self,
        release_name: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<bool, Error> {
        let args = args::uninstall(release_name, namespace, timeout);
        match self.run_checked(&args, timeout + KILL_GRACE).await {
            Ok(_) => Ok(true),
            Err(Error::HelmCommand { stderr, .. }) if is_release_not_found(&stderr) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `helm status -o json`; `None` when there is no such release.
    pub async fn status(
        &self,
        release_name: &str,
        namespace: &str,
    ) -> Result<Option<ReleaseInfo>, Error> {
        let args = args::status(release_name, namespace);
        match self.run_checked(&args, SHORT_CALL).await {
            Ok(finished) => parse_release("status", &finished.stdout).map(Some),
            Err(Error::HelmCommand { stderr, .. }) if is_release_not_found(&stderr) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `helm history -o json`; empty when there is no such release.
    pub async fn history(
        &self,
        release_name: &str,
        namespace: &str,
    ) -> Result<Vec<HistoryEntry>, Error> {
        let args = args::history(release_name, namespace);
        match self.run_checked(&args, SHORT_CALL).await {
            Ok(finished) => parse_history("history", &finished.stdout),
            Err(Error::HelmCommand { stderr, .. }) if is_release_not_found(&stderr) => {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// `helm get values -o json`: the user-supplied values of the release.
    pub async fn get_values(
        &self,
        release_name: &str,
        namespace: &str,
    ) -> Result<Map<String, Value>, Error> {
        let args = args::get_values(release_name, namespace);
        let finished = self.run_checked(&args, SHORT_CALL).await?;
        let value: Value =
            serde_json::from_str(finished.stdout.trim()).map_err(|e| Error::HelmOutput {
                command: "get values".to_owned(),
                reason: e.to_string(),
            })?;
        match value {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Map::new()),
            _ => Err(Error::HelmOutput {
                command: "get values".to_owned(),
                reason: "values are not a JSON object".to_owned(),
            }),
        }
    }

    /// `helm dependency update` (or `build` when the chart has a lock file).
    pub async fn dependency_update(&self, chart_dir: &Path) -> Result<(), Error> {
        let locked =
            chart_dir.join("Chart.lock").is_file() || chart_dir.join("requirements.lock").is_file();
        let args = args::dependency(chart_dir, locked);
        match self.run_checked(&args, SHORT_CALL).await {
            Ok(_) => Ok(()),
            // A stale lock file: rebuild it from Chart.yaml.
            Err(Error::HelmCommand { .. }) if locked => self
                .run_checked(&args::dependency(chart_dir, false), SHORT_CALL)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        }
    }

    /// `helm test`.
    pub async fn test(
        &self,
        release_name: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<(), Error> {
        let args = args::test(release_name, namespace, timeout);
        self.run_checked(&args, timeout + KILL_GRACE)
            .await
            .map(|_| ())
    }

    /// `helm pull oci://...` into `destination`, using `registry_config` for
    /// credentials when given; the path of the archive.
    pub async fn pull_oci(
        &self,
        reference: &str,
        version: &str,
        destination: &Path,
        registry_config: Option<&Path>,
        plain_http: bool,
    ) -> Result<PathBuf, Error> {
        let mut args = args::pull_oci(reference, version, destination);
        if let Some(config) = registry_config {
            args.push("--registry-config".into());
            args.push(config.as_os_str().to_owned());
        }
        if plain_http {
            args.push("--plain-http".into());
        }
        self.run_checked(&args, SHORT_CALL).await?;
        let mut entries = tokio::fs::read_dir(destination)
            .await
            .map_err(|e| Error::io(format!("listing {}", destination.display()), e))?;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| Error::io(format!("listing {}", destination.display()), e))?
        {
            if entry.path().extension().is_some_and(|ext| ext == "tgz") {
                return Ok(entry.path());
            }
        }
        Err(Error::HelmOutput {
            command: "pull".to_owned(),
            reason: format!("no chart archive in {}", destination.display()),
        })
    }

    /// `helm registry login` with the password on stdin, into `registry_config`.
    pub async fn registry_login(
        &self,
        host: &str,
        username: &str,
        password: &str,
        registry_config: &Path,
        plain_http: bool,
    ) -> Result<(), Error> {
        let mut args: Vec<OsString> = [
            "registry",
            "login",
            host,
            "--username",
            username,
            "--password-stdin",
            "--registry-config",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.push(registry_config.as_os_str().to_owned());
        if plain_http {
            args.push("--plain-http".into());
        }
        let finished = self
            .run(&args, SHORT_CALL, Some(password.as_bytes()))
            .await?;
        if finished.success {
            Ok(())
        } else {
            Err(Error::HelmCommand {
                command: format!("registry login {host}"),
                status: finished.status,
                stderr: error_summary(&finished.stderr),
            })
        }
    }

    async fn run_checked(&self, args: &[OsString], limit: Duration) -> Result<Finished, Error> {
        let finished = self.run(args, limit, None).await?;
        if finished.success {
            Ok(finished)
        } else {
            Err(Error::HelmCommand {
                command: args::describe(args),
                status: finished.status,
                stderr: error_summary(&finished.stderr),
            })
        }
    }

    async fn run(
        &self,
        args: &[OsString],
        limit: Duration,
        stdin: Option<&[u8]>,
    ) -> Result<Finished, Error> {
        self.run_raw_with_input(args, limit, stdin).await
    }

    async fn run_raw(&self, args: &[OsString], limit: Duration) -> Result<Finished, Error> {
        self.run_raw_with_input(args, limit, None).await
    }

    async fn run_raw_with_input(
        &self,
        args: &[OsString],
        limit: Duration,
        stdin: Option<&[u8]>,
    ) -> Result<Finished, Error> {
        use tokio::io::AsyncWriteExt;

        let described = args::describe(args);
        self.invocations.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(command = %described, "running helm");
        let mut command = tokio::process::Command::new(&self.settings.binary);
        command
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HELM_") {
                command.env_remove(key);
            }
        }
        let home = &self.settings.home;
        command
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env("HELM_DRIVER", "secret");
        if let Some(kubeconfig) = &self.settings.kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        let mut child = command.spawn().map_err(|e| Error::HelmBinary {
            binary: self.settings.binary.clone(),
            reason: format!("cannot start it: {e}"),
        })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input)
                .await
                .map_err(|e| Error::io(format!("writing to helm {described}"), e))?;
            drop(pipe);
        }
        let pid = child.id();
        let mut terminating = self.terminating.subscribe();
        let stopped = async move {
            let _ = terminating.wait_for(|stop| *stop).await;
        };
        let output = child.wait_with_output();
        tokio::pin!(output);
        let result = tokio::select! {
            done = tokio::time::timeout(limit, &mut output) => match done {
                Ok(output) => output,
                Err(_) => {
                    return Err(Error::HelmCommand {
                        command: described,
                        status: "killed".to_owned(),
                        stderr: format!("did not finish within {limit:?}"),
                    });
                }
            },
            () = stopped => {
                tracing::info!(command = %described, "stopping helm: the operator is shutting down");
                if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()).and_then(rustix::process::Pid::from_raw) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                }
                match tokio::time::timeout(TERM_GRACE, &mut output).await {
                    Ok(Ok(output)) => {
                        return Err(Error::HelmCommand {
                            command: described,
                            status: "stopped".to_owned(),
                            stderr: format!(
                                "stopped by the operator's shutdown: {}",
                                error_summary(&String::from_utf8_lossy(&output.stderr))
                            ),
                        });
                    }
                    // Dropping the child (kill_on_drop) kills it.
                    _ => {
                        return Err(Error::HelmCommand {
                            command: described,
                            status: "killed".to_owned(),
                            stderr: "killed by the operator's shutdown".to_owned(),
                        });
                    }
                }
            }
        };
        let output = result.map_err(|e| Error::io(format!("waiting for helm {described}"), e))?;
        Ok(Finished {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            success: output.status.success(),
            status: output.status.to_string(),
        })
    }
}

/// Writes values to a 0600 temporary file for `--values`.
pub(crate) fn write_values_file(
    dir: &Path,
    values: &Map<String, Value>,
) -> Result<tempfile::NamedTempFile, Error> {
    use std::io::Write;

    let mut file = tempfile::Builder::new()
        .prefix("values-")
        .suffix(".json")
        .tempfile_in(dir)
        .map_err(|e| Error::io(format!("creating a values file in {}", dir.display()), e))?;
    let json = serde_json::to_vec(values).map_err(|e| Error::HelmOutput {
        command: "values".to_owned(),
        reason: e.to_string(),
    })?;
    file.write_all(&json)
        .and_then(|()| file.flush())
        .map_err(|e| Error::io(format!("writing {}", file.path().display()), e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn values_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut values = Map::new();
        values.insert("password".into(), "s3cret".into());
        let file = write_values_file(dir.path(), &values).unwrap();
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let back: Value = serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
        assert_eq!(back["password"], "s3cret");
    }
}
