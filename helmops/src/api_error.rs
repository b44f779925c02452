//! Kubernetes API errors as kubectl prints them.
//!
//! kube's own `Display` of an API error is `ApiError: <message> (<Debug dump
//! of the Status>)`. Statuses, Events and logs of the operator show the
//! server's message and its code instead, as kubectl does:
//! `secrets "x" is forbidden: User "..." cannot get resource "secrets" in
//! API group "" in the namespace "demo" (403 Forbidden)`.

/// One line for a kube client error.
pub(crate) fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                http_reason(status.code)
            } else {
                status.reason.as_str()
            };
            let message = if status.message.is_empty() {
                "the server refused the request"
            } else {
                status.message.trim()
            };
            match (status.code, reason.is_empty()) {
                (0, true) => message.to_owned(),
                (0, false) => format!("{message} ({reason})"),
                (code, _) => format!("{message} ({code} {reason})"),
            }
        }
        kube::Error::HyperError(e) => format!("cannot reach the API server: {e}"),
        kube::Error::Service(e) => format!("cannot reach the API server: {}", chain(e.as_ref())),
        kube::Error::SerdeError(e) => format!("the API server's answer did not parse: {e}"),
        other => chain(other),
    }
}

/// An error and its sources, `a: b: c`, each said once.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        let part = next.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = next.source();
    }
    text
}

fn http_reason(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Gone",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "",
    }
}

/// One line for a watch's error, its API error worded as kubectl words it.
pub(crate) fn describe_watch(error: &kube::runtime::watcher::Error) -> String {
    use kube::runtime::watcher::Error as W;
    match error {
        W::InitialListFailed(e) => format!("listing failed: {}", describe(e)),
        W::WatchStartFailed(e) => format!("watching failed to start: {}", describe(e)),
        W::WatchFailed(e) => format!("the watch failed: {}", describe(e)),
        W::WatchError(status) => format!(
            "the API server ended the watch: {}",
            describe(&kube::Error::Api(status.clone()))
        ),
        other => other.to_string(),
    }
}

/// One line for the finalizer helper's error around a reconcile.
pub(crate) fn describe_finalizer(error: &kube::runtime::finalizer::Error<crate::Error>) -> String {
    use kube::runtime::finalizer::Error as F;
    match error {
        F::ApplyFailed(e) | F::CleanupFailed(e) => e.to_string(),
        F::AddFinalizer(e) => format!("adding the finalizer failed: {}", describe(e)),
        F::RemoveFinalizer(e) => format!("removing the finalizer failed: {}", describe(e)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_like_kubectl() {
        let status = kube::core::Status::failure(
            "secrets \"x\" is forbidden: User \"system:serviceaccount:flux:flux\" cannot get resource \"secrets\" in API group \"\" in the namespace \"kube-system\"",
            "Forbidden",
        )
        .with_code(403);
        let error = kube::Error::Api(status.boxed());
        assert_eq!(
            describe(&error),
            "secrets \"x\" is forbidden: User \"system:serviceaccount:flux:flux\" cannot get resource \"secrets\" in API group \"\" in the namespace \"kube-system\" (403 Forbidden)"
        );
        assert!(!describe(&error).contains("Status {"));
        let not_found = kube::Error::Api(
            kube::core::Status::failure("helmreleases \"x\" not found", "")
                .with_code(404)
                .boxed(),
        );
        assert_eq!(
            describe(&not_found),
            "helmreleases \"x\" not found (404 NotFound)"
        );
    }
}
