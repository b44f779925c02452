//! Does the live object already hold every desired field? The question that
//! decides whether a sync writes at all.
//!
//! The desired object (the manifest plus the engine's label and checksum
//! annotation) matches the live one when it is a subset of it, modulo what
//! the apiserver does to what it stores:
//!
//! - fields the server adds (defaults, `status`, `uid`, ...) are ignored;
//! - `null` in the manifest (`creationTimestamp: null`) asks for nothing, and
//!   empty values (`""`, `0`, `false`, `{}`, `[]`) match an absent field,
//!   since the server drops them;
//! - quantities compare by value (`0.5` is `500m`, `1024Mi` is `1Gi`), numbers
//!   numerically (`1.0` is `1`);
//! - list items of objects are matched by merge key (`name`,
//!   `containerPort`, `port`, `mountPath`, ...), so items other managers add
//!   (an injected sidecar) do not count as a difference; other lists compare
//!   item by item;
//! - a Secret's `stringData` is compared as the base64 `data` the server
//!   turns it into.
//!
//! A difference this misses is still applied on the next git change, which
//! always changes the checksum annotation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::quantity::same_quantity;

/// Keys that identify an item in a list of objects, in the order tried.
const MERGE_KEYS: &[&str] = &[
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "ip",
    "topologyKey",
];

/// Top-level fields never compared: the list call fixes the version and
/// kind, and `status` belongs to controllers.
const UNCOMPARED: &[&str] = &["apiVersion", "kind", "status"];

/// Where `desired` first differs from `live` (a dotted path), or `None` when
/// every desired field is already live.
pub(crate) fn first_difference(desired: &Value, live: &Value) -> Option<String> {
    let (Value::Object(desired), Value::Object(live)) = (desired, live) else {
        return difference(desired, Some(live)).map(Path::render);
    };
    for (key, value) in desired {
        if UNCOMPARED.contains(&key.as_str()) {
            continue;
        }
        if let Some(path) = difference(value, live.get(key)) {
            return Some(path.under(key).render());
        }
    }
    None
}

/// The object to compare for `desired`: a Secret's `stringData` folded into
/// `data`, and `data` values re-encoded as the server stores them.
pub(crate) fn normalised_for_compare(api_group: &str, kind: &str, desired: &Value) -> Value {
    let mut object = desired.clone();
    if api_group.is_empty()
        && kind == "Secret"
        && let Value::Object(map) = &mut object
    {
        fold_string_data(map);
    }
    object
}

fn fold_string_data(secret: &mut Map<String, Value>) {
    let string_data = secret.remove("stringData");
    let data = secret
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(data) = data else {
        return;
    };
    for value in data.values_mut() {
        if let Value::String(encoded) = value {
            let compact: String = encoded
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            if let Ok(bytes) = STANDARD.decode(compact) {
                *encoded = STANDARD.encode(bytes);
            }
        }
    }
    if let Some(Value::Object(string_data)) = string_data {
        for (key, value) in string_data {
            if let Value::String(text) = value {
                data.insert(key, Value::String(STANDARD.encode(text)));
            }
        }
    }
    if data.is_empty() {
        secret.remove("data");
    }
}

/// A path to a difference, built innermost first.
struct Path(Vec<String>);

impl Path {
    fn here() -> Self {
        Self(Vec::new())
    }

    fn under(mut self, key: &str) -> Self {
        self.0.push(key.to_owned());
        self
    }

    fn at(mut self, item: String) -> Self {
        self.0.push(item);
        self
    }

    fn render(self) -> String {
        let mut out = String::new();
        for part in self.0.into_iter().rev() {
            if !out.is_empty() && !part.starts_with('[') {
                out.push('.');
            }
            out.push_str(&part);
        }
        out
    }
}

fn difference(desired: &Value, live: Option<&Value>) -> Option<Path> {
    let Some(live) = live else {
        return (!is_empty(desired)).then(Path::here);
    };
    let same = match (desired, live) {
        (Value::Null, _) => true,
        (Value::Object(desired), Value::Object(live)) => {
            for (key, value) in desired {
                if let Some(path) = difference(value, live.get(key)) {
                    return Some(path.under(key));
                }
            }
            true
        }
        (Value::Array(desired), Value::Array(live)) => return list_difference(desired, live),
        (Value::Object(desired), _) if desired.is_empty() => live.is_null(),
        _ => same_scalar(desired, live),
    };
    (!same).then(Path::here)
}

