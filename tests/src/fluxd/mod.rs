//! fluxd as a real process: a command builder with a clean environment,
//! one-shot runs (`--once`, `--dry-run`) with a deadline, daemons under the
//! [`crate::process::Server`] watchdog, and their JSON log lines.
//!
//! The tests crate cannot name another package's binaries, so it has its own
//! thin `fluxd-e2e` binary over the same library entry point as `fluxd`;
//! integration tests pass `env!("CARGO_BIN_EXE_fluxd-e2e")` to
//! [`FluxdCommand::new`].

mod in_process;
mod logs;
pub mod pod;
pub mod secrets;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use in_process::InProcess;
pub use logs::{LogLine, parse_logfmt, parse_logs, seed_key_pipeline};

use crate::Error;
use crate::process::Server;

/// Environment variables that would let fluxd find a cluster or change its
/// logging behind a test's back; removed from every run.
const SCRUBBED_ENV: &[&str] = &[
    "KUBECONFIG",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "RUST_LOG",
    "FLUXD_GIT_URL",
    "FLUXD_GIT_BRANCH",
    "FLUXD_GIT_PATH",
];

/// A fluxd command line with a clean environment: `HOME` is a private empty
/// directory (no `~/.kube/config`), no `KUBECONFIG`, not in a cluster, and
/// logs are JSON (`--log-format json`) unless the arguments say otherwise,
/// the API listens on a free loopback port unless they name `--listen`, and
/// only registries on 127.0.0.1 are scanned unless they name a registry flag.
#[derive(Debug)]
pub struct FluxdCommand {
    binary: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// Shared with the daemons started from this command, so a daemon's
    /// `HOME` lives as long as the daemon, not only as long as the command.
    home: std::sync::Arc<tempfile::TempDir>,
    log_format_given: bool,
    current_dir: Option<PathBuf>,
    /// A program (and its arguments) that runs fluxd: [`pod::Pod`]'s.
    wrapper: Vec<OsString>,
}

/// What a finished run printed and how it exited.
#[derive(Debug)]
pub struct Finished {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything on stdout (the plan of a dry run).
    pub stdout: String,
    /// Everything on stderr (log lines, and the message of a fatal error).
    pub stderr: String,
}

impl Finished {
    /// The JSON log lines on stderr (other lines skipped).
    pub fn logs(&self) -> Vec<LogLine> {
        parse_logs(&self.stderr)
    }

    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Everything printed, for assertion messages.
    pub fn output(&self) -> String {
        format!(
            "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

impl FluxdCommand {
    /// fluxd at `binary` (the tests' `fluxd-e2e`).
    pub fn new(binary: impl Into<PathBuf>) -> Result<Self, Error> {
        let home = tempfile::Builder::new()
            .prefix("fluxd-home-")
            .tempdir()
            .map_err(|e| Error::io("creating a HOME for fluxd", e))?;
        Ok(Self {
            binary: binary.into(),
            args: Vec::new(),
            env: Vec::new(),
            home: std::sync::Arc::new(home),
            log_format_given: false,
            current_dir: None,
            wrapper: Vec::new(),
        })
    }

    /// Runs fluxd through `wrapper` (a program and its first arguments, to
    /// which fluxd's path and arguments are appended), e.g. `unshare -m ...
    /// sh -c '...; exec "$@"' sh` to give it a mount namespace of its own.
    #[must_use]
    pub fn wrapped<I, S>(mut self, wrapper: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.wrapper = wrapper.into_iter().map(Into::into).collect();
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        for arg in args {
            let arg = arg.into();
            if arg.to_string_lossy().starts_with("--log-format") {
                self.log_format_given = true;
            }
            self.args.push(arg);
        }
        self
    }

    /// Adds an argument.
    #[must_use]
    pub fn arg(self, arg: impl Into<OsString>) -> Self {
        self.args([arg])
    }

    /// Runs fluxd with exactly the arguments given: no `--log-format json`
    /// added when they name no log format (fluxd then logs logfmt, which
    /// [`parse_logs`] reads too). For command lines that must stay as a
    /// user wrote them, such as Flux's Helm charts'.
    #[must_use]
    pub fn with_args_as_given(mut self) -> Self {
        self.log_format_given = true;
        self
    }

    /// Sets an environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs fluxd in `dir`.
    #[must_use]
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// The private `HOME`.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    fn command(&self) -> Command {
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&self.binary);
                command
            }
            None => Command::new(&self.binary),
        };
        command.args(&self.args);
        if !self.log_format_given {
            command.args(["--log-format", "json"]);
        }
        // A test's fluxd never takes port 3030 of every interface: its API
        // goes to a free loopback port unless the test names one.
        let listen_given = self.args.iter().any(|arg| {
            let arg = arg.to_string_lossy();
            arg == "-l" || arg == "--listen" || arg.starts_with("--listen=")
        });
        if !listen_given {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        // Nor does it scan a registry beyond this machine: unless the test
        // names a registry flag, only registries on 127.0.0.1 are polled (the
        // daemon's flag; `fluxd helm-operator` polls no registry).
        let registry_given = self
            .args
            .iter()
            .any(|arg| arg.to_string_lossy().starts_with("--registry-"));
        let operator = self.args.iter().any(|arg| arg == "helm-operator");
        if !registry_given && !operator {
            command.args(["--registry-include-image", "127.0.0.1:*"]);
        }
        for key in SCRUBBED_ENV {
            command.env_remove(key);
        }
        command.env("HOME", self.home.path());
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }

