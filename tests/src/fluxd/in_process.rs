//! fluxd in the test's own process, through `fluxd::run_with`, so that the
//! test holds the `Daemon` handle (what the HTTP API calls).

use std::sync::Arc;
use std::time::Duration;

use crate::Error;

/// fluxd running on the current tokio runtime; stopped when dropped.
#[derive(Debug)]
pub struct InProcess {
    /// The running daemon's handle.
    pub daemon: fluxd::Daemon,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<fluxd::RunOutcome, fluxd::Error>>>,
}

impl InProcess {
    /// Starts fluxd with `args` (the first is the program name) and waits
    /// up to `timeout` for its handle.
    pub async fn start<I, S>(args: I, timeout: Duration) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        let flags = <fluxd::Flags as clap::Parser>::try_parse_from(args)
            .map_err(|e| Error::invalid("fluxd's arguments", e.to_string()))?;
        let config = fluxd::Config::from_flags(&flags)
            .map_err(|e| Error::invalid("fluxd's configuration", e.to_string()))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, handle) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(fluxd::run_with(
            config,
            async move {
                let _ = stopped.await;
            },
            Arc::new(fluxd::contract::NoObserver),
            move |daemon| {
                let _ = ready.send(daemon);
            },
        ));
        let Ok(Ok(daemon)) = tokio::time::timeout(timeout, handle).await else {
            let ended = if task.is_finished() {
                format!("{:?}", task.await)
            } else {
                "still starting".to_owned()
            };
            return Err(Error::invalid("fluxd's start", ended));
        };
        Ok(Self {
            daemon,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Stops fluxd and waits (at most `timeout`) for it to end.
    pub async fn stop(mut self, timeout: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(timeout, task).await;
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
