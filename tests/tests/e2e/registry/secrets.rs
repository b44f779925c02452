//! Registry secrets stay where they belong: no token or password in `Debug`
//! prints, no `Authorization` header on a redirect to another host, and no
//! password sent to a plain-http token realm the user did not list.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use registry_poller::{Credentials, DOCKER_CFG_TYPE, Poller};
use tests::registry::{
    BulkPusher, DockerRegistry, FrontConfig, Misbehaviour, RegistryFront, TokenAuth,
};

use super::{config, error_of, repo_snapshot, repository, tag_names};

const PASSWORD: &str = "planted-registry-password-7f3a";

fn credentials(host: &str) -> Credentials {
    let json = format!(r#"{{"{host}": {{"username": "bob", "password": "{PASSWORD}"}}}}"#);
    let data = BTreeMap::from([(".dockercfg".to_owned(), json.into_bytes())]);
    Credentials::from_pull_secret("ns/legacy", DOCKER_CFG_TYPE, &data).unwrap()
}

fn token_auth() -> Option<TokenAuth> {
    Some(TokenAuth {
        user: "bob".to_owned(),
        password: PASSWORD.to_owned(),
        lifetime: Duration::from_secs(300),
        anonymous: false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_stay_off_debug_prints_and_other_hosts() {
    let registry = DockerRegistry::start().unwrap();
    BulkPusher::new(&registry.url(), None)
        .push_generated("team/moved", 2, 1_700_000_000)
        .await
        .unwrap();
    // Blobs live "elsewhere": a second front, on another port, with no auth.
    let blobs = RegistryFront::start(FrontConfig {
        backend: registry.url(),
        ..FrontConfig::default()
    })
    .await
    .unwrap();
    let front = RegistryFront::start(FrontConfig {
        backend: registry.url(),
        token_auth: token_auth(),
        misbehaviour: HashMap::from([(
            "team/moved".to_owned(),
            Misbehaviour::RedirectBlobs {
                to: format!("http://{}", blobs.host()),
            },
        )]),
        ..FrontConfig::default()
    })
    .await
    .unwrap();
    let repo = repository(&front.host(), "team/moved");
    let poller = Poller::new(config(&[front.host(), blobs.host()])).unwrap();
    poller.set_repositories([(repo.clone(), credentials(&front.host()))]);
    let round = poller.poll_all().await;
    let app = repo_snapshot(&poller.snapshot(), &repo);
    assert_eq!(round.failed, 0, "{}", error_of(&app));
    assert_eq!(tag_names(&app).len(), 2);
    assert!(app.tags().iter().all(|t| t.created().is_some()));

    // The front saw the bearer token; the host redirected to saw none.
    let token = front
        .authorizations()
        .into_iter()
        .find_map(|a| a.strip_prefix("Bearer ").map(str::to_owned))
        .expect("the front saw a bearer token");
    assert!(
        blobs.authorizations().is_empty(),
        "{:?}",
        blobs.authorizations()
    );

    let printed = format!("{poller:?}");
    assert!(!printed.contains(&token), "{printed}");
    assert!(!printed.contains(PASSWORD), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_to_a_plain_http_realm_only_if_it_is_listed() {
    let registry = DockerRegistry::start().unwrap();
    BulkPusher::new(&registry.url(), None)
        .push_generated("team/realm", 1, 1_700_000_000)
        .await
        .unwrap();
    // The realm names the same server as `localhost`, a host the user did
    // not list as insecure.
    let front = RegistryFront::start(FrontConfig {
        backend: registry.url(),
        token_auth: token_auth(),
        realm_host_name: Some("localhost".to_owned()),
        ..FrontConfig::default()
    })
    .await
    .unwrap();
    let realm_host = front.host().replace("127.0.0.1", "localhost");
    let repo = repository(&front.host(), "team/realm");

    let refused = Poller::new(config(&[front.host()])).unwrap();
    refused.set_repositories([(repo.clone(), credentials(&front.host()))]);
    assert_eq!(refused.poll_all().await.failed, 1);
    let error = error_of(&repo_snapshot(&refused.snapshot(), &repo));
    assert!(
        error.contains("refusing to send credentials to the plain-http token realm")
            && error.contains(&realm_host),
        "{error}"
    );
    assert!(!error.contains(PASSWORD), "{error}");
    assert_eq!(front.tokens_issued() + front.token_refusals(), 0);

    // Listed: the password goes, the token comes back, the tags are read.
    let listed = Poller::new(config(&[front.host(), realm_host])).unwrap();
    listed.set_repositories([(repo.clone(), credentials(&front.host()))]);
    let round = listed.poll_all().await;
    let app = repo_snapshot(&listed.snapshot(), &repo);
    assert_eq!(round.failed, 0, "{}", error_of(&app));
    assert_eq!(front.tokens_issued(), 1);
}
