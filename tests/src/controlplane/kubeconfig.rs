//! A kubeconfig for one user of a test control plane, and everything that runs
//! as that user: `kube` clients, `kubectl`, `helm`, server-side apply of YAML.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};

use crate::Error;

/// Field manager of everything the fixtures apply.
pub const FIELD_MANAGER: &str = "fluxrs-tests";

/// One user's access to a control plane: a kubeconfig file (server URL, CA
/// data, bearer token, default namespace), the client configuration read
/// from it, and a private directory for the caches and state of the CLIs run
/// as that user (so tests never touch `$HOME`).
///
/// It holds no [`kube::Client`]: a client is tied to the tokio runtime that
/// built it, and every `#[tokio::test]` has its own, so [`Kubeconfig::client`]
/// builds a cheap new one on the caller's runtime.
#[derive(Debug)]
pub struct Kubeconfig {
    user: String,
    namespace: String,
    dir: tempfile::TempDir,
    path: PathBuf,
    config: kube::Config,
}

impl Kubeconfig {
    /// Writes a kubeconfig for `user` (authenticated by `token`) into a new
    /// directory under `parent` and reads it back as a client configuration.
    pub(crate) async fn create(
        parent: &Path,
        server: &str,
        ca_pem: &str,
        user: &str,
        token: &str,
        namespace: &str,
    ) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("user-")
            .tempdir_in(parent)
            .map_err(|e| Error::io(format!("creating a directory in {}", parent.display()), e))?;
        let path = dir.path().join("kubeconfig");
        let contents = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{
                "name": "fluxrs-test",
                "cluster": {
                    "server": server,
                    "certificate-authority-data":
                        base64::engine::general_purpose::STANDARD.encode(ca_pem),
                },
            }],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{
                "name": "fluxrs-test",
                "context": {"cluster": "fluxrs-test", "user": user, "namespace": namespace},
            }],
            "current-context": "fluxrs-test",
        });
        write_private(&path, contents.to_string().as_bytes())?;

        let file = kube::config::Kubeconfig::read_from(&path).map_err(|e| Error::Kubeconfig {
            context: format!("reading {}", path.display()),
            source: Box::new(e),
        })?;
        let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
            .await
            .map_err(|e| Error::Kubeconfig {
                context: format!("loading {}", path.display()),
                source: Box::new(e),
            })?;
        Ok(Self {
            user: user.to_owned(),
            namespace: namespace.to_owned(),
            dir,
            path,
            config,
        })
    }

    /// The user name (`system:serviceaccount:<ns>:<name>` for a ServiceAccount).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The kubeconfig's default namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Path of the kubeconfig file (JSON, which every kubeconfig reader accepts).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The client configuration read from the file.
    pub fn config(&self) -> &kube::Config {
        &self.config
    }

    /// A new client on the current tokio runtime. Must be called inside one.
    pub fn client(&self) -> Result<kube::Client, Error> {
        kube::Client::try_from(self.config.clone())
            .map_err(|e| Error::kube(format!("building a client for {}", self.user), e))
    }

    /// Environment for a process that should act as this user: `KUBECONFIG`,
    /// kubectl's cache directory and Helm's cache/config/data homes, all in
    /// this kubeconfig's private directory.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        let dir = self.dir.path();
        vec![
            ("KUBECONFIG", self.path.clone().into_os_string()),
            ("KUBECACHEDIR", dir.join("kube-cache").into_os_string()),
            ("HELM_CACHE_HOME", dir.join("helm/cache").into_os_string()),
            ("HELM_CONFIG_HOME", dir.join("helm/config").into_os_string()),
            ("HELM_DATA_HOME", dir.join("helm/data").into_os_string()),
        ]
    }

    /// `kubectl` (1.35) set up to run as this user.
    pub fn kubectl(&self) -> Result<Command, Error> {
        Ok(self.command(crate::tools::kubectl()?))
    }

    /// `helm` 4 set up to run as this user.
    pub fn helm(&self) -> Result<Command, Error> {
        Ok(self.command(crate::tools::helm()?))
    }

    /// `helm` 3 set up to run as this user.
    pub fn helm3(&self) -> Result<Command, Error> {
        Ok(self.command(crate::tools::helm3()?))
    }

    /// Any program, with [`Kubeconfig::env`] set.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env());
        command
    }

    /// Applies every document of `yaml` (Kubernetes objects, `---` separated)
    /// with server-side apply as field manager [`FIELD_MANAGER`], forcing
    /// conflicts, and returns the objects the server answered with.
    /// Namespaced objects without a namespace go to the kubeconfig's default
    /// namespace. Every document is checked before anything is sent; `what`
    /// names the YAML in errors, which also give the document's number.
    pub async fn apply_yaml(&self, yaml: &str, what: &str) -> Result<Vec<DynamicObject>, Error> {
        let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml)
            .map_err(|e| Error::invalid(what, format!("not valid YAML: {e}")))?;
        let mut objects = Vec::new();
        for (index, document) in documents.into_iter().enumerate() {
            if document.is_null() {
                continue;
            }
            let place = format!("{what}, document {}", index + 1);
            let object: DynamicObject = serde_json::from_value(document)
                .map_err(|e| Error::invalid(&place, format!("not a Kubernetes object: {e}")))?;
            let types = object
                .types
                .as_ref()
                .ok_or_else(|| Error::invalid(&place, "no apiVersion/kind"))?;
            let gvk = GroupVersionKind::try_from(types)
                .map_err(|e| Error::invalid(&place, format!("bad apiVersion: {e}")))?;
            let name = object
                .metadata
                .name
                .clone()
                .ok_or_else(|| Error::invalid(&place, "no metadata.name"))?;
            objects.push((place, gvk, name, object));
        }

        let client = self.client()?;
        let mut kinds: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)> = HashMap::new();
        let mut applied = Vec::new();
        for (place, gvk, name, object) in objects {
            let (resource, capabilities) = match kinds.get(&gvk) {
                Some(found) => found.clone(),
                None => {
                    let found = kube::discovery::pinned_kind(&client, &gvk)
                        .await
                        .map_err(|e| Error::kube(format!("{place}: discovering {gvk:?}"), e))?;
                    kinds.insert(gvk.clone(), found.clone());
                    found
                }
            };
            let api: Api<DynamicObject> = match capabilities.scope {
                Scope::Cluster => Api::all_with(client.clone(), &resource),
                Scope::Namespaced => {
                    let namespace = object
                        .metadata
                        .namespace
                        .as_deref()
                        .unwrap_or(&self.namespace);
                    Api::namespaced_with(client.clone(), namespace, &resource)
                }
            };
            let params = PatchParams::apply(FIELD_MANAGER).force();
            let answer = api
                .patch(&name, &params, &Patch::Apply(&object))
                .await
                .map_err(|e| Error::kube(format!("{place}: applying {} {name}", gvk.kind), e))?;
            applied.push(answer);
        }
        Ok(applied)
    }
}

