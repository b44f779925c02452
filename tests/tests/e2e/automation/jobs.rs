//! Releases, policy jobs and the queue across a restart.
