//! Flux v1 compatibility of the command line: what fluxd does with each of
//! Flux v1.25's fluxd flags that it does not simply honour.
//!
//! A Flux v1 Deployment's arguments must start fluxd unchanged, so every
//! flag Flux accepted is accepted (see [`FLUX_V1_FLAGS`]). Most mean here
//! what they meant there. The others fall in one of three classes
//! ([`COMPAT_TABLE`]):
//!
//! - **not acted on yet** ([`Class::Pending`]): parsed with Flux's name and
//!   default for the work that will act on it; given, one warning naming the
//!   flag (no flag is in this class today);
//! - **ignored** ([`Class::Ignored`]): flags that mean nothing here
//!   (memcached, kubectl, Weave Cloud timeouts, ECR without ECR support);
//!   given, one warning naming the flag, then nothing;
//! - **refused** ([`Class::Refused`]): flags that ask for something fluxd
//!   does not do (Weave Cloud, git-secret, SOPS, manifest generation, ECR
//!   authentication). Set to ask for it, fluxd exits with an error naming the
//!   flag and what to do; set to Flux's default (`--sops=false`), it is
//!   accepted quietly.

use crate::{Error, Flags};

/// What fluxd does with a Flux v1 flag it does not simply honour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Class {
    /// Parsed with Flux's name and default; later work acts on it. A warning
    /// when given.
    Pending,
    /// Means nothing here: a warning when given, then ignored.
    Ignored,
    /// Asks for something fluxd does not do: an error when set to ask for it.
    Refused,
}

/// One flag of [`COMPAT_TABLE`].
#[derive(Clone, Copy, Debug)]
pub struct Compat {
    /// The flag, as written on a command line (`--connect`).
    pub flag: &'static str,
    /// What fluxd does with it.
    pub class: Class,
    /// Why, and for refused flags what to do instead: the warning's or the
    /// error's text after the flag.
    pub note: &'static str,
    /// True when the command line sets it (for refused flags: to a value
    /// that asks for the feature); `None`: when it was given at all, as
    /// [`Flags::was_given`] says (flags with real defaults).
    pub set: Option<fn(&Flags) -> bool>,
}

/// Every flag of Flux v1.25's fluxd (`cmd/fluxd/main.go`), by long name.
pub const FLUX_V1_FLAGS: &[&str] = &[
    "log-format",
    "listen",
    "listen-metrics",
    "kubernetes-kubectl",
    "version",
    "git-url",
    "git-branch",
    "git-path",
    "git-readonly",
    "git-user",
    "git-email",
    "git-set-author",
    "git-label",
    "git-secret",
    "sops",
    "git-sync-tag",
    "git-notes-ref",
    "git-ci-skip",
    "git-ci-skip-message",
    "git-poll-interval",
    "git-timeout",
    "git-gpg-key-import",
    "git-signing-key",
    "git-verify-signatures",
    "git-verify-signatures-mode",
    "sync-interval",
    "sync-timeout",
    "sync-garbage-collection",
    "sync-garbage-collection-dry",
    "sync-state",
    "memcached-hostname",
    "memcached-port",
    "memcached-timeout",
    "memcached-service",
    "registry-disable-scanning",
    "automation-interval",
    "registry-poll-interval",
    "registry-rps",
    "registry-burst",
    "registry-trace",
    "registry-insecure-host",
    "registry-exclude-image",
    "registry-include-image",
    "registry-use-labels",
    "registry-ecr-region",
    "registry-ecr-include-id",
    "registry-ecr-exclude-id",
    "registry-require",
    "k8s-in-cluster",
    "k8s-secret-name",
    "k8s-secret-volume-mount-path",
    "k8s-secret-data-key",
    "k8s-namespace-whitelist",
    "k8s-allow-namespace",
    "k8s-default-namespace",
    "k8s-unsafe-exclude-resource",
    "k8s-verbosity",
    "ssh-keygen-bits",
    "ssh-keygen-type",
    "ssh-keygen-format",
    "ssh-keygen-dir",
    "manifest-generation",
    "connect",
    "token",
    "rpc-timeout",
    "docker-config",
    "registry-cache-expiry",
    "kube-config",
];