    /// Runs to the end (at most `timeout`, then it is killed and this fails).
    pub fn run(&self, timeout: Duration) -> Result<Finished, Error> {
        self.run_terminated_at(timeout, |_| false)
    }

    /// Runs like [`run`](Self::run), and sends fluxd SIGTERM (through the
    /// `kill` command) when it first logs a line that satisfies `when`.
    pub fn run_terminated_at(
        &self,
        timeout: Duration,
        when: impl Fn(&LogLine) -> bool + Send + 'static,
    ) -> Result<Finished, Error> {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io(format!("starting {}", self.binary.display()), e))?;
        let pid = child.id().to_string();
        let mut signalled = false;
        let on_line = move |line: &str| {
            if !signalled && parse_logs(line).iter().any(&when) {
                signalled = true;
                let _ = Command::new("kill").args(["-TERM", &pid]).status();
            }
        };
        // Read both pipes on threads so a chatty child never blocks on a full pipe.
        let stdout = child.stdout.take().map(|pipe| read_on_thread(pipe, |_| {}));
        let stderr = child
            .stderr
            .take()
            .map(|pipe| read_on_thread(pipe, on_line));
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
                    return Err(Error::Timeout {
                        what: format!("fluxd {:?} to finish", self.args),
                        after: timeout,
                        log_tail: tail(&stderr, 4096),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(Error::io("waiting for fluxd", e)),
            }
        };
        let finished = Finished {
            status,
            stdout: stdout.and_then(|t| t.join().ok()).unwrap_or_default(),
            stderr: stderr.and_then(|t| t.join().ok()).unwrap_or_default(),
        };
        secrets::check("fluxd's stdout", &finished.stdout)?;
        secrets::check("fluxd's stderr", &finished.stderr)?;
        Ok(finished)
    }

    /// Starts fluxd as a daemon, logging into `<dir>/fluxd.log`.
    pub fn start(&self, dir: &Path) -> Result<Daemon, Error> {
        let log = dir.join("fluxd.log");
        let server = Server::spawn("fluxd", &self.command(), &log)?;
        Ok(Daemon {
            server,
            log,
            _home: std::sync::Arc::clone(&self.home),
        })
    }
}

/// Reads `pipe` to its end on a thread, handing each line to `on_line` as it
/// comes; the thread's result is everything read, lossily decoded.
fn read_on_thread(
    pipe: impl std::io::Read + Send + 'static,
    mut on_line: impl FnMut(&str) + Send + 'static,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(pipe);
        let mut text = String::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            match std::io::BufRead::read_until(&mut reader, b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let decoded = String::from_utf8_lossy(&line);
                    on_line(&decoded);
                    text.push_str(&decoded);
                }
            }
        }
        text
    })
}

