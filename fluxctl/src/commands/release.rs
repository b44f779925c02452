//! `release`: an `image` update, then Flux's flow: `Submitting release
//! ...`, the results table, `Commit pushed:`, the wait for the sync and
//! `Commit applied:`; `--watch` follows the rollout through
//! `/v11/services`; `--interactive` lets the user pick the containers.

use std::time::Duration;

use fluxd::api::{
    ImageSpec, ReleaseContainersSpec, ReleaseImageSpec, ReleaseKind, ResourceId, ResourceSpec,
    STATUS_READY, UpdateKind, UpdateSpec, affected_resources,
};

use super::{Context, cause, deprecated_flag};
use crate::cli::Release;
use crate::error::{Error, check_exactly_one, no_args};
use crate::{Io, interactive, tables, wait};

/// How often `--watch` asks for the rollout.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// `release`.
pub(crate) async fn run(
    context: &mut Context<'_>,
    io: &mut Io<'_>,
    mut args: Release,
) -> Result<(), Error> {
    no_args(&args.args)?;
    check_exactly_one(
        "--update-image=<image> or --update-all-images",
        &[
            args.update_image.as_deref().is_some_and(|i| !i.is_empty()),
            args.update_all_images,
        ],
    )?;
    if !args.controllers.is_empty() {
        deprecated_flag(io, "controller");
        args.workloads.append(&mut args.controllers);
    }
    if args.workloads.is_empty() && !args.all {
        return Err(Error::Usage(
            "please supply either --all, or at least one --workload=<workload>".to_owned(),
        ));
    } else if args.watch && args.dry_run {
        return Err(Error::Usage("cannot use --watch with --dry-run".to_owned()));
    } else if args.force && args.all && args.update_all_images {
        return Err(Error::Usage(
            "--force has no effect when used with --all and --update-all-images".to_owned(),
        ));
    } else if args.force && args.all {
        let _ = writeln!(
            io.err,
            "Warning: --force will not ignore locked workloads when used with --all"
        );
    } else if args.force && args.update_all_images {
        let _ = writeln!(
            io.err,
            "Warning: --force will not ignore container image tags when used with --update-all-images"
        );
    }

    let namespace = context.namespace(args.namespace.as_deref());
    let parse = |text: &str| {
        ResourceId::parse_with_namespace(&namespace, text)
            .map_err(|error| Error::Usage(error.to_string()))
    };
    let service_specs = if args.all {
        vec![ResourceSpec::All]
    } else {
        args.workloads
            .iter()
            .map(|w| parse(w).map(ResourceSpec::Id))
            .collect::<Result<_, _>>()?
    };
    let image_spec = match args.update_image.as_deref().filter(|i| !i.is_empty()) {
        Some(image) => image
            .parse::<ImageSpec>()
            .map_err(|error| Error::Usage(error.to_string()))?,
        None => ImageSpec::Latest,
    };
    let plan = args.dry_run || args.interactive;
    let excludes = args
        .exclude
        .iter()
        .map(|e| parse(e))
        .collect::<Result<Vec<_>, _>>()?;

    let _ = writeln!(
        io.err,
        "{}",
        if plan {
            "Submitting dry-run release ..."
        } else {
            "Submitting release ..."
        }
    );
    let cause = cause(&args.cause);
    let spec = UpdateSpec {
        cause: cause.clone(),
        kind: UpdateKind::Image(ReleaseImageSpec {
            service_specs,
            image_spec,
            kind: if plan {
                ReleaseKind::Plan
            } else {
                ReleaseKind::Execute
            },
            excludes,
            force: args.force,
        }),
    };
    let timeout = context.globals.timeout;
    let client = context.client().await?;
    let mut job = client.update_manifests(&spec).await?;
    let planned = wait::await_job(&client, &job, timeout, io.terminal).await?;
    let mut dry_run = args.dry_run;
    if args.interactive {
        let selected = match interactive::choose(io, &planned.result, args.verbose) {
            Ok(selected) => selected,
            // Flux prints "No changes found." or "Aborted." and exits 0.
            Err(message) => {
                let _ = writeln!(io.err, "{message}");
                return Ok(());
            }
        };
        let _ = writeln!(io.err, "Submitting selected release ...");
        let spec = UpdateSpec {
            cause,
            kind: UpdateKind::Containers(ReleaseContainersSpec {
                kind: ReleaseKind::Execute,
                container_specs: selected,
                skip_mismatches: false,
                force: args.force,
            }),
        };
        job = match client.update_manifests(&spec).await {
            Ok(job) => job,
            Err(error) => {
                let _ = writeln!(io.err, "{error}");
                return Ok(());
            }
        };
        dry_run = false;
    }
    wait::await_and_report(&client, io, &job, !dry_run, args.verbose, timeout).await?;
    if !args.watch {
        return Ok(());
    }
    watch(
        &client,
        io,
        &affected_resources(&planned.result),
        args.verbose,
    )
    .await
}

/// `--watch`: every two seconds, the rollout of each released workload,
/// until all are ready or one reports a problem.
async fn watch(
    client: &crate::client::Client,
    io: &mut Io<'_>,
    ids: &[ResourceId],
    verbosity: u8,
) -> Result<(), Error> {
    let _ = writeln!(io.err, "Monitoring rollout ...");
    if ids.is_empty() {
        // Flux would list every workload here; nothing was released, so
        // there is nothing to follow.
        let _ = writeln!(io.err, "All workloads ready.");
        return Ok(());
    }
    loop {
        let workloads = client.list_services_with_options("", ids).await?;
        let mut completed = 0;
        for workload in &workloads {
            let _ = write!(io.out, "{}", tables::rollout(workload, verbosity));
            if workload.status == STATUS_READY {
                completed += 1;
            }
            if !workload.rollout.messages.is_empty() {
                let _ = writeln!(io.err, "There was a problem releasing {}:", workload.id);
                for message in &workload.rollout.messages {
                    let _ = writeln!(io.err, "{message}");
                }
                return Ok(());
            }
        }
        if completed == workloads.len() {
            let _ = writeln!(io.err, "All workloads ready.");
            return Ok(());
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
    }
}
