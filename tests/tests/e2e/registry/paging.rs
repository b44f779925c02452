//! Tag lists in pages (`n`, `last`, `Link`) through the front, since
//! Debian's registry ignores `n`.

use registry_poller::{Credentials, Poller};

use super::{at, config, error_of, paged_registry, repo_snapshot, repository, requests, tag_names};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_link_pages() {
    let (_registry, front, digests) = paged_registry("team/paged", 7, 3).await;
    let repo = repository(&front.host(), "team/paged");
    let expected: Vec<String> = (0..7).map(|i| format!("t{i:03}")).collect();

    // The front pages by 3 when no `n` is sent: 3 + 3 + 1.
    let base = config(&[front.host()]);
    let client = base.client.clone().with_tags_page_size(None);
    let poller = Poller::new(base.with_client(client)).unwrap();
    poller.set_repositories([(repo.clone(), Credentials::none())]);
    let round = poller.poll_all().await;
    let app = repo_snapshot(&poller.snapshot(), &repo);
    assert_eq!(round.failed, 0, "{}", error_of(&app));
    assert_eq!(tag_names(&app), expected);
    assert_eq!(round.requests, requests(3, 7, 7, 0));
    assert_eq!(app.tag("t004").unwrap().digest().to_string(), digests[4]);
    assert_eq!(app.tag("t004").unwrap().created(), Some(at(1_700_000_004)));

    // With `n=2` sent: four pages.
    let base = config(&[front.host()]);
    let client = base.client.clone().with_tags_page_size(Some(2));
    let poller = Poller::new(base.with_client(client)).unwrap();
    poller.set_repositories([(repo.clone(), Credentials::none())]);
    let round = poller.poll_all().await;
    assert_eq!(round.requests.tags, 4);
    assert_eq!(
        tag_names(&repo_snapshot(&poller.snapshot(), &repo)),
        expected
    );
}
