//! Assembling a release's values.
//!
//! Order, as in Flux: each `valueFileSecrets` Secret's `values.yaml`, then each
//! `valuesFrom` source, then the inline `values`, deep-merged: maps merge key
//! by key, anything else (lists included) is replaced by the later source.
//! A missing Secret, ConfigMap, key or file fails the release with an
//! [`Error::ValuesSource`] naming it, unless the source is `optional`.
//!
//! Every source is untrusted: values from Secrets are remembered by the
//! release's [`Redactor`] so no message quotes them; `externalSourceRef`
//! URLs follow the [`AccessPolicy`] of the HTTP
//! client and their bodies are bounded while they stream; `chartFileRef`
//! refuses symlinks and anything outside the chart.

use std::io::Read;
use std::path::{Component, Path};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::{Map, Value};

use crate::Error;
use crate::access::AccessPolicy;
use crate::api_error;
use crate::model::{ObjectKey, Release, ValuesSource};
use crate::redact::Redactor;

/// Largest values document read from any source (Secrets cap at 1 MiB anyway).
const MAX_VALUES_BYTES: u64 = 4 * 1024 * 1024;

/// Merges `overlay` into `base`: maps recursively, everything else replaced.
pub fn deep_merge(base: &mut Map<String, Value>, overlay: Map<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                deep_merge(existing, incoming);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Parses one YAML document of values: a mapping, or empty.
pub fn parse_values(text: &str, origin: &str) -> Result<Map<String, Value>, Error> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let value: Value = crate::yaml::from_str(text).map_err(|e| Error::ValuesSource {
        source_ref: origin.to_owned(),
        reason: format!("not valid YAML: {e}"),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(Error::ValuesSource {
            source_ref: origin.to_owned(),
            reason: format!(
                "values must be a mapping at the top level, found {}",
                json_type(&other)
            ),
        }),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Reads values sources from the cluster, the web and the chart.
#[derive(Clone)]
pub struct ValuesResolver {
    client: kube::Client,
    http: reqwest::Client,
    policy: AccessPolicy,
}

impl std::fmt::Debug for ValuesResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValuesResolver").finish_non_exhaustive()
    }
}

impl ValuesResolver {
    /// A resolver reading Secrets and ConfigMaps with `client`, and URLs
    /// with `http` (built by [`crate::http_client`] for `policy`).
    pub fn new(client: kube::Client, http: reqwest::Client, policy: AccessPolicy) -> Self {
        Self {
            client,
            http,
            policy,
        }
    }

    /// The merged values of `release`. `chart_dir` is the chart's directory
    /// when it is unpacked (git charts), for `chartFileRef`. Values read from
    /// Secrets are added to `redactor`.
    pub async fn assemble(
        &self,
        release: &Release,
        chart_dir: Option<&Path>,
        redactor: &mut Redactor,
    ) -> Result<Map<String, Value>, Error> {
        let mut merged = Map::new();
        for source in &release.values_from {
            let values = self.read(source, chart_dir).await?;
            if let Some(values) = values {
                if matches!(source, ValuesSource::SecretKey(_)) {
                    redactor.add_values(&values);
                }
                deep_merge(&mut merged, values);
            }
        }
        deep_merge(&mut merged, release.values.clone());
        Ok(merged)
    }

    /// One source's values; `None` when an optional source is missing.
    async fn read(
        &self,
        source: &ValuesSource,
        chart_dir: Option<&Path>,
    ) -> Result<Option<Map<String, Value>>, Error> {
        match source {
            ValuesSource::SecretKey(key) => self.secret(key).await,
            ValuesSource::ConfigMapKey(key) => self.config_map(key).await,
            ValuesSource::External { url, optional } => self.external(url, *optional).await,
            ValuesSource::ChartFile { path, optional } => chart_file(chart_dir, path, *optional),
        }
    }

    async fn secret(&self, key: &ObjectKey) -> Result<Option<Map<String, Value>>, Error> {
        let origin = format!("Secret {}/{} key {}", key.namespace, key.name, key.key);
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &key.namespace);
        let secret = api
            .get_opt(&key.name)
            .await
            .map_err(|e| Error::ValuesSource {
                source_ref: origin.clone(),
                reason: format!("cannot read it: {}", api_error::describe(&e)),
            })?;
        let Some(secret) = secret else {
            return missing(key.optional, &origin, "the Secret does not exist");
        };
        let bytes = secret
            .data
            .as_ref()
            .and_then(|data| data.get(&key.key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|data| data.get(&key.key))
                    .map(|s| s.clone().into_bytes())
            });
        let Some(bytes) = bytes else {
            return missing(key.optional, &origin, "the Secret has no such key");
        };
        let text = String::from_utf8(bytes).map_err(|_| Error::ValuesSource {
            source_ref: origin.clone(),
            reason: "not UTF-8 text".to_owned(),
        })?;
        parse_values(&text, &origin).map(Some)
    }

    async fn config_map(&self, key: &ObjectKey) -> Result<Option<Map<String, Value>>, Error> {
        let origin = format!("ConfigMap {}/{} key {}", key.namespace, key.name, key.key);
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &key.namespace);
        let config_map = api
            .get_opt(&key.name)
            .await
            .map_err(|e| Error::ValuesSource {
                source_ref: origin.clone(),
                reason: format!("cannot read it: {}", api_error::describe(&e)),
            })?;
        let Some(config_map) = config_map else {
            return missing(key.optional, &origin, "the ConfigMap does not exist");
        };
        match config_map.data.as_ref().and_then(|d| d.get(&key.key)) {
            Some(text) => parse_values(text, &origin).map(Some),
            None => missing(key.optional, &origin, "the ConfigMap has no such key"),
        }
    }

    async fn external(
        &self,
        url: &str,
        optional: bool,
    ) -> Result<Option<Map<String, Value>>, Error> {
        let origin = format!("URL {}", crate::chartrepo::redact_url(url));
        let fetched =
            async {
                let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
                self.policy.check_url(&parsed)?;
                let mut response = self.http.get(parsed).send().await.map_err(|e| {
                    format!("request failed: {}", crate::chartrepo::describe_http(&e))
                })?;
                if !response.status().is_success() {
                    return Err(format!("answered {}", response.status()));
                }
                if response.content_length().unwrap_or(0) > MAX_VALUES_BYTES {
                    return Err(format!("larger than {MAX_VALUES_BYTES} bytes"));
                }
                // Bounded while it streams: a body without Content-Length (or
                // with a false one) stops at the limit.
                let mut body: Vec<u8> = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(|e| {
                    format!("reading the body: {}", crate::chartrepo::describe_http(&e))
                })? {
                    if (body.len() + chunk.len()) as u64 > MAX_VALUES_BYTES {
                        return Err(format!("larger than {MAX_VALUES_BYTES} bytes"));
                    }
                    body.extend_from_slice(&chunk);
                }
                String::from_utf8(body).map_err(|_| "not UTF-8 text".to_owned())
            }
            .await;
        match fetched {
            Ok(text) => parse_values(&text, &origin).map(Some),
            Err(reason) => missing(optional, &origin, &reason),
        }
    }
}

