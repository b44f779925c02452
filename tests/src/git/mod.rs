//! Git fixtures: repositories built with the real `git` CLI, and servers that
//! serve them over smart HTTP ([`http`]) or not at all ([`silent`]). The ssh
//! server is [`crate::sshd`].
//!
//! [`GitFixture`] pins author and committer names and dates (one minute apart
//! per commit, from a fixed epoch), so the same script of edits always yields
//! the same revisions.

pub mod http;
pub mod silent;

use std::cell::Cell;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// Seconds since the epoch of the first commit a fixture makes (2023-11-14).
const EPOCH: u64 = 1_700_000_000;

/// A bare "origin" repository (what servers serve) and a working clone that
/// authors commits and pushes them, both under one directory.
#[derive(Debug)]
pub struct GitFixture {
    root: PathBuf,
    bare: PathBuf,
    work: PathBuf,
    /// Commits made so far; each gets `EPOCH + 60 * tick` as its dates.
    tick: Cell<u64>,
}

impl GitFixture {
    /// Creates `<dir>/origin.git` (bare, HEAD on `default_branch`) and a clone
    /// of it in `<dir>/work`.
    pub fn new(dir: &Path, default_branch: &str) -> Result<Self, Error> {
        let fixture = Self {
            root: dir.to_owned(),
            bare: dir.join("origin.git"),
            work: dir.join("work"),
            tick: Cell::new(0),
        };
        fixture.git_in(
            dir,
            [
                "init",
                "--quiet",
                "--bare",
                &format!("--initial-branch={default_branch}"),
                "origin.git",
            ],
        )?;
        fixture.git_in(dir, ["clone", "--quiet", "origin.git", "work"])?;
        fixture.git(["checkout", "--quiet", "-b", default_branch])?;
        Ok(fixture)
    }

    /// The bare repository servers serve.
    pub fn bare_path(&self) -> &Path {
        &self.bare
    }

    /// The working clone.
    pub fn work_path(&self) -> &Path {
        &self.work
    }

    /// Writes a file of the working clone (creating directories).
    pub fn write(&self, path: &str, contents: &str) -> Result<(), Error> {
        let path = self.work.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        std::fs::write(&path, contents)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// Deletes a file of the working clone.
    pub fn remove(&self, path: &str) -> Result<(), Error> {
        let path = self.work.join(path);
        std::fs::remove_file(&path)
            .map_err(|e| Error::io(format!("removing {}", path.display()), e))
    }

    /// Commits everything in the working clone with pinned dates and returns
    /// the new revision.
    pub fn commit(&self, message: &str) -> Result<String, Error> {
        self.git(["add", "--all"])?;
        let tick = self.tick.get() + 1;
        self.tick.set(tick);
        let date = format!("{} +0000", EPOCH + 60 * tick);
        self.command(
            &self.work,
            ["commit", "--quiet", "--allow-empty", "-m", message],
        )
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .map_err(|e| Error::io("running git commit", e))
        .and_then(|output| check("git commit", &output))?;
        self.git(["rev-parse", "HEAD"])
    }

    /// Pushes the working clone's current branch to origin.
    pub fn push(&self) -> Result<(), Error> {
        self.git(["push", "--quiet", "origin", "HEAD"]).map(drop)
    }

    /// Pushes the working clone's current branch to origin even when that
    /// rewrites origin's history (`git push --force`).
    pub fn force_push(&self) -> Result<(), Error> {
        self.git(["push", "--quiet", "--force", "origin", "HEAD"])
            .map(drop)
    }

    /// Commits and pushes; returns the new revision.
    pub fn commit_and_push(&self, message: &str) -> Result<String, Error> {
        let revision = self.commit(message)?;
        self.push()?;
        Ok(revision)
    }

    /// Runs git in the working clone and returns its trimmed stdout.
    pub fn git<I, S>(&self, args: I) -> Result<String, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.git_in(&self.work, args)
    }

    /// Runs git in the bare repository and returns its trimmed stdout.
    pub fn git_bare<I, S>(&self, args: I) -> Result<String, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.git_in(&self.bare, args)
    }

    /// What `refname` points at in origin (peeled to a commit), if it exists.
    pub fn origin_ref(&self, refname: &str) -> Result<Option<String>, Error> {
        let output = self
            .command(
                &self.bare,
                [
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{refname}^{{commit}}"),
                ],
            )
            .output()
            .map_err(|e| Error::io("running git rev-parse", e))?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned()))
    }

    /// Runs git in `dir` and returns its trimmed stdout.
    pub fn git_in<I, S>(&self, dir: &Path, args: I) -> Result<String, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command(dir, args);
        let line = format!("{command:?}");
        let output = command
            .output()
            .map_err(|e| Error::io(format!("running {line}"), e))?;
        check(&line, &output)?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// A git command with a clean environment: no system or user config, a
    /// pinned identity.
    fn command<I, S>(&self, dir: &Path, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new("git");
        command
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", &self.root)
            .env("GIT_AUTHOR_NAME", "Fixture Author")
            .env("GIT_AUTHOR_EMAIL", "author@fixture.test")
            .env("GIT_COMMITTER_NAME", "Fixture Committer")
            .env("GIT_COMMITTER_EMAIL", "committer@fixture.test")
            .env("GIT_TERMINAL_PROMPT", "0");
        command
    }
}

fn check(line: &str, output: &std::process::Output) -> Result<(), Error> {
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Command {
        command: line.to_owned(),
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_are_reproducible() {
        let build = || {
            let dir = tempfile::tempdir().unwrap();
            let fixture = GitFixture::new(dir.path(), "main").unwrap();
            fixture.write("a/b.yaml", "kind: ConfigMap\n").unwrap();
            let first = fixture.commit_and_push("first").unwrap();
            fixture.write("a/b.yaml", "kind: Secret\n").unwrap();
            let second = fixture.commit_and_push("second").unwrap();
            assert_eq!(
                fixture.origin_ref("refs/heads/main").unwrap(),
                Some(second.clone())
            );
            (first, second)
        };
        assert_eq!(build(), build());
    }
}
