//! Namespaces that belong to one test and are deleted after it.

use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};

use super::Inner;
use crate::Error;

/// A namespace created for one test, deleted (in the background: the
/// namespace controller finishes the job) when this value is dropped.
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
    config: kube::Config,
}

impl TestNamespace {
    pub(crate) async fn create(inner: &Arc<Inner>, base: &str) -> Result<Self, Error> {
        let name = inner.next_namespace_name(base);
        let api: Api<Namespace> = Api::all(inner.admin().client()?);
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("fluxrs.test/namespace".to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        api.create(&PostParams::default(), &namespace)
            .await
            .map_err(|e| Error::kube(format!("creating namespace {name}"), e))?;
        Ok(Self {
            name,
            config: inner.admin().config().clone(),
        })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl AsRef<str> for TestNamespace {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for TestNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Drop for TestNamespace {
    /// Sends the DELETE from a thread with its own small runtime: drop runs
    /// outside async code, and the test's runtime may already be shutting down.
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        let config = self.config.clone();
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
                let api: Api<Namespace> = Api::all(client);
                match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                    Err(e) => Err(format!("deleting namespace {name}: {e}")),
                }
            })
        })
        .join();
        if let Ok(Err(error)) = deleted {
            tracing::warn!(%error, "test namespace left behind");
        }
    }
}
