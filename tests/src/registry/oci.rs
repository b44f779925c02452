//! Reproducible OCI layouts, pushed and listed with the real `skopeo`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::{Error, tools};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// One image: its config's `created`, platform, and the text of the single
/// file in its single layer.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// RFC 3339 creation time written into the config.
    pub created: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`, ...
    pub os: String,
    /// Content of `/hello.txt` in the layer (makes the image unique).
    pub content: String,
    /// The config's `Labels`.
    pub labels: std::collections::BTreeMap<String, String>,
}

impl ImageSpec {
    /// A linux/amd64 image created at `created` holding `content`.
    pub fn new(created: &str, content: &str) -> Self {
        Self {
            created: created.to_owned(),
            architecture: "amd64".to_owned(),
            os: "linux".to_owned(),
            content: content.to_owned(),
            labels: std::collections::BTreeMap::new(),
        }
    }

    /// The same image with label `key` set to `value` in its config.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The same image for another architecture.
    pub fn arch(mut self, architecture: &str) -> Self {
        self.architecture = architecture.to_owned();
        self
    }
}

/// A descriptor of a blob written to the layout.
#[derive(Debug, Clone)]
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Length in bytes.
    pub size: usize,
}

/// An OCI image layout directory being built.
#[derive(Debug)]
pub struct OciLayout {
    dir: PathBuf,
    refs: Vec<Value>,
}

impl OciLayout {
    /// An empty layout in `dir` (created).
    pub fn create(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir.join("blobs").join("sha256"))
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        write(
            &dir.join("oci-layout"),
            br#"{"imageLayoutVersion": "1.0.0"}"#,
        )?;
        let layout = Self {
            dir: dir.to_owned(),
            refs: Vec::new(),
        };
        layout.write_index()?;
        Ok(layout)
    }

    /// The layout's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds an image manifest tagged `tag`; returns the manifest's digest.
    pub fn add_image(&mut self, tag: &str, spec: &ImageSpec) -> Result<String, Error> {
        let manifest = self.image_manifest(spec)?;
        self.add_ref(tag, OCI_MANIFEST, &manifest)?;
        Ok(manifest.digest)
    }

    /// Adds a multi-platform index tagged `tag` over `specs`; returns the
    /// index's digest and each platform manifest's digest.
    pub fn add_index(
        &mut self,
        tag: &str,
        specs: &[ImageSpec],
    ) -> Result<(String, Vec<String>), Error> {
        let mut entries = Vec::new();
        let mut digests = Vec::new();
        for spec in specs {
            let manifest = self.image_manifest(spec)?;
            entries.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": manifest.digest,
                "size": manifest.size,
                "platform": {"architecture": spec.architecture, "os": spec.os},
            }));
            digests.push(manifest.digest);
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
        let index = self.write_blob(&to_bytes(&index))?;
        self.add_ref(tag, OCI_INDEX, &index)?;
        Ok((index.digest, digests))
    }

    fn image_manifest(&self, spec: &ImageSpec) -> Result<Blob, Error> {
        let (layer_tar, layer_gz) = make_layer(&spec.content)?;
        let diff_id = sha256(&layer_tar);
        let layer = self.write_blob(&layer_gz)?;
        // No labels: `{}`, as the images of the tests were before labels.
        let container = if spec.labels.is_empty() {
            json!({})
        } else {
            json!({"Labels": spec.labels})
        };
        let config = json!({
            "created": spec.created,
            "architecture": spec.architecture,
            "os": spec.os,
            "config": container,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        });
        let config = self.write_blob(&to_bytes(&config))?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size}],
        });
        self.write_blob(&to_bytes(&manifest))
    }

    fn add_ref(&mut self, tag: &str, media_type: &str, blob: &Blob) -> Result<(), Error> {
        self.refs.push(json!({
            "mediaType": media_type,
            "digest": blob.digest,
            "size": blob.size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        self.write_index()
    }

    fn write_index(&self) -> Result<(), Error> {
        let index = json!({"schemaVersion": 2, "manifests": self.refs});
        write(&self.dir.join("index.json"), &to_bytes(&index))
    }

    /// Writes `bytes` as a blob; returns its descriptor.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Blob, Error> {
        let digest = sha256(bytes);
        let hex = digest.trim_start_matches("sha256:");
        write(&self.dir.join("blobs").join("sha256").join(hex), bytes)?;
        Ok(Blob {
            digest,
            size: bytes.len(),
        })
    }
}

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub(crate) fn to_bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// A layer holding `hello.txt`: the tar (for the diff id) and its gzip,
/// made reproducibly (`tar --sort=name --mtime=@0 --owner=0`, `gzip -n`).
fn make_layer(content: &str) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("creating a layer dir", e))?;
    write(&dir.path().join("hello.txt"), content.as_bytes())?;
    let tar = run(
        Command::new("tar")
            .args([
                "--sort=name",
                "--mtime=@0",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "-cf",
                "-",
                "-C",
            ])
            .arg(dir.path())
            .arg("hello.txt"),
        None,
    )?;
    let gz = run(Command::new("gzip").args(["-n", "-c"]), Some(&tar))?;
    Ok((tar, gz))
}

/// Runs `command` with `input` on stdin; its stdout, or an error with stderr.
fn run(command: &mut Command, input: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    let describe = format!("{command:?}");
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| Error::io(format!("starting {describe}"), e))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write as _;
        stdin
            .write_all(input)
            .map_err(|e| Error::io(format!("feeding {describe}"), e))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("running {describe}"), e))?;
    if !output.status.success() {
        return Err(Error::Command {
            command: describe,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(output.stdout)
}

/// `skopeo copy --preserve-digests` of `layout:tag` to
/// `docker://<destination>` over plain HTTP (`--all` copies every platform
/// of an index), with `user:password` if given.
pub fn skopeo_copy(
    layout: &Path,
    tag: &str,
    destination: &str,
    credentials: Option<(&str, &str)>,
) -> Result<(), Error> {
    let skopeo = tools::system("skopeo")?;
    let mut command = Command::new(skopeo);
    command
        .args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ])
        .env("REGISTRY_AUTH_FILE", layout.join("skopeo-auth.json"));
    if let Some((user, password)) = credentials {
        command.arg(format!("--dest-creds={user}:{password}"));
    }
    command
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{destination}"));
    run(&mut command, None).map(drop)
}

