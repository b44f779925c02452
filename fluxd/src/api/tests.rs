//! Round trips of every type against JSON written as Flux v1's fluxd (Go's
//! `encoding/json`) writes it. The values come from Flux's own tests and
//! e2e fixtures (`cmd/fluxctl/*_test.go`, `pkg/update/print_test.go`,
//! `test/e2e/15_fluxctl_list.bats`) and the reference's examples.

use super::*;

/// Decodes Go's bytes, encodes them again as Go would, and checks that
/// the bytes are the same.
fn round_trip<T>(go_json: &str) -> T
where
    T: serde::Serialize + for<'de> serde::Deserialize<'de>,
{
    let value: T = serde_json::from_str(go_json).unwrap_or_else(|e| panic!("{e}: {go_json}"));
    let again = String::from_utf8(to_go_json(&value).unwrap()).unwrap();
    assert_eq!(again, go_json);
    value
}

#[test]
fn controller_status_as_fluxd_writes_it() {
    // The reference's example (fluxd's ListServices for a Deployment).
    let workloads: Vec<ControllerStatus> = round_trip(
        r#"[{"ID":"default:deployment/helloworld","Containers":[{"Name":"helloworld","Current":{"ID":"quay.io/weaveworks/helloworld:master-a000002","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}}],"ReadOnly":"","Status":"ready","Rollout":{"Desired":1,"Updated":1,"Ready":1,"Available":1,"Outdated":0,"Messages":null},"SyncError":"","Antecedent":"","Labels":{"app":"helloworld"},"Automated":false,"Locked":false,"Ignore":false,"Policies":{}}]"#,
    );
    let w = &workloads[0];
    assert_eq!(w.id.kind(), "deployment");
    assert_eq!(w.containers[0].current.id.tag, "master-a000002");
    assert!(w.containers[0].latest_filtered.id.is_empty());
    assert_eq!(w.read_only, ReadOnlyReason::Ok);
    assert!(w.rollout.messages.is_empty());

    // The e2e tree (test/e2e/15_fluxctl_list.bats): policies, an init
    // container, HelmReleases with their chart-image and antecedents,
    // a read-only reason, a rollout with messages.
    let workloads: Vec<ControllerStatus> = round_trip(
        r#"[{"ID":"demo:deployment/podinfo","Containers":[{"Name":"podinfod","Current":{"ID":"stefanprodan/podinfo:3.1.0","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}},{"Name":"init","Current":{"ID":"alpine:3.10.1","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}}],"ReadOnly":"","Status":"ready","Rollout":{"Desired":1,"Updated":1,"Ready":1,"Available":1,"Outdated":0,"Messages":null},"SyncError":"","Antecedent":"","Labels":{"app":"podinfo"},"Automated":true,"Locked":true,"Ignore":false,"Policies":{"automated":"true","locked":"true","locked_msg":"Halt","locked_user":"Jane Doe \u003cjd@j.d\u003e","tag.init":"glob:3.10.*","tag.podinfod":"semver:~3.1"}},{"ID":"demo:helmrelease/ghost","Containers":[{"Name":"chart-image","Current":{"ID":"bitnami/ghost:3.1.1-debian-9-r0","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}}}],"ReadOnly":"NotInRepo","Status":"deployed","Rollout":{"Desired":0,"Updated":0,"Ready":0,"Available":0,"Outdated":0,"Messages":["Deployment does not have minimum availability."]},"SyncError":"apply failed","Antecedent":"demo:helmrelease/ghost","Labels":null,"Automated":false,"Locked":false,"Ignore":false,"Policies":{}}]"#,
    );
    assert_eq!(workloads[0].policies["locked_user"], "Jane Doe <jd@j.d>");
    assert_eq!(workloads[1].read_only, ReadOnlyReason::NotInRepo);
    assert_eq!(
        workloads[1].antecedent.as_ref().map(ResourceId::as_str),
        Some("demo:helmrelease/ghost")
    );
    assert_eq!(workloads[1].rollout.messages.len(), 1);

    // No workloads at all: fluxd's nil slice.
    let none: Option<Vec<ControllerStatus>> = serde_json::from_str("null").unwrap();
    assert!(none.is_none());
}

