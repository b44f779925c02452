//! The job kinds that change git (`image` release, `containers` release,
//! `policy`, `auto`) turned into intentions, a per-workload result with
//! Flux's statuses and reasons, and the commit message: [`plan`].
//!
//! Planning reads only the head's manifests, the cluster's workloads and the
//! registry's snapshot; it writes nothing. A `plan` release returns the
//! result as it is; an `execute` hands the intentions to the commit path.

use std::collections::{BTreeMap, BTreeSet};

use manifests::{Ignore, Policy, Resource};
use registry_poller::{ImageRef as RegistryRef, Snapshot};
use serde_json::json;

use crate::api::{
    self, Automated, ContainerUpdate, ImageSpec, PolicyUpdates, ReleaseContainersSpec,
    ReleaseImageSpec, ResourceId, ResourceSpec, UpdateKind, UpdateResult, UpdateSpec,
    WorkloadResult, WorkloadUpdateStatus, policy as policy_name, reason,
};
use crate::automation::choose::{self, Choice};
use crate::automation::live::LiveWorkloads;
use crate::jobs::{CommitMessages, Intention, MessageKind};

/// What a job reads to plan: the head's resources, the cluster's
/// workloads, the registry's snapshot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Workspace<'a> {
    /// The resources at the head of the branch.
    pub resources: &'a [Resource],
    /// The workloads in the cluster.
    pub live: &'a LiveWorkloads,
    /// The registry poller's snapshot.
    pub snapshot: &'a Snapshot,
}

/// A planned job: what to write and what to report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    /// The edits (empty: nothing to commit).
    pub intentions: Vec<Intention>,
    /// Per workload, what happens.
    pub result: UpdateResult,
    /// The commit message.
    pub message: String,
}

/// Why a job cannot be planned at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PlanError(pub String);

/// Plans `spec` (a sync is not planned here: it writes nothing).
pub(crate) fn plan(
    spec: &UpdateSpec,
    workspace: Workspace<'_>,
    messages: &CommitMessages,
) -> Result<Planned, PlanError> {
    let render = |kind: MessageKind, context: serde_json::Value| {
        messages
            .render(kind, &context)
            .map_err(|e| PlanError(e.to_string()))
    };
    let user_message = (!spec.cause.message.is_empty()).then(|| spec.cause.message.clone());
    match &spec.kind {
        UpdateKind::Image(release) => {
            let (intentions, result) = release_image(release, workspace);
            let image = match &release.image_spec {
                ImageSpec::Latest => ImageSpec::LATEST.to_owned(),
                ImageSpec::Ref(image) => image.to_string(),
            };
            let workloads: Vec<String> = release
                .service_specs
                .iter()
                .map(|s| match s {
                    ResourceSpec::All => ResourceSpec::ALL.to_owned(),
                    ResourceSpec::Id(id) => id.to_string(),
                })
                .collect();
            let message = match user_message {
                Some(message) => message,
                None => render(
                    MessageKind::Release,
                    CommitMessages::release_context(&image, &workloads),
                )?,
            };
            Ok(Planned {
                intentions,
                result,
                message,
            })
        }
        UpdateKind::Containers(release) => {
            let (intentions, result) = release_containers(release, workspace);
            let workloads: Vec<serde_json::Value> = result
                .iter()
                .filter(|(_, r)| r.status == WorkloadUpdateStatus::Success)
                .map(|(id, r)| {
                    let targets: Vec<String> = r
                        .per_container
                        .iter()
                        .map(|u| u.target.to_string())
                        .collect();
                    json!({"id": id.to_string(), "targets": targets})
                })
                .collect();
            let message = match user_message {
                Some(message) => message,
                None => render(MessageKind::Containers, json!({ "workloads": workloads }))?,
            };
            Ok(Planned {
                intentions,
                result,
                message,
            })
        }
        UpdateKind::Policy(updates) => {
            let (intentions, result, lines) = policies(updates, workspace)?;
            let message = render(
                MessageKind::Policy,
                json!({"lines": lines, "message": user_message}),
            )?;
            Ok(Planned {
                intentions,
                result,
                message,
            })
        }
        UpdateKind::Auto(automated) => {
            let (intentions, result) = auto(automated, workspace);
            let images: BTreeSet<String> = result
                .values()
                .filter(|r| r.status == WorkloadUpdateStatus::Success)
                .flat_map(|r| r.per_container.iter().map(|u| u.target.to_string()))
                .collect();
            let images: Vec<String> = images.into_iter().collect();
            let message = match user_message {
                Some(message) => message,
                None => render(MessageKind::AutoRelease, json!({ "images": images }))?,
            };
            Ok(Planned {
                intentions,
                result,
                message,
            })
        }
        UpdateKind::Sync(_) => Err(PlanError("a sync job changes nothing in git".to_owned())),
    }
}

