//! Registries that answer badly: every bad answer is an error on that
//! repository, the others keep polling, nothing panics.

use std::collections::HashMap;

use registry_poller::{Credentials, Poller};
use tests::net::free_port;
use tests::registry::{BulkPusher, DockerRegistry, FrontConfig, Misbehaviour, RegistryFront};

use super::{config, error_of, repo_snapshot, repository, tag_names};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_are_errors_on_their_repository() {
    let registry = DockerRegistry::start().unwrap();
    let pusher = BulkPusher::new(&registry.url(), None);
    let paths = [
        "good",
        "limited",
        "garbage",
        "badmanifest",
        "vanishing",
        "strange",
        "slow",
    ];
    for path in paths {
        pusher
            .push_generated(&format!("team/{path}"), 3, 1_700_000_000)
            .await
            .unwrap();
    }
    let misbehaviour = HashMap::from([
        (
            "team/limited".to_owned(),
            Misbehaviour::RateLimit {
                times: 2,
                retry_after: "1".to_owned(),
            },
        ),
        ("team/garbage".to_owned(), Misbehaviour::GarbageTags),
        (
            "team/badmanifest".to_owned(),
            Misbehaviour::GarbageManifests,
        ),
        (
            "team/vanishing".to_owned(),
            Misbehaviour::DeleteAfterList {
                tag: "t001".to_owned(),
            },
        ),
        ("team/strange".to_owned(), Misbehaviour::UnknownMediaType),
    ]);
    let front = RegistryFront::start(FrontConfig {
        backend: registry.url(),
        misbehaviour,
        ..FrontConfig::default()
    })
    .await
    .unwrap();
    // A long Retry-After blocks its whole registry host, so it gets a front of its own.
    let slow_front = RegistryFront::start(FrontConfig {
        backend: registry.url(),
        misbehaviour: HashMap::from([(
            "team/slow".to_owned(),
            Misbehaviour::RateLimit {
                times: 1_000,
                retry_after: "120".to_owned(),
            },
        )]),
        ..FrontConfig::default()
    })
    .await
    .unwrap();
    let down_host = format!("127.0.0.1:{}", free_port().unwrap());

    let repo = |path: &str| match path {
        "slow" => repository(&slow_front.host(), "team/slow"),
        "down" => repository(&down_host, "team/down"),
        _ => repository(&front.host(), &format!("team/{path}")),
    };
    let poller = Poller::new(config(&[
        front.host(),
        slow_front.host(),
        down_host.clone(),
    ]))
    .unwrap();
    let all: Vec<&str> = paths.iter().copied().chain(["down"]).collect();
    poller.set_repositories(all.iter().map(|p| (repo(p), Credentials::none())));
    let round = poller.poll_all().await;
    assert_eq!(round.polled, 8);
    assert_eq!(round.failed, 6);

    let snapshot = poller.snapshot();
    let get = |path: &str| repo_snapshot(&snapshot, &repo(path));
    let three = ["t000", "t001", "t002"];
    for path in ["good", "limited"] {
        assert_eq!(
            tag_names(&get(path)),
            three,
            "{path}: {}",
            error_of(&get(path))
        );
        assert!(get(path).last_error().is_none());
    }
    let expect = |path: &str, parts: &[&str]| {
        let error = error_of(&get(path));
        for part in parts {
            assert!(error.contains(part), "{path}: {error:?} lacks {part:?}");
        }
    };
    expect("slow", &["rate limited", &slow_front.host(), "120s"]);
    expect(
        "garbage",
        &["tag list is not JSON", "team/garbage/tags/list"],
    );
    expect("badmanifest", &["3 of 3 tags", "manifest is not JSON"]);
    expect(
        "vanishing",
        &["1 of 3 tags", "tag t001", "manifest t001 not found"],
    );
    expect(
        "strange",
        &[
            "unsupported manifest media type",
            "application/vnd.example.unknown+json",
        ],
    );
    expect(
        "down",
        &["request to http://", &down_host, "failed", "refused"],
    );
    assert_eq!(tag_names(&get("vanishing")), ["t000", "t002"]);
    assert_eq!(front.deleted(), ["t001"]);
    for path in ["slow", "garbage", "badmanifest", "strange", "down"] {
        assert!(get(path).tags().is_empty(), "{path}");
        assert!(get(path).last_success().is_none(), "{path}");
    }

    // The next round polls everything again; the good keep working and the
    // vanished tag is simply gone.
    let round = poller.poll_all().await;
    assert_eq!(round.polled, 8);
    let snapshot = poller.snapshot();
    let get = |path: &str| repo_snapshot(&snapshot, &repo(path));
    assert_eq!(tag_names(&get("good")), three);
    assert_eq!(tag_names(&get("vanishing")), ["t000", "t002"]);
    assert!(
        get("vanishing").last_error().is_none(),
        "{}",
        error_of(&get("vanishing"))
    );
    assert!(error_of(&get("down")).contains("failed"));
}
