//! Field-level differences between a live object and the server's dry-run
//! of an apply, for plans.

use serde_json::{Map, Value};

use super::FieldChange;

/// What a diff shows in place of a Secret's values.
const REDACTED: &str = "<redacted>";

/// Metadata that changes with every write and says nothing about intent.
const VOLATILE_METADATA: &[&str] = &[
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "uid",
];

/// Every field that differs between `live` and `after`, in path order.
/// A Secret's `data`, `stringData` and last-applied annotation are redacted.
pub(crate) fn diff(live: &Value, after: &Value) -> Vec<FieldChange> {
    let secret = is_secret(after) || is_secret(live);
    let mut changes = Vec::new();
    let (Value::Object(live), Value::Object(after)) = (live, after) else {
        push(&mut changes, String::new(), Some(live), Some(after));
        return changes;
    };
    for key in union_keys(live, after) {
        if key == "metadata" {
            let (live, after) = (without_volatile(&live[key]), without_volatile(&after[key]));
            walk(&mut changes, key.to_owned(), Some(&live), Some(&after));
        } else {
            walk(&mut changes, key.to_owned(), live.get(key), after.get(key));
        }
    }
    if secret {
        for change in &mut changes {
            if is_secret_value(&change.path) {
                for value in [&mut change.live, &mut change.desired]
                    .into_iter()
                    .flatten()
                {
                    *value = Value::String(REDACTED.to_owned());
                }
            }
        }
    }
    changes
}

fn is_secret(object: &Value) -> bool {
    object["kind"] == "Secret" && object["apiVersion"] == "v1"
}

fn is_secret_value(path: &str) -> bool {
    path == "data"
        || path == "stringData"
        || path.starts_with("data.")
        || path.starts_with("stringData.")
        || path.starts_with("metadata.annotations.kubectl.kubernetes.io/last-applied-configuration")
        || path == "metadata.annotations"
}

fn without_volatile(metadata: &Value) -> Value {
    match metadata {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !VOLATILE_METADATA.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn union_keys<'a>(a: &'a Map<String, Value>, b: &'a Map<String, Value>) -> Vec<&'a str> {
    let mut keys: Vec<&str> = a.keys().chain(b.keys()).map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn walk(changes: &mut Vec<FieldChange>, path: String, live: Option<&Value>, after: Option<&Value>) {
    match (live, after) {
        (Some(Value::Object(live)), Some(Value::Object(after))) => {
            for key in union_keys(live, after) {
                walk(changes, join(&path, key), live.get(key), after.get(key));
            }
        }
        (Some(Value::Array(live)), Some(Value::Array(after))) => {
            walk_list(changes, &path, live, after);
        }
        (live, after) if live == after => {}
        (live, after) => push(changes, path, live, after),
    }
}

fn walk_list(changes: &mut Vec<FieldChange>, path: &str, live: &[Value], after: &[Value]) {
    let named = |items: &[Value]| items.iter().all(|item| item["name"].is_string());
    if !live.is_empty() && !after.is_empty() && named(live) && named(after) {
        let mut names: Vec<&str> = live
            .iter()
            .chain(after)
            .filter_map(|item| item["name"].as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        fn find<'v>(items: &'v [Value], name: &str) -> Option<&'v Value> {
            items.iter().find(|item| item["name"] == name)
        }
        // Compare as keyed items, but keep the order change visible.
        let order = |items: &[Value]| {
            items
                .iter()
                .map(|item| item["name"].clone())
                .collect::<Vec<_>>()
        };
        for name in names {
            walk(
                changes,
                format!("{path}[name={name}]"),
                find(live, name),
                find(after, name),
            );
        }
        if order(live) != order(after) && live.len() == after.len() {
            push(
                changes,
                format!("{path}[*].name"),
                Some(&Value::Array(order(live))),
                Some(&Value::Array(order(after))),
            );
        }
        return;
    }
    for index in 0..live.len().max(after.len()) {
        walk(
            changes,
            format!("{path}[{index}]"),
            live.get(index),
            after.get(index),
        );
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn push(changes: &mut Vec<FieldChange>, path: String, live: Option<&Value>, after: Option<&Value>) {
    changes.push(FieldChange {
        path,
        live: live.cloned(),
        desired: after.cloned(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_added_and_removed_fields() {
        let live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "resourceVersion": "1", "generation": 1, "labels": {"a": "1", "gone": "x"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1"}, {"name": "side", "image": "envoy"}
            ]}}}
        });
        let after = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "resourceVersion": "2", "generation": 2, "labels": {"a": "2", "new": "y"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:2"}, {"name": "side", "image": "envoy"}
            ]}}}
        });
        let changes = diff(&live, &after);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "metadata.labels.a",
                "metadata.labels.gone",
                "metadata.labels.new",
                "spec.replicas",
                "spec.template.spec.containers[name=web].image"
            ]
        );
        assert_eq!(changes[1].desired, None);
        assert_eq!(changes[2].live, None);
        assert_eq!(changes[3].live, Some(json!(1)));
        assert_eq!(changes[3].desired, Some(json!(3)));
        assert!(diff(&live, &live).is_empty());
    }

    #[test]
    fn secret_values_are_redacted() {
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"password": "aHVudGVyMg=="}});
        let after = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"password": "c2VjcmV0", "token": "dG9r"}});
        let changes = diff(&live, &after);
        assert_eq!(changes.len(), 2);
        for change in changes {
            let text = serde_json::to_string(&change).unwrap();
            assert!(
                !text.contains("aHVudGVyMg")
                    && !text.contains("c2VjcmV0")
                    && !text.contains("dG9r"),
                "{text}"
            );
        }
    }

    #[test]
    fn unnamed_lists_by_index() {
        let changes = diff(
            &json!({"args": ["a", "b"]}),
            &json!({"args": ["a", "c", "d"]}),
        );
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["args[1]", "args[2]"]);
    }
}
