//! Checkouts appear whole or not at all; old ones are pruned.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tests::git::GitFixture;

use super::{fixture, local_mirror, mirror, remote, revision};

#[tokio::test]
async fn checkout_writes_the_files_of_a_revision() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());
    fixture
        .write("bin/hook.sh", "#!/bin/sh\necho hi\n")
        .unwrap();
    std::fs::set_permissions(
        fixture.work_path().join("bin/hook.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fixture.write("crlf.txt", "line\r\n").unwrap();
    std::os::unix::fs::symlink("deploy/app.yaml", fixture.work_path().join("link.yaml")).unwrap();
    let second = revision(&fixture.commit_and_push("more files").unwrap());

    let mirror = mirror(
        remote(&fixture.bare_path().display().to_string()),
        dir.path(),
        None,
    )
    .await;
    mirror.fetch().await.unwrap();
    let root = dir.path().join("checkouts");
    let checkout = mirror.checkout(second, &root).await.unwrap();
    assert_eq!(checkout.revision(), second);
    assert_eq!(checkout.path(), root.join(second.to_string()));
    let path = checkout.path();
    assert_eq!(
        std::fs::read_to_string(path.join("deploy/app.yaml")).unwrap(),
        "kind: Deployment\nmetadata:\n  name: app\n"
    );
    let mode = std::fs::metadata(path.join("bin/hook.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, "executable bit lost");
    assert_eq!(std::fs::read(path.join("crlf.txt")).unwrap(), b"line\r\n");
    assert_eq!(
        std::fs::read_link(path.join("link.yaml")).unwrap(),
        std::path::Path::new("deploy/app.yaml")
    );
    assert!(!path.join(".git").exists());

    // The same revision again: the same directory, not rebuilt.
    let again = mirror.checkout(second, &root).await.unwrap();
    assert_eq!(again, checkout);

    // An older revision beside it, then prune all but the newest.
    let old = mirror.checkout(first, &root).await.unwrap();
    assert!(old.path().join("deploy/app.yaml").is_file());
    assert!(!old.path().join("bin").exists());
    std::fs::create_dir(root.join(".building-deadbee-leftover")).unwrap();
    let removed = mirror.prune_checkouts(&root, &[second]).await.unwrap();
    assert_eq!(removed, 2);
    let mut left: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, vec![second.to_string()]);
}

#[tokio::test]
async fn unfetched_revision_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_fixture, first, mirror) = local_mirror(dir.path(), None).await;
    let err = mirror
        .checkout(first, &dir.path().join("c"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is not in the local mirror"),
        "{err}"
    );
}

/// A reader scanning the checkout root while a large checkout is written only
/// ever sees the complete tree under the final name.
#[tokio::test]
async fn readers_never_see_half_a_checkout() {
    const FILES: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let fixture = GitFixture::new(dir.path(), "main").unwrap();
    for i in 0..FILES {
        fixture
            .write(
                &format!("apps/app-{}/cm-{i}.yaml", i % 50),
                &format!("name: cm-{i}\n"),
            )
            .unwrap();
    }
    let head = revision(&fixture.commit_and_push("many files").unwrap());
    let mirror = mirror(
        remote(&fixture.bare_path().display().to_string()),
        dir.path(),
        None,
    )
    .await;
    mirror.fetch().await.unwrap();

    let root = dir.path().join("checkouts");
    std::fs::create_dir_all(&root).unwrap();
    let target = root.join(head.to_string());
    let done = Arc::new(AtomicBool::new(false));
    let sightings = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (done, sightings, target) = (done.clone(), sightings.clone(), target.clone());
        std::thread::spawn(move || {
            let mut seen_partial = None;
            while !done.load(Ordering::SeqCst) {
                if target.is_dir() {
                    let count = count_files(&target);
                    sightings.fetch_add(1, Ordering::SeqCst);
                    if count != FILES {
                        seen_partial = Some(count);
                    }
                }
            }
            seen_partial
        })
    };
    let checkout = mirror.checkout(head, &root).await.unwrap();
    // Let the reader look at the finished directory at least once.
    while sightings.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    done.store(true, Ordering::SeqCst);
    assert_eq!(
        reader.join().unwrap(),
        None,
        "a reader saw a partial checkout"
    );
    assert_eq!(count_files(checkout.path()), FILES);
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() { count_files(&path) } else { 1 }
        })
        .sum()
}

/// A tree crafted with an entry named `..` (git's `--literally` skips its
/// checks) is refused instead of being written outside the checkout.
#[tokio::test]
async fn hostile_tree_entry_names_are_refused() {
    use std::io::Write as _;

    let dir = tempfile::tempdir().unwrap();
    let (fixture, _first, mirror) = local_mirror(dir.path(), Some("main")).await;
    let inner_tree = fixture.git_bare(["rev-parse", "main^{tree}"]).unwrap();
    let mut raw = b"40000 ..\0".to_vec();
    raw.extend(
        (0..inner_tree.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&inner_tree[i..i + 2], 16).unwrap()),
    );
    let mut child = std::process::Command::new("git")
        .args(["hash-object", "-t", "tree", "-w", "--literally", "--stdin"])
        .current_dir(fixture.bare_path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&raw).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let evil_tree = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let evil = fixture
        .git_bare(["commit-tree", "-p", "main", "-m", "evil", &evil_tree])
        .unwrap();
    fixture
        .git_bare(["update-ref", "refs/heads/main", &evil])
        .unwrap();

    let head = mirror.fetch().await.unwrap();
    assert_eq!(head.revision, revision(&evil));
    let root = dir.path().join("checkouts");
    let err = mirror.checkout(head.revision, &root).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid path '../deploy/app.yaml'"),
        "{err}"
    );
    // Nothing was left behind, neither the half-built checkout nor anything beside it.
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    assert!(!dir.path().join("deploy").exists());
}
