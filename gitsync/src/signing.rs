//! Signing commits and tags, and verifying commit signatures.
//!
//! Two formats, as git has them: OpenPGP through the real `gpg` binary (what
//! `git commit -S` runs, and Flux v1 did), and ssh signatures (git's
//! `gpg.format=ssh`, the sshsig format of `ssh-keygen -Y sign -n git`, which
//! git 2.34 and later verifies), made in process from an ssh private key.
//! Verification is the same two: `gpg --verify` against the keyring, or the
//! ssh public keys allowed to sign.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ssh_key::{HashAlg, LineEnding, PrivateKey, SshSig};

use crate::{Error, KeyPair};

/// The sshsig namespace git signs commits and tags in.
const GIT_NAMESPACE: &str = "git";

/// Who signs commits and tags.
#[derive(Clone)]
#[non_exhaustive]
pub enum Signer {
    /// An OpenPGP key of the `gpg` keyring, by id, fingerprint or user id.
    Gpg {
        /// The key (`gpg -u KEY`).
        key: String,
        /// The `gpg` program.
        program: PathBuf,
    },
    /// An ssh private key.
    Ssh {
        /// The key.
        key: Box<PrivateKey>,
    },
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Signer {
    /// Signs with `key` of the `gpg` keyring (the `gpg` on `PATH`).
    pub fn gpg(key: impl Into<String>) -> Self {
        Self::Gpg {
            key: key.into(),
            program: PathBuf::from("gpg"),
        }
    }

    /// Signs with an ssh key pair.
    pub fn ssh(key: &KeyPair) -> Result<Self, Error> {
        Ok(Self::Ssh {
            key: Box::new(key.private_key()?),
        })
    }

    /// Signs with the ssh private key in `path` (OpenSSH format, unencrypted).
    pub fn ssh_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading the signing key {}", path.display()), e))?;
        let pair = KeyPair::from_openssh(&text).map_err(|e| Error::Key {
            reason: format!("{}: {e}", path.display()),
        })?;
        Self::ssh(&pair)
    }

    /// The key, for logs: the GPG key id, or the ssh key's SHA256 fingerprint.
    pub fn describe(&self) -> String {
        match self {
            Self::Gpg { key, .. } => format!("gpg key {key}"),
            Self::Ssh { key } => format!("ssh key {}", key.fingerprint(HashAlg::Sha256)),
        }
    }

    /// An armored detached signature of `payload` (a commit or tag without
    /// its signature), as git stores it.
    pub fn sign(&self, payload: &[u8]) -> Result<String, Error> {
        let failed = |reason: String| Error::Signing {
            signer: self.describe(),
            reason,
        };
        match self {
            Self::Gpg { key, program } => {
                let output = run_with_input(
                    Command::new(program).args(["--batch", "--status-fd=2", "-bsau", key]),
                    payload,
                )
                .map_err(|e| failed(format!("cannot run {}: {e}", program.display())))?;
                let stderr = String::from_utf8_lossy(&output.stderr);
                if !output.status.success() || !stderr.contains("[GNUPG:] SIG_CREATED") {
                    return Err(failed(one_line(&stderr)));
                }
                String::from_utf8(output.stdout).map_err(|_| failed("gpg wrote no text".into()))
            }
            Self::Ssh { key } => key
                .sign(GIT_NAMESPACE, HashAlg::Sha512, payload)
                .and_then(|sig| sig.to_pem(LineEnding::LF))
                .map_err(|e| failed(e.to_string())),
        }
    }
}

/// Imports the OpenPGP keys of `paths` (files, or every file directly in a
/// directory, as Flux's chart mounts them) into the `gpg` keyring, with the
/// `gpg` on `PATH`. Returns the files imported.
pub fn import_gpg_keys(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| Error::io(format!("listing {}", path.display()), e))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                // Skip the `..data` links of a mounted Secret or ConfigMap.
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(Error::io(
                format!("reading GPG keys from {}", path.display()),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
    }
    for file in &files {
        let output = Command::new("gpg")
            .args(["--batch", "--import"])
            .arg(file)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::io("running gpg --import", e))?;
        if !output.status.success() {
            return Err(Error::Signing {
                signer: format!("gpg --import {}", file.display()),
                reason: one_line(&String::from_utf8_lossy(&output.stderr)),
            });
        }
    }
    Ok(files)
}

/// Checks commit signatures.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Verifier {
    /// OpenPGP signatures, checked by `gpg --verify` against its keyring
    /// (as `git verify-commit` does: a good signature by any key there).
    Gpg {
        /// The `gpg` program.
        program: PathBuf,
    },
    /// ssh signatures by one of these public keys (git's allowed signers).
    Ssh {
        /// The keys allowed to sign.
        allowed: Vec<ssh_key::PublicKey>,
    },
}

impl Verifier {
    /// `gpg` on `PATH` and its keyring.
    pub fn gpg() -> Self {
        Self::Gpg {
            program: PathBuf::from("gpg"),
        }
    }

