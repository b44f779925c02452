//! Basic auth on the real registry, and the bearer-token flow through the
//! front's Docker-Hub-like token service, with credentials read from pull
//! secret data.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use registry_poller::{Credentials, DOCKER_CFG_TYPE, DOCKER_CONFIG_JSON_TYPE, Poller};
use tests::registry::{
    DockerRegistry, FrontConfig, ImageSpec, OciLayout, RegistryFront, TokenAuth, skopeo_copy,
};

use super::{config, error_of, repo_snapshot, repository, requests, tag_names};

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Credentials as the daemon would read them from a dockerconfigjson Secret.
fn config_json_secret(host: &str, user: &str, password: &str) -> Credentials {
    let json = format!(
        r#"{{"auths": {{"http://{host}": {{"auth": "{}"}}}}}}"#,
        b64(&format!("{user}:{password}"))
    );
    let data = BTreeMap::from([(".dockerconfigjson".to_owned(), json.into_bytes())]);
    Credentials::from_pull_secret("ns/pull", DOCKER_CONFIG_JSON_TYPE, &data).unwrap()
}

/// Credentials from a legacy dockercfg Secret.
fn dockercfg_secret(host: &str, user: &str, password: &str) -> Credentials {
    let json = format!(r#"{{"{host}": {{"username": "{user}", "password": "{password}"}}}}"#);
    let data = BTreeMap::from([(".dockercfg".to_owned(), json.into_bytes())]);
    Credentials::from_pull_secret("ns/legacy", DOCKER_CFG_TYPE, &data).unwrap()
}

/// A Docker-Hub-like front (user `bob`, password `builder`) over `registry`.
async fn token_front(
    registry: &DockerRegistry,
    lifetime: Duration,
    anonymous: bool,
) -> RegistryFront {
    RegistryFront::start(FrontConfig {
        backend: registry.url(),
        token_auth: Some(TokenAuth {
            user: "bob".to_owned(),
            password: "builder".to_owned(),
            lifetime,
            anonymous,
        }),
        ..FrontConfig::default()
    })
    .await
    .unwrap()
}

fn push_two(host: &str, path: &str, credentials: Option<(&str, &str)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::create(dir.path()).unwrap();
    layout
        .add_image("v1", &ImageSpec::new("2024-01-01T00:00:00Z", "one"))
        .unwrap();
    layout
        .add_image("v2", &ImageSpec::new("2024-02-01T00:00:00Z", "two"))
        .unwrap();
    for tag in ["v1", "v2"] {
        skopeo_copy(
            dir.path(),
            tag,
            &format!("{host}/{path}:{tag}"),
            credentials,
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_with_pull_secret_credentials() {
    let registry = DockerRegistry::start_with_basic_auth("alice", "wonderland").unwrap();
    push_two(&registry.host(), "team/private", registry.basic_auth());
    let repo = repository(&registry.host(), "team/private");

    let poller = Poller::new(config(&[registry.host()])).unwrap();
    poller.set_repositories([(
        repo.clone(),
        config_json_secret(&registry.host(), "alice", "wonderland"),
    )]);
    let round = poller.poll_all().await;
    let app = repo_snapshot(&poller.snapshot(), &repo);
    assert_eq!(round.failed, 0, "{}", error_of(&app));
    assert_eq!(tag_names(&app), ["v1", "v2"]);
    // The challenge costs one 401; after it, credentials go with each request.
    assert_eq!(round.requests, requests(2, 2, 2, 0));
    let round = poller.poll_all().await;
    assert_eq!(round.requests, requests(1, 0, 0, 0));

    // Wrong password, and no credentials: errors on the repository, no tags.
    for (credentials, expected) in [
        (
            dockercfg_secret(&registry.host(), "alice", "wrong"),
            "refused the credentials",
        ),
        (Credentials::none(), "no credentials match"),
    ] {
        let poller = Poller::new(config(&[registry.host()])).unwrap();
        poller.set_repositories([(repo.clone(), credentials)]);
        assert_eq!(poller.poll_all().await.failed, 1);
        let app = repo_snapshot(&poller.snapshot(), &repo);
        let error = error_of(&app);
        assert!(
            error.contains(expected) && error.contains(&registry.host()),
            "{error}"
        );
        assert!(!error.contains("wrong"), "{error}");
        assert!(app.tags().is_empty() && app.last_success().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_from_a_token_service() {
    let registry = DockerRegistry::start().unwrap();
    push_two(&registry.host(), "team/hub", None);
    let front = token_front(&registry, Duration::from_secs(300), false).await;
    let repo = repository(&front.host(), "team/hub");

    let poller = Poller::new(config(&[front.host()])).unwrap();
    poller.set_repositories([(
        repo.clone(),
        dockercfg_secret(&front.host(), "bob", "builder"),
    )]);
    let round = poller.poll_all().await;
    let app = repo_snapshot(&poller.snapshot(), &repo);
    assert_eq!(round.failed, 0, "{}", error_of(&app));
    assert_eq!(tag_names(&app), ["v1", "v2"]);
    assert_eq!(
        app.tag("v2").unwrap().created(),
        Some(super::at(1_706_745_600))
    );
    // One 401, one token, then the token serves every request.
    assert_eq!(round.requests, requests(2, 2, 2, 1));
    assert_eq!(front.tokens_issued(), 1);
    let round = poller.poll_all().await;
    assert_eq!(round.requests, requests(1, 0, 0, 0));

    // A wrong password: the token service says 401, the repository records it.
    let wrong = Poller::new(config(&[front.host()])).unwrap();
    wrong.set_repositories([(
        repo.clone(),
        config_json_secret(&front.host(), "bob", "nope"),
    )]);
    assert_eq!(wrong.poll_all().await.failed, 1);
    let error = error_of(&repo_snapshot(&wrong.snapshot(), &repo));
    assert!(
        error.contains("token service") && error.contains("refused the credentials"),
        "{error}"
    );
    assert!(front.token_refusals() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_fetched_again() {
    let registry = DockerRegistry::start().unwrap();
    push_two(&registry.host(), "team/short", None);
    // Anonymous tokens (as Docker Hub gives for public images) that live 13
    // seconds: the client keeps them three (ten-second margin).
    let front = token_front(&registry, Duration::from_secs(13), true).await;
    let repo = repository(&front.host(), "team/short");
    let poller = Poller::new(config(&[front.host()])).unwrap();
    poller.set_repositories([(repo.clone(), Credentials::none())]);
    assert_eq!(poller.poll_all().await.failed, 0);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let round = poller.poll_all().await;
    assert_eq!(round.failed, 0);
    assert_eq!(round.requests, requests(2, 0, 0, 1));
    assert_eq!(front.tokens_issued(), 2);
}
