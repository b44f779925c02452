//! Reaching fluxd without a URL, as Flux's fluxctl did: find the one
//! Running pod in `--k8s-fwd-ns` matching `--k8s-fwd-labels` (then the
//! fallback `name in (flux,fluxd,weave-flux-agent)`), and forward a local
//! port on 127.0.0.1 to its port 3030 through the Kubernetes API (kube's
//! port-forward, over websockets). The messages are Flux's.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use tokio::net::TcpListener;

use crate::error::Error;

/// The selector Flux tries when `--k8s-fwd-labels` matches no pod: the
/// labels of `fluxctl install`'s and older charts' pods.
pub(crate) const FALLBACK_SELECTOR: &str = "name in (flux,fluxd,weave-flux-agent)";

/// The pod port fluxd listens on.
pub(crate) const FLUXD_PORT: u16 = fluxd::api::routes::DEFAULT_PORT;

/// A kube error in one line: the API's own message for an API error
/// (kube's Display of those includes a dump of the Status).
pub(crate) fn kube_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => {
            format!("{} ({} {})", status.message, status.code, status.reason)
        }
        other => other.to_string(),
    }
}

/// A label selector of equalities, as Kubernetes formats one (keys sorted).
pub(crate) fn labels_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `--k8s-fwd-labels` (`key=value,key=value`, pflag's
/// StringToString).
pub(crate) fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut labels = BTreeMap::new();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Error::Usage(format!(
                "invalid argument {text:?} for \"--k8s-fwd-labels\" flag: {pair} must be formatted as key=value"
            )));
        };
        labels.insert(key.to_owned(), value.to_owned());
    }
    Ok(labels)
}

/// Finds the one Running pod for the first selector that matches any, with
/// Flux's messages when none or several match.
pub(crate) async fn find_pod(
    client: &kube::Client,
    namespace: &str,
    selectors: &[String],
) -> Result<String, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut message =
        format!("No pod found in namespace {namespace:?} using the following selectors:");
    for selector in selectors {
        let params = ListParams::default()
            .labels(selector)
            .fields("status.phase=Running");
        let list = pods.list(&params).await.map_err(|error| {
            Error::PortForward(format!(
                "Could not create a dialer: Could not get pod name: Listing pods in kubernetes: {}",
                kube_error(&error)
            ))
        })?;
        match list.items.as_slice() {
            [] => message.push_str(&format!("\n  {selector}")),
            [pod] => return Ok(pod.metadata.name.clone().unwrap_or_default()),
            _ => {
                return Err(Error::PortForward(format!(
                    "Could not create a dialer: Could not get pod name: Ambiguous pod: found more than one pod for selector: labels \"{selector}\""
                )));
            }
        }
    }
    message.push_str(&format!(
        "\n\nMake sure Flux is running in namespace {namespace:?}.\nIf Flux is running in another different namespace, please supply it to --k8s-fwd-ns."
    ));
    Err(Error::PortForward(message))
}

/// A port on 127.0.0.1 forwarded to a pod's port while this lives.
#[derive(Debug)]
pub(crate) struct PortForward {
    /// The local port.
    pub local_port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    mut forwarder: kube::api::Portforwarder,
    mut connection: tokio::net::TcpStream,
    port: u16,
) {
    let Some(mut upstream) = forwarder.take_stream(port) else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut connection, &mut upstream).await;
    drop(upstream);
    let _ = forwarder.join().await;
}

/// Forwards a free port on 127.0.0.1 to `port` of the pod. The first
/// forward is opened before this returns, so that a pod that cannot be
/// reached is an error here (Flux's "Could not create port forward").
pub(crate) async fn start(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    port: u16,
) -> Result<PortForward, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let first = pods.portforward(pod, &[port]).await.map_err(|error| {
        Error::PortForward(format!(
            "Could not create port forward: {}",
            kube_error(&error)
        ))
    })?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|error| {
        Error::PortForward(format!("Could not find a port to bind to: {error}"))
    })?;
    let local_port = listener
        .local_addr()
        .map_err(|error| Error::PortForward(format!("Could not find a port to bind to: {error}")))?
        .port();
    let pod = pod.to_owned();
    let task = tokio::spawn(async move {
        let mut first = Some(first);
        while let Ok((connection, _)) = listener.accept().await {
            let forwarder = match first.take() {
                Some(forwarder) => forwarder,
                None => match pods.portforward(&pod, &[port]).await {
                    Ok(forwarder) => forwarder,
                    // The connection is dropped: the client sees it closed.
                    Err(_) => continue,
                },
            };
            tokio::spawn(forward(forwarder, connection, port));
        }
    });
    Ok(PortForward { local_port, task })
}
