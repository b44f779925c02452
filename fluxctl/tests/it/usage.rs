//! The command line alone: Flux's validation messages, positional
//! arguments refused, help, version, completion. Nothing listens on the
//! URL given: these fail (or succeed) before fluxctl connects.

use crate::fluxctl;

const NOWHERE: &str = "http://127.0.0.1:1/api/flux";

fn usage_error(args: &[&str], command: &str, message: &str) {
    let mut full = vec!["--url", NOWHERE];
    full.extend_from_slice(args);
    let run = fluxctl(&full, &[]);
    assert!(!run.ok, "{args:?}");
    assert_eq!(
        run.stderr,
        format!("Error: {message}\nRun 'fluxctl {command} --help' for usage.\n"),
        "{args:?}"
    );
}

#[test]
fn release_validation_as_flux() {
    // cmd/fluxctl/release_cmd_test.go's input failures, with Flux's messages.
    let need_one = "please supply exactly one of --update-image=<image> or --update-all-images";
    usage_error(&["release"], "release", need_one);
    usage_error(&["release", "--all"], "release", need_one);
    usage_error(
        &["release", "--all", "-i", "a:1", "--update-all-images"],
        "release",
        "please supply only one of --update-image=<image> or --update-all-images",
    );
    usage_error(
        &["release", "--all", "--update-image=alpine"],
        "release",
        "blank tag (if you want latest, explicitly state the tag :latest): invalid image ID",
    );
    usage_error(
        &["release", "--update-all-images"],
        "release",
        "please supply either --all, or at least one --workload=<workload>",
    );
    usage_error(
        &[
            "release",
            "--workload=invalid&workload",
            "--update-all-images",
        ],
        "release",
        "parsing invalid&workload: invalid service ID",
    );
    usage_error(
        &["release", "subcommand"],
        "release",
        "expected no (non-flag) arguments",
    );
    usage_error(
        &[
            "release",
            "--all",
            "--update-all-images",
            "--watch",
            "--dry-run",
        ],
        "release",
        "cannot use --watch with --dry-run",
    );
    usage_error(
        &["release", "--all", "--update-all-images", "--force"],
        "release",
        "--force has no effect when used with --all and --update-all-images",
    );
}

#[test]
fn release_force_warnings() {
    let run = fluxctl(
        &[
            "--url",
            NOWHERE,
            "--timeout",
            "1s",
            "release",
            "--all",
            "-i",
            "a:1",
            "-f",
            "--user=",
        ],
        &[],
    );
    assert!(run.stderr.starts_with("Warning: --force will not ignore locked workloads when used with --all\nSubmitting release ...\n"), "{}", run.stderr);
    let run = fluxctl(
        &[
            "--url",
            NOWHERE,
            "release",
            "--workload=deployment/a",
            "--update-all-images",
            "-f",
            "--user=",
        ],
        &[],
    );
    assert!(run.stderr.starts_with("Warning: --force will not ignore container image tags when used with --update-all-images\n"), "{}", run.stderr);
}

#[test]
fn policy_validation_as_flux() {
    usage_error(
        &["policy", "--automate"],
        "policy",
        "-w, --workload is required",
    );
    usage_error(
        &["policy", "-w", "deployment/a", "--automate", "--deautomate"],
        "policy",
        "automate and deautomate both specified",
    );
    usage_error(
        &["policy", "-w", "deployment/a", "--lock", "--unlock"],
        "policy",
        "lock and unlock both specified",
    );
    usage_error(
        &["policy", "-w", "deployment/a", "--tag", "nope"],
        "policy",
        "invalid container/tag pair: \"nope\". Expected format is 'container=filter'",
    );
    usage_error(
        &["policy", "-w", "a", "--lock"],
        "policy",
        "parsing a: invalid service ID",
    );
    usage_error(&["automate"], "automate", "-w, --workload is required");
    usage_error(
        &["automate", "-w", "deployment/a", "-c", "deployment/b"],
        "automate",
        "can't specify both the controller and workload",
    );
    usage_error(
        &["lock", "-w", "deployment/a", "-c", "deployment/b"],
        "lock",
        "can't specify both a controller and workload",
    );
    usage_error(
        &["unlock", "x"],
        "unlock",
        "expected no (non-flag) arguments",
    );
}

#[test]
fn list_validation_as_flux() {
    usage_error(
        &["list-workloads", "-o", "yaml"],
        "list-workloads",
        "invalid output format specified",
    );
    usage_error(
        &["list-controllers", "extra"],
        "list-workloads",
        "expected no (non-flag) arguments",
    );
    usage_error(
        &["list-images", "-o", "yaml"],
        "list-images",
        "invalid output format specified",
    );
    usage_error(
        &["list-images", "-w", "deployment/a", "-c", "deployment/b"],
        "list-images",
        "can't specify both the controller and image",
    );
    usage_error(
        &["list-images", "-w", "nope"],
        "list-images",
        "parsing nope: invalid service ID",
    );
    usage_error(
        &["identity", "x"],
        "identity",
        "expected no (non-flag) arguments",
    );
    usage_error(&["sync", "x"], "sync", "expected no (non-flag) arguments");
    usage_error(&["save", "x"], "save", "expected no (non-flag) arguments");
    usage_error(
        &["version", "x"],
        "version",
        "expected no (non-flag) arguments",
    );
}

