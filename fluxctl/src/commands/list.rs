//! `list-workloads` (alias `list-controllers`) and `list-images`.

use fluxd::api::{ResourceId, ResourceSpec};

use super::{Context, deprecated_flag};
use crate::cli::{ListImages, ListWorkloads};
use crate::error::{Error, no_args};
use crate::{Io, tables};

fn output_format(text: &str) -> Result<bool, Error> {
    match text {
        "tab" => Ok(false),
        "json" => Ok(true),
        _ => Err(Error::Usage("invalid output format specified".to_owned())),
    }
}

/// Writes a value as Go's `json.Encoder` does: one line.
fn write_json(io: &mut Io<'_>, value: &impl serde::Serialize) -> Result<(), Error> {
    let bytes = fluxd::api::to_go_json(value)
        .map_err(|error| Error::Failed(format!("encoding JSON: {error}")))?;
    let _ = io.out.write_all(&bytes);
    let _ = io.out.write_all(b"\n");
    Ok(())
}

/// `list-workloads`: `GET /v6/services?namespace=` (`""` with `-a`),
/// sorted by id, optionally only those with a container named `-c`.
pub(crate) async fn workloads(
    context: &mut Context<'_>,
    io: &mut Io<'_>,
    args: ListWorkloads,
) -> Result<(), Error> {
    no_args(&args.args)?;
    let json = output_format(&args.output_format)?;
    let namespace = if args.all_namespaces {
        String::new()
    } else {
        context.namespace(args.namespace.as_deref())
    };
    let client = context.client().await?;
    let mut workloads = client.list_services(&namespace).await?;
    if let Some(name) = args.container.as_deref().filter(|n| !n.is_empty()) {
        workloads.retain(|w| w.containers.iter().any(|c| c.name == name));
    }
    workloads.sort_by(|a, b| a.id.cmp(&b.id));
    if json {
        write_json(io, &workloads)
    } else {
        let _ = write!(io.out, "{}", tables::workloads(&workloads, args.no_headers));
        Ok(())
    }
}

/// `list-images`: `GET /v10/images?service=<id or <all>>&containerFields=&namespace=`,
/// sorted by id; `--limit` applies to the table and to JSON's `Available`.
pub(crate) async fn images(
    context: &mut Context<'_>,
    io: &mut Io<'_>,
    mut args: ListImages,
) -> Result<(), Error> {
    no_args(&args.args)?;
    let json = output_format(&args.output_format)?;
    let namespace = context.namespace(args.namespace.as_deref());
    match (&args.workload, &args.controller) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "can't specify both the controller and image".to_owned(),
            ));
        }
        (None, Some(controller)) => {
            deprecated_flag(io, "controller");
            args.workload = Some(controller.clone());
        }
        _ => {}
    }
    // Flux's table shows everything for a limit of 0 or less; its JSON
    // refuses a negative one.
    if json && args.limit < 0 {
        return Err(Error::Usage("opts.limit cannot be less than 0".to_owned()));
    }
    let limit = usize::try_from(args.limit).unwrap_or(0);
    let (spec, query_namespace) = match args.workload.as_deref().filter(|w| !w.is_empty()) {
        Some(workload) => {
            let id = ResourceId::parse_with_namespace(&namespace, workload)
                .map_err(|error| Error::Usage(error.to_string()))?;
            (ResourceSpec::Id(id), String::new())
        }
        None => (ResourceSpec::All, namespace),
    };
    let client = context.client().await?;
    let mut images = client.list_images(&spec, &[], &query_namespace).await?;
    images.sort_by(|a, b| a.id.cmp(&b.id));
    if json {
        if limit > 0 {
            for container in images.iter_mut().flat_map(|i| i.containers.iter_mut()) {
                container.available.truncate(limit);
            }
        }
        write_json(io, &images)
    } else {
        let _ = write!(
            io.out,
            "{}",
            tables::images(&images, limit, args.no_headers)
        );
        Ok(())
    }
}
