//! Politeness: a global token bucket, exponential backoff and `Retry-After`.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Longest `Retry-After` honoured; a registry asking for more gets this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A token bucket shared by every request: `rps` tokens a second, at most
/// `burst` saved up. Waiters reserve tokens in order, so none starves.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rps: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// May go negative: tokens reserved by waiters.
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A bucket that starts full. `rps` must be positive and `burst` at least 1
    /// (the poller's config checks both).
    pub(crate) fn new(rps: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rps,
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                updated: Instant::now(),
            }),
        }
    }

    /// Takes a token, waiting until one is due.
    pub(crate) async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Reserves a token and returns how long to wait before using it.
    fn reserve(&self) -> Duration {
        let now = Instant::now();
        let mut bucket = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rps).min(self.burst);
        bucket.updated = now;
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / self.rps)
        }
    }
}

/// `base * 2^failures`, capped at `max`.
pub(crate) fn backoff(base: Duration, failures: u32, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(failures.min(30));
    base.saturating_mul(factor).min(max)
}

/// A `Retry-After` value: delay-seconds or an HTTP date, capped at
/// [`MAX_RETRY_AFTER`]. `None` if it is neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let date = SystemTime::try_from(date).ok()?;
    Some(
        date.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_burst_then_paces() {
        let limiter = RateLimiter::new(10.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..5 {
            limiter.acquire().await;
        }
        // Five more at ten a second.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((0.49..0.52).contains(&elapsed), "{elapsed}");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(300);
        assert_eq!(backoff(base, 0, max), base);
        assert_eq!(backoff(base, 3, max), Duration::from_secs(80));
        assert_eq!(backoff(base, 10, max), max);
        assert_eq!(backoff(base, u32::MAX, max), max);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::try_from(jiff::Timestamp::from_second(784_111_777).unwrap()).unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("99999999", now), Some(MAX_RETRY_AFTER));
        // 1994-11-06T08:49:37Z is 784111777.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
