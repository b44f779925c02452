//! Tags, digests and creation times from an anonymous registry; what a
//! re-poll costs; the cache file; tags that move.

use registry_poller::{Credentials, Platform, Poller};
use std::time::Duration;

use tests::registry::{
    BulkPusher, DockerRegistry, ImageSpec, OciLayout, skopeo_copy, skopeo_list_tags,
};

use super::{at, config, error_of, repo_snapshot, repository, requests, tag_names};

// 2024-01-01, 2024-02-01, 2024-03-01, 2024-04-01 at midnight UTC.
const JAN: u64 = 1_704_067_200;
const FEB: u64 = 1_706_745_600;
const MAR: u64 = 1_709_251_200;
const APR: u64 = 1_711_929_600;

fn spec(seconds: u64, content: &str) -> ImageSpec {
    let text = match seconds {
        JAN => "2024-01-01T00:00:00Z",
        FEB => "2024-02-01T00:00:00Z",
        MAR => "2024-03-01T00:00:00Z",
        _ => "2024-04-01T00:00:00Z",
    };
    ImageSpec::new(text, content)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_tags_digests_and_created_times() {
    let registry = DockerRegistry::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::create(&dir.path().join("layout")).unwrap();
    let v1 = layout.add_image("v1", &spec(JAN, "one")).unwrap();
    let v2 = layout.add_image("v2", &spec(FEB, "two")).unwrap();
    let (multi, _) = layout
        .add_index(
            "multi",
            &[
                spec(MAR, "amd").arch("amd64"),
                spec(APR, "arm").arch("arm64"),
            ],
        )
        .unwrap();
    let name = format!("{}/team/app", registry.host());
    for tag in ["v1", "v2", "multi"] {
        skopeo_copy(layout.dir(), tag, &format!("{name}:{tag}"), None).unwrap();
    }

    let repo = repository(&registry.host(), "team/app");
    let poller = Poller::new(config(&[registry.host()])).unwrap();
    poller.set_repositories([(repo.clone(), Credentials::none())]);
    let round = poller.poll_all().await;
    let app = repo_snapshot(&poller.snapshot(), &repo);
    assert_eq!(round.failed, 0, "{}", error_of(&app));
    assert!(app.last_success().is_some());

    // The same tags skopeo sees, sorted.
    let mut skopeo_tags = skopeo_list_tags(&name, None).unwrap();
    skopeo_tags.sort();
    assert_eq!(tag_names(&app), skopeo_tags);
    assert_eq!(tag_names(&app), ["multi", "v1", "v2"]);

    let tag = |t: &str| app.tag(t).unwrap().clone();
    assert_eq!(tag("v1").digest().to_string(), v1);
    assert_eq!(tag("v2").digest().to_string(), v2);
    assert_eq!(tag("multi").digest().to_string(), multi);
    assert_eq!(tag("v1").created(), Some(at(JAN)));
    assert_eq!(tag("v2").created(), Some(at(FEB)));
    // An index takes the creation time of the linux/amd64 image.
    assert_eq!(tag("multi").created(), Some(at(MAR)));
    // Three manifests by tag, one platform manifest, three configs.
    assert_eq!(round.requests, requests(1, 4, 3, 0));

    // Nothing new: one request.
    let round = poller.poll_all().await;
    assert_eq!(round.requests, requests(1, 0, 0, 0));

    // Another platform picks the other image of the index.
    let mut arm = config(&[registry.host()]);
    arm.client.platform = Platform::parse("linux/arm64").unwrap();
    let arm_poller = Poller::new(arm).unwrap();
    arm_poller.set_repositories([(repo.clone(), Credentials::none())]);
    arm_poller.poll_all().await;
    let arm_app = repo_snapshot(&arm_poller.snapshot(), &repo);
    assert_eq!(arm_app.tag("multi").unwrap().created(), Some(at(APR)));

    // A new tag for a known image costs its manifest only (reproducible
    // layers: the same spec is the same digest).
    layout.add_image("v1-again", &spec(JAN, "one")).unwrap();
    skopeo_copy(layout.dir(), "v1-again", &format!("{name}:v1-again"), None).unwrap();
    let round = poller.poll_all().await;
    assert_eq!(round.requests, requests(1, 1, 0, 0));
    let app = repo_snapshot(&poller.snapshot(), &repo);
    assert_eq!(app.tag("v1-again").unwrap().digest().to_string(), v1);

    // A new image: its manifest and its config.
    layout.add_image("v3", &spec(APR, "three")).unwrap();
    skopeo_copy(layout.dir(), "v3", &format!("{name}:v3"), None).unwrap();
    let round = poller.poll_all().await;
    assert_eq!(round.requests, requests(1, 1, 1, 0));
    let app = repo_snapshot(&poller.snapshot(), &repo);
    assert_eq!(app.tags().len(), 5);
    assert_eq!(app.tag("v3").unwrap().created(), Some(at(APR)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_file_spares_a_restart_the_rescan() {
    let registry = DockerRegistry::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::create(&dir.path().join("layout")).unwrap();
    layout.add_image("v1", &spec(JAN, "one")).unwrap();
    layout.add_image("v2", &spec(FEB, "two")).unwrap();
    let name = format!("{}/team/cached", registry.host());
    for tag in ["v1", "v2"] {
        skopeo_copy(layout.dir(), tag, &format!("{name}:{tag}"), None).unwrap();
    }
    let repo = repository(&registry.host(), "team/cached");
    let cache_file = dir.path().join("state").join("registry-cache.json");
    std::fs::create_dir_all(cache_file.parent().unwrap()).unwrap();
    let with_cache = || config(&[registry.host()]).with_cache_file(cache_file.clone());

    let first = Poller::new(with_cache()).unwrap();
    first.set_repositories([(repo.clone(), Credentials::none())]);
    assert_eq!(first.poll_all().await.failed, 0);
    assert!(cache_file.is_file());
    drop(first);

    // A restart: the tags are there before any request, and the first poll
    // costs one.
    let second = Poller::new(with_cache()).unwrap();
    second.set_repositories([(repo.clone(), Credentials::none())]);
    let before = repo_snapshot(&second.snapshot(), &repo);
    assert_eq!(tag_names(&before), ["v1", "v2"]);
    assert_eq!(before.tag("v2").unwrap().created(), Some(at(FEB)));
    assert_eq!(second.request_counts().total(), 0);
    let round = second.poll_all().await;
    assert_eq!(round.requests, requests(1, 0, 0, 0));
    assert!(
        repo_snapshot(&second.snapshot(), &repo)
            .last_success()
            .is_some()
    );

    // A corrupt file is logged and ignored: the poller starts empty.
    std::fs::write(&cache_file, b"{\"version\": 1, \"images\": [").unwrap();
    let third = Poller::new(with_cache()).unwrap();
    third.set_repositories([(repo.clone(), Credentials::none())]);
    assert!(repo_snapshot(&third.snapshot(), &repo).tags().is_empty());
    assert_eq!(third.poll_all().await.failed, 0);
    assert_eq!(
        tag_names(&repo_snapshot(&third.snapshot(), &repo)),
        ["v1", "v2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moved_tags_are_found_by_recheck() {
    let registry = DockerRegistry::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::create(&dir.path().join("layout")).unwrap();
    let old = layout.add_image("latest", &spec(JAN, "old")).unwrap();
    let name = format!("{}/team/moving", registry.host());
    skopeo_copy(layout.dir(), "latest", &format!("{name}:latest"), None).unwrap();
    let repo = repository(&registry.host(), "team/moving");
    let poller =
        Poller::new(config(&[registry.host()]).with_tag_recheck_interval(Duration::ZERO)).unwrap();
    poller.set_repositories([(repo.clone(), Credentials::none())]);
    poller.poll_all().await;
    let first = repo_snapshot(&poller.snapshot(), &repo);
    assert_eq!(first.tag("latest").unwrap().digest().to_string(), old);
    drop(first);

    // Unmoved: a HEAD confirms it.
    let round = poller.poll_all().await;
    assert_eq!(round.requests, requests(1, 1, 0, 0));

    let mut layout = OciLayout::create(&dir.path().join("layout2")).unwrap();
    let new = layout.add_image("latest", &spec(FEB, "new")).unwrap();
    skopeo_copy(layout.dir(), "latest", &format!("{name}:latest"), None).unwrap();
    let round = poller.poll_all().await;
    let app = repo_snapshot(&poller.snapshot(), &repo);
    assert_eq!(app.tag("latest").unwrap().digest().to_string(), new);
    assert_eq!(app.tag("latest").unwrap().created(), Some(at(FEB)));
    assert_eq!(round.requests, requests(1, 2, 1, 0));
    // The old image is no tag's any more: the cache forgets it.
    assert_eq!(poller.cached_images(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_polls_on_the_interval_and_follows_the_set_in_use() {
    let registry = DockerRegistry::start().unwrap();
    let pusher = BulkPusher::new(&registry.url(), None);
    pusher
        .push_generated("team/one", 2, 1_700_000_000)
        .await
        .unwrap();
    pusher
        .push_generated("team/two", 1, 1_700_000_000)
        .await
        .unwrap();
    let one = repository(&registry.host(), "team/one");
    let two = repository(&registry.host(), "team/two");
    let poller =
        Poller::new(config(&[registry.host()]).with_poll_interval(Duration::from_millis(300)))
            .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let poller = poller.clone();
        async move {
            poller
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        }
    });
    let mut updates = poller.subscribe();
    // Waits (up to 20 s) until the snapshot satisfies `ready`.
    let mut wait_for = async |what: &str, ready: &dyn Fn(&registry_poller::Snapshot) -> bool| {
        let waited =
            tokio::time::timeout(Duration::from_secs(20), updates.wait_for(|s| ready(s))).await;
        assert!(
            waited.is_ok_and(|r| r.is_ok()),
            "timed out waiting for {what}"
        );
    };
    let tags_of = |s: &registry_poller::Snapshot, r: &registry_poller::Repository| {
        s.repository(r).map(|r| tag_names(r)).unwrap_or_default()
    };

    // A repository added while running is polled at once.
    poller.set_repositories([(one.clone(), Credentials::none())]);
    wait_for("team/one", &|s| tags_of(s, &one) == ["t000", "t001"]).await;

    // A tag pushed later shows up within an interval or two.
    pusher
        .push_generated("team/one", 3, 1_800_000_000)
        .await
        .unwrap();
    wait_for("t002", &|s| tags_of(s, &one).len() == 3).await;
    let snapshot = poller.snapshot();
    let t002 = repo_snapshot(&snapshot, &one).tag("t002").unwrap().clone();
    assert_eq!(t002.created(), Some(at(1_800_000_002)));

    // The set changes: one goes, two comes.
    poller.set_repositories([(two.clone(), Credentials::none())]);
    wait_for("team/two", &|s| {
        tags_of(s, &two) == ["t000"] && s.repository(&one).is_none()
    })
    .await;

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("run returns after shutdown")
        .unwrap();
}

/// Counts the fetches a poller reports, by kind and outcome.
#[derive(Default)]
struct Fetches(std::sync::Mutex<Vec<(registry_poller::FetchKind, bool)>>);

impl registry_poller::FetchObserver for Fetches {
    fn fetched(&self, kind: registry_poller::FetchKind, _took: Duration, ok: bool) {
        self.0.lock().unwrap().push((kind, ok));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_give_the_time_where_asked_and_each_fetch_is_reported() {
    use registry_poller::FetchKind::{Metadata, Tags};
    let registry = DockerRegistry::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::create(&dir.path().join("layout")).unwrap();
    // A reproducible build: `created` fixed, the build time in labels.
    let fixed = "1980-01-01T00:00:00Z";
    let oci = ImageSpec::new(fixed, "oci")
        .label("org.opencontainers.image.created", "2024-02-01T00:00:00Z");
    let schema = ImageSpec::new(fixed, "schema")
        .label("org.label-schema.build-date", "2024-03-01T00:00:00Z");
    layout.add_image("oci", &oci).unwrap();
    layout.add_image("schema", &schema).unwrap();
    let labelled = repository(&registry.host(), "weaveworks/app");
    let plain = repository(&registry.host(), "team/app");
    for repo in [&labelled, &plain] {
        for tag in ["oci", "schema"] {
            skopeo_copy(layout.dir(), tag, &format!("{repo}:{tag}"), None).unwrap();
        }
    }

    let fetches = std::sync::Arc::new(Fetches::default());
    let mut observed = config(&[registry.host()]).with_fetch_observer(fetches.clone());
    observed.client = observed
        .client
        .with_label_timestamps([format!("{}/weaveworks/*", registry.host())]);
    let poller = Poller::new(observed).unwrap();
    poller.set_repositories([
        (labelled.clone(), Credentials::none()),
        (plain.clone(), Credentials::none()),
    ]);
    // One at a time: the second repository's images are then known by digest.
    poller.poll_repositories(vec![labelled.clone()]).await;
    poller.poll_repositories(vec![plain.clone()]).await;
    let snapshot = poller.snapshot();
    let created = |repo, tag: &str| repo_snapshot(&snapshot, repo).tag(tag).unwrap().created();
    assert_eq!(created(&labelled, "oci"), Some(at(FEB)));
    assert_eq!(created(&labelled, "schema"), Some(at(MAR)));
    // The images are shared by digest, so the plain repository gets the
    // times read for the first; read on its own it keeps `created`.
    let alone = Poller::new(config(&[registry.host()])).unwrap();
    alone.set_repositories([(plain.clone(), Credentials::none())]);
    alone.poll_all().await;
    let fixed_at = at(315_532_800);
    assert_eq!(
        repo_snapshot(&alone.snapshot(), &plain)
            .tag("oci")
            .unwrap()
            .created(),
        Some(fixed_at)
    );

    // Each repository's tag list and each tag's metadata, all successful.
    let mut seen = fetches.0.lock().unwrap().clone();
    seen.sort_by_key(|(kind, _)| kind.as_str());
    assert_eq!(
        seen,
        [
            (Metadata, true),
            (Metadata, true),
            (Metadata, true),
            (Metadata, true),
            (Tags, true),
            (Tags, true)
        ]
    );
    assert_eq!((Tags.as_str(), Metadata.as_str()), ("tags", "metadata"));
    // A repository that is not there: its failed tag list is reported.
    poller.set_repositories([(
        repository(&registry.host(), "nobody/here"),
        Credentials::none(),
    )]);
    poller.poll_all().await;
    assert_eq!(fetches.0.lock().unwrap().last(), Some(&(Tags, false)));
}
