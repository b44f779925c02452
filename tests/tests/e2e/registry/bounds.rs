//! Tag lists are bounded over all their pages, in tags and in bytes: a
//! registry that lists without end fails the repository with a clear error.

use registry_poller::{ClientConfig, Credentials, Poller};

use super::{config, error_of, paged_registry, repo_snapshot, repository, tag_names};

fn poller(host: &str, client: impl FnOnce(ClientConfig) -> ClientConfig) -> Poller {
    let base = config(&[host.to_owned()]);
    let client = client(base.client.clone());
    Poller::new(base.with_client(client)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_lists_past_their_bounds_fail_clearly() {
    let (_registry, front, _) = paged_registry("team/many", 7, 3).await;
    let repo = repository(&front.host(), "team/many");

    // At the bound: read in full.
    let at_bound = poller(&front.host(), |c| c.with_max_tags(7));
    at_bound.set_repositories([(repo.clone(), Credentials::none())]);
    assert_eq!(at_bound.poll_all().await.failed, 0);
    assert_eq!(
        tag_names(&repo_snapshot(&at_bound.snapshot(), &repo)).len(),
        7
    );

    // One tag past it (on the third page): the repository fails, named.
    let past = poller(&front.host(), |c| c.with_max_tags(6));
    past.set_repositories([(repo.clone(), Credentials::none())]);
    assert_eq!(past.poll_all().await.failed, 1);
    let app = repo_snapshot(&past.snapshot(), &repo);
    let error = error_of(&app);
    assert!(
        error.contains("more than 6 tags") && error.contains("team/many"),
        "{error}"
    );
    assert!(app.tags().is_empty());

    // Bytes over all pages: each page is about 60 bytes, three pages pass
    // 100 bytes on the second.
    let bytes = poller(&front.host(), |c| c.with_max_tag_list_bytes(100));
    bytes.set_repositories([(repo.clone(), Credentials::none())]);
    assert_eq!(bytes.poll_all().await.failed, 1);
    let error = error_of(&repo_snapshot(&bytes.snapshot(), &repo));
    assert!(
        error.contains("longer than 100 bytes over all pages"),
        "{error}"
    );
}