fn tail(text: &str, max: usize) -> String {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

/// A running fluxd daemon; stopped (SIGTERM) when dropped.
#[derive(Debug)]
pub struct Daemon {
    server: Server,
    log: PathBuf,
    _home: std::sync::Arc<tempfile::TempDir>,
}

impl Daemon {
    /// Its JSON log lines so far.
    pub fn logs(&self) -> Vec<LogLine> {
        parse_logs(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Everything it logged so far, for assertion messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until a log line satisfies `found` (checking every 20 ms) and
    /// returns it; fails if fluxd exits or after `timeout`.
    pub fn wait_for_log(
        &mut self,
        timeout: Duration,
        what: &str,
        mut found: impl FnMut(&LogLine) -> bool,
    ) -> Result<LogLine, Error> {
        let mut hit = None;
        let log = self.log.clone();
        self.server.wait_until(timeout, what, || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            hit = parse_logs(&text).into_iter().find(|line| found(line));
            hit.is_some()
        })?;
        hit.ok_or_else(|| Error::invalid(what, "found, then lost"))
    }

    /// How many log lines satisfy `matches` so far.
    pub fn count_logs(&self, matches: impl Fn(&LogLine) -> bool) -> usize {
        self.logs().iter().filter(|line| matches(line)).count()
    }

    /// fluxd's process id (not its watchdog's), while it runs.
    pub fn pid(&mut self) -> Option<u32> {
        self.server.pid()
    }

    /// The address its API listens on, from its `listening` log line
    /// (waiting for it at most `timeout`): `http://127.0.0.1:PORT`.
    pub fn api_url(&mut self, timeout: Duration) -> Result<String, Error> {
        let line = self.wait_for_log(timeout, "the API to listen", |line| {
            line.is("listening") && line.str("flag") == Some("--listen")
        })?;
        line.str("addr")
            .map(|addr| format!("http://{addr}"))
            .ok_or_else(|| Error::invalid("the listening line", "no addr"))
    }

    /// Fails with the log tail if fluxd has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        self.server.check_running()
    }

    /// Kills fluxd with SIGKILL and reaps it: no shutdown grace, no
    /// clean-up, as when its node dies.
    pub fn kill(&mut self) -> Result<(), Error> {
        self.server.kill()
    }

    /// Kills fluxd with SIGKILL `delay` after it first logs a line (from
    /// byte `from` of its log on) that satisfies `when`, and returns that
    /// line and the log's length at the kill. The log is followed as it
    /// grows (checked every millisecond), so the kill lands close to the
    /// point the line marks. Fails if fluxd exits first or after `timeout`.
    pub fn kill_when(
        &mut self,
        from: u64,
        timeout: Duration,
        delay: Duration,
        when: impl Fn(&LogLine) -> bool,
    ) -> Result<(LogLine, u64), Error> {
        use std::io::{Read as _, Seek as _};

        let mut file = std::fs::File::open(&self.log)
            .map_err(|e| Error::io(format!("opening {}", self.log.display()), e))?;
        file.seek(std::io::SeekFrom::Start(from))
            .map_err(|e| Error::io(format!("reading {}", self.log.display()), e))?;
        let deadline = Instant::now() + timeout;
        let mut pending = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = file
                .read(&mut chunk)
                .map_err(|e| Error::io(format!("reading {}", self.log.display()), e))?;
            pending.extend_from_slice(&chunk[..n]);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                if let Some(hit) = parse_logs(&text).into_iter().find(|line| when(line)) {
                    if !delay.is_zero() {
                        std::thread::sleep(delay);
                    }
                    self.kill()?;
                    let length = std::fs::metadata(&self.log).map_or(0, |m| m.len());
                    return Ok((hit, length));
                }
            }
            if n > 0 {
                continue;
            }
            self.server.check_running()?;
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "fluxd: a log line to kill it at".to_owned(),
                    after: timeout,
                    log_tail: self.server.log_tail(4096),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends SIGTERM and waits for fluxd (and its watchdog) to exit.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Fails if any line logged so far holds a secret planted with
    /// [`secrets::plant`]; also checked when the daemon is dropped.
    pub fn check_no_planted_secrets(&self) -> Result<(), Error> {
        secrets::check(
            &format!("fluxd's log {}", self.log.display()),
            &self.log_text(),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Not while a test is failing already: a second panic aborts.
        if !std::thread::panicking()
            && let Err(error) = self.check_no_planted_secrets()
        {
            panic!("{error}");
        }
    }
}