/// Writes `bytes` to a new file readable by its owner only (Helm warns about
/// group- or world-readable kubeconfigs).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Runs `command` and returns its stdout; a non-zero exit is an
/// [`Error::Command`] carrying stderr.
pub fn run(command: &mut Command) -> Result<String, Error> {
    let line = command_line(command);
    let output = command
        .output()
        .map_err(|e| Error::io(format!("running {line}"), e))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::Command {
            command: line,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// Runs `command`, which must fail, and returns its stderr; success is an
/// [`Error::Command`] carrying stdout.
pub fn run_failing(command: &mut Command) -> Result<String, Error> {
    let line = command_line(command);
    let output = command
        .output()
        .map_err(|e| Error::io(format!("running {line}"), e))?;
    if output.status.success() {
        Err(Error::Command {
            command: line,
            status: "succeeded but was expected to fail".to_owned(),
            stderr: String::from_utf8_lossy(&output.stdout).into_owned(),
        })
    } else {
        Ok(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// `program arg arg...` for messages.
fn command_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kubeconfig for a server that is never contacted.
    async fn offline_kubeconfig(dir: &Path) -> Kubeconfig {
        let pki = super::super::pki::Pki::generate().unwrap();
        Kubeconfig::create(
            dir,
            "https://127.0.0.1:9",
            &pki.ca_pem,
            "someone",
            "t0ken",
            "ns",
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn writes_a_private_kubeconfig_that_kube_reads() {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = offline_kubeconfig(dir.path()).await;
        let mode = std::fs::metadata(kubeconfig.path()).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert_eq!(kubeconfig.config().default_namespace, "ns");
        assert_eq!(
            kubeconfig.config().cluster_url.to_string(),
            "https://127.0.0.1:9/"
        );
        assert!(kubeconfig.config().root_cert.is_some());
        let env = kubeconfig.env();
        assert!(
            env.iter()
                .any(|(k, v)| *k == "KUBECONFIG" && v == kubeconfig.path().as_os_str())
        );
        assert!(env.iter().any(|(k, _)| *k == "HELM_CONFIG_HOME"));
    }

    #[tokio::test]
    async fn apply_yaml_names_the_bad_document() {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = offline_kubeconfig(dir.path()).await;
        let err = kubeconfig
            .apply_yaml("a: [unclosed\n", "broken.yaml")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("broken.yaml") && err.contains("not valid YAML"),
            "{err}"
        );

        let no_kind =
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nmetadata: {name: b}\n";
        let err = kubeconfig
            .apply_yaml(no_kind, "two.yaml")
            .await
            .unwrap_err()
            .to_string();
        // Checked before anything is sent: the server (port 9) is never asked.
        assert!(err.contains("two.yaml, document 2"), "{err}");
        assert!(err.contains("no apiVersion/kind"), "{err}");
    }
}
