//! The commit path jobs will use, through a real sshd: intentions become
//! format-preserving edits of a fresh working copy, committed by
//! --git-user with the job's user as author (--git-set-author), with
//! `[ci skip]` (--git-ci-skip) and the job's JSON as a note; an intention
//! that no longer applies fails the job and pushes nothing; a read-only
//! deploy key is found by the write check and fails writing jobs plainly.

use clap::Parser as _;
use fluxd::internals::{CommitFailure, CommitJob, CommitPath, Committed, Intention, WriteAccess};
use gitsync::{GitUrl, KeyPair, KnownHosts, Mirror, Remote, SshKey};
use manifests::{LoadOptions, Policy};
use tests::sshd::Sshd;

use super::repository;

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the front end
  namespace: demo
spec:
  template:
    spec:
      containers:
      - name: web
        image: 'nginx:1.25' # pinned
";

/// A job of `intentions` with `message` and no user or note.
fn job(intentions: Vec<Intention>, message: &str) -> CommitJob {
    CommitJob {
        intentions,
        message: message.to_owned(),
        user: None,
        note: None,
    }
}

fn git_write(args: &[&str]) -> fluxd::GitWriteConfig {
    let flags =
        fluxd::Flags::try_parse_from(["fluxd", "--git-url=/srv/repo"].iter().chain(args.iter()))
            .unwrap();
    fluxd::Config::from_flags(&flags).unwrap().git_write
}

#[tokio::test]
async fn intentions_become_one_commit_with_author_ci_skip_and_note() {
    let sshd = Sshd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = repository(&dir.path().join("repo"));
    repo.write("apps/web.yaml", WEB).unwrap();
    let first = repo.commit_and_push("first").unwrap();
    let known_hosts =
        KnownHosts::parse(&sshd.known_hosts_line().unwrap(), "known_hosts".as_ref()).unwrap();
    let remote = Remote::new(GitUrl::parse(&sshd.url(repo.bare_path())).unwrap())
        .with_ssh_key(SshKey::from_memory(sshd.client_key().unwrap()))
        .with_known_hosts(known_hosts);
    let mirror = Mirror::open(remote, dir.path().join("mirror"), Some("main".into()))
        .await
        .unwrap();
    let path = CommitPath::new(
        mirror.clone(),
        Vec::new(),
        LoadOptions::default(),
        git_write(&["--git-set-author", "--git-ci-skip"]),
    );
    assert_eq!(path.check_write_access().await, WriteAccess::Granted);

    let web: manifests::ResourceId = "demo:deployment/web".parse().unwrap();
    let note = serde_json::json!({"jobID": "0c6f5d2a-1b7e-4c8f-9a55-3e2f4d6b7a10", "spec": {"type": "image"}, "result": null});
    let committed = path
        .commit(CommitJob {
            intentions: vec![
                Intention::SetImage {
                    resource: web.clone(),
                    container: "web".into(),
                    image: "nginx:1.27".into(),
                },
                Intention::SetPolicy {
                    resource: web.clone(),
                    policy: Policy::Automated,
                    value: "true".into(),
                },
            ],
            message: "Release nginx:1.27 to demo:deployment/web".into(),
            user: Some("Jane Doe <jane@example.com>".into()),
            note: Some(note.clone()),
        })
        .await
        .unwrap();
    let Committed::Pushed(pushed) = committed else {
        panic!("{committed:?}")
    };
    assert_eq!(pushed.parent.to_string(), first);
    let revision = pushed.revision.to_string();
    assert_eq!(
        repo.origin_ref("refs/heads/main").unwrap(),
        Some(revision.clone())
    );
    let show = |format: &str| {
        repo.git_bare(["log", "-1", &format!("--format={format}"), &revision])
            .unwrap()
    };
    assert_eq!(show("%an <%ae>"), "Jane Doe <jane@example.com>");
    assert_eq!(show("%cn <%ce>"), "Weave Flux <support@weave.works>");
    assert_eq!(
        show("%B"),
        "Release nginx:1.27 to demo:deployment/web\n\n[ci skip]"
    );
    let file = repo
        .git_bare(["show", &format!("{revision}:apps/web.yaml")])
        .unwrap();
    assert!(file.contains("image: 'nginx:1.27' # pinned"), "{file}");
    assert!(file.contains("name: web # the front end"), "{file}");
    assert!(file.contains("fluxcd.io/automated"), "{file}");
    let shown = repo
        .git_bare(["notes", "--ref", "flux", "show", &revision])
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&shown).unwrap(),
        note
    );

    // Already so in git: no commit.
    let again = path
        .commit(job(
            vec![Intention::SetImage {
                resource: web.clone(),
                container: "web".into(),
                image: "nginx:1.27".into(),
            }],
            "again",
        ))
        .await
        .unwrap();
    assert!(matches!(again, Committed::NoChange { .. }), "{again:?}");

    // An intention about a resource that left git fails the job; nothing is pushed.
    let failure = path
        .commit(job(
            vec![Intention::RemovePolicy {
                resource: "demo:deployment/gone".parse().unwrap(),
                policy: Policy::Locked,
            }],
            "Unlocked: demo:deployment/gone",
        ))
        .await
        .unwrap_err();
    assert!(matches!(failure, CommitFailure::Intention(_)), "{failure}");
    assert!(
        failure.to_string().contains("not in the repository"),
        "{failure}"
    );
    assert_eq!(
        repo.origin_ref("refs/heads/main").unwrap(),
        Some(revision.clone())
    );

    // --git-readonly: nothing is written.
    let readonly = CommitPath::new(
        mirror.clone(),
        Vec::new(),
        LoadOptions::default(),
        git_write(&["--git-readonly"]),
    );
    let failure = readonly.commit(job(Vec::new(), "x")).await.unwrap_err();
    assert!(matches!(failure, CommitFailure::ReadOnly), "{failure}");

    // The key becomes read-only: the write check says so, and writing jobs fail with it.
    let public = KeyPair::from_openssh(&sshd.client_key().unwrap())
        .unwrap()
        .public()
        .openssh
        .clone();
    sshd.authorize_read_only(&public).unwrap();
    let path = CommitPath::new(mirror, Vec::new(), LoadOptions::default(), git_write(&[]));
    let WriteAccess::Refused(reason) = path.check_write_access().await else {
        panic!("the read-only key passed the write check")
    };
    assert!(reason.contains("read only"), "{reason}");
    let failure = path.commit(job(Vec::new(), "x")).await.unwrap_err();
    assert!(
        failure
            .to_string()
            .starts_with("the deploy key has no write access: "),
        "{failure}"
    );
    assert_eq!(repo.origin_ref("refs/heads/main").unwrap(), Some(revision));
}
