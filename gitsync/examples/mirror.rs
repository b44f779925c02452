//! Mirrors one branch of a git repository into a local bare repository and
//! prints each new revision as it arrives.
//!
//! ```text
//! cargo run -p fluxd-gitsync --example mirror -- URL DIR [--branch B] [--since REV]
//!     [--interval SECS] [--once] [--ssh-key FILE --known-hosts FILE]
//! ```
//!
//! - `URL`: `https://`, `ssh://`, scp-like `git@host:path`, `file://` or a
//!   plain path.
//! - `DIR`: the mirror (a bare repository, created when missing; a second
//!   run fetches only what is new).
//! - `--branch B`: the branch to follow (default: the remote's default branch).
//! - `--since REV`: the last revision already seen: the commits after it are
//!   printed, oldest first. Without it the first head is printed alone.
//! - `--interval SECS`: how often to fetch (default 60).
//! - `--once`: fetch once, print, and exit, instead of polling until Ctrl-C.
//! - `--ssh-key FILE`, `--known-hosts FILE`: for `ssh://` remotes (host
//!   keys are checked against that file only, never `~/.ssh`).
//!
//! Prints `new <commit>` for each commit the branch gained, oldest first,
//! then `head <branch> <commit>`; a failed fetch is reported on stderr and
//! polling goes on (with `--once` it exits 1). Exits 2 on a bad command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fluxd_gitsync::{
    GitUrl, Head, KnownHosts, Mirror, PollEvent, Poller, Remote, Revision, SshKey,
};

/// The command line.
struct Args {
    url: GitUrl,
    dir: PathBuf,
    branch: Option<String>,
    since: Option<Revision>,
    interval: Duration,
    once: bool,
    ssh_key: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
}

const USAGE: &str = "usage: mirror URL DIR [--branch B] [--since REV] [--interval SECS] [--once] [--ssh-key FILE --known-hosts FILE]";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut branch = None;
    let mut since = None;
    let mut interval = Duration::from_secs(60);
    let mut once = false;
    let mut ssh_key = None;
    let mut known_hosts = None;
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--branch" => branch = Some(value("--branch")?),
            "--since" => {
                let text = value("--since")?;
                since = Some(text.parse().map_err(|e| format!("--since {text:?}: {e}"))?);
            }
            "--interval" => {
                let text = value("--interval")?;
                let seconds: u64 = text
                    .parse()
                    .map_err(|_| format!("--interval {text:?} is not a number of seconds"))?;
                interval = Duration::from_secs(seconds.max(1));
            }
            "--once" => once = true,
            "--ssh-key" => ssh_key = Some(PathBuf::from(value("--ssh-key")?)),
            "--known-hosts" => known_hosts = Some(PathBuf::from(value("--known-hosts")?)),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
            _ => positional.push(arg),
        }
    }
    let [url, dir] = <[String; 2]>::try_from(positional)
        .map_err(|_| format!("expected a URL and a directory\n{USAGE}"))?;
    Ok(Args {
        url: GitUrl::parse(&url).map_err(|e| e.to_string())?,
        dir: PathBuf::from(dir),
        branch,
        since,
        interval,
        once,
        ssh_key,
        known_hosts,
    })
}

/// Prints the commits from `previous` (exclusive) to `head`, oldest first,
/// then the head.
async fn report(mirror: &Mirror, previous: Option<Revision>, head: &Head) -> Result<(), String> {
    if let Some(previous) = previous {
        let revision = head.revision.to_string();
        let new = mirror
            .revisions_between(Some(previous), &revision)
            .await
            .map_err(|e| e.to_string())?;
        for revision in new.iter().rev() {
            println!("new {revision}");
        }
    }
    println!("head {} {}", head.branch, head.revision);
    Ok(())
}

async fn run(args: Args) -> Result<(), String> {
    let mut remote = Remote::new(args.url).with_timeout(Duration::from_secs(30));
    if let Some(key) = args.ssh_key {
        remote = remote.with_ssh_key(SshKey::file(key));
    }
    if let Some(path) = args.known_hosts {
        remote = remote.with_known_hosts(KnownHosts::from_file(&path).map_err(|e| e.to_string())?);
    }
    let mirror = Mirror::open(remote, &args.dir, args.branch)
        .await
        .map_err(|e| e.to_string())?;

    if args.once {
        let head = mirror.fetch().await.map_err(|e| e.to_string())?;
        return report(&mirror, args.since, &head).await;
    }

    // The poller reports a head only when it differs from the last one.
    let mut poller = Poller::start(mirror.clone(), args.interval, args.since);
    let mut previous = args.since;
    loop {
        let event = tokio::select! {
            event = poller.next() => event,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match event {
            Some(PollEvent::NewHead(head)) => {
                report(&mirror, previous, &head).await?;
                previous = Some(head.revision);
            }
            Some(PollEvent::FetchFailed(error)) => eprintln!("mirror: {error}"),
            Some(_) => {}
            None => return Err("the poller stopped".to_owned()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("mirror: {error}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mirror: {error}");
            ExitCode::from(1)
        }
    }
}
