//! `sync`: check the repository is ready, ask fluxd to sync now, and wait
//! until the revision it fetched is applied, with Flux's lines.

use fluxd::api::{GitRepoStatus, ManualSync, UpdateKind, UpdateSpec};

use super::Context;
use crate::Io;
use crate::cli::NoArgs;
use crate::error::{Error, no_args};
use crate::wait::{self, short_revision};

/// Whether a sync job's error is Flux's "HEAD is not verified" (then a
/// warning: the last verified revision is applied).
fn is_unverified_head(error: &str) -> bool {
    error.contains("branch HEAD in the git repo is not verified")
        && error.contains("last verified commit was")
}

/// `sync`.
pub(crate) async fn run(
    context: &mut Context<'_>,
    io: &mut Io<'_>,
    args: NoArgs,
) -> Result<(), Error> {
    no_args(&args.args)?;
    let client = context.client().await?;
    let config = client.git_repo_config(false).await?;
    let url = &config.remote.url;
    match &config.status {
        GitRepoStatus::Unconfigured => {
            return Err(Error::Failed("no git repository is configured".to_owned()));
        }
        GitRepoStatus::Ready => {}
        GitRepoStatus::Unreachable => {
            return Err(Error::Failed(format!(
                "can not connect to git repository with URL {url}\n\nFull error message: {}",
                config.error
            )));
        }
        _ if !config.error.is_empty() => {
            return Err(Error::Failed(format!(
                "git repository {url} is not ready to sync\n\nFull error message: {}",
                config.error
            )));
        }
        _ => {
            return Err(Error::Failed(format!(
                "git repository {url} is not ready to sync"
            )));
        }
    }
    let _ = writeln!(io.err, "Synchronizing with {url}");
    let spec = UpdateSpec {
        cause: fluxd::api::Cause::default(),
        kind: UpdateKind::Sync(ManualSync {}),
    };
    let job = client.update_manifests(&spec).await?;
    let timeout = context.globals.timeout;
    let revision = match wait::await_job(&client, &job, timeout, io.terminal).await {
        Ok(result) => result.revision,
        Err(Error::Job(message)) if is_unverified_head(&message) => {
            let _ = writeln!(io.err, "Warning: {message}");
            // Flux goes on with the result it could not see; the job's
            // status has it.
            client.job_status(&job).await?.result.revision
        }
        Err(error) => {
            let _ = writeln!(
                io.err,
                "Failed to complete sync job (ID {:?})",
                job.as_str()
            );
            return Err(error);
        }
    };
    if revision.is_empty() {
        return Err(Error::Failed(format!(
            "sync job {job} reported no revision"
        )));
    }
    let short = short_revision(&revision).to_owned();
    let _ = writeln!(
        io.err,
        "Revision of {} to apply is {short}",
        config.remote.branch
    );
    let _ = writeln!(io.err, "Waiting for {short} to be applied ...");
    wait::await_sync(&client, &short, timeout, io.terminal).await?;
    let _ = writeln!(io.err, "Done.");
    Ok(())
}