#[test]
fn controller_status_with_go_nils_decodes() {
    // cmd/fluxctl/list_workloads_cmd_test.go's testWorkloads: every slice
    // and map nil, the zero resource.ID as Antecedent.
    let json = r#"[{"ID":"applications:deployment/mah-app-0","Containers":null,"ReadOnly":"","Status":"ready","Rollout":{"Desired":0,"Updated":0,"Ready":0,"Available":0,"Outdated":0,"Messages":null},"SyncError":"","Antecedent":"","Labels":null,"Automated":false,"Locked":false,"Ignore":false,"Policies":null}]"#;
    let workloads: Vec<ControllerStatus> = serde_json::from_str(json).unwrap();
    assert!(workloads[0].containers.is_empty());
    assert!(workloads[0].policies.is_empty());
    assert_eq!(workloads[0].antecedent, None);
    // Fields missing altogether read as Go's zero values.
    let w: ControllerStatus = serde_json::from_str(r#"{"ID":"ns:deployment/a"}"#).unwrap();
    assert_eq!(w, ControllerStatus::new("ns:deployment/a".parse().unwrap()));
    // A bad id names itself.
    let error = serde_json::from_str::<ControllerStatus>(r#"{"ID":"not an id"}"#).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("parsing not an id: invalid service ID"),
        "{error}"
    );
}

#[test]
fn image_status_as_fluxd_writes_it() {
    // /v10/images for the e2e podinfo Deployment: a container with
    // registry data (counts omitted when zero) and one without.
    let images: Vec<ImageStatus> = round_trip(
        r#"[{"ID":"demo:deployment/podinfo","Containers":[{"Name":"podinfod","Current":{"ID":"stefanprodan/podinfo:3.1.0","Digest":"sha256:6b5e","ImageID":"sha256:1d2a","Labels":{"org.opencontainers.image.created":"2020-03-20T13:53:00Z"},"CreatedAt":"2020-03-20T13:53:00Z","LastFetched":"2020-05-01T10:00:00.123456789Z"},"LatestFiltered":{"ID":"stefanprodan/podinfo:3.1.0","Labels":{},"CreatedAt":"2020-03-20T13:53:00Z"},"Available":[{"ID":"stefanprodan/podinfo:3.1.0","Labels":{},"CreatedAt":"2020-03-20T13:53:00Z"},{"ID":"stefanprodan/podinfo:3.0.5","Labels":{},"CreatedAt":"2020-04-20T13:53:00Z"}],"AvailableImagesCount":2,"FilteredImagesCount":1},{"Name":"init","Current":{"ID":"","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}},"AvailableError":"image data not available"}]}]"#,
    );
    let c = &images[0].containers[0];
    assert_eq!(c.available.len(), 2);
    assert_eq!(c.new_available_images_count, 0);
    assert_eq!(images[0].containers[1].available_error, NO_IMAGE_DATA);

    // list_images_cmd_test.go's testImages: zero refs, digests, no times.
    let images: Vec<ImageStatus> = round_trip(
        r#"[{"ID":"default:deployment/x","Containers":[{"Name":"TestContainer","Current":{"ID":"","Labels":{}},"LatestFiltered":{"ID":"","Labels":{}},"Available":[{"ID":"","Digest":"abc1230","ImageID":"deadbeef0","Labels":{}}]}]}]"#,
    );
    assert_eq!(images[0].containers[0].available[0].digest, "abc1230");
}

#[test]
fn update_specs_as_fluxctl_sends_them() {
    // release_cmd_test.go: --update-all-images --all (Go escapes < and >).
    let spec: UpdateSpec = round_trip(
        r#"{"type":"image","cause":{"Message":"","User":"Jane Doe \u003cjd@j.d\u003e"},"spec":{"ServiceSpecs":["\u003call\u003e"],"ImageSpec":"\u003call latest\u003e","Kind":"execute","Excludes":null,"Force":false}}"#,
    );
    let UpdateKind::Image(release) = &spec.kind else {
        panic!("{spec:?}")
    };
    assert_eq!(release.service_specs, [ResourceSpec::All]);
    assert_eq!(release.image_spec, ImageSpec::Latest);
    assert_eq!(spec.cause.user, "Jane Doe <jd@j.d>");
    // --update-image=alpine:latest --workload=deployment/flux --exclude=...
    let spec: UpdateSpec = round_trip(
        r#"{"type":"image","cause":{"Message":"ship it","User":""},"spec":{"ServiceSpecs":["default:deployment/flux"],"ImageSpec":"alpine:latest","Kind":"plan","Excludes":["default:deployment/test","default:deployment/yeah"],"Force":true}}"#,
    );
    let UpdateKind::Image(release) = &spec.kind else {
        panic!("{spec:?}")
    };
    assert_eq!(release.kind, ReleaseKind::Plan);
    assert_eq!(release.excludes.len(), 2);

    // policy_cmd.go: lock with user and message, a tag filter, a removal.
    let spec: UpdateSpec = round_trip(
        r#"{"type":"policy","cause":{"Message":"Halt","User":"Jane Doe"},"spec":{"default:deployment/helloworld":{"add":{"locked":"true","locked_msg":"Halt","locked_user":"Jane Doe","tag.helloworld":"glob:master-*"},"remove":{"tag.sidecar":"true"}}}}"#,
    );
    let UpdateKind::Policy(updates) = &spec.kind else {
        panic!("{spec:?}")
    };
    assert_eq!(
        updates.values().next().unwrap().add.0["tag.helloworld"],
        "glob:master-*"
    );
    // The older list form of a policy set.
    let spec: UpdateSpec = serde_json::from_str(
        r#"{"type":"policy","cause":{"Message":"","User":""},"spec":{"default:deployment/a":{"add":["automated"],"remove":null}}}"#,
    )
    .unwrap();
    let UpdateKind::Policy(updates) = &spec.kind else {
        panic!("{spec:?}")
    };
    let update = updates.values().next().unwrap();
    assert_eq!(update.add.0["automated"], "true");
    assert!(update.remove.is_empty());

    // release --interactive's second job.
    round_trip::<UpdateSpec>(
        r#"{"type":"containers","cause":{"Message":"","User":""},"spec":{"Kind":"execute","ContainerSpecs":{"default:deployment/helloworld":[{"Container":"helloworld","Current":"quay.io/weaveworks/helloworld:master-a000002","Target":"quay.io/weaveworks/helloworld:master-a000001"}]},"SkipMismatches":false,"Force":false}}"#,
    );
    // automation's job.
    round_trip::<UpdateSpec>(
        r#"{"type":"auto","cause":{"Message":"","User":"\u003cautomated\u003e"},"spec":{"Changes":[{"WorkloadID":"default:deployment/helloworld","Container":{"Name":"helloworld","Image":"quay.io/weaveworks/helloworld:master-a000001"},"ImageID":"quay.io/weaveworks/helloworld:master-a000002"}]}}"#,
    );
    // fluxctl sync.
    let spec: UpdateSpec =
        round_trip(r#"{"type":"sync","cause":{"Message":"","User":""},"spec":{}}"#);
    assert_eq!(spec.kind, UpdateKind::Sync(ManualSync {}));
}

#[test]
fn bad_update_specs_say_what_is_wrong() {
    let error = |json: &str| {
        serde_json::from_str::<UpdateSpec>(json)
            .unwrap_err()
            .to_string()
    };
    assert!(
        error(r#"{"type":"bogus","cause":{},"spec":{}}"#).starts_with("unknown spec type: bogus")
    );
    assert!(error(r#"{"type":"sync","cause":{}}"#).starts_with("sync update without a spec"));
    let message = error(
        r#"{"type":"image","spec":{"ServiceSpecs":["nope"],"ImageSpec":"a:1","Kind":"plan"}}"#,
    );
    assert!(
        message.contains("image spec: invalid workload spec: parsing nope: invalid service ID"),
        "{message}"
    );
    let message = error(
        r#"{"type":"image","spec":{"ServiceSpecs":["<all>"],"ImageSpec":"alpine","Kind":"plan"}}"#,
    );
    assert!(message.contains("blank tag"), "{message}");
    let message = error(r#"{"type":"policy","spec":{"default:deployment/a":{"add":7}}}"#);
    assert!(
        message.contains("policy spec: a policy set must be"),
        "{message}"
    );
}

#[test]
fn job_statuses_as_fluxd_writes_them() {
    // Queued: every Result field omitted.
    let status: JobStatus = round_trip(r#"{"Result":{},"Err":"","StatusString":"queued"}"#);
    assert_eq!(status.status_string, JobState::Queued);
    // Succeeded release (print_test.go's results, with the spec it ran).
    let status: JobStatus = round_trip(
        r#"{"Result":{"revision":"a6c2b1e3f6a88e2f1c41e7c0a4e0c5f1b2d3e4f5","spec":{"type":"image","cause":{"Message":"","User":""},"spec":{"ServiceSpecs":["default/helloworld"],"ImageSpec":"quay.io/weaveworks/helloworld:master-a000001","Kind":"execute","Excludes":null,"Force":false}},"result":{"default/a":{"Status":"skipped","Error":"image(s) up to date","PerContainer":null},"default/helloworld":{"Status":"success","PerContainer":[{"Container":"helloworld","Current":"quay.io/weaveworks/helloworld:master-a000002","Target":"quay.io/weaveworks/helloworld:master-a000001"}]}}},"Err":"","StatusString":"succeeded"}"#,
    );
    assert_eq!(affected_resources(&status.result.result).len(), 1);
    assert!(status.result.spec.is_some());
    // Failed.
    let status: JobStatus = round_trip(
        r#"{"Result":{"result":{"default:deployment/x":{"Status":"failed","Error":"container(s) not found: app","PerContainer":null}}},"Err":"default:deployment/x failed: container(s) not found: app","StatusString":"failed"}"#,
    );
    assert_eq!(
        result_error(&status.result.result).as_deref(),
        Some(status.err.as_str())
    );
    // A sync job: only the revision.
    round_trip::<JobStatus>(
        r#"{"Result":{"revision":"a6c2b1e3f6a88e2f1c41e7c0a4e0c5f1b2d3e4f5"},"Err":"","StatusString":"succeeded"}"#,
    );
    // A state this version does not know survives.
    let status: JobStatus = round_trip(r#"{"Result":{},"Err":"","StatusString":"paused"}"#);
    assert_eq!(status.status_string, JobState::Other("paused".into()));
}

#[test]
fn job_ids_as_flux_makes_them() {
    let id = JobId::from_random_bytes([
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x0f, 0xf0, 0xff, 0x10, 0x20, 0x30,
        0x40,
    ]);
    assert_eq!(id.as_str(), "01234567-89ab-cdef-000f-f0ff10203040");
    assert!(id.is_well_formed());
    assert!(!JobId("here-is-a-job-id".into()).is_well_formed());
    assert_eq!(
        serde_json::to_string(&id).unwrap(),
        r#""01234567-89ab-cdef-000f-f0ff10203040""#
    );
}

#[test]
fn git_config_as_fluxd_writes_it() {
    let config: GitConfig = round_trip(
        r#"{"remote":{"url":"git@github.com:org/repo","branch":"master","path":"dir1,dir2"},"publicSSHKey":{"key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7 flux\n","fingerprints":{"md5":{"hash":"aa:bb:cc","randomart":"+--[ED25519 256]--+\n|                 |\n+----[MD5]------+\n"},"sha256":{"hash":"nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8","randomart":"+--[ED25519 256]--+\n+----[SHA256]-----+\n"}}},"status":"ready","errors":""}"#,
    );
    assert_eq!(config.status, GitRepoStatus::Ready);
    assert_eq!(
        config.public_ssh_key.md5().map(|f| f.hash.as_str()),
        Some("aa:bb:cc")
    );
    // Outside a cluster fluxd has no key: Go's zero PublicKey.
    let config: GitConfig = round_trip(
        r#"{"remote":{"url":"","branch":"","path":""},"publicSSHKey":{"key":"","fingerprints":null},"status":"unconfigured","errors":""}"#,
    );
    assert!(config.public_ssh_key.md5().is_none());
    round_trip::<GitConfig>(
        r#"{"remote":{"url":"ssh://git@example.com/repo","branch":"main","path":""},"publicSSHKey":{"key":"","fingerprints":null},"status":"unreachable","errors":"dial tcp: lookup example.com: no such host"}"#,
    );
}

#[test]
fn changes_as_flux_writes_them() {
    // pkg/api/v9/change_test.go's two changes.
    let change: Change =
        round_trip(r#"{"Kind":"git","Source":{"URL":"git@github.com:fluxcd/flux","Branch":""}}"#);
    assert!(matches!(change, Change::Git(ref g) if g.url == "git@github.com:fluxcd/flux"));
    let change: Change = round_trip(
        r#"{"Kind":"image","Source":{"Name":{"Domain":"docker.io","Image":"fluxcd/flux"}}}"#,
    );
    assert!(
        matches!(change, Change::Image(ref i) if i.name.to_string() == "docker.io/fluxcd/flux")
    );
    let error = serde_json::from_str::<Change>(r#"{"Kind":"helm","Source":{}}"#).unwrap_err();
    assert!(
        error.to_string().starts_with("unknown kind of change"),
        "{error}"
    );
}

#[test]
fn error_bodies_and_their_status_codes() {
    let error: ApiError = round_trip(
        r#"{"type":"missing","help":"Job not found\n\nThis is often because the job did not result in committing changes,\nand therefore had no lasting effect. A release dry-run is an example\nof a job that does not result in a commit.\n\nIf you were expecting changes to be committed, this may mean that the\njob failed, but its status was lost.\n\nIn both of the above cases it is OK to retry the operation that\nresulted in this error.\n\nIf you get this error repeatedly, it's probably a bug. Please log an\nissue describing what you were attempting, and posting logs from the\ndaemon if possible:\n\n    https://github.com/fluxcd/flux/issues\n\n","error":"unknown job \"here-is-a-job-id\""}"#,
    );
    assert_eq!(error, ApiError::unknown_job("here-is-a-job-id"));
    assert_eq!(error.status_code(), 404);
    assert_eq!(ApiError::cover_all("boom").status_code(), 422);
    assert!(
        ApiError::cover_all("boom")
            .help
            .starts_with("Error: boom\n\nWe don't have a specific help message")
    );
    assert_eq!(
        ApiError {
            kind: ErrorType::Server,
            help: String::new(),
            error: String::new()
        }
        .status_code(),
        500
    );
    assert_eq!(ApiError::not_found("/api/flux/v99/x").status_code(), 404);
    assert!(
        ApiError::not_found("/api/flux/v99/x")
            .help
            .ends_with("include this path:\n\n    /api/flux/v99/x\n")
    );
    assert_eq!(ApiError::deprecated().error, "API endpoint deprecated");
    // `error` is omitted when empty, as Flux's MarshalJSON does.
    round_trip::<ApiError>(r#"{"type":"user","help":"no"}"#);
    // A JSON body that is not a flux error (Flux's 400 bodies are `{}`).
    assert!(serde_json::from_str::<ApiError>("{}").is_err());
}

#[test]
fn go_escapes() {
    let text = "<&>\u{2028}\u{8}\u{c}\u{1}\"\\\n";
    let json = String::from_utf8(to_go_json(&text).unwrap()).unwrap();
    assert_eq!(
        json,
        r#""\u003c\u0026\u003e\u2028\u0008\u000c\u0001\"\\\n""#
    );
    assert_eq!(serde_json::from_str::<String>(&json).unwrap(), text);
}

#[test]
fn routes_are_flux_routes() {
    assert_eq!(routes::ROUTES.len(), 16);
    assert_eq!(routes::JOB_STATUS.required_query, ["id"]);
    let names: Vec<_> = routes::ROUTES.iter().map(|r| r.name).collect();
    assert!(names.contains(&"ListServicesWithOptions"));
    assert_eq!(routes::LIST_IMAGES_WITH_OPTIONS.path, "/v10/images");
}

/// The randomart fluxd computes equals `ssh-keygen -l -v`'s, for md5 and
/// sha256 fingerprints of ed25519 and RSA keys (Flux took them from
/// ssh-keygen; the server will draw them itself).
#[test]
fn randomart_matches_ssh_keygen() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    for (kind, bits) in [("ed25519", None), ("rsa", Some("3072"))] {
        let key = dir.path().join(kind);
        let mut keygen = std::process::Command::new("ssh-keygen");
        keygen.args(["-q", "-N", "", "-t", kind, "-f"]).arg(&key);
        if let Some(bits) = bits {
            keygen.args(["-b", bits]);
        }
        assert!(
            keygen
                .status()
                .expect("ssh-keygen (openssh-client) is needed")
                .success()
        );
        for algorithm in ["md5", "sha256"] {
            let out = std::process::Command::new("ssh-keygen")
                .args(["-l", "-v", "-E", algorithm, "-f"])
                .arg(&key)
                .output()
                .unwrap();
            let out = String::from_utf8(out.stdout).unwrap();
            let (first, picture) = out.split_once('\n').unwrap();
            // "256 MD5:aa:bb... comment (ED25519)"
            let mut fields = first.split(' ');
            let size = fields.next().unwrap();
            let (label, hash) = fields.next().unwrap().split_once(':').unwrap();
            let key_type = first.rsplit_once('(').unwrap().1.trim_end_matches(')');
            let digest = if algorithm == "md5" {
                hash.split(':')
                    .map(|h| u8::from_str_radix(h, 16).unwrap())
                    .collect::<Vec<u8>>()
            } else {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(hash)
                    .unwrap()
            };
            assert_eq!(
                randomart(&format!("{key_type} {size}"), label, &digest),
                picture,
                "{kind} {algorithm}"
            );
        }
    }
}

#[test]
fn release_kinds_parse_strictly_from_queries() {
    assert_eq!(ReleaseKind::parse("plan"), Ok(ReleaseKind::Plan));
    assert_eq!(ReleaseKind::parse("execute"), Ok(ReleaseKind::Execute));
    assert_eq!(
        ReleaseKind::parse("later").unwrap_err().to_string(),
        "invalid release kind"
    );
}
