//! Taking over objects Flux v1 applied.
//!
//! Flux v1 applied with client-side `kubectl apply`: every object it wrote
//! carries the `kubectl.kubernetes.io/last-applied-configuration` annotation
//! (what kubectl sent, Flux's checksum and mark included), and its fields
//! belong to an `Update` manager such as `kubectl-client-side-apply`. Two
//! things follow for a server-side apply engine that takes its place:
//!
//! - **Nothing to write** when git has not changed since: the manifest
//!   equals what kubectl recorded ([`flux_applied_this`]), even though the
//!   checksum annotation is Flux's (a SHA-1 of the bytes Flux re-encoded,
//!   which this crate's content checksum never equals). So the first sync
//!   after the swap writes only what differs.
//! - **Fields removed from git must go**: server-side apply only removes
//!   fields its own manager owns, and kubectl's manager owns them all. Before
//!   the first apply of such an object its field ownership is migrated
//!   ([`upgrade_managed_fields`]), as client-go's `csaupgrade` does for
//!   `kubectl apply --server-side`: the fields of every `Update` manager that
//!   owns the last-applied annotation (and of `kubectl-client-side-apply`)
//!   move into the engine's own `Apply` entry. The apply that follows then
//!   removes what left git, and kubectl's annotation with it.

use serde_json::{Map, Value};

use super::marks::CHECKSUM_ANNOTATION;

/// The annotation client-side `kubectl apply` records what it applied in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The field manager of client-side `kubectl apply`.
pub const KUBECTL_CLIENT_SIDE_APPLY: &str = "kubectl-client-side-apply";

/// True for a checksum as Flux v1 wrote it in [`CHECKSUM_ANNOTATION`]: 40
/// lower-case hex digits (SHA-1). This crate writes 64 (SHA-256).
pub(crate) fn is_flux_v1_checksum(value: &str) -> bool {
    value.len() == 40
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True when `live` was last applied by Flux v1 from a manifest equal to
/// `applied` (the object this engine would send, with its mark): the
/// last-applied annotation holds the same object, checksum annotations
/// aside. Numbers compare by value (YAML's `1.0` is JSON's `1` once kubectl
/// has read it); for a cluster-scoped object a `metadata.namespace` is
/// ignored (Flux sent what the manifest said, the server drops it).
pub(crate) fn flux_applied_this(applied: &Value, live: &Value, cluster_scoped: bool) -> bool {
    let Some(recorded) = live["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].as_str() else {
        return false;
    };
    let Ok(mut recorded) = serde_json::from_str::<Value>(recorded) else {
        return false;
    };
    let mut applied = applied.clone();
    for object in [&mut recorded, &mut applied] {
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
                annotations.remove(CHECKSUM_ANNOTATION);
            }
            if cluster_scoped {
                metadata.remove("namespace");
            }
        }
    }
    same_json(&recorded, &applied)
}

/// Equality of JSON values with numbers compared by value.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) if a.is_f64() || b.is_f64() => x == y,
            _ => a == b,
        },
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| same_json(a, b)))
        }
        (a, b) => a == b,
    }
}

