//! Polling: fetch on an interval, report a new head only when it changed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::{Error, Head, Mirror, Revision};

/// What the poller reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum PollEvent {
    /// The branch has a head this poller has not reported before.
    NewHead(Head),
    /// A fetch failed; polling goes on.
    FetchFailed(Error),
}

/// A running poll loop; dropping it stops the loop.
#[derive(Debug)]
pub struct Poller {
    events: mpsc::Receiver<PollEvent>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Poller {
    /// Starts polling `mirror`: a fetch now, then one every `interval` (or
    /// sooner after [`Poller::poll_now`]). `last_known` (e.g. the sync
    /// marker's revision) is not reported again.
    pub fn start(mirror: Mirror, interval: Duration, last_known: Option<Revision>) -> Self {
        let (sender, events) = mpsc::channel(16);
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(poll_loop(
            mirror,
            interval,
            last_known,
            sender,
            wake.clone(),
        ));
        Self { events, wake, task }
    }

    /// The next event; `None` once the loop has stopped.
    pub async fn next(&mut self) -> Option<PollEvent> {
        self.events.recv().await
    }

    /// Fetches now instead of at the end of the interval (Flux's `fluxctl sync`).
    pub fn poll_now(&self) {
        self.wake.notify_one();
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn poll_loop(
    mirror: Mirror,
    interval: Duration,
    mut last: Option<Revision>,
    events: mpsc::Sender<PollEvent>,
    wake: Arc<Notify>,
) {
    loop {
        let event = match mirror.fetch().await {
            Ok(head) if Some(head.revision) != last => {
                tracing::debug!(url = %mirror.remote().url(), branch = %head.branch, revision = %head.revision, "new head");
                last = Some(head.revision);
                Some(PollEvent::NewHead(head))
            }
            Ok(_) => None,
            Err(error) => {
                tracing::debug!(url = %mirror.remote().url(), error = %error, "fetch failed");
                Some(PollEvent::FetchFailed(error))
            }
        };
        if let Some(event) = event
            && events.send(event).await.is_err()
        {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = wake.notified() => {}
            () = events.closed() => return,
        }
    }
}