    /// ssh signatures by the one-line OpenSSH public keys in `lines` (an
    /// `authorized_keys`-like list; `#` comments and blank lines skipped; a
    /// git allowed-signers line's leading principal is skipped too).
    pub fn ssh_allowed(lines: &str) -> Result<Self, Error> {
        let mut allowed = Vec::new();
        for (index, line) in lines.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = ssh_key::PublicKey::from_openssh(line).or_else(|first| {
                line.split_once(char::is_whitespace)
                    .ok_or(first)
                    .and_then(|(_, rest)| ssh_key::PublicKey::from_openssh(rest.trim()))
            });
            allowed.push(key.map_err(|e| Error::Key {
                reason: format!("allowed signers, line {}: {e}", index + 1),
            })?);
        }
        Ok(Self::Ssh { allowed })
    }

    /// Whether `signature` is a good signature of `data`: `Ok` with who
    /// signed, or `Err` with why not, in one line.
    pub(crate) fn verify(&self, signature: &str, data: &[u8]) -> Result<String, String> {
        let is_ssh = signature
            .trim_start()
            .starts_with("-----BEGIN SSH SIGNATURE-----");
        match (self, is_ssh) {
            (Self::Ssh { allowed }, true) => {
                let sig = SshSig::from_pem(signature.trim())
                    .map_err(|e| format!("unreadable ssh signature: {e}"))?;
                let signer = ssh_key::PublicKey::from(sig.public_key().clone());
                let fingerprint = signer.fingerprint(HashAlg::Sha256).to_string();
                if !allowed.iter().any(|k| k.key_data() == signer.key_data()) {
                    return Err(format!(
                        "signed by ssh key {fingerprint}, which is not allowed"
                    ));
                }
                signer
                    .verify(GIT_NAMESPACE, data, &sig)
                    .map(|()| format!("ssh key {fingerprint}"))
                    .map_err(|e| format!("bad ssh signature by {fingerprint}: {e}"))
            }
            (Self::Gpg { program }, false) => gpg_verify(program, signature, data),
            (Self::Gpg { .. }, true) => Err("signed with an ssh key, not with GPG".to_owned()),
            (Self::Ssh { .. }, false) => Err("signed with GPG, not with an ssh key".to_owned()),
        }
    }
}

fn gpg_verify(program: &Path, signature: &str, data: &[u8]) -> Result<String, String> {
    let mut file = tempfile::NamedTempFile::new().map_err(|e| format!("temporary file: {e}"))?;
    file.write_all(signature.as_bytes())
        .map_err(|e| format!("temporary file: {e}"))?;
    let output = run_with_input(
        Command::new(program)
            .args(["--batch", "--status-fd=1", "--verify"])
            .arg(file.path())
            .arg("-"),
        data,
    )
    .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let status = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        status.lines().find_map(|line| {
            line.strip_prefix("[GNUPG:] ")
                .and_then(|rest| rest.strip_prefix(name))
                .map(|rest| rest.trim().to_owned())
        })
    };
    if let (Some(good), Some(_), true) = (
        field("GOODSIG "),
        field("VALIDSIG "),
        output.status.success(),
    ) {
        return Ok(format!("gpg key {good}"));
    }
    Err(if let Some(key) = field("NO_PUBKEY ") {
        format!("signed by unknown GPG key {key}")
    } else if let Some(bad) = field("BADSIG ") {
        format!("bad GPG signature by {bad}")
    } else if let Some(expired) = field("EXPKEYSIG ") {
        format!("signed by expired GPG key {expired}")
    } else if let Some(revoked) = field("REVKEYSIG ") {
        format!("signed by revoked GPG key {revoked}")
    } else {
        format!(
            "gpg could not verify the signature: {}",
            one_line(&String::from_utf8_lossy(&output.stderr))
        )
    })
}

fn run_with_input(command: &mut Command, input: &[u8]) -> std::io::Result<std::process::Output> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A child that exits early closes its end: its status says why.
        let _ = stdin.write_all(input);
    }
    child.wait_with_output()
}

/// The lines of `text` joined into one, without gpg's status lines.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("[GNUPG:]"))
        .collect();
    if lines.is_empty() {
        "no message".to_owned()
    } else {
        lines.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyType;

    #[test]
    fn ssh_signatures_verify_only_for_allowed_keys() {
        let pair = KeyPair::generate(KeyType::Ed25519, "signer").unwrap();
        let other = KeyPair::generate(KeyType::Ed25519, "other").unwrap();
        let signer = Signer::ssh(&pair).unwrap();
        let signature = signer.sign(b"tree 123\n").unwrap();
        assert!(signature.starts_with("-----BEGIN SSH SIGNATURE-----"));

        let allowed = Verifier::ssh_allowed(&format!(
            "# team\nbot@example.com {}\n",
            pair.public().openssh
        ))
        .unwrap();
        assert!(allowed.verify(&signature, b"tree 123\n").is_ok());
        let error = allowed.verify(&signature, b"tree 124\n").unwrap_err();
        assert!(error.contains("bad ssh signature"), "{error}");
        let others = Verifier::ssh_allowed(&other.public().openssh).unwrap();
        let error = others.verify(&signature, b"tree 123\n").unwrap_err();
        assert!(error.contains("not allowed"), "{error}");
        let error = Verifier::gpg().verify(&signature, b"x").unwrap_err();
        assert!(error.contains("ssh key"), "{error}");
        assert!(Verifier::ssh_allowed("ssh-ed25519 notbase64").is_err());
    }
}
