//! Waiting for the cluster to reach a state (controllers work asynchronously).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::Error;

/// Polls `check` every 100 ms until it returns true; after `timeout`, fails
/// with [`Error::Timeout`] naming `what`.
pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                after: timeout,
                log_tail: String::new(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_once_true_and_times_out_otherwise() {
        let mut calls = 0;
        wait_for(Duration::from_secs(5), "third call", || {
            calls += 1;
            std::future::ready(calls == 3)
        })
        .await
        .unwrap();
        assert_eq!(calls, 3);
        let err = wait_for(Duration::from_millis(150), "never", || {
            std::future::ready(false)
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("never"), "{err}");
    }
}