fn same_scalar(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) => a == b || same_quantity(desired, b),
        (Value::Number(a), Value::String(b)) => a.to_string() == *b || same_quantity(desired, b),
        _ => desired == live,
    }
}

fn list_difference(desired: &[Value], live: &[Value]) -> Option<Path> {
    if let Some(key) = merge_key(desired) {
        for item in desired {
            let wanted = &item[key];
            let mut candidates = live
                .iter()
                .filter(|candidate| candidate.get(key).is_some_and(|v| same_scalar(wanted, v)));
            let label = || format!("[{key}={}]", scalar_text(wanted));
            match candidates.next() {
                None => return Some(Path::here().at(label())),
                Some(first) => {
                    // Several live items may share the key (a port over TCP
                    // and UDP, one volume mounted twice): any may match.
                    let first_difference = difference(item, Some(first))?;
                    if !candidates.any(|other| difference(item, Some(other)).is_none()) {
                        return Some(first_difference.at(label()));
                    }
                }
            }
        }
        return None;
    }
    if desired.len() != live.len() {
        return Some(Path::here());
    }
    desired
        .iter()
        .zip(live)
        .enumerate()
        .find_map(|(index, (desired, live))| {
            difference(desired, Some(live)).map(|path| path.at(format!("[{index}]")))
        })
}

