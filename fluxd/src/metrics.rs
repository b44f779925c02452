//! fluxd's metrics, with Flux v1's names, label names and buckets, so that
//! dashboards and alerts written for Flux v1 keep working
//! (`delta(flux_daemon_sync_duration_seconds_count{success='true'}[6m]) < 1`,
//! `flux_daemon_sync_manifests{success='false'} > 0`, `flux_git_ready < 1`).
//!
//! [`Metrics`] holds the handles in a prometheus-client registry and is the
//! daemon's [`Observer`]: the sync loop, the job queue and the registry
//! poller report to it; the HTTP server records each request
//! ([`Metrics::request`]) and serves [`Metrics::encode`] at `/metrics`.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::contract::{JobOutcome, Observer};

/// Flux's buckets of `flux_daemon_sync_duration_seconds`.
const SYNC_BUCKETS: [f64; 12] = [
    0.5, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 75.0, 90.0, 120.0, 240.0,
];
/// Flux's buckets of the job and queue durations.
const JOB_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0,
];
/// The Go client's default buckets (`prometheus.DefBuckets`).
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The content type of [`Metrics::encode`]'s text.
pub(crate) const METRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SuccessLabels {
    success: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    kind: String,
    success: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: &'static str,
    status_code: u16,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn sync_histogram() -> Histogram {
    Histogram::new(SYNC_BUCKETS)
}

fn job_histogram() -> Histogram {
    Histogram::new(JOB_BUCKETS)
}

fn default_histogram() -> Histogram {
    Histogram::new(DEFAULT_BUCKETS)
}

fn success(ok: bool) -> &'static str {
    if ok { "true" } else { "false" }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The daemon's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    sync_duration: Histograms<SuccessLabels>,
    sync_manifests: Family<SuccessLabels, Gauge>,
    job_duration: Histograms<SuccessLabels>,
    queue_duration: Histogram,
    queue_length: Gauge,
    git_ready: Gauge,
    registry_fetch: Histograms<SuccessLabels>,
    client_fetch: Histograms<FetchLabels>,
    requests: Histograms<RequestLabels>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let sync_duration = Histograms::<SuccessLabels>::new_with_constructor(sync_histogram as _);
        registry.register(
            "flux_daemon_sync_duration_seconds",
            "Duration of git-to-cluster synchronisation, in seconds.",
            sync_duration.clone(),
        );
        let sync_manifests = Family::<SuccessLabels, Gauge>::default();
        registry.register(
            "flux_daemon_sync_manifests",
            "Number of synchronised manifests.",
            sync_manifests.clone(),
        );
        let job_duration = Histograms::<SuccessLabels>::new_with_constructor(job_histogram as _);
        registry.register(
            "flux_daemon_job_duration_seconds",
            "Duration of job execution, in seconds.",
            job_duration.clone(),
        );
        let queue_duration = job_histogram();
        registry.register(
            "flux_daemon_queue_duration_seconds",
            "Duration of time spent in the job queue before execution, in seconds.",
            queue_duration.clone(),
        );
        let queue_length = Gauge::default();
        registry.register(
            "flux_daemon_queue_length_count",
            "Count of jobs waiting in the queue to be run.",
            queue_length.clone(),
        );
        let git_ready = Gauge::default();
        registry.register(
            "flux_git_ready",
            "Status of the git repository (1 ready, 0 not ready).",
            git_ready.clone(),
        );
        let registry_fetch =
            Histograms::<SuccessLabels>::new_with_constructor(default_histogram as _);
        registry.register(
            "flux_registry_fetch_duration_seconds",
            "Duration of image metadata fetches from the local cache, in seconds.",
            registry_fetch.clone(),
        );
        let client_fetch = Histograms::<FetchLabels>::new_with_constructor(default_histogram as _);
        registry.register(
            "flux_client_fetch_duration_seconds",
            "Duration of remote image metadata requests, in seconds.",
            client_fetch.clone(),
        );
        let requests = Histograms::<RequestLabels>::new_with_constructor(default_histogram as _);
        registry.register(
            "flux_request_duration_seconds",
            "Time (in seconds) spent serving HTTP requests.",
            requests.clone(),
        );
        Self {
            registry,
            sync_duration,
            sync_manifests,
            job_duration,
            queue_duration,
            queue_length,
            git_ready,
            registry_fetch,
            client_fetch,
            requests,
        }
    }

    /// The metrics in the OpenMetrics text format (ending in `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// One HTTP request served (`flux_request_duration_seconds`), `route`
    /// being Flux's route name.
    pub fn request(&self, method: &str, route: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route,
                status_code: status,
            })
            .observe(took.as_secs_f64());
    }

    /// One fetch from a registry, `kind` being `tags` or `metadata`
    /// (`flux_client_fetch_duration_seconds{kind,success}`).
    pub fn client_fetch(&self, kind: &str, took: Duration, ok: bool) {
        self.client_fetch
            .get_or_create(&FetchLabels {
                kind: kind.to_owned(),
                success: success(ok),
            })
            .observe(took.as_secs_f64());
    }
}

