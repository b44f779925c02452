//! Workload manifests the tests and benchmarks generate.

/// A Deployment `name` of `image` with extra `annotations` lines.
pub fn deployment(namespace: &str, name: &str, image: &str, annotations: &[&str]) -> String {
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = annotations.iter().map(|a| format!("    {a}\n")).collect();
        format!("  annotations:\n{}", lines.concat())
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name} # {name} of the team
  namespace: {namespace}
{annotations}spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: \"{image}\" # the app
"
    )
}
