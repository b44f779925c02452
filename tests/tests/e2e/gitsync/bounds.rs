//! A fetch may bring only so many bytes: past the remote's bound the
//! transfer is aborted with a clear error and the mirror keeps what it had.

use ::gitsync::Error;
use tests::git::http::{Access, GitHttpServer};

use super::{fixture, mirror, remote};

/// `len` bytes of text that deflate barely shrinks (a xorshift stream in
/// base-64 letters).
fn incompressible(len: usize) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            LETTERS[(state % 64) as usize] as char
        })
        .collect()
}

#[tokio::test]
async fn fetches_past_the_size_bound_are_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());
    let server = GitHttpServer::start(dir.path(), Access::Anonymous).unwrap();
    let url = server.url("origin.git");

    // The first fetch is small and passes a 64 KiB bound.
    let bounded = mirror(
        remote(&url).with_max_fetch_bytes(64 << 10),
        dir.path(),
        None,
    )
    .await;
    assert_eq!(bounded.fetch().await.unwrap().revision, first);

    // A 1 MiB blob: the next fetch is aborted, named, and the mirror still
    // answers with the revision it had.
    fixture
        .write("deploy/big.txt", &incompressible(1 << 20))
        .unwrap();
    fixture.commit_and_push("big").unwrap();
    let err = bounded.fetch().await.unwrap_err();
    assert!(matches!(err, Error::FetchTooLarge { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("more than 65536 bytes") && text.contains("origin.git"),
        "{text}"
    );
    assert!(!err.is_transient());

    // With the default bound the same fetch goes through.
    let unbounded = mirror(remote(&url), &dir.path().join("default"), None).await;
    assert_ne!(unbounded.fetch().await.unwrap().revision, first);
}
