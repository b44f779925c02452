//! Entry points into the parsers of what registries answer, for the fuzz
//! targets in the repository's `fuzz/` directory. Each takes raw input,
//! returns nothing, and must never panic. Not a stable API.

use std::time::SystemTime;

use reqwest::header::{HeaderMap, HeaderValue, LINK};

use crate::auth::{TokenResponse, parse_challenge};
use crate::client::{TagList, next_link};
use crate::manifest::{Platform, parse_config_created, parse_manifest};
use crate::ratelimit::parse_retry_after;
use crate::reference::check_tag;

const URL: &str = "https://registry.example/v2/team/app/manifests/v1";

/// A tag list body, each tag checked as the client checks it.
pub fn tag_list(body: &[u8]) {
    if let Ok(list) = serde_json::from_slice::<TagList>(body) {
        for tag in list.tags.unwrap_or_default() {
            let _ = check_tag(&tag);
        }
    }
}

/// A manifest or index body under each content type the client accepts.
pub fn manifest(body: &[u8]) {
    let platform = Platform::default();
    for content_type in [
        None,
        Some(crate::manifest::OCI_MANIFEST),
        Some(crate::manifest::OCI_INDEX),
        Some(crate::manifest::DOCKER_MANIFEST_V2),
        Some(crate::manifest::DOCKER_MANIFEST_LIST),
        Some("application/json"),
    ] {
        let _ = parse_manifest("v1", content_type, body, &platform, URL);
    }
}

/// An image config body (its `created` time).
pub fn config(body: &[u8]) {
    let _ = parse_config_created(body, URL, false);
    let _ = parse_config_created(body, URL, true);
}

/// A token service's answer.
pub fn token_answer(body: &[u8]) {
    if let Ok(answer) = serde_json::from_slice::<TokenResponse>(body) {
        let _ = answer.into_token();
    }
}

/// A `WWW-Authenticate` header value.
pub fn challenge(header: &str) {
    let _ = parse_challenge(header);
}

/// A `Link` header value of a tag list page.
pub fn link(header: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(header) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(LINK, value);
    let _ = next_link(
        &headers,
        "https://registry.example",
        "https://registry.example/v2/team/app/tags/list",
    );
}

/// A `Retry-After` header value.
pub fn retry_after(value: &str) {
    let _ = parse_retry_after(value, SystemTime::UNIX_EPOCH);
}