/// What a takeover and an apply leave of `after` (the server's dry-run of
/// the apply over `live`, which kubectl applied client-side): without the
/// fields kubectl applied (its last-applied annotation records them) that
/// `applied` no longer has. A dry-run cannot show this itself, as it runs
/// before the field ownership moves. Lists are left as they are, and so is
/// the annotation itself (it goes too, but a plan showing its whole JSON
/// would bury the changes that matter).
pub(crate) fn after_take_over(mut after: Value, live: &Value, applied: &Value) -> Value {
    let recorded = live["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
        .as_str()
        .and_then(|text| serde_json::from_str::<Value>(text).ok());
    if let Some(recorded) = recorded {
        remove_left(&mut after, &recorded, applied);
    }
    after
}

/// Removes from `after` the keys of `recorded` (recursively through
/// mappings) that `applied` does not have.
fn remove_left(after: &mut Value, recorded: &Value, applied: &Value) {
    let (Value::Object(after), Value::Object(recorded)) = (after, recorded) else {
        return;
    };
    for (key, value) in recorded {
        match applied.get(key) {
            None => {
                after.remove(key);
            }
            Some(applied) => {
                if let Some(after) = after.get_mut(key) {
                    remove_left(after, value, applied);
                }
            }
        }
    }
}

/// True when the object's annotations say kubectl applied it client-side:
/// its field ownership may need [`upgrade_managed_fields`].
pub(crate) fn applied_client_side(object: &Value) -> bool {
    object["metadata"]["annotations"]
        .get(LAST_APPLIED_ANNOTATION)
        .is_some()
}

/// The `metadata.managedFields` of an object after moving the fields of
/// client-side apply's managers into `manager`'s `Apply` entry, or `None`
/// when there is nothing to move.
///
/// The managers moved are the `Update` managers (of the main resource, not
/// a subresource) that own the last-applied annotation, as kubectl finds
/// them, and [`KUBECTL_CLIENT_SIDE_APPLY`]. For each, as `csaupgrade` does:
/// the engine's `Apply` entry takes the union of its fields and those of
/// the manager's entry of the same API version (when the engine has no
/// entry yet, the manager's newest one becomes it), and every `Update`
/// entry of that manager goes.
pub(crate) fn upgrade_managed_fields(entries: &[Value], manager: &str) -> Option<Vec<Value>> {
    let mut names: Vec<String> = entries
        .iter()
        .filter(|entry| is_update(entry) && owns_last_applied(entry))
        .filter_map(|entry| entry["manager"].as_str().map(str::to_owned))
        .collect();
    if entries
        .iter()
        .any(|entry| is_update(entry) && entry["manager"] == KUBECTL_CLIENT_SIDE_APPLY)
    {
        names.push(KUBECTL_CLIENT_SIDE_APPLY.to_owned());
    }
    names.retain(|name| name != manager);
    names.sort();
    names.dedup();
    let mut upgraded = entries.to_vec();
    for name in &names {
        upgraded = move_manager(upgraded, name, manager);
    }
    (upgraded != entries).then_some(upgraded)
}

/// One step of [`upgrade_managed_fields`]: `from`'s `Update` fields into
/// `to`'s `Apply` entry.
fn move_manager(mut entries: Vec<Value>, from: &str, to: &str) -> Vec<Value> {
    let is_from = |entry: &Value| is_update(entry) && entry["manager"] == from;
    let target = match entries
        .iter()
        .position(|entry| entry["manager"] == to && is_main(entry) && entry["operation"] == "Apply")
    {
        Some(index) => index,
        None => {
            // Entries are newest first: the first one of `from` becomes ours.
            let Some(index) = entries.iter().position(is_from) else {
                return entries;
            };
            if let Some(entry) = entries[index].as_object_mut() {
                entry.insert("manager".to_owned(), Value::String(to.to_owned()));
                entry.insert("operation".to_owned(), Value::String("Apply".to_owned()));
            }
            index
        }
    };
    let api_version = entries[target]["apiVersion"].clone();
    let source = entries
        .iter()
        .enumerate()
        .find(|(index, entry)| {
            *index != target && is_from(entry) && entry["apiVersion"] == api_version
        })
        .map(|(_, entry)| entry["fieldsV1"].clone());
    if let Some(source) = source {
        let merged = union_root(&entries[target]["fieldsV1"], &source);
        if let Some(entry) = entries[target].as_object_mut() {
            entry.insert("fieldsV1".to_owned(), merged);
            entry.insert(
                "fieldsType".to_owned(),
                Value::String("FieldsV1".to_owned()),
            );
        }
    }
    entries
        .into_iter()
        .enumerate()
        .filter(|(index, entry)| *index == target || !is_from(entry))
        .map(|(_, entry)| entry)
        .collect()
}

fn is_main(entry: &Value) -> bool {
    entry
        .get("subresource")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
}

fn is_update(entry: &Value) -> bool {
    entry["operation"] == "Update" && is_main(entry)
}

fn owns_last_applied(entry: &Value) -> bool {
    entry["fieldsV1"]["f:metadata"]["f:annotations"]
        .get(format!("f:{LAST_APPLIED_ANNOTATION}"))
        .is_some()
}

/// The union of two field sets in the `FieldsV1` encoding, at its root
/// (which is never a member itself).
fn union_root(a: &Value, b: &Value) -> Value {
    Value::Object(union_children(
        a.as_object().unwrap_or(&Map::new()),
        b.as_object().unwrap_or(&Map::new()),
    ))
}

/// The union of two nodes below the root. A node is a member of the set
/// when it is empty (`{}`: a leaf) or holds the `"."` key; its other keys
/// are its children.
fn union_node(a: &Value, b: &Value) -> Value {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return if a.is_object() { a.clone() } else { b.clone() };
    };
    let member = |node: &Map<String, Value>| node.is_empty() || node.contains_key(".");
    let is_member = member(a) || member(b);
    let mut children = union_children(a, b);
    if is_member && !children.is_empty() {
        children.insert(".".to_owned(), Value::Object(Map::new()));
    }
    Value::Object(children)
}

