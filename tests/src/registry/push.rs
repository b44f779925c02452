//! Bulk pushes over the registry's HTTP API, for generated data at scale.

use serde_json::json;

use super::oci::{sha256, to_bytes};
use crate::Error;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes blobs and manifests with plain HTTP requests (`POST` an upload,
/// `PUT` it with its digest; `PUT` a manifest).
#[derive(Debug, Clone)]
pub struct BulkPusher {
    http: reqwest::Client,
    base: String,
    credentials: Option<(String, String)>,
}

impl BulkPusher {
    /// A pusher for the registry at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str, credentials: Option<(&str, &str)>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
        }
    }

    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// [`BulkPusher::push_generated`] for each of `repositories`,
    /// `concurrency` at a time.
    pub async fn push_generated_all(
        &self,
        repositories: &[String],
        tags: usize,
        base_second: i64,
        concurrency: usize,
    ) -> Result<(), Error> {
        use futures::StreamExt as _;
        let pushed: Vec<Result<Vec<String>, Error>> =
            futures::stream::iter(repositories.iter().cloned())
                .map(|path| {
                    let pusher = self.clone();
                    async move { pusher.push_generated(&path, tags, base_second).await }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        pushed.into_iter().try_for_each(|r| r.map(drop))
    }

    /// Uploads `bytes` to `repository`; returns the digest.
    pub async fn push_blob(&self, repository: &str, bytes: Vec<u8>) -> Result<String, Error> {
        let digest = sha256(&bytes);
        let context = format!("uploading {digest} to {repository}");
        let start = self
            .authed(
                self.http
                    .post(format!("{}/v2/{repository}/blobs/uploads/", self.base)),
            )
            .send()
            .await
            .map_err(|e| Error::http(&context, e))?;
        if start.status().as_u16() != 202 {
            return Err(Error::http(
                &context,
                format!("upload start answered {}", start.status()),
            ));
        }
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::http(&context, "no Location"))?;
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location.to_owned()
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let done = self
            .authed(
                self.http
                    .put(format!("{location}{separator}digest={digest}")),
            )
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| Error::http(&context, e))?;
        if done.status().as_u16() != 201 {
            return Err(Error::http(
                &context,
                format!("upload answered {}", done.status()),
            ));
        }
        Ok(digest)
    }

    /// Puts a manifest under `reference` (a tag); returns its digest.
    pub async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, Error> {
        let digest = sha256(&bytes);
        let context = format!("putting manifest {repository}:{reference}");
        let response = self
            .authed(self.http.put(format!(
                "{}/v2/{repository}/manifests/{reference}",
                self.base
            )))
            .header("content-type", media_type)
            .body(bytes)
            .send()
            .await
            .map_err(|e| Error::http(&context, e))?;
        if response.status().as_u16() != 201 {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(Error::http(&context, format!("answered {status}: {body}")));
        }
        Ok(digest)
    }

    /// Fills `repository` with `tags` tags `t000`, `t001`, ...: one shared
    /// layer, and per tag its own config (created `base_second + i` seconds
    /// after the epoch) and manifest, so every tag is a distinct image.
    /// Returns the manifest digests in tag order.
    pub async fn push_generated(
        &self,
        repository: &str,
        tags: usize,
        base_second: i64,
    ) -> Result<Vec<String>, Error> {
        let layer = self.push_generated_layer(repository).await?;
        let mut digests = Vec::with_capacity(tags);
        for i in 0..tags {
            digests.push(
                self.push_generated_image(repository, &layer, i, base_second)
                    .await?,
            );
        }
        Ok(digests)
    }

    /// The one layer every generated image of `repository` shares: its
    /// digest and size.
    async fn push_generated_layer(&self, repository: &str) -> Result<(String, usize), Error> {
        let layer = format!("layer of {repository}").into_bytes();
        let size = layer.len();
        Ok((self.push_blob(repository, layer).await?, size))
    }

    /// Pushes the one tag `t<index>` of [`BulkPusher::push_generated`]
    /// (created `base_second + index`); returns its manifest digest.
    pub async fn push_generated_tag(
        &self,
        repository: &str,
        index: usize,
        base_second: i64,
    ) -> Result<String, Error> {
        let layer = self.push_generated_layer(repository).await?;
        self.push_generated_image(repository, &layer, index, base_second)
            .await
    }

    async fn push_generated_image(
        &self,
        repository: &str,
        (layer_digest, layer_size): &(String, usize),
        index: usize,
        base_second: i64,
    ) -> Result<String, Error> {
        let created = rfc3339(base_second + index as i64);
        let config = to_bytes(&json!({
            "created": created,
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }));
        let config_size = config.len();
        let config_digest = self.push_blob(repository, config).await?;
        let manifest = to_bytes(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
        }));
        self.push_manifest(repository, &format!("t{index:03}"), OCI_MANIFEST, manifest)
            .await
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (civil-from-days).
pub(crate) fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