fn skipped(why: &str) -> WorkloadResult {
    outcome(WorkloadUpdateStatus::Skipped, why)
}

fn ignored(why: &str) -> WorkloadResult {
    outcome(WorkloadUpdateStatus::Ignored, why)
}

fn failed(why: String) -> WorkloadResult {
    WorkloadResult {
        status: WorkloadUpdateStatus::Failed,
        error: why,
        per_container: Vec::new(),
    }
}

fn outcome(status: WorkloadUpdateStatus, why: &str) -> WorkloadResult {
    WorkloadResult {
        status,
        error: why.to_owned(),
        per_container: Vec::new(),
    }
}

fn success(per_container: Vec<ContainerUpdate>) -> WorkloadResult {
    WorkloadResult {
        status: WorkloadUpdateStatus::Success,
        error: String::new(),
        per_container,
    }
}

/// Whether a resource is a workload Flux releases to.
fn is_workload(resource: &Resource) -> bool {
    manifests::images::pod_spec_path(resource.kind()).is_some()
        || manifests::images::is_helm_release(resource.object())
}

fn api_id(resource: &Resource) -> Option<ResourceId> {
    resource.id().to_string().parse().ok()
}

fn find<'a>(resources: &'a [Resource], id: &ResourceId) -> Option<&'a Resource> {
    resources.iter().find(|r| r.id().to_string() == id.as_str())
}

/// The canonical repository of a reference (`nginx` is
/// `docker.io/library/nginx`), for comparing images however spelled.
fn canonical(reference: &str) -> Option<String> {
    RegistryRef::parse(reference)
        .ok()
        .map(|r| r.repository().to_string())
}