#[test]
fn bad_flags_and_environment() {
    usage_error(
        &["list-workloads", "--nope"],
        "list-workloads",
        "unexpected argument '--nope' found",
    );
    usage_error(
        &["--timeout", "soon", "list-workloads"],
        "list-workloads",
        "invalid argument \"soon\" for --timeout flag: time: invalid duration \"soon\"",
    );
    let run = fluxctl(&["--url", NOWHERE, "sync"], &[("FLUX_TIMEOUT", "10")]);
    assert_eq!(
        run.stderr,
        "Error: invalid argument \"10\" for FLUX_TIMEOUT: time: missing unit in duration \"10\"\nRun 'fluxctl sync --help' for usage.\n"
    );
    let run = fluxctl(&["--k8s-fwd-labels", "app", "sync"], &[]);
    assert_eq!(
        run.stderr,
        "Error: invalid argument \"app\" for \"--k8s-fwd-labels\" flag: app must be formatted as key=value\nRun 'fluxctl sync --help' for usage.\n"
    );
    let run = fluxctl(&["bogus"], &[]);
    assert!(
        run.stderr.starts_with(
            "Error: unrecognized subcommand 'bogus'\nRun 'fluxctl --help' for usage.\n"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn version_help_and_completion() {
    let run = fluxctl(&["version"], &[]);
    assert_eq!(
        (run.ok, run.stdout.as_str()),
        (true, format!("{}\n", fluxctl::VERSION).as_str())
    );
    let run = fluxctl(&["--help"], &[]);
    assert!(run.ok);
    assert!(
        run.stdout
            .starts_with("fluxctl helps you deploy your code.\n"),
        "{}",
        run.stdout
    );
    for command in [
        "list-workloads",
        "list-images",
        "release",
        "automate",
        "deautomate",
        "lock",
        "unlock",
        "policy",
        "save",
        "identity",
        "sync",
        "completion",
        "version",
    ] {
        assert!(
            run.stdout.contains(&format!("  {command} ")),
            "{command} missing from --help"
        );
    }
    let run = fluxctl(&["release", "--help"], &[]);
    assert!(
        run.stdout.contains("--update-all-images")
            && run
                .stdout
                .contains("fluxctl release --all --update-image=library/hello:v2")
    );
    // No command: the help, as cobra's root prints it.
    let run = fluxctl(&[], &[]);
    assert!(run.ok && run.stdout.contains("Usage: fluxctl"), "{run:?}");
    for shell in ["bash", "zsh", "fish"] {
        let run = fluxctl(&["completion", shell], &[]);
        assert!(
            run.ok && run.stdout.contains("list-workloads"),
            "{shell}: {run:?}"
        );
    }
    let run = fluxctl(&["completion"], &[]);
    assert_eq!(
        run.stderr,
        "Error: please specify a shell\nRun 'fluxctl completion --help' for usage.\n"
    );
    let run = fluxctl(&["completion", "bash", "zsh"], &[]);
    assert_eq!(
        run.stderr,
        "Error: please specify one of the following shells: bash fish zsh\nRun 'fluxctl completion --help' for usage.\n"
    );
    let run = fluxctl(&["completion", "tcsh"], &[]);
    assert_eq!(
        run.stderr,
        "Error: unsupported shell type \"tcsh\"\nRun 'fluxctl completion --help' for usage.\n"
    );
}

#[test]
fn the_namespace_comes_from_the_kubeconfig_context() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1
kind: Config
current-context: work
clusters:
- name: c
  cluster: {server: 'https://127.0.0.1:1'}
users:
- name: u
  user: {token: t}
contexts:
- name: work
  context: {cluster: c, user: u, namespace: team}
- name: other
  context: {cluster: c, user: u, namespace: elsewhere}
- name: bare
  context: {cluster: c, user: u}
",
    )
    .unwrap();
    let env = [("KUBECONFIG", kubeconfig.to_str().unwrap())];
    // Validation errors name the id with the context's namespace filled in
    // (no server needed): use an id the server would answer for.
    let check = |args: &[&str], expected_ns: &str| {
        let fluxd = crate::flux_v1_standin::FluxV1Standin::start(|_| {
            crate::flux_v1_standin::Answer::Json("[]")
        });
        let mut full = vec!["--url", fluxd.url.as_str()];
        full.extend_from_slice(args);
        let run = fluxctl(&full, &env);
        assert!(run.ok, "{run:?}");
        assert_eq!(
            fluxd.requests()[0].query,
            format!("namespace={expected_ns}"),
            "{args:?}"
        );
    };
    check(&["list-workloads"], "team");
    check(&["--context", "other", "list-workloads"], "elsewhere");
    check(&["--context", "bare", "list-workloads"], "default");
    check(&["list-workloads", "-n", "given"], "given");
}
