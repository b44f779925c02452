//! How fluxd's Kubernetes clients retry an API server that says "later".
//!
//! kube 5 retries 429, 503 and 504 on its own (`Config::default_retry`),
//! up to 15 times with a backoff capped at 1000 s: under an API server that
//! keeps answering 503, one request waits minutes before it fails, and a
//! sync of many objects waits far longer than a sync interval. fluxd turns
//! that off and retries with bounds of its own instead: at most
//! [`MAX_RETRIES`] times, from [`FIRST_DELAY`] doubling up to [`MAX_DELAY`],
//! honouring the server's `Retry-After` up to [`MAX_RETRY_AFTER`]. A short
//! fault (an apiserver's priority and fairness throttling a burst, a
//! restart behind a load balancer) is absorbed; a long one fails the
//! request within seconds, the sync reports it as incomplete, and the next
//! sync tries again.

use std::time::Duration;

use axum::http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use tower::BoxError;
use tower::retry::Policy;

/// Retries of one request after the first attempt.
pub(crate) const MAX_RETRIES: u32 = 4;
/// The delay before the first retry.
pub(crate) const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest backoff between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(4);
/// The longest `Retry-After` honoured.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The policy of one request (tower clones it per request).
#[derive(Clone, Debug, Default)]
pub(crate) struct ApiRetry {
    retries: u32,
}

/// Whether an answer `status` to `method` says to try again later.
fn retryable(method: &Method, status: StatusCode) -> bool {
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => true,
        // A gateway that timed out may have passed a create on.
        StatusCode::GATEWAY_TIMEOUT => method != Method::POST,
        _ => false,
    }
}

/// The delay before retry number `retry` (0 first): the backoff, or the
/// server's `Retry-After` (bounded) when that is longer.
pub(crate) fn delay(retry: u32, retry_after: Option<Duration>) -> Duration {
    let backoff = FIRST_DELAY
        .saturating_mul(2u32.saturating_pow(retry))
        .min(MAX_DELAY);
    retry_after.map_or(backoff, |asked| asked.min(MAX_RETRY_AFTER).max(backoff))
}

/// `Retry-After` in seconds (the form the API server sends).
fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    response
        .headers()
        .get(axum::http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl<B> Policy<Request<Body>, Response<B>, BoxError> for ApiRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Request<Body>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        let response = result.as_ref().ok()?;
        let status = response.status();
        if self.retries >= MAX_RETRIES || !retryable(request.method(), status) {
            return None;
        }
        let wait = delay(self.retries, retry_after(response));
        self.retries += 1;
        tracing::debug!(
            method = %request.method(),
            path = request.uri().path(),
            status = status.as_u16(),
            retry = self.retries,
            of = MAX_RETRIES,
            delay_ms = crate::sync::millis(wait),
            "the API server said to try again later; retrying"
        );
        Some(tokio::time::sleep(wait))
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        // Streamed bodies cannot be sent twice; fluxd sends none.
        let body = request.body().try_clone()?;
        let mut clone = Request::builder()
            .method(request.method().clone())
            .uri(request.uri().clone())
            .version(request.version())
            .body(body)
            .ok()?;
        *clone.headers_mut() = request.headers().clone();
        *clone.extensions_mut() = request.extensions().clone();
        Some(clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_bound_and_honour_retry_after_within_it() {
        assert_eq!(delay(0, None), FIRST_DELAY);
        assert_eq!(delay(1, None), FIRST_DELAY * 2);
        assert_eq!(delay(10, None), MAX_DELAY);
        assert_eq!(delay(u32::MAX, None), MAX_DELAY);
        assert_eq!(
            delay(0, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        // Shorter than the backoff: the backoff.
        assert_eq!(delay(3, Some(Duration::from_secs(1))), FIRST_DELAY * 8);
        assert_eq!(delay(0, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
        // Every retry of one request together stays under a minute.
        let total: Duration = (0..MAX_RETRIES)
            .map(|n| delay(n, Some(Duration::from_secs(3600))))
            .sum();
        assert!(total <= Duration::from_secs(60), "{total:?}");
    }

    #[test]
    fn only_answers_that_say_later_are_retried() {
        for status in [429, 503] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(retryable(&Method::POST, status));
            assert!(retryable(&Method::PATCH, status));
        }
        assert!(retryable(&Method::GET, StatusCode::GATEWAY_TIMEOUT));
        assert!(!retryable(&Method::POST, StatusCode::GATEWAY_TIMEOUT));
        for status in [200, 400, 404, 409, 500, 502] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(!retryable(&Method::GET, status), "{status}");
        }
    }

    #[tokio::test]
    async fn a_request_is_retried_at_most_max_retries_times() {
        let mut policy = ApiRetry::default();
        let mut request = Request::builder()
            .method(Method::PATCH)
            .uri("/api/v1/namespaces/a/configmaps/b")
            .body(Body::from(b"{}".to_vec()))
            .unwrap();
        assert!(
            Policy::<_, Response<()>, BoxError>::clone_request(&mut policy, &request).is_some()
        );
        let answer = || -> Result<Response<()>, BoxError> {
            Ok(Response::builder()
                .status(503)
                .header("Retry-After", "0")
                .body(())
                .unwrap())
        };
        for _ in 0..MAX_RETRIES {
            assert!(policy.retry(&mut request, &mut answer()).is_some());
        }
        assert!(policy.retry(&mut request, &mut answer()).is_none());
        let mut fine: Result<Response<()>, BoxError> =
            Ok(Response::builder().status(200).body(()).unwrap());
        assert!(ApiRetry::default().retry(&mut request, &mut fine).is_none());
    }
}