/// The Flux v1 flags that fluxd does not simply honour, and what it does
/// with each. A flag of [`FLUX_V1_FLAGS`] that is not here is honoured with
/// Flux's meaning.
pub const COMPAT_TABLE: &[Compat] = &[
    // Meaningless here.
    Compat {
        flag: "--memcached-hostname",
        class: Class::Ignored,
        note: "fluxd keeps no image cache in memcached; the memcached Deployment can go",
        set: Some(|f| f.memcached_hostname.is_some()),
    },
    Compat {
        flag: "--memcached-port",
        class: Class::Ignored,
        note: "fluxd keeps no image cache in memcached",
        set: Some(|f| f.memcached_port.is_some()),
    },
    Compat {
        flag: "--memcached-timeout",
        class: Class::Ignored,
        note: "fluxd keeps no image cache in memcached",
        set: Some(|f| f.memcached_timeout.is_some()),
    },
    Compat {
        flag: "--memcached-service",
        class: Class::Ignored,
        note: "fluxd keeps no image cache in memcached",
        set: Some(|f| f.memcached_service.is_some()),
    },
    Compat {
        flag: "--registry-cache-expiry",
        class: Class::Ignored,
        note: "no longer used (as in Flux v1)",
        set: Some(|f| f.registry_cache_expiry.is_some()),
    },
    Compat {
        flag: "--k8s-in-cluster",
        class: Class::Ignored,
        note: "no longer used (as in Flux v1): fluxd finds the cluster by itself",
        set: Some(|f| f.k8s_in_cluster.is_some()),
    },
    Compat {
        flag: "--kube-config",
        class: Class::Ignored,
        note: "deprecated in Flux v1; give --kubeconfig or set KUBECONFIG",
        set: Some(|f| f.kube_config.is_some()),
    },
    Compat {
        flag: "--k8s-verbosity",
        class: Class::Ignored,
        note: "fluxd's Kubernetes client logs at --log-level (e.g. kube=debug)",
        set: Some(|f| f.k8s_verbosity.is_some()),
    },
    Compat {
        flag: "--kubernetes-kubectl",
        class: Class::Ignored,
        note: "fluxd applies through the API with server-side apply, without kubectl",
        set: Some(|f| f.kubernetes_kubectl.is_some()),
    },
    Compat {
        flag: "--registry-trace",
        class: Class::Ignored,
        note: "registry requests log at --log-level debug",
        set: Some(|f| f.registry_trace.is_some()),
    },
    Compat {
        flag: "--registry-ecr-region",
        class: Class::Ignored,
        note: "fluxd has no ECR support",
        set: Some(|f| f.registry_ecr_region.is_some()),
    },
    Compat {
        flag: "--registry-ecr-include-id",
        class: Class::Ignored,
        note: "fluxd has no ECR support",
        set: Some(|f| f.registry_ecr_include_id.is_some()),
    },
    Compat {
        flag: "--registry-ecr-exclude-id",
        class: Class::Ignored,
        note: "fluxd has no ECR support",
        set: Some(|f| f.registry_ecr_exclude_id.is_some()),
    },
    Compat {
        flag: "--sync-timeout",
        class: Class::Ignored,
        note: "fluxd bounds each git operation (--git-timeout) and API request instead, \
               and never cuts an apply short",
        set: Some(|f| f.sync_timeout.is_some()),
    },
    Compat {
        flag: "--rpc-timeout",
        class: Class::Ignored,
        note: "fluxd does not connect to Weave Cloud",
        set: Some(|f| f.rpc_timeout.is_some()),
    },
    Compat {
        flag: "--token",
        class: Class::Ignored,
        note: "fluxd does not connect to Weave Cloud",
        set: Some(|f| f.token.is_some()),
    },
    // Asks for what fluxd does not do.
    Compat {
        flag: "--connect",
        class: Class::Refused,
        note: "fluxd does not connect to Weave Cloud (it shut down); remove --connect and --token",
        set: Some(|f| f.connect.as_deref().is_some_and(|url| !url.is_empty())),
    },
    Compat {
        flag: "--git-secret",
        class: Class::Refused,
        note: "fluxd does not run git-secret on checkouts; commit the manifests decrypted \
               (or sealed, e.g. with sealed-secrets) and remove --git-secret",
        set: Some(|f| f.git_secret),
    },
    Compat {
        flag: "--sops",
        class: Class::Refused,
        note: "fluxd does not decrypt SOPS files yet; keep encrypted files out of --git-path \
               and remove --sops, or keep Flux v1 for this repository",
        set: Some(|f| f.sops),
    },
    Compat {
        flag: "--manifest-generation",
        class: Class::Refused,
        note: "fluxd does not run .flux.yaml generators yet; commit the generated manifests \
               and remove --manifest-generation, or keep Flux v1 for this repository",
        set: Some(|f| f.manifest_generation),
    },
    Compat {
        flag: "--registry-require",
        class: Class::Refused,
        note: "fluxd has no automatic registry authentication (ECR), so it can never \
               satisfy it; remove --registry-require",
        set: Some(|f| f.registry_require.iter().any(|value| !value.is_empty())),
    },
];