/// The merge key of a list of objects: the first of [`MERGE_KEYS`] that every
/// item has as a string or number.
fn merge_key(items: &[Value]) -> Option<&'static str> {
    if items.is_empty() {
        return None;
    }
    MERGE_KEYS.iter().copied().find(|key| {
        items
            .iter()
            .all(|item| matches!(item.get(*key), Some(Value::String(_) | Value::Number(_))))
    })
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// True for values the server drops or defaults to absent.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(flag) => !flag,
        Value::Number(number) => number.as_f64() == Some(0.0),
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.values().all(is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i64, cpu: &Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "demo", "creationTimestamp": null,
                "labels": {"app": "web", "fluxcd.io/sync-gc-mark": "sha256.x"},
                "annotations": {"fluxcd.io/sync-checksum": "abc"}
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "resources": {"requests": {"cpu": cpu, "memory": "1024Mi"}, "limits": {}},
                            "securityContext": {"privileged": false}
                        }]
                    }
                }
            },
            "status": {}
        })
    }

    fn live_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "demo", "uid": "u", "resourceVersion": "7",
                "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 1,
                "labels": {"app": "web", "fluxcd.io/sync-gc-mark": "sha256.x"},
                "annotations": {"fluxcd.io/sync-checksum": "abc", "deployment.kubernetes.io/revision": "1"}
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {"name": "sidecar", "image": "envoy"},
                            {
                                "name": "web",
                                "image": "nginx:1.27",
                                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                                "terminationMessagePath": "/dev/termination-log",
                                "imagePullPolicy": "IfNotPresent",
                                "securityContext": {}
                            }
                        ],
                        "restartPolicy": "Always",
                        "dnsPolicy": "ClusterFirst"
                    }
                }
            },
            "status": {"observedGeneration": 1, "replicas": 2}
        })
    }

    #[test]
    fn server_normalisation_is_not_a_difference() {
        let desired = deployment(2, &json!(0.5));
        assert_eq!(first_difference(&desired, &live_deployment()), None);
        let desired = deployment(2, &json!("500m"));
        assert_eq!(first_difference(&desired, &live_deployment()), None);
    }

    #[test]
    fn drift_is_a_difference() {
        let desired = deployment(3, &json!(0.5));
        assert_eq!(
            first_difference(&desired, &live_deployment()).as_deref(),
            Some("spec.replicas")
        );
        let desired = deployment(2, &json!(1));
        assert_eq!(
            first_difference(&desired, &live_deployment()).as_deref(),
            Some("spec.template.spec.containers[name=web].resources.requests.cpu")
        );
        let mut live = live_deployment();
        live["metadata"]["labels"]["app"] = json!("edited");
        assert_eq!(
            first_difference(&deployment(2, &json!(0.5)), &live).as_deref(),
            Some("metadata.labels.app")
        );
        let mut live = live_deployment();
        live["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("fluxcd.io/sync-checksum");
        assert_eq!(
            first_difference(&deployment(2, &json!(0.5)), &live).as_deref(),
            Some("metadata.annotations.fluxcd.io/sync-checksum")
        );
        let mut live = live_deployment();
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .remove(1);
        assert_eq!(
            first_difference(&deployment(2, &json!(0.5)), &live).as_deref(),
            Some("spec.template.spec.containers[name=web]")
        );
    }

    #[test]
    fn service_defaults_and_ports() {
        let desired = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
        });
        let live = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "demo", "uid": "u"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
                "clusterIP": "10.0.0.12", "clusterIPs": ["10.0.0.12"], "type": "ClusterIP",
                "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster"
            },
            "status": {"loadBalancer": {}}
        });
        assert_eq!(first_difference(&desired, &live), None);
    }

    #[test]
    fn same_port_over_two_protocols() {
        let desired = json!({"spec": {"ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"}
        ]}});
        let live = json!({"spec": {"ports": [
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}
        ]}});
        assert_eq!(first_difference(&desired, &live), None);
        let unnamed = json!({"spec": {"ports": [
            {"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}
        ]}});
        assert_eq!(first_difference(&unnamed, &live), None);
        let udp_only = json!({"spec": {"ports": [{"port": 53, "protocol": "SCTP"}]}});
        assert_eq!(
            first_difference(&udp_only, &live).as_deref(),
            Some("spec.ports[port=53].protocol")
        );
    }

    #[test]
    fn secret_string_data_is_compared_as_data() {
        let desired = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "demo"},
            "stringData": {"password": "hunter2"},
            "data": {"token": "c2Vj\ncmV0"}
        });
        let live = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "demo"},
            "type": "Opaque",
            "data": {"password": "aHVudGVyMg==", "token": "c2VjcmV0"}
        });
        let compared = normalised_for_compare("", "Secret", &desired);
        assert_eq!(first_difference(&compared, &live), None);
        assert!(
            first_difference(&desired, &live).is_some(),
            "raw stringData differs"
        );
        let mut changed = live.clone();
        changed["data"]["password"] = json!("b3RoZXI=");
        assert_eq!(
            first_difference(&compared, &changed).as_deref(),
            Some("data.password")
        );
        // Not a Secret of the core group: left alone.
        assert_eq!(
            normalised_for_compare("example.com", "Secret", &desired),
            desired
        );
    }

    #[test]
    fn empty_values_match_absent_fields() {
        let desired =
            json!({"spec": {"a": "", "b": 0, "c": false, "d": [], "e": {"f": {}}, "g": null}});
        assert_eq!(first_difference(&desired, &json!({"spec": {}})), None);
        let desired = json!({"spec": {"hostNetwork": false}});
        assert_eq!(
            first_difference(&desired, &json!({"spec": {"hostNetwork": true}})).as_deref(),
            Some("spec.hostNetwork")
        );
    }

    #[test]
    fn scalar_lists_compare_item_by_item() {
        let desired = json!({"args": ["--a", "--b"]});
        assert_eq!(
            first_difference(&desired, &json!({"args": ["--a", "--b"]})),
            None
        );
        assert_eq!(
            first_difference(&desired, &json!({"args": ["--b", "--a"]})).as_deref(),
            Some("args[0]")
        );
        assert_eq!(
            first_difference(&desired, &json!({"args": ["--a"]})).as_deref(),
            Some("args")
        );
        // Role rules: lists of objects without a merge key, by position.
        let rules =
            json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
        assert_eq!(first_difference(&rules, &rules.clone()), None);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(first_difference(&json!({"a": 1.0}), &json!({"a": 1})), None);
        assert_eq!(
            first_difference(&json!({"a": 8080}), &json!({"a": 8080})),
            None
        );
        assert!(first_difference(&json!({"a": 8080}), &json!({"a": "http"})).is_some());
        assert!(first_difference(&json!({"a": "1"}), &json!({"a": true})).is_some());
    }

    #[test]
    fn type_changes_are_differences() {
        assert!(first_difference(&json!({"a": {"b": 1}}), &json!({"a": [1]})).is_some());
        assert!(first_difference(&json!({"a": [1]}), &json!({"a": {"b": 1}})).is_some());
        assert!(first_difference(&json!({"a": {}}), &json!({"a": 1})).is_some());
        assert_eq!(
            first_difference(&json!({"a": {}}), &json!({"a": {"x": 1}})),
            None
        );
    }
}
