//! fluxd as a pod would run it, without a kubelet: in a private mount
//! namespace where `/run/secrets/kubernetes.io/serviceaccount` holds a real
//! ServiceAccount token, the cluster's CA and the namespace, where `/etc` is
//! a private copy holding the mounted Secret (Flux's chart mounts the deploy
//! key at `/etc/fluxd/ssh`) and the ssh known hosts, and with
//! `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT` pointing at the
//! test control plane, as the kubelet sets them.
//!
//! Needs root and `unshare` (util-linux), as the tests' sshd does; nothing
//! outside the namespace sees the mounts.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;
use crate::controlplane::ControlPlane;
use crate::fluxd::FluxdCommand;

/// Where the kubelet mounts a pod's ServiceAccount.
pub const SERVICE_ACCOUNT_DIR: &str = "/run/secrets/kubernetes.io/serviceaccount";

/// The files of one pod: its `/run` and `/etc`, and its environment.
#[derive(Debug)]
pub struct Pod {
    dir: tempfile::TempDir,
    namespace: String,
    env: Vec<(OsString, OsString)>,
    /// emptyDir volumes under `/var`: made in a private overlay of `/var`.
    empty_dirs: Vec<String>,
}

impl Pod {
    /// A pod of ServiceAccount `namespace/account` (which must exist) in
    /// `cluster`: a fresh token minted for it, the CA, the namespace file.
    pub async fn new(
        cluster: &ControlPlane,
        namespace: &str,
        account: &str,
    ) -> Result<Self, Error> {
        let token = cluster.service_account_token(namespace, account).await?;
        let dir = tempfile::Builder::new()
            .prefix("fluxd-pod-")
            .tempdir()
            .map_err(|e| Error::io("creating a pod's directory", e))?;
        let service_account = dir.path().join("run").join(
            SERVICE_ACCOUNT_DIR
                .strip_prefix("/run/")
                .unwrap_or(SERVICE_ACCOUNT_DIR),
        );
        std::fs::create_dir_all(&service_account)
            .map_err(|e| Error::io("creating the ServiceAccount mount", e))?;
        for (name, content) in [
            ("token", token.as_str()),
            ("ca.crt", cluster.ca_pem()),
            ("namespace", namespace),
        ] {
            write_file(&service_account.join(name), content.as_bytes(), 0o644)?;
        }
        let etc = dir.path().join("etc");
        let copied = Command::new("cp")
            .args(["-a", "/etc"])
            .arg(&etc)
            .status()
            .map_err(|e| Error::io("copying /etc for a pod", e))?;
        if !copied.success() {
            return Err(Error::invalid("copying /etc for a pod", copied.to_string()));
        }
        let url = cluster.url();
        let address = url.strip_prefix("https://").unwrap_or(url);
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| Error::invalid("the control plane's URL", url.to_owned()))?;
        Ok(Self {
            dir,
            namespace: namespace.to_owned(),
            empty_dirs: Vec::new(),
            env: vec![
                ("KUBERNETES_SERVICE_HOST".into(), host.into()),
                (
                    "KUBERNETES_SERVICE_PORT".into(),
                    port.trim_end_matches('/').into(),
                ),
            ],
        })
    }

    /// The pod's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Writes `content` at `path` (absolute, under `/etc`) in the pod's own
    /// `/etc`, with `mode`: a mounted Secret's file, known hosts, ...
    pub fn write_etc(&self, path: &str, content: &[u8], mode: u32) -> Result<PathBuf, Error> {
        let relative = path
            .strip_prefix("/etc/")
            .ok_or_else(|| Error::invalid(path, "a pod's files here live under /etc"))?;
        let file = self.dir.path().join("etc").join(relative);
        write_file(&file, content, mode)?;
        Ok(file)
    }

    /// Creates the directory `path` (absolute, under `/etc`) in the pod's own
    /// `/etc`: a volume mounted with no files in it yet (an empty Secret).
    pub fn make_etc_dir(&self, path: &str) -> Result<PathBuf, Error> {
        let relative = path
            .strip_prefix("/etc/")
            .ok_or_else(|| Error::invalid(path, "a pod's files here live under /etc"))?;
        let dir = self.dir.path().join("etc").join(relative);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok(dir)
    }

    /// Writes a file outside the pod's mounts (a kubeconfig to point
    /// `KUBECONFIG` at) and returns its path.
    pub fn write_file(&self, name: &str, content: &[u8]) -> Result<PathBuf, Error> {
        let file = self.dir.path().join("files").join(name);
        write_file(&file, content, 0o600)?;
        Ok(file)
    }

    /// Adds an environment variable of the pod's container.
    #[must_use]
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds an emptyDir volume mounted at `path` (absolute, under `/var`):
    /// the pod sees `/var` through a private overlay (in the pod's directory)
    /// where `path` is a fresh empty directory; the machine's `/var` is
    /// unchanged.
    pub fn with_empty_dir(mut self, path: &str) -> Result<Self, Error> {
        if !path.starts_with("/var/") || path.contains("..") || path.contains('\'') {
            return Err(Error::invalid(
                path,
                "a pod's emptyDir volumes here live under /var",
            ));
        }
        for dir in ["var-upper", "var-work"] {
            std::fs::create_dir_all(self.dir.path().join(dir))
                .map_err(|e| Error::io("creating the pod's /var overlay", e))?;
        }
        self.empty_dirs.push(path.to_owned());
        Ok(self)
    }

    /// `command`, run in this pod.
    pub fn run(&self, mut command: FluxdCommand) -> FluxdCommand {
        for (key, value) in &self.env {
            command = command.env(key, value);
        }
        let mut script = String::from("mount --bind \"$1\" /run && mount --bind \"$2\" /etc && ");
        if !self.empty_dirs.is_empty() {
            let upper = self.dir.path().join("var-upper");
            let work = self.dir.path().join("var-work");
            script.push_str(&format!(
                "mount -t overlay overlay -o 'lowerdir=/var,upperdir={},workdir={}' /var && ",
                upper.display(),
                work.display()
            ));
            for dir in &self.empty_dirs {
                script.push_str(&format!("rm -rf '{dir}' && mkdir -p '{dir}' && "));
            }
        }
        script.push_str("shift 2 && exec \"$@\"");
        command.wrapper = vec![
            "unshare".into(),
            "-m".into(),
            "--propagation".into(),
            "private".into(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            script.into(),
            "sh".into(),
            self.dir.path().join("run").into_os_string(),
            self.dir.path().join("etc").into_os_string(),
        ];
        command
    }
}

fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    std::fs::write(path, content)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(format!("setting the mode of {}", path.display()), e))
}
