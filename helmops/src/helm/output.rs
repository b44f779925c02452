//! Reading what `helm` prints: JSON where it offers it.

use serde::Deserialize;

use crate::Error;

/// Which Helm major version a binary is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum HelmMajor {
    /// Helm 3.
    V3,
    /// Helm 4.
    V4,
}

/// Parses `helm version --template '{{.Version}}'` (`v3.18.0`, `v4.1.4`).
pub(crate) fn parse_version(output: &str) -> Result<(HelmMajor, semver::Version), String> {
    let text = output.trim();
    let bare = text.strip_prefix('v').unwrap_or(text);
    let version =
        semver::Version::parse(bare).map_err(|e| format!("cannot read version {text:?}: {e}"))?;
    match version.major {
        3 => Ok((HelmMajor::V3, version)),
        4 => Ok((HelmMajor::V4, version)),
        2 => Err(format!(
            "{text} is Helm 2 (Tiller), which is not supported; use Helm 3 or 4"
        )),
        other => Err(format!(
            "Helm {other} ({text}) is not supported; use Helm 3 or 4"
        )),
    }
}

/// The parts of a release (from `helm upgrade -o json` or `helm status -o json`)
/// the operator reads.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReleaseInfo {
    /// Release name.
    pub name: String,
    /// Namespace of the release.
    #[serde(default)]
    pub namespace: String,
    /// Helm's revision number.
    pub version: i64,
    /// Status and description.
    pub info: ReleaseInfoStatus,
}

/// Status of a release revision.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReleaseInfoStatus {
    /// `deployed`, `failed`, `superseded`, `pending-upgrade`, ...
    pub status: String,
    /// Helm's description of the revision.
    #[serde(default)]
    pub description: String,
}

/// One entry of `helm history -o json`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HistoryEntry {
    /// Helm's revision number.
    pub revision: i64,
    /// Status of that revision.
    pub status: String,
    /// Chart name-version.
    #[serde(default)]
    pub chart: String,
    /// Helm's description of the revision.
    #[serde(default)]
    pub description: String,
}

/// Parses the JSON of one release.
pub(crate) fn parse_release(command: &str, stdout: &str) -> Result<ReleaseInfo, Error> {
    // Some helm versions print warnings before the JSON document on stdout.
    let json = stdout.find('{').map_or(stdout, |start| &stdout[start..]);
    serde_json::from_str(json).map_err(|e| Error::HelmOutput {
        command: command.to_owned(),
        reason: format!("release JSON: {e}"),
    })
}

/// Parses `helm history -o json`.
pub(crate) fn parse_history(command: &str, stdout: &str) -> Result<Vec<HistoryEntry>, Error> {
    let json = stdout.find('[').map_or(stdout, |start| &stdout[start..]);
    serde_json::from_str(json).map_err(|e| Error::HelmOutput {
        command: command.to_owned(),
        reason: format!("history JSON: {e}"),
    })
}

/// Whether helm's stderr says the release does not exist.
pub(crate) fn is_release_not_found(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    lower.contains("release: not found") || lower.contains("release not found")
}

/// The useful part of helm's stderr: `Error: ...` lines, else the last lines.
pub(crate) fn error_summary(stderr: &str) -> String {
    const MAX: usize = 2000;
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("Error:"))
        .collect();
    let text = if errors.is_empty() {
        stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        errors.join("\n")
    };
    if text.len() > MAX {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &text[..end])
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_both_supported_majors() {
        assert_eq!(parse_version("v4.1.4\n").unwrap().0, HelmMajor::V4);
        assert_eq!(parse_version("v3.18.0").unwrap().0, HelmMajor::V3);
        assert!(parse_version("v2.17.0").unwrap_err().contains("Tiller"));
        assert!(parse_version("garbage").unwrap_err().contains("garbage"));
    }

    #[test]
    fn release_json_with_noise_before_it() {
        let out = r#"WARNING: Kubernetes configuration file is group-readable.
{"name":"demo-app","info":{"first_deployed":"2024-01-01T00:00:00Z","status":"deployed","description":"Upgrade complete","notes":""},"chart":{"metadata":{"name":"app"}},"manifest":"---\n","version":3,"namespace":"demo"}"#;
        let release = parse_release("upgrade", out).unwrap();
        assert_eq!(release.version, 3);
        assert_eq!(release.info.status, "deployed");
        assert_eq!(release.namespace, "demo");
        let err = parse_release("status", "not json").unwrap_err().to_string();
        assert!(err.contains("helm status"), "{err}");
    }

    #[test]
    fn history_json() {
        let out = r#"[{"revision":1,"updated":"2024-01-01T00:00:00Z","status":"superseded","chart":"app-0.1.0","app_version":"1.0","description":"Install complete"},{"revision":2,"updated":"2024-01-01T00:01:00Z","status":"deployed","chart":"app-0.1.1","app_version":"1.0","description":"Upgrade complete"}]"#;
        let history = parse_history("history", out).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].revision, 2);
        assert_eq!(history[1].chart, "app-0.1.1");
    }

    #[test]
    fn error_summaries_keep_helms_error_lines() {
        let stderr = "coalesce.go:237: warning: something\nError: UPGRADE FAILED: cannot patch \"x\" with kind Deployment: field is immutable\n";
        assert_eq!(
            error_summary(stderr),
            "Error: UPGRADE FAILED: cannot patch \"x\" with kind Deployment: field is immutable"
        );
        assert_eq!(error_summary("a\nb\n"), "a\nb");
        assert!(is_release_not_found("Error: release: not found"));
        assert!(!is_release_not_found("Error: timed out"));
        let long = format!("Error: {}", "é".repeat(3000));
        assert!(error_summary(&long).ends_with("..."));
    }
}
