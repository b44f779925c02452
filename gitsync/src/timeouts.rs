//! libgit2's socket timeouts: the one place in the workspace that needs `unsafe`.
//!
//! libgit2 blocks in the network until a read or write returns; a server that
//! accepts a connection and then says nothing would hold the calling thread
//! forever, and with it the mirror. libgit2 can time out every connect, read
//! and write itself (ssh through libssh2's session timeout, http, https and
//! `git://` through its socket stream), but only through two process-wide C
//! globals that git2 sets with `unsafe` functions. This module sets them once,
//! before gitsync first opens a repository, to [`io_timeout`].
//!
//! Measured against a server that accepts and never answers (2 s timeout):
//! ssh, http, https and `git://` fetches all ended after 2.00 s with a
//! timeout error; without it all four were still blocked after 30 s, and
//! the transfer callbacks (the other way to cancel) were never called. The
//! `git` CLI would bound each operation too, by killing it, but needs the key
//! on disk, loses gitsync's own known_hosts checking and was no faster: 20
//! no-op ssh fetches took 8.20 s with `git fetch`, 8.26 s with libgit2.

use std::ffi::c_int;
use std::sync::OnceLock;
use std::time::Duration;

use crate::Error;

/// The timeout used when [`set_io_timeout`] was not called first: Flux's
/// `--git-timeout`.
pub const DEFAULT_IO_TIMEOUT: Duration = crate::remote::DEFAULT_TIMEOUT;

static IO_TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Sets how long libgit2 may wait for one connect, read or write on any
/// connection of this process. Call it once, before the first [`crate::Mirror`]
/// is opened (a daemon sets it from its `--git-timeout`); later calls with a
/// different value are refused with [`Error::IoTimeoutAlreadySet`], because
/// libgit2 may be reading it on another thread by then.
///
/// A program that uses libgit2 directly besides gitsync must call this
/// before any of its own threads use libgit2.
pub fn set_io_timeout(timeout: Duration) -> Result<(), Error> {
    let current = *IO_TIMEOUT.get_or_init(|| apply(timeout));
    if current == clamp(timeout) {
        Ok(())
    } else {
        Err(Error::IoTimeoutAlreadySet { current })
    }
}

/// The timeout of one connect, read or write (setting the default if none
/// was set yet).
pub fn io_timeout() -> Duration {
    *IO_TIMEOUT.get_or_init(|| apply(DEFAULT_IO_TIMEOUT))
}

/// Makes sure libgit2's timeouts are set; every gitsync path into libgit2
/// calls this first.
pub(crate) fn ensure() {
    let _ = io_timeout();
}

/// libgit2 takes milliseconds as a C int: at least 1 ms, at most ~24 days.
fn clamp(timeout: Duration) -> Duration {
    let millis = timeout.as_millis().clamp(1, c_int::MAX as u128);
    Duration::from_millis(millis as u64)
}

fn apply(timeout: Duration) -> Duration {
    let timeout = clamp(timeout);
    let millis = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    // SAFETY: these write two plain `int` globals of libgit2 (its socket
    // stream's connect and I/O timeouts) that libgit2 reads whenever it opens
    // a connection; git2 marks them unsafe because the write is not
    // synchronised with those reads. This runs only inside
    // `OnceLock::get_or_init`, once per process, and every gitsync path that
    // can reach libgit2 calls `ensure()` (that same `get_or_init`) first, so
    // no gitsync thread uses libgit2 while the write happens, and the write
    // happens-before everything those threads do afterwards. Code that uses
    // libgit2 outside gitsync is told (in `set_io_timeout`) to call it before
    // its own threads start. Neither call can fail for these options.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(millis);
        let _ = git2::opts::set_server_timeout_in_milliseconds(millis);
    }
    timeout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_once() {
        let current = io_timeout();
        assert!(set_io_timeout(current).is_ok());
        let other = current + Duration::from_secs(1);
        assert!(matches!(
            set_io_timeout(other),
            Err(Error::IoTimeoutAlreadySet { current: c }) if c == current
        ));
        assert_eq!(clamp(Duration::ZERO), Duration::from_millis(1));
    }
}
