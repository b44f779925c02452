//! Authentication challenges (`WWW-Authenticate`) and the bearer-token cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// Tokens are dropped this long before the registry said they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Lifetime assumed when the token service does not say (the spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// What a registry's 401 asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// `Basic realm=...`: send a user name and password.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`: fetch a token from `realm`.
    Bearer {
        /// The token service's URL.
        realm: String,
        /// The `service` parameter, if given.
        service: Option<String>,
        /// The `scope` parameter, if given.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value. `None` if the scheme is neither
/// Basic nor Bearer or a Bearer challenge has no realm.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(params);
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    Some(Challenge::Bearer {
        realm: get("realm").filter(|r| !r.is_empty())?,
        service: get("service"),
        scope: get("scope"),
    })
}

/// `key="quoted, value",key2=token` pairs; quoted strings may hold commas and
/// backslash escapes.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
        if chars.peek().is_none() {
            return out;
        }
    }
}

/// A token service's answer.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token (`token`, or OAuth2's `access_token`) and how long it is good for.
    pub(crate) fn into_token(self) -> Option<(String, Duration)> {
        let token = self.token.or(self.access_token).filter(|t| !t.is_empty())?;
        let lifetime = self
            .expires_in
            .filter(|s| *s > 0)
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        Some((token, lifetime))
    }
}

/// Bearer tokens by (registry host, scope), each until shortly before expiry.
/// `Debug` shows how many are held, never a token.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("tokens", &self.lock().len())
            .finish()
    }
}

impl TokenCache {
    /// A live token for `host` and `scope`.
    pub(crate) fn get(&self, host: &str, scope: &str) -> Option<String> {
        let tokens = self.lock();
        let (token, expires) = tokens.get(&(host.to_owned(), scope.to_owned()))?;
        (Instant::now() < *expires).then(|| token.clone())
    }

    /// Keeps `token` for `lifetime` (less a margin).
    pub(crate) fn insert(&self, host: &str, scope: &str, token: String, lifetime: Duration) {
        let lifetime = lifetime
            .saturating_sub(EXPIRY_MARGIN)
            .max(Duration::from_secs(1));
        let mut tokens = self.lock();
        let now = Instant::now();
        tokens.retain(|_, (_, expires)| *expires > now);
        tokens.insert((host.to_owned(), scope.to_owned()), (token, now + lifetime));
    }

    /// Forgets the token for `host` and `scope` (the registry refused it).
    pub(crate) fn remove(&self, host: &str, scope: &str) {
        self.lock().remove(&(host.to_owned(), scope.to_owned()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (String, Instant)>> {
        match self.tokens.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".to_owned(),
                service: Some("registry.docker.io".to_owned()),
                scope: Some("repository:library/nginx:pull,push".to_owned()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("basic"), Some(Challenge::Basic));
        assert_eq!(parse_challenge(r#"Negotiate abc"#), None);
        assert_eq!(parse_challenge(r#"Bearer service="s""#), None);
        let c = parse_challenge(r#"bearer realm=http://t/token , error="invalid_token", x="a\"b""#)
            .unwrap();
        assert!(
            matches!(c, Challenge::Bearer { ref realm, service: None, .. } if realm == "http://t/token")
        );
    }

    #[test]
    fn token_responses() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"token": "t1", "expires_in": 300}"#).unwrap();
        assert_eq!(
            t.into_token(),
            Some(("t1".to_owned(), Duration::from_secs(300)))
        );
        let t: TokenResponse = serde_json::from_str(r#"{"access_token": "t2"}"#).unwrap();
        assert_eq!(
            t.into_token(),
            Some(("t2".to_owned(), DEFAULT_TOKEN_LIFETIME))
        );
        let t: TokenResponse = serde_json::from_str(r#"{"token": ""}"#).unwrap();
        assert_eq!(t.into_token(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_expire_early() {
        let cache = TokenCache::default();
        cache.insert("h", "s", "tok".to_owned(), Duration::from_secs(60));
        assert_eq!(cache.get("h", "s").as_deref(), Some("tok"));
        assert_eq!(cache.get("h", "other"), None);
        tokio::time::advance(Duration::from_secs(51)).await;
        assert_eq!(cache.get("h", "s"), None);
    }
}