fn release_image(
    release: &ReleaseImageSpec,
    workspace: Workspace<'_>,
) -> (Vec<Intention>, UpdateResult) {
    let explicit: Option<Vec<&ResourceId>> = if release.service_specs.contains(&ResourceSpec::All) {
        None
    } else {
        Some(
            release
                .service_specs
                .iter()
                .filter_map(|s| match s {
                    ResourceSpec::Id(id) => Some(id),
                    ResourceSpec::All => None,
                })
                .collect(),
        )
    };
    let force = release.force && explicit.is_some();
    let specific = match &release.image_spec {
        ImageSpec::Latest => None,
        ImageSpec::Ref(image) => Some(image),
    };
    let mut intentions = Vec::new();
    let mut result = UpdateResult::new();
    for resource in workspace.resources.iter().filter(|r| is_workload(r)) {
        let Some(id) = api_id(resource) else {
            continue;
        };
        if let Some(ids) = &explicit
            && !ids.contains(&&id)
        {
            result.insert(id, ignored(reason::NOT_INCLUDED));
            continue;
        }
        if release.excludes.contains(&id) {
            result.insert(id, ignored(reason::EXCLUDED));
            continue;
        }
        if !workspace.live.contains(id.as_str()) {
            result.insert(id, skipped(reason::NOT_ACCESSIBLE));
            continue;
        }
        let containers = match resource.container_images() {
            Ok(containers) => containers,
            Err(error) => {
                result.insert(id, failed(error.to_string()));
                continue;
            }
        };
        let specific_name = specific.and_then(|image| canonical(&image.to_string()));
        if let Some(name) = &specific_name
            && !containers
                .iter()
                .any(|c| canonical(&c.image).as_ref() == Some(name))
        {
            result.insert(id, ignored(reason::DIFFERENT_IMAGE));
            continue;
        }
        let policies = resource.policies().unwrap_or_default();
        if policies.locked && !force {
            result.insert(id, skipped(reason::LOCKED));
            continue;
        }
        if (policies.ignore == Ignore::Yes || workspace.live.ignored(id.as_str())) && !force {
            result.insert(id, skipped(reason::IGNORED));
            continue;
        }
        let mut updates = Vec::new();
        let mut not_found = false;
        for container in &containers {
            let filter = policies.tag_filter(&container.name);
            let registry = RegistryRef::parse(&container.image)
                .ok()
                .and_then(|r| workspace.snapshot.repository(r.repository()).cloned());
            let tags = choose::known_tags(registry.as_deref());
            let target = match (specific, &specific_name) {
                (Some(image), Some(name)) => {
                    if canonical(&container.image).as_ref() != Some(name) {
                        continue;
                    }
                    if !release.force && !filter.admits(&image.tag) {
                        continue;
                    }
                    if choose::tag_of(&container.image) == Some(image.tag.as_str()) {
                        continue;
                    }
                    if !tags.is_ok_and(|tags| tags.iter().any(|t| t.name() == image.tag)) {
                        not_found = true;
                        continue;
                    }
                    choose::retag(&container.image, &image.tag)
                }
                _ => match choose::choose(&container.image, &filter, tags) {
                    Choice::Update { target, .. } => target,
                    Choice::UpToDate => continue,
                    Choice::Skip(why) => {
                        tracing::info!(workload = %id, container = %container.name, reason = %why, "release skips a container");
                        not_found |= why.starts_with("image data not available");
                        continue;
                    }
                },
            };
            let (Ok(current), Ok(target_ref)) = (
                container.image.parse::<api::ImageRef>(),
                target.parse::<api::ImageRef>(),
            ) else {
                continue;
            };
            intentions.push(Intention::SetImage {
                resource: resource.id().clone(),
                container: container.name.clone(),
                image: target,
            });
            updates.push(ContainerUpdate {
                container: container.name.clone(),
                current,
                target: target_ref,
            });
        }
        let outcome = if !updates.is_empty() {
            success(updates)
        } else if not_found {
            skipped(reason::IMAGE_NOT_FOUND)
        } else {
            skipped(reason::IMAGE_UP_TO_DATE)
        };
        result.insert(id, outcome);
    }
    if let Some(ids) = explicit {
        for id in ids {
            result
                .entry(id.clone())
                .or_insert_with(|| skipped(reason::NOT_IN_REPO));
        }
    }
    (intentions, result)
}

/// The workload `id` of git, if a release may change it: in the cluster,
/// and (unless `force`) neither locked nor ignored; else why not.
fn releasable<'a>(
    workspace: Workspace<'a>,
    id: &ResourceId,
    force: bool,
) -> Result<&'a Resource, WorkloadResult> {
    let resource = find(workspace.resources, id).ok_or_else(|| skipped(reason::NOT_IN_REPO))?;
    if !workspace.live.contains(id.as_str()) {
        return Err(skipped(reason::NOT_ACCESSIBLE));
    }
    let policies = resource.policies().unwrap_or_default();
    if policies.locked && !force {
        return Err(skipped(reason::LOCKED));
    }
    if (policies.ignore == Ignore::Yes || workspace.live.ignored(id.as_str())) && !force {
        return Err(skipped(reason::IGNORED));
    }
    Ok(resource)
}

