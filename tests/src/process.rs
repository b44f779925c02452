//! Servers the tests start: spawned under a watchdog, logged to a file, waited
//! for, and stopped on drop.
//!
//! Every server runs as the child of a small `bash` watchdog whose stdin is a pipe
//! held by the [`Server`]. Dropping the `Server`, a panicking test unwinding past
//! it, or the whole test process exiting (even by SIGKILL, or when the `Server`
//! lives in a `static` that never drops) closes that pipe; the watchdog then
//! sends SIGTERM to the server, SIGKILL five seconds later, and reaps it. No
//! server outlives the tests that started it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// Runs `"$@"` in the background and stops it once stdin reaches end-of-file;
/// exits with the server's status when the server exits first. Ctrl-C is left
/// to the test process, whose exit closes the pipe.
const WATCHDOG: &str = r#"
trap '' INT QUIT
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
cat <&3 >/dev/null 3<&- &
reader=$!
exec 3<&-
wait -n -p done "$child" "$reader"
status=$?
if [ "$done" = "$child" ]; then
    kill "$reader" 2>/dev/null
    exit "$status"
fi
( sleep 5; kill -KILL "$child" 2>/dev/null ) &
killer=$!
kill -TERM "$child" 2>/dev/null
wait "$child"
status=$?
kill "$killer" 2>/dev/null
exit "$status"
"#;

/// A server process started for a test.
#[derive(Debug)]
pub struct Server {
    name: String,
    child: Child,
    /// Closing this tells the watchdog to stop the server.
    lifeline: Option<ChildStdin>,
    log: PathBuf,
    /// The command's program, to find the server among the watchdog's children.
    program: std::ffi::OsString,
}

impl Server {
    /// Starts `command` under the watchdog. Its stdout and stderr go to `log`
    /// (created or truncated); `name` appears in errors.
    ///
    /// The command's program, arguments, environment and working directory are
    /// kept; its stdio settings are replaced.
    pub fn spawn(name: &str, command: &Command, log: &Path) -> Result<Self, Error> {
        let out =
            File::create(log).map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io(format!("duplicating {}", log.display()), e))?;