/// The tags `skopeo list-tags` sees in `docker://<repository>` (plain HTTP).
pub fn skopeo_list_tags(
    repository: &str,
    credentials: Option<(&str, &str)>,
) -> Result<Vec<String>, Error> {
    let skopeo = tools::system("skopeo")?;
    let mut command = Command::new(skopeo);
    command.args(["--insecure-policy", "list-tags", "--tls-verify=false"]);
    if let Some((user, password)) = credentials {
        command.arg(format!("--creds={user}:{password}"));
    }
    command.arg(format!("docker://{repository}"));
    let out = run(&mut command, None)?;
    let value: Value = serde_json::from_slice(&out)
        .map_err(|e| Error::http(format!("reading skopeo list-tags {repository}"), e))?;
    let tags = value
        .get("Tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(tags)
}

/// `skopeo list-tags` of `<host>/<path>` for each path, `concurrency`
/// processes at a time; the number of tags seen in all.
pub async fn skopeo_list_all(
    host: &str,
    paths: &[String],
    concurrency: usize,
) -> Result<usize, Error> {
    use futures::StreamExt as _;
    let listed: Vec<Result<usize, Error>> = futures::stream::iter(paths.iter().cloned())
        .map(|path| {
            let name = format!("{host}/{path}");
            async move {
                tokio::task::spawn_blocking(move || skopeo_list_tags(&name, None).map(|t| t.len()))
                    .await
                    .map_err(|e| Error::http("skopeo task", e))?
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    listed.into_iter().sum()
}

/// What `skopeo inspect` says of `docker://<reference>` (plain HTTP): the
/// image's manifest digest, `Created`, tags and more, as JSON.
pub fn skopeo_inspect(reference: &str, credentials: Option<(&str, &str)>) -> Result<Value, Error> {
    let skopeo = tools::system("skopeo")?;
    let mut command = Command::new(skopeo);
    command.args(["--insecure-policy", "inspect", "--tls-verify=false"]);
    if let Some((user, password)) = credentials {
        command.arg(format!("--creds={user}:{password}"));
    }
    command.arg(format!("docker://{reference}"));
    let out = run(&mut command, None)?;
    serde_json::from_slice(&out)
        .map_err(|e| Error::http(format!("reading skopeo inspect {reference}"), e))
}