fn chart_file(
    chart_dir: Option<&Path>,
    path: &str,
    optional: bool,
) -> Result<Option<Map<String, Value>>, Error> {
    let origin = format!("chart file {path}");
    let Some(dir) = chart_dir else {
        return Err(Error::ValuesSource {
            source_ref: origin,
            reason: "chartFileRef needs a chart from git; this chart is an archive".to_owned(),
        });
    };
    let relative = Path::new(path);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(Error::ValuesSource {
            source_ref: origin,
            reason: "the path must be relative to the chart and stay inside it".to_owned(),
        });
    }
    let full = match confined(dir, relative) {
        Ok(full) => full,
        Err(Confinement::Missing) => {
            return missing(optional, &origin, "no such file in the chart");
        }
        Err(Confinement::Refused(reason)) => {
            return Err(Error::ValuesSource {
                source_ref: origin,
                reason,
            });
        }
    };
    let read = std::fs::File::open(&full).and_then(|file| {
        let mut text = String::new();
        file.take(MAX_VALUES_BYTES + 1).read_to_string(&mut text)?;
        Ok(text)
    });
    match read {
        Ok(text) if text.len() as u64 > MAX_VALUES_BYTES => Err(Error::ValuesSource {
            source_ref: origin,
            reason: format!("larger than {MAX_VALUES_BYTES} bytes"),
        }),
        Ok(text) => parse_values(&text, &origin).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            missing(optional, &origin, "no such file in the chart")
        }
        Err(e) => Err(Error::ValuesSource {
            source_ref: origin,
            reason: format!("cannot read it: {e}"),
        }),
    }
}

enum Confinement {
    Missing,
    Refused(String),
}