fn release_containers(
    release: &ReleaseContainersSpec,
    workspace: Workspace<'_>,
) -> (Vec<Intention>, UpdateResult) {
    let mut intentions = Vec::new();
    let mut result = UpdateResult::new();
    for (id, wanted) in &release.container_specs {
        let resource = match releasable(workspace, id, release.force) {
            Ok(resource) => resource,
            Err(skip) => {
                result.insert(id.clone(), skip);
                continue;
            }
        };
        let containers = match resource.container_images() {
            Ok(containers) => containers,
            Err(error) => {
                result.insert(id.clone(), failed(error.to_string()));
                continue;
            }
        };
        let mut missing = Vec::new();
        let mut mismatched = Vec::new();
        let mut updates = Vec::new();
        for update in wanted {
            let Some(container) = containers.iter().find(|c| c.name == update.container) else {
                missing.push(update.container.clone());
                continue;
            };
            if container.image != update.current.to_string() {
                mismatched.push(update.container.clone());
                continue;
            }
            updates.push(update.clone());
        }
        if !missing.is_empty() {
            result.insert(
                id.clone(),
                failed(format!(
                    "{}: {}",
                    reason::CONTAINER_NOT_FOUND,
                    missing.join(", ")
                )),
            );
            continue;
        }
        if !mismatched.is_empty() && !release.skip_mismatches {
            result.insert(
                id.clone(),
                failed(format!(
                    "{}: {}",
                    reason::CONTAINER_TAG_MISMATCH,
                    mismatched.join(", ")
                )),
            );
            continue;
        }
        if updates.is_empty() {
            result.insert(id.clone(), skipped(reason::IMAGE_UP_TO_DATE));
            continue;
        }
        for update in &updates {
            intentions.push(Intention::SetImage {
                resource: resource.id().clone(),
                container: update.container.clone(),
                image: update.target.to_string(),
            });
        }
        result.insert(id.clone(), success(updates));
    }
    (intentions, result)
}

/// The events of a policy change, in Flux's words and order.
const POLICY_EVENTS: [&str; 5] = [
    "Automated",
    "Deautomated",
    "Locked",
    "Unlocked",
    "Updated policies",
];

fn policies(
    updates: &PolicyUpdates,
    workspace: Workspace<'_>,
) -> Result<(Vec<Intention>, UpdateResult, Vec<String>), PlanError> {
    let mut intentions = Vec::new();
    let mut result = UpdateResult::new();
    let mut events: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (id, update) in updates {
        let Some(resource) = find(workspace.resources, id) else {
            result.insert(id.clone(), failed(reason::NOT_IN_REPO.to_owned()));
            continue;
        };
        let containers: Vec<String> = resource
            .container_images()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.name)
            .collect();
        let expand = |name: &str| -> Result<Vec<Policy>, PlanError> {
            if name == policy_name::TAG_ALL {
                return Ok(containers.iter().map(|c| Policy::Tag(c.clone())).collect());
            }
            Policy::from_name(name)
                .map(|p| vec![p])
                .ok_or_else(|| PlanError(format!("{id}: unknown policy {name:?}")))
        };
        let mut kinds = BTreeSet::new();
        for (name, value) in &update.add.0 {
            kinds.insert(match name.as_str() {
                policy_name::AUTOMATED => 0,
                policy_name::LOCKED => 2,
                _ => 4,
            });
            for policy in expand(name)? {
                intentions.push(Intention::SetPolicy {
                    resource: resource.id().clone(),
                    policy,
                    value: value.clone(),
                });
            }
        }
        for name in update.remove.0.keys() {
            kinds.insert(match name.as_str() {
                policy_name::AUTOMATED => 1,
                policy_name::LOCKED => 3,
                _ => 4,
            });
            for policy in expand(name)? {
                intentions.push(Intention::RemovePolicy {
                    resource: resource.id().clone(),
                    policy,
                });
            }
        }
        for kind in kinds {
            events.entry(kind).or_default().push(id.to_string());
        }
        result.insert(id.clone(), success(Vec::new()));
    }
    let lines = events
        .into_iter()
        .map(|(kind, ids)| format!("{}: {}", POLICY_EVENTS[kind], ids.join(", ")))
        .collect();
    Ok((intentions, result, lines))
}

