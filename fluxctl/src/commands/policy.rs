//! `policy`, and `automate`, `deautomate`, `lock`, `unlock` (each a
//! policy change): one `policy` update, then the results table and
//! `Commit pushed:` (no wait for the sync, as Flux).

use fluxd::api::{
    PolicySet, PolicyUpdate, PolicyUpdates, ResourceId, UpdateKind, UpdateSpec, policy,
};

use super::{Context, cause, deprecated_flag};
use crate::cli::{Policy, WorkloadPolicyShortcut};
use crate::error::{Error, no_args};
use crate::{Io, wait};

/// Which shortcut command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shortcut {
    Automate,
    Deautomate,
    Lock,
    Unlock,
}

/// Flux's `policy.NewPattern(p).String()`: `glob:` unless the pattern has
/// a `semver:`, `regexp:` or `regex:` prefix (`regex:` written `regexp:`).
pub(crate) fn normalise_pattern(pattern: &str) -> String {
    if pattern.starts_with("semver:") || pattern.starts_with("regexp:") {
        pattern.to_owned()
    } else if let Some(rest) = pattern.strip_prefix("regex:") {
        format!("regexp:{rest}")
    } else {
        format!("glob:{}", pattern.strip_prefix("glob:").unwrap_or(pattern))
    }
}

/// The changes a `policy` command line asks for (Flux's
/// `calculatePolicyChanges`).
pub(crate) fn changes(args: &Policy, user: &str, message: &str) -> Result<PolicyUpdate, Error> {
    let mut add = PolicySet::default();
    let mut remove = PolicySet::default();
    if args.automate {
        add.add(policy::AUTOMATED);
    }
    if args.lock {
        add.add(policy::LOCKED);
        if !user.is_empty() {
            add.set(policy::LOCKED_USER, user);
            add.set(policy::LOCKED_MSG, message);
        }
    }
    if args.deautomate {
        remove.add(policy::AUTOMATED);
    }
    if args.unlock {
        remove.add(policy::LOCKED);
        remove.add(policy::LOCKED_MSG);
        remove.add(policy::LOCKED_USER);
    }
    if let Some(tag_all) = args.tag_all.as_deref().filter(|t| !t.is_empty()) {
        add.set(policy::TAG_ALL, &normalise_pattern(tag_all));
    }
    for pair in &args.tags {
        let parts: Vec<&str> = pair.split('=').collect();
        let [container, tag] = parts.as_slice() else {
            return Err(Error::Usage(format!(
                "invalid container/tag pair: {pair:?}. Expected format is 'container=filter'"
            )));
        };
        if *tag == "*" {
            remove.add(&policy::tag(container));
        } else {
            add.set(&policy::tag(container), &normalise_pattern(tag));
        }
    }
    Ok(PolicyUpdate { add, remove })
}

/// `policy`.
pub(crate) async fn run(
    context: &mut Context<'_>,
    io: &mut Io<'_>,
    mut args: Policy,
) -> Result<(), Error> {
    no_args(&args.args)?;
    match (&args.workload, &args.controller) {
        (None, None) => return Err(Error::Usage("-w, --workload is required".to_owned())),
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "can't specify both the controller and workload".to_owned(),
            ));
        }
        (None, Some(controller)) => {
            deprecated_flag(io, "controller");
            args.workload = Some(controller.clone());
        }
        (Some(_), None) => {}
    }
    if args.automate && args.deautomate {
        return Err(Error::Usage(
            "automate and deautomate both specified".to_owned(),
        ));
    }
    if args.lock && args.unlock {
        return Err(Error::Usage("lock and unlock both specified".to_owned()));
    }
    let namespace = context.namespace(args.namespace.as_deref());
    let workload = args.workload.clone().unwrap_or_default();
    let id = ResourceId::parse_with_namespace(&namespace, &workload)
        .map_err(|error| Error::Usage(error.to_string()))?;
    let cause = cause(&args.cause);
    let update = changes(&args, &cause.user, &cause.message)?;
    let spec = UpdateSpec {
        cause,
        kind: UpdateKind::Policy(PolicyUpdates::from([(id, update)])),
    };
    let client = context.client().await?;
    let job = client.update_manifests(&spec).await?;
    wait::await_and_report(
        &client,
        io,
        &job,
        false,
        args.verbose,
        context.globals.timeout,
    )
    .await
    .map(drop)
}

/// `automate`, `deautomate`, `lock`, `unlock`: `policy` with one flag.
pub(crate) async fn shortcut(
    context: &mut Context<'_>,
    io: &mut Io<'_>,
    args: WorkloadPolicyShortcut,
    which: Shortcut,
) -> Result<(), Error> {
    if args.workload.is_some() && args.controller.is_some() {
        let what = if which == Shortcut::Automate {
            "the"
        } else {
            "a"
        };
        return Err(Error::Usage(format!(
            "can't specify both {what} controller and workload"
        )));
    }
    let policy = Policy {
        namespace: args.namespace,
        workload: args.workload,
        tag_all: None,
        tags: Vec::new(),
        automate: which == Shortcut::Automate,
        deautomate: which == Shortcut::Deautomate,
        lock: which == Shortcut::Lock,
        unlock: which == Shortcut::Unlock,
        verbose: args.verbose,
        cause: args.cause,
        controller: args.controller,
        args: args.args,
    };
    run(context, io, policy).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_as_flux_normalises_them() {
        assert_eq!(normalise_pattern("1.*"), "glob:1.*");
        assert_eq!(normalise_pattern("glob:master-*"), "glob:master-*");
        assert_eq!(normalise_pattern("semver:~1.2"), "semver:~1.2");
        assert_eq!(normalise_pattern("regex:^v"), "regexp:^v");
        assert_eq!(normalise_pattern("regexp:^v"), "regexp:^v");
        assert_eq!(normalise_pattern("*"), "glob:*");
    }
}