/// Flags whose setting Flux v1 said has no effect with `--git-readonly`.
const READONLY_IGNORES: &[&str] = &[
    "git-user",
    "git-email",
    "git-sync-tag",
    "git-set-author",
    "git-ci-skip",
    "git-ci-skip-message",
];

impl Compat {
    /// The flag's long name, without the dashes (`connect`).
    pub fn name(&self) -> &'static str {
        self.flag.trim_start_matches('-')
    }

    /// True when `flags` set this flag.
    pub fn is_set(&self, flags: &Flags) -> bool {
        match self.set {
            Some(set) => set(flags),
            None => flags.was_given(self.name()),
        }
    }
}

/// The entry of `flag` (a long name without the dashes), if it is in
/// [`COMPAT_TABLE`].
pub fn compat_of(flag: &str) -> Option<&'static Compat> {
    COMPAT_TABLE.iter().find(|entry| entry.name() == flag)
}

/// True when this fluxd accepts the flag with long name `long` (no dashes).
pub fn accepts_flag(long: &str) -> bool {
    use clap::CommandFactory;
    long == "version"
        || Flags::command().get_arguments().any(|argument| {
            argument.get_long() == Some(long)
                || argument
                    .get_all_aliases()
                    .is_some_and(|aliases| aliases.contains(&long))
        })
}