impl Observer for Metrics {
    fn sync_finished(&self, duration: Duration, ok: bool, manifests: usize) {
        let labels = SuccessLabels {
            success: success(ok),
        };
        self.sync_duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
        self.sync_manifests
            .get_or_create(&labels)
            .set(gauge_value(manifests));
    }

    fn sync_manifests(&self, applied: usize, failed: usize) {
        for (ok, count) in [(true, applied), (false, failed)] {
            self.sync_manifests
                .get_or_create(&SuccessLabels {
                    success: success(ok),
                })
                .set(gauge_value(count));
        }
    }

    fn job_finished(&self, waited: Duration, ran: Duration, outcome: JobOutcome) {
        self.queue_duration.observe(waited.as_secs_f64());
        self.job_duration
            .get_or_create(&SuccessLabels {
                success: success(outcome == JobOutcome::Succeeded),
            })
            .observe(ran.as_secs_f64());
    }

    fn queue_length(&self, length: usize) {
        self.queue_length.set(gauge_value(length));
    }

    fn git_ready(&self, ready: bool) {
        self.git_ready.set(i64::from(ready));
    }

    fn registry_fetch(&self, kind: &'static str, duration: Duration, ok: bool) {
        self.client_fetch(kind, duration, ok);
    }

    fn image_metadata_read(&self, duration: Duration, found: bool) {
        self.registry_fetch
            .get_or_create(&SuccessLabels {
                success: success(found),
            })
            .observe(duration.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_are_fluxs() {
        let metrics = Metrics::new();
        metrics.sync_finished(Duration::from_secs(1), true, 7);
        metrics.sync_finished(Duration::from_secs(1), false, 2);
        metrics.git_ready(true);
        metrics.queue_length(3);
        metrics.job_finished(
            Duration::from_millis(5),
            Duration::from_secs(2),
            JobOutcome::Failed,
        );
        metrics.request("GET", "ListServices", 200, Duration::from_millis(3));
        metrics.registry_fetch("tags", Duration::from_millis(3), true);
        metrics.registry_fetch("metadata", Duration::from_millis(3), false);
        metrics.image_metadata_read(Duration::from_micros(3), true);
        let text = metrics.encode();
        for line in [
            "flux_daemon_sync_manifests{success=\"true\"} 7",
            "flux_daemon_sync_manifests{success=\"false\"} 2",
            "flux_git_ready 1",
            "flux_daemon_queue_length_count 3",
            "flux_daemon_sync_duration_seconds_count{success=\"true\"} 1",
            "flux_daemon_job_duration_seconds_count{success=\"false\"} 1",
            "flux_daemon_queue_duration_seconds_count 1",
            "flux_request_duration_seconds_count{method=\"GET\",route=\"ListServices\",status_code=\"200\"} 1",
            "flux_client_fetch_duration_seconds_count{kind=\"tags\",success=\"true\"} 1",
            "flux_client_fetch_duration_seconds_count{kind=\"metadata\",success=\"false\"} 1",
            "flux_registry_fetch_duration_seconds_count{success=\"true\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(
            text.contains(
                "flux_daemon_sync_duration_seconds_bucket{le=\"240.0\",success=\"true\"} 1"
            ),
            "{text}"
        );
    }
}