/// `dir/relative`, if no component of it is a symlink and it is a regular file.
fn confined(dir: &Path, relative: &Path) -> Result<std::path::PathBuf, Confinement> {
    let mut path = dir.to_path_buf();
    let components: Vec<Component<'_>> = relative.components().collect();
    for (i, component) in components.iter().enumerate() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => continue,
            _ => {
                return Err(Confinement::Refused(
                    "the path must be relative to the chart and stay inside it".to_owned(),
                ));
            }
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Confinement::Missing),
            Err(e) => return Err(Confinement::Refused(format!("cannot read it: {e}"))),
        };
        if meta.file_type().is_symlink() {
            return Err(Confinement::Refused(
                "it is (or passes through) a symlink, which chartFileRef does not follow"
                    .to_owned(),
            ));
        }
        let last = i + 1 == components.len();
        if last && !meta.is_file() {
            return Err(Confinement::Refused("not a regular file".to_owned()));
        }
    }
    Ok(path)
}

fn missing(
    optional: bool,
    origin: &str,
    reason: &str,
) -> Result<Option<Map<String, Value>>, Error> {
    if optional {
        tracing::debug!(source = origin, reason, "optional values source skipped");
        Ok(None)
    } else {
        Err(Error::ValuesSource {
            source_ref: origin.to_owned(),
            reason: format!("{reason} (create it, or mark the source optional)"),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn merge_is_deep_for_maps_and_replaces_the_rest() {
        let mut base = map(json!({
            "image": {"repository": "nginx", "tag": "1.0"},
            "ports": [80, 443],
            "replicas": 1,
            "keep": true
        }));
        deep_merge(
            &mut base,
            map(json!({
                "image": {"tag": "2.0"},
                "ports": [8080],
                "replicas": {"min": 2},
                "new": null
            })),
        );
        assert_eq!(
            Value::Object(base),
            json!({
                "image": {"repository": "nginx", "tag": "2.0"},
                "ports": [8080],
                "replicas": {"min": 2},
                "keep": true,
                "new": null
            })
        );
    }

    #[test]
    fn parse_values_accepts_mappings_and_empty_documents() {
        assert_eq!(
            parse_values("a:\n  b: 1\n", "t").unwrap(),
            map(json!({"a": {"b": 1}}))
        );
        assert!(parse_values("", "t").unwrap().is_empty());
        assert!(parse_values("# only a comment\n", "t").unwrap().is_empty());
        let err = parse_values("- 1\n- 2\n", "Secret demo/s key values.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Secret demo/s key values.yaml") && err.contains("a list"),
            "{err}"
        );
        let err = parse_values("a: [1,\n", "x").unwrap_err().to_string();
        assert!(err.contains("not valid YAML"), "{err}");
    }

    /// Deep values parse on a thread with little stack; values nested past
    /// the parser's budget are an error, not a stack overflow.
    #[test]
    fn deep_values_are_parsed_or_refused_on_a_small_stack() {
        let nested = |depth: usize| {
            (0..depth)
                .map(|level| format!("{}x:\n", " ".repeat(level)))
                .collect::<String>()
        };
        let (shallow, deep) = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                (
                    parse_values(&nested(60), "shallow"),
                    parse_values(&nested(500), "deep"),
                )
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(shallow.is_ok(), "{shallow:?}");
        let err = deep.unwrap_err().to_string();
        assert!(
            err.contains("deep") && err.contains("not valid YAML"),
            "{err}"
        );
    }

    #[test]
    fn chart_files_stay_inside_the_chart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("prod.yaml"), "replicas: 3\n").unwrap();
        let values = chart_file(Some(dir.path()), "prod.yaml", false)
            .unwrap()
            .unwrap();
        assert_eq!(values["replicas"], 3);
        assert!(
            chart_file(Some(dir.path()), "absent.yaml", true)
                .unwrap()
                .is_none()
        );
        let err = chart_file(Some(dir.path()), "absent.yaml", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no such file") && err.contains("optional"),
            "{err}"
        );
        let err = chart_file(Some(dir.path()), "../secret.yaml", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("stay inside"), "{err}");
        let err = chart_file(None, "prod.yaml", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a chart from git"), "{err}");
    }

    #[test]
    fn chart_files_refuse_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.yaml"), "token: outside\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.yaml"),
            dir.path().join("link.yaml"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("sub")).unwrap();
        for path in ["link.yaml", "sub/secret.yaml"] {
            let err = chart_file(Some(dir.path()), path, true)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("symlink") && !err.contains("outside\n"),
                "{path}: {err}"
            );
        }
        std::fs::create_dir(dir.path().join("values")).unwrap();
        let err = chart_file(Some(dir.path()), "values", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