        let mut watchdog = Command::new("bash");
        watchdog
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(command.get_program())
            .args(command.get_args())
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err);
        if let Some(dir) = command.get_current_dir() {
            watchdog.current_dir(dir);
        }
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => watchdog.env(key, value),
                None => watchdog.env_remove(key),
            };
        }

        let mut child = watchdog.spawn().map_err(|e| {
            Error::io(
                format!(
                    "starting {name} ({})",
                    command.get_program().to_string_lossy()
                ),
                e,
            )
        })?;
        let lifeline = child.stdin.take();
        tracing::debug!(server = name, pid = child.id(), log = %log.display(), "started");
        Ok(Self {
            name: name.to_owned(),
            child,
            lifeline,
            log: log.to_owned(),
            program: command.get_program().to_owned(),
        })
    }

    /// The name given at start.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `max_bytes` of the server's log, for error messages.
    pub fn log_tail(&self, max_bytes: u64) -> String {
        log_tail(&self.log, max_bytes)
    }

    /// Fails with the log tail if the server has already exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::ServerExited {
                name: self.name.clone(),
                status: status.to_string(),
                log_tail: self.log_tail(4096),
            }),
            Err(e) => Err(Error::io(format!("checking on {}", self.name), e)),
        }
    }

    /// Waits until `addr` accepts TCP connections, failing early (with the log
    /// tail) if the server exits, or after `timeout`.
    pub fn wait_for_port(&mut self, addr: SocketAddr, timeout: Duration) -> Result<(), Error> {
        self.wait_until(timeout, &format!("{addr} to accept connections"), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        })
    }

    /// Polls `ready` every 20 ms until it is true, failing early (with the log
    /// tail) if the server exits, or after `timeout`. `what` describes the wait.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{}: {what}", self.name),
                    after: timeout,
                    log_tail: self.log_tail(4096),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id (the watchdog's child running the command),
    /// once it runs the command's program; `None` if it has exited.
    pub fn pid(&mut self) -> Option<u32> {
        let watchdog = self.child.id();
        let children = format!("/proc/{watchdog}/task/{watchdog}/children");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.check_running().is_err() {
                return None;
            }
            let found = std::fs::read_to_string(&children)
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok())
                .find(|pid| {
                    // The watchdog's other child is `cat`; a child that has
                    // not exec'ed the program yet still shows as bash. A
                    // wrapper (unshare, a pod's runner) may exec something
                    // else than the program named: any other child is it.
                    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
                    let comm =
                        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    program == self.program.as_encoded_bytes()
                        || !matches!(comm.trim(), "" | "cat" | "bash")
                });
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the server and every process it started (a helm it runs) with
    /// SIGKILL, as when its container dies: no chance to clean up. Reaps it
    /// with its watchdog.
    pub fn kill(&mut self) -> Result<(), Error> {
        let Some(pid) = self.pid() else {
            return Err(Error::ServerExited {
                name: self.name.clone(),
                status: "exited before it was killed".to_owned(),
                log_tail: self.log_tail(4096),
            });
        };
        let pids: Vec<String> = std::iter::once(pid)
            .chain(descendants(pid))
            .map(|p| p.to_string())
            .collect();
        let status = Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .status()
            .map_err(|e| Error::io(format!("killing {}", self.name), e))?;
        if !status.success() {
            return Err(Error::invalid(
                format!("kill -KILL {pid} ({})", self.name),
                status.to_string(),
            ));
        }
        // The watchdog exits with the server's status once it is reaped.
        let _ = self.child.wait();
        self.lifeline = None;
        tracing::debug!(server = %self.name, pid, "killed");
        Ok(())
    }

    /// Stops the server (SIGTERM, SIGKILL after five seconds) and reaps it.
    pub fn stop(&mut self) {
        if self.lifeline.take().is_none() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    // The watchdog itself is stuck: take it down; its server
                    // still gets SIGTERM from the closed pipe's EOF path.
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        tracing::debug!(server = %self.name, "stopped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The processes below `pid` (children, their children, ...), from `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((child, ppid));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (child, _) in parents.iter().filter(|(_, p)| *p == parent) {
            found.push(*child);
            frontier.push(*child);
        }
    }
    found
}

/// The last `max_bytes` of a file, lossily decoded; empty if unreadable.
pub fn log_tail(path: &Path, max_bytes: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(max_bytes)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_stops_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("echo $$ > {}; exec sleep 600", pidfile.display()));
        let mut server = Server::spawn("sleeper", &cmd, &dir.path().join("log")).unwrap();
        server
            .wait_until(Duration::from_secs(5), "pid file", || pidfile.exists())
            .unwrap();
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists());
        drop(server);
        // Reaped by the watchdog: the pid is gone, not a zombie.
        assert!(!proc_dir.exists(), "server {pid} outlived its Server");
    }

    #[test]
    fn early_exit_reports_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("echo 'bad config: no port' >&2; exit 3");
        let mut server = Server::spawn("broken", &cmd, &dir.path().join("log")).unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], crate::net::free_port().unwrap()).into();
        let err = server
            .wait_for_port(addr, Duration::from_secs(5))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("broken"), "{text}");
        assert!(text.contains("bad config: no port"), "{text}");
    }

    /// Run by `process_exit_stops_the_server` in a child test process: starts a
    /// server and forgets it, as a `static` would. Does nothing on its own.
    #[test]
    fn forgotten_server_child() {
        let Some(pidfile) = std::env::var_os("FLUXRS_TEST_FORGOTTEN_PIDFILE") else {
            return;
        };
        let pidfile = PathBuf::from(pidfile);
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("echo $$ > {}; exec sleep 600", pidfile.display()));
        let log = pidfile.with_extension("log");
        let mut server = Server::spawn("forgotten", &cmd, &log).unwrap();
        server
            .wait_until(Duration::from_secs(5), "pid file", || pidfile.exists())
            .unwrap();
        std::mem::forget(server);
    }

    #[test]
    fn process_exit_stops_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let status = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "process::tests::forgotten_server_child",
                "--quiet",
            ])
            .env("FLUXRS_TEST_FORGOTTEN_PIDFILE", &pidfile)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while proc_dir.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !proc_dir.exists(),
            "server {pid} outlived the test process that started it"
        );
    }
}
