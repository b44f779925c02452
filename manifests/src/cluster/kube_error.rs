//! Errors of the Kubernetes client written as kubectl writes them: the API's
//! own message and its status (`secrets "flux-git-deploy" is forbidden: User
//! "system:serviceaccount:flux:flux" cannot get resource "secrets" in API
//! group "" in the namespace "flux" (403 Forbidden)`), or what kept the
//! request from reaching the API, in one line. Never the client's `Debug`
//! dump of a `Status`.

use std::error::Error as StdError;
use std::fmt::Write as _;

/// One line a person can act on, for any error of the Kubernetes client.
///
/// ```
/// use manifests::cluster::kube_error_message;
///
/// let status = kube::core::Status::failure(
///     r#"secrets "flux-git-deploy" is forbidden: User "system:serviceaccount:flux:flux" cannot get resource "secrets" in API group "" in the namespace "flux""#,
///     "Forbidden",
/// )
/// .with_code(403);
/// assert_eq!(
///     kube_error_message(&kube::Error::Api(status.boxed())),
///     r#"secrets "flux-git-deploy" is forbidden: User "system:serviceaccount:flux:flux" cannot get resource "secrets" in API group "" in the namespace "flux" (403 Forbidden)"#,
/// );
/// ```
pub fn kube_error_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status_message(status.code, &status.reason, &status.message),
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            format!("cannot reach the API server: {}", causes(error))
        }
        kube::Error::SerdeError(inner) => {
            format!("unreadable answer from the API server: {inner}")
        }
        kube::Error::Auth(_) => {
            format!("cannot authenticate to the API server: {}", causes(error))
        }
        other => chain(other),
    }
}

/// `<message> (<code> <reason>)`, as the API says them; the reason alone
/// when there is no message.
pub(crate) fn status_message(code: u16, reason: &str, message: &str) -> String {
    let reason = if reason.is_empty() {
        http::StatusCode::from_u16(code)
            .ok()
            .and_then(|code| code.canonical_reason())
            .unwrap_or("")
    } else {
        reason
    };
    let status = match (code, reason) {
        (0, "") => String::new(),
        (0, reason) => reason.to_owned(),
        (code, "") => code.to_string(),
        (code, reason) => format!("{code} {reason}"),
    };
    match (message.trim(), status.is_empty()) {
        ("", true) => "the API server refused the request".to_owned(),
        ("", false) => status,
        (message, true) => message.to_owned(),
        (message, false) => format!("{message} ({status})"),
    }
}

/// The error's causes, below the client's own wrapping (`HyperError: ...`).
fn causes(error: &kube::Error) -> String {
    match error.source() {
        Some(source) => chain(source),
        None => error.to_string(),
    }
}

/// An error and its sources, joined by `: `, each said once (an error that
/// repeats its source's text is not followed by it).
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        let text = source.to_string();
        if !text.is_empty() && !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        next = source.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(message, reason)
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn api_errors_read_like_kubectl() {
        assert_eq!(
            kube_error_message(&api(404, "NotFound", r#"configmaps "x" not found"#)),
            r#"configmaps "x" not found (404 NotFound)"#
        );
        assert_eq!(
            kube_error_message(&api(
                409,
                "Conflict",
                "Operation cannot be fulfilled on configmaps \"x\": the object has been modified"
            )),
            "Operation cannot be fulfilled on configmaps \"x\": the object has been modified (409 Conflict)"
        );
        assert_eq!(kube_error_message(&api(404, "", "")), "404 Not Found");
        assert_eq!(
            kube_error_message(&api(500, "", "boom")),
            "boom (500 Internal Server Error)"
        );
        let text = kube_error_message(&api(403, "Forbidden", "nope"));
        assert!(!text.contains("Status {"), "{text}");
    }

    #[test]
    fn other_errors_say_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error = kube::Error::Service(Box::new(io));
        assert_eq!(
            kube_error_message(&error),
            "cannot reach the API server: connection refused"
        );
        let serde = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let text = kube_error_message(&kube::Error::SerdeError(serde));
        assert!(
            text.starts_with("unreadable answer from the API server: "),
            "{text}"
        );
    }
}