fn union_children(a: &Map<String, Value>, b: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in a.iter().chain(b) {
        if key == "." {
            continue;
        }
        let merged = match out.get(key) {
            Some(existing) => union_node(existing, value),
            None => value.clone(),
        };
        out.insert(key.clone(), merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What client-side `kubectl apply` leaves on a ConfigMap it created,
    /// then a controller's status update and a later `kubectl label`.
    fn kubectl_applied() -> Vec<Value> {
        vec![
            json!({
                "manager": "kubectl-client-side-apply", "operation": "Update",
                "apiVersion": "v1", "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:data": {".": {}, "f:a": {}, "f:b": {}},
                    "f:metadata": {"f:annotations": {".": {},
                        "f:fluxcd.io/sync-checksum": {},
                        "f:kubectl.kubernetes.io/last-applied-configuration": {}},
                        "f:labels": {".": {}, "f:fluxcd.io/sync-gc-mark": {}}}
                }
            }),
            json!({
                "manager": "kubectl-label", "operation": "Update",
                "apiVersion": "v1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}
            }),
            json!({
                "manager": "controller", "operation": "Update", "subresource": "status",
                "apiVersion": "v1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:ready": {}}}
            }),
        ]
    }

    #[test]
    fn client_side_apply_becomes_the_engines_apply_entry() {
        let upgraded = upgrade_managed_fields(&kubectl_applied(), "fluxd").unwrap();
        assert_eq!(upgraded.len(), 3);
        assert_eq!(upgraded[0]["manager"], "fluxd");
        assert_eq!(upgraded[0]["operation"], "Apply");
        assert_eq!(upgraded[0]["fieldsV1"], kubectl_applied()[0]["fieldsV1"]);
        // Other managers, and subresources, are left as they are.
        assert_eq!(upgraded[1], kubectl_applied()[1]);
        assert_eq!(upgraded[2], kubectl_applied()[2]);
        // Twice is once.
        assert_eq!(upgrade_managed_fields(&upgraded, "fluxd"), None);
    }

    #[test]
    fn an_existing_apply_entry_takes_the_union() {
        let mut entries = kubectl_applied();
        entries.insert(
            0,
            json!({
                "manager": "fluxd", "operation": "Apply", "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:c": {}}, "f:metadata": {"f:labels": {"f:fluxcd.io/sync-gc-mark": {}}}}
            }),
        );
        // An older client-side entry of another version is dropped, unmerged.
        entries.push(json!({
            "manager": "kubectl-client-side-apply", "operation": "Update",
            "apiVersion": "v1beta1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:old": {}}
        }));
        let upgraded = upgrade_managed_fields(&entries, "fluxd").unwrap();
        let managers: Vec<&str> = upgraded
            .iter()
            .map(|entry| entry["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["fluxd", "kubectl-label", "controller"]);
        assert_eq!(
            upgraded[0]["fieldsV1"],
            json!({
                "f:data": {".": {}, "f:a": {}, "f:b": {}, "f:c": {}},
                "f:metadata": {
                    "f:annotations": {".": {}, "f:fluxcd.io/sync-checksum": {},
                        "f:kubectl.kubernetes.io/last-applied-configuration": {}},
                    "f:labels": {".": {}, "f:fluxcd.io/sync-gc-mark": {}}
                }
            })
        );
    }

    #[test]
    fn any_update_manager_owning_the_annotation_moves() {
        // Older kubectl wrote as manager `kubectl`.
        let mut entries = kubectl_applied();
        entries[0]["manager"] = json!("kubectl");
        let upgraded = upgrade_managed_fields(&entries, "fluxd").unwrap();
        assert_eq!(upgraded[0]["manager"], "fluxd");
        // Nothing applied client-side: nothing to do.
        assert_eq!(upgrade_managed_fields(&entries[1..], "fluxd"), None);
        assert_eq!(upgrade_managed_fields(&[], "fluxd"), None);
    }

    #[test]
    fn union_keeps_membership() {
        // `a` is a member (a leaf) in one set and has a child in the other.
        let merged = union_root(
            &json!({"f:a": {}, "f:b": {"f:x": {}}}),
            &json!({"f:a": {"f:y": {}}, "f:b": {".": {}, "f:z": {}}}),
        );
        assert_eq!(
            merged,
            json!({"f:a": {".": {}, "f:y": {}}, "f:b": {".": {}, "f:x": {}, "f:z": {}}})
        );
        assert_eq!(
            union_root(&json!({}), &json!({"f:a": {}})),
            json!({"f:a": {}})
        );
    }

    #[test]
    fn a_plan_shows_what_the_takeover_removes() {
        let recorded = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "annotations": {"team": "web", "keep": "1"}},
            "data": {"a": "1", "b": "2"}
        });
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "annotations": {
                "team": "web", "keep": "1", "other-tool": "x",
                LAST_APPLIED_ANNOTATION: recorded.to_string()}},
            "data": {"a": "1", "b": "2"}
        });
        let applied = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "annotations": {"keep": "1"}},
            "data": {"a": "1"}
        });
        // What the dry-run said: nothing removed, as kubectl still owns it.
        let after = after_take_over(live.clone(), &live, &applied);
        assert_eq!(after["data"], json!({"a": "1"}));
        let annotations = after["metadata"]["annotations"].as_object().unwrap();
        let mut keys: Vec<&String> = annotations.keys().collect();
        keys.sort();
        assert_eq!(keys, ["keep", LAST_APPLIED_ANNOTATION, "other-tool"]);
    }

    #[test]
    fn what_flux_applied_is_recognised() {
        let applied = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "demo",
                "labels": {"fluxcd.io/sync-gc-mark": "sha256.x"},
                "annotations": {"fluxcd.io/sync-checksum": "ours"}},
            "data": {"replicas": 1.0}
        });
        let recorded = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "demo",
                "labels": {"fluxcd.io/sync-gc-mark": "sha256.x"},
                "annotations": {"fluxcd.io/sync-checksum": "0123456789abcdef0123456789abcdef01234567"}},
            "data": {"replicas": 1}
        });
        let live = |recorded: &Value| json!({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: recorded.to_string()}}});
        assert!(flux_applied_this(&applied, &live(&recorded), false));
        let mut changed = recorded.clone();
        changed["data"]["extra"] = json!("x");
        assert!(!flux_applied_this(&applied, &live(&changed), false));
        let mut other_mark = recorded.clone();
        other_mark["metadata"]["labels"]["fluxcd.io/sync-gc-mark"] = json!("sha256.y");
        assert!(!flux_applied_this(&applied, &live(&other_mark), false));
        assert!(!flux_applied_this(
            &applied,
            &json!({"metadata": {}}),
            false
        ));
        let garbled = json!({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "{"}}});
        assert!(!flux_applied_this(&applied, &garbled, false));
        assert!(is_flux_v1_checksum(
            "0123456789abcdef0123456789abcdef01234567"
        ));
        assert!(!is_flux_v1_checksum(&"a".repeat(64)));
        assert!(!is_flux_v1_checksum(
            "0123456789ABCDEF0123456789abcdef01234567"
        ));
    }
}