fn auto(automated: &Automated, workspace: Workspace<'_>) -> (Vec<Intention>, UpdateResult) {
    let mut intentions = Vec::new();
    let mut result = UpdateResult::new();
    for change in &automated.changes {
        let id = &change.workload_id;
        if matches!(result.get(id), Some(r) if r.status != WorkloadUpdateStatus::Success) {
            continue;
        }
        let resource = match releasable(workspace, id, false) {
            Ok(resource) => resource,
            Err(skip) => {
                result.insert(id.clone(), skip);
                continue;
            }
        };
        intentions.push(Intention::SetImage {
            resource: resource.id().clone(),
            container: change.container.name.clone(),
            image: change.image_id.to_string(),
        });
        result
            .entry(id.clone())
            .or_insert_with(|| success(Vec::new()))
            .per_container
            .push(ContainerUpdate {
                container: change.container.name.clone(),
                current: change.container.image.clone(),
                target: change.image_id.clone(),
            });
    }
    (intentions, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AutomatedChange, PolicySet, PolicyUpdate, ReleaseKind, WorkloadContainer};

    const APPS: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  annotations:
    flux.weave.works/automated: 'true'
spec:
  template:
    spec:
      containers:
      - name: web
        image: reg.example.com/team/web:1.0
      - name: side
        image: reg.example.com/team/side:3
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: held
  namespace: demo
  annotations:
    fluxcd.io/automated: 'true'
    fluxcd.io/locked: 'true'
spec:
  template:
    spec:
      containers:
      - name: held
        image: reg.example.com/team/web:1.0
";

    fn resources() -> Vec<Resource> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("apps.yaml"), APPS).unwrap();
        let loaded = manifests::load(dir.path(), &["."], &manifests::LoadOptions::default());
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        loaded.resources
    }

    fn spec(kind: UpdateKind) -> UpdateSpec {
        UpdateSpec {
            cause: api::Cause::default(),
            kind,
        }
    }

    fn run(kind: UpdateKind) -> Planned {
        let resources = resources();
        let live = LiveWorkloads::default();
        let snapshot = Snapshot::default();
        plan(
            &spec(kind),
            Workspace {
                resources: &resources,
                live: &live,
                snapshot: &snapshot,
            },
            &CommitMessages::default(),
        )
        .unwrap()
    }

    fn id(text: &str) -> ResourceId {
        text.parse().unwrap()
    }

    fn change(workload: &str, container: &str, from: &str, to: &str) -> AutomatedChange {
        AutomatedChange {
            workload_id: id(workload),
            container: WorkloadContainer {
                name: container.into(),
                image: from.parse().unwrap(),
            },
            image_id: to.parse().unwrap(),
        }
    }

    #[test]
    fn an_automated_change_is_one_intention_and_a_locked_one_is_skipped() {
        let planned = run(UpdateKind::Auto(Automated {
            changes: vec![
                change(
                    "demo:deployment/web",
                    "web",
                    "reg.example.com/team/web:1.0",
                    "reg.example.com/team/web:1.1",
                ),
                change(
                    "demo:deployment/held",
                    "held",
                    "reg.example.com/team/web:1.0",
                    "reg.example.com/team/web:1.1",
                ),
            ],
        }));
        assert_eq!(
            planned.intentions,
            [Intention::SetImage {
                resource: "demo:deployment/web".parse().unwrap(),
                container: "web".into(),
                image: "reg.example.com/team/web:1.1".into(),
            }]
        );
        assert_eq!(planned.message, "Auto-release reg.example.com/team/web:1.1");
        let web = &planned.result[&id("demo:deployment/web")];
        assert_eq!(web.status, WorkloadUpdateStatus::Success);
        assert_eq!(
            web.per_container[0].target.to_string(),
            "reg.example.com/team/web:1.1"
        );
        let held = &planned.result[&id("demo:deployment/held")];
        assert_eq!(held.status, WorkloadUpdateStatus::Skipped);
        assert_eq!(held.error, reason::LOCKED);
    }

    #[test]
    fn a_containers_release_checks_names_and_current_images() {
        let update = |container: &str, current: &str| api::ContainerUpdate {
            container: container.into(),
            current: current.parse().unwrap(),
            target: "reg.example.com/team/web:2.0".parse().unwrap(),
        };
        let release = |updates: Vec<api::ContainerUpdate>, force: bool| {
            let mut specs = BTreeMap::new();
            specs.insert(id("demo:deployment/web"), updates.clone());
            specs.insert(
                id("demo:deployment/held"),
                vec![update("held", "reg.example.com/team/web:1.0")],
            );
            run(UpdateKind::Containers(ReleaseContainersSpec {
                kind: ReleaseKind::Execute,
                container_specs: specs,
                skip_mismatches: false,
                force,
            }))
        };
        let planned = release(vec![update("web", "reg.example.com/team/web:1.0")], false);
        assert_eq!(planned.intentions.len(), 1);
        assert_eq!(
            planned.result[&id("demo:deployment/held")].error,
            reason::LOCKED
        );
        assert_eq!(
            planned.message,
            "Update image refs in demo:deployment/web\n\ndemo:deployment/web\n- reg.example.com/team/web:2.0\n"
        );
        // Forced, the locked one goes too.
        assert_eq!(
            release(vec![update("web", "reg.example.com/team/web:1.0")], true)
                .intentions
                .len(),
            2
        );
        let planned = release(vec![update("nope", "reg.example.com/team/web:1.0")], false);
        assert_eq!(
            planned.result[&id("demo:deployment/web")].error,
            "container(s) not found: nope"
        );
        let planned = release(vec![update("web", "reg.example.com/team/web:0.9")], false);
        assert_eq!(
            planned.result[&id("demo:deployment/web")].error,
            "container(s) tag mismatch: web"
        );
    }

    #[test]
    fn a_policy_change_sets_and_removes_annotations_with_flux_s_message() {
        let mut add = PolicySet::default();
        add.add("locked");
        add.set("locked_user", "Jane <jane@example.com>");
        add.set("locked_msg", "release freeze");
        add.set("tag.web", "semver:~1");
        let mut remove = PolicySet::default();
        remove.add("automated");
        let mut updates = PolicyUpdates::new();
        updates.insert(id("demo:deployment/web"), PolicyUpdate { add, remove });
        let planned = run(UpdateKind::Policy(updates));
        assert_eq!(planned.intentions.len(), 5);
        assert!(planned.intentions.contains(&Intention::SetPolicy {
            resource: "demo:deployment/web".parse().unwrap(),
            policy: Policy::Tag("web".into()),
            value: "semver:~1".into(),
        }));
        assert_eq!(
            planned.message,
            "Updated workload policies\n\n- Deautomated: demo:deployment/web\n- Locked: demo:deployment/web\n- Updated policies: demo:deployment/web\n"
        );
        let mut one = PolicyUpdates::new();
        let mut add = PolicySet::default();
        add.add("automated");
        one.insert(
            id("demo:deployment/held"),
            PolicyUpdate {
                add,
                remove: PolicySet::default(),
            },
        );
        one.insert(id("demo:deployment/gone"), PolicyUpdate::default());
        let planned = run(UpdateKind::Policy(one));
        assert_eq!(planned.message, "Automated: demo:deployment/held\n");
        assert_eq!(
            planned.result[&id("demo:deployment/gone")].error,
            reason::NOT_IN_REPO
        );
        let mut all = PolicyUpdates::new();
        let mut add = PolicySet::default();
        add.set("tag_all", "glob:1.*");
        all.insert(
            id("demo:deployment/web"),
            PolicyUpdate {
                add,
                remove: PolicySet::default(),
            },
        );
        assert_eq!(run(UpdateKind::Policy(all)).intentions.len(), 2);
    }

    #[test]
    fn a_release_names_each_workload_and_a_specific_image_needs_registry_data() {
        let planned = run(UpdateKind::Image(ReleaseImageSpec {
            service_specs: vec![ResourceSpec::Id(id("demo:deployment/web"))],
            image_spec: ImageSpec::Ref("reg.example.com/team/side:4".parse().unwrap()),
            kind: ReleaseKind::Plan,
            excludes: Vec::new(),
            force: false,
        }));
        assert!(planned.intentions.is_empty());
        assert_eq!(
            planned.result[&id("demo:deployment/web")].error,
            reason::IMAGE_NOT_FOUND
        );
        assert_eq!(
            planned.result[&id("demo:deployment/held")].error,
            reason::NOT_INCLUDED
        );
        assert_eq!(
            planned.message,
            "Release reg.example.com/team/side:4 to demo:deployment/web"
        );
        let planned = run(UpdateKind::Image(ReleaseImageSpec {
            service_specs: vec![ResourceSpec::All],
            image_spec: ImageSpec::Ref("other.example.com/x:1".parse().unwrap()),
            kind: ReleaseKind::Plan,
            excludes: vec![id("demo:deployment/held")],
            force: false,
        }));
        assert_eq!(
            planned.result[&id("demo:deployment/web")].error,
            reason::DIFFERENT_IMAGE
        );
        assert_eq!(
            planned.result[&id("demo:deployment/held")].error,
            reason::EXCLUDED
        );
    }
}