/// Applies the table to `flags`: one warning for each pending or ignored
/// flag that is set, and an error naming the first refused flag that is.
pub(crate) fn check(flags: &Flags) -> Result<(), Error> {
    for entry in COMPAT_TABLE.iter().filter(|entry| entry.is_set(flags)) {
        let flag = entry.flag;
        match entry.class {
            Class::Pending => tracing::warn!(
                flag = %flag,
                "{flag} is accepted for Flux v1 compatibility but not acted on yet: {}",
                entry.note
            ),
            Class::Ignored => {
                tracing::warn!(flag = %flag, "{flag} is ignored: {}", entry.note);
            }
            Class::Refused => return Err(Error::flag(entry.flag, entry.note)),
        }
    }
    if flags.git_readonly {
        let given: Vec<String> = READONLY_IGNORES
            .iter()
            .filter(|flag| flags.was_given(flag))
            .map(|flag| format!("--{flag}"))
            .collect();
        if !given.is_empty() {
            tracing::warn!(
                flags = %given.join(","),
                "{} have no effect with --git-readonly",
                given.join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags another block of `flags.rs` adds (the git write path: ssh
    /// key generation, signing, notes, commit messages). Until that block is
    /// in, they are the only Flux flags clap may not know.
    pub(crate) const GIT_WRITE_FLAGS: &[&str] = &[
        "ssh-keygen-type",
        "ssh-keygen-bits",
        "ssh-keygen-format",
        "ssh-keygen-dir",
        "git-signing-key",
        "git-gpg-key-import",
        "git-verify-signatures",
        "git-verify-signatures-mode",
        "git-ci-skip",
        "git-ci-skip-message",
        "git-set-author",
        "git-notes-ref",
    ];

    fn parse(args: &[&str]) -> Flags {
        Flags::from_command_line(
            ["fluxd", "--git-url=/srv/repo"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .unwrap()
    }

    #[test]
    fn every_flux_v1_flag_is_known() {
        for flag in FLUX_V1_FLAGS {
            assert!(
                accepts_flag(flag) || GIT_WRITE_FLAGS.contains(flag),
                "Flux v1's --{flag} is not accepted"
            );
        }
        for entry in COMPAT_TABLE {
            assert!(entry.flag.starts_with("--"), "{}", entry.flag);
            assert!(FLUX_V1_FLAGS.contains(&entry.name()), "{}", entry.flag);
            assert!(accepts_flag(entry.name()), "{}", entry.flag);
        }
        assert!(accepts_flag("k8s-namespace-whitelist"));
        assert!(!accepts_flag("no-such-flag"));
    }

    /// The README's migration section lists every flag of the table in the
    /// row of its class.
    #[test]
    fn the_readme_lists_each_flag_in_its_class() {
        let readme = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
        )
        .unwrap();
        let row = |start: &str| -> String {
            readme
                .lines()
                .find(|line| line.starts_with(start))
                .unwrap_or_else(|| panic!("no README row starting {start:?}"))
                .to_owned()
        };
        let rows = [
            (Class::Ignored, row("| ignored")),
            (Class::Refused, row("| refused")),
        ];
        for entry in COMPAT_TABLE {
            for (class, text) in &rows {
                let listed = text.contains(&format!("`{}`", entry.flag));
                assert_eq!(listed, *class == entry.class, "{} in {text}", entry.flag);
            }
        }
    }

    #[test]
    fn refused_flags_are_errors_naming_the_flag_and_what_to_do() {
        for (arg, flag) in [
            ("--connect=wss://cloud.weave.works/api/flux", "--connect"),
            ("--git-secret", "--git-secret"),
            ("--sops=true", "--sops"),
            ("--manifest-generation=true", "--manifest-generation"),
            ("--registry-require=ecr", "--registry-require"),
        ] {
            match check(&parse(&[arg])) {
                Err(Error::Flag {
                    flag: named,
                    reason,
                }) => {
                    assert_eq!(named, flag);
                    assert!(reason.contains("remove"), "{reason}");
                }
                other => panic!("{arg}: {other:?}"),
            }
        }
        // Set to Flux's defaults, they ask for nothing.
        check(&parse(&[
            "--git-secret=false",
            "--sops=false",
            "--manifest-generation=false",
            "--connect=",
            "--registry-require=",
        ]))
        .unwrap();
    }

    #[test]
    fn pending_and_ignored_flags_are_set_only_when_given() {
        let quiet = parse(&[]);
        let set = |flags: &Flags| -> Vec<&str> {
            COMPAT_TABLE
                .iter()
                .filter(|entry| entry.is_set(flags))
                .map(Compat::name)
                .collect()
        };
        assert!(set(&quiet).is_empty(), "{:?}", set(&quiet));
        let chart = parse(&[
            "--memcached-hostname=flux-memcached",
            "--memcached-service=",
            "--automation-interval=5m",
            "--registry-rps=200",
            "--registry-trace=false",
        ]);
        assert_eq!(
            set(&chart),
            ["memcached-hostname", "memcached-service", "registry-trace"]
        );
        check(&chart).unwrap();
        assert_eq!(compat_of("sops").map(|c| c.class), Some(Class::Refused));
        assert!(compat_of("git-url").is_none());
    }
}
