//! The repository fluxd syncs and its deploy key, as
//! `POST /v9/git-repo-config` and `GET /v6/identity.pub` answer (Flux's
//! `v6.GitConfig` and `ssh.PublicKey`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::go::{nil_if_empty, null_as_default, string_enum};

string_enum! {
    /// How far fluxd got with its repository (`git.GitRepoStatus`).
    #[derive(Default)]
    pub enum GitRepoStatus {
        #[default]
        /// No repository configured.
        Unconfigured = "unconfigured",
        /// Not cloned yet.
        New = "new",
        /// Cloned; not written to yet.
        Cloned = "cloned",
        /// Written to: ready to sync.
        Ready = "ready",
        /// The URL does not answer.
        Unreachable = "unreachable",
    }
}

/// The repository (`v6.GitRemoteConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GitRemoteConfig {
    /// The URL without credentials (`SafeURL`).
    pub url: String,
    /// The branch.
    pub branch: String,
    /// The `--git-path` values, joined by `,`.
    pub path: String,
}

/// One fingerprint of a public key, as `ssh-keygen -l -v` prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fingerprint {
    /// The hash without its `MD5:`/`SHA256:` prefix: colon-separated hex
    /// for md5, unpadded base64 for sha256.
    pub hash: String,
    /// The randomart picture, lines ending in `\n` (see [`randomart`]).
    pub randomart: String,
}

/// The `fingerprints` key of the md5 fingerprint.
pub const FINGERPRINT_MD5: &str = "md5";
/// The `fingerprints` key of the sha256 fingerprint.
pub const FINGERPRINT_SHA256: &str = "sha256";

/// The deploy key's public half (`ssh.PublicKey`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicSshKey {
    /// The key in `authorized_keys` form, with its trailing newline.
    pub key: String,
    /// `md5` and `sha256` fingerprints (`null` when fluxd has no key).
    #[serde(deserialize_with = "null_as_default", serialize_with = "nil_if_empty")]
    pub fingerprints: BTreeMap<String, Fingerprint>,
}

impl PublicSshKey {
    /// The md5 fingerprint, if given.
    pub fn md5(&self) -> Option<&Fingerprint> {
        self.fingerprints.get(FINGERPRINT_MD5)
    }

    /// The sha256 fingerprint, if given.
    pub fn sha256(&self) -> Option<&Fingerprint> {
        self.fingerprints.get(FINGERPRINT_SHA256)
    }
}

/// The repository configuration and state (`v6.GitConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GitConfig {
    /// The repository.
    pub remote: GitRemoteConfig,
    /// The deploy key.
    #[serde(rename = "publicSSHKey")]
    pub public_ssh_key: PublicSshKey,
    /// How far fluxd got.
    pub status: GitRepoStatus,
    /// The repository's last error, empty if none (Flux names it `errors`).
    #[serde(rename = "errors")]
    pub error: String,
}

/// The randomart picture of a key fingerprint, exactly as OpenSSH's
/// `sshkey_fingerprint_randomart` draws it ("the drunken bishop"), with a
/// `\n` after each line as `ssh-keygen -l -v` prints it.
///
/// `key_label` is the key's type and size as OpenSSH writes them (e.g.
/// `ED25519 256`, `RSA 3072`), `hash_label` the hash (`MD5`, `SHA256`), and
/// `digest` the raw digest of the key blob.
pub fn randomart(key_label: &str, hash_label: &str, digest: &[u8]) -> String {
    const WIDTH: usize = 17;
    const HEIGHT: usize = 9;
    const SYMBOLS: &[u8] = b" .o+=*BOX@%&#/^SE";
    let top = SYMBOLS.len() - 1;
    let mut field = [[0usize; HEIGHT]; WIDTH];
    let (mut x, mut y) = (WIDTH / 2, HEIGHT / 2);
    for byte in digest {
        let mut input = *byte;
        for _ in 0..4 {
            x = if input & 0x1 != 0 {
                (x + 1).min(WIDTH - 1)
            } else {
                x.saturating_sub(1)
            };
            y = if input & 0x2 != 0 {
                (y + 1).min(HEIGHT - 1)
            } else {
                y.saturating_sub(1)
            };
            if field[x][y] < top - 2 {
                field[x][y] += 1;
            }
            input >>= 2;
        }
    }
    field[WIDTH / 2][HEIGHT / 2] = top - 1;
    field[x][y] = top;

    // OpenSSH falls back to "[type]" when "[type size]" does not fit.
    let mut title = format!("[{key_label}]");
    if title.len() > WIDTH + 1 {
        title = format!("[{}]", key_label.split(' ').next().unwrap_or(key_label));
    }
    let title = &title[..title.len().min(WIDTH)];
    let hash = format!("[{hash_label}]");
    let hash = &hash[..hash.len().min(WIDTH)];

    let border = |label: &str| {
        let before = (WIDTH - label.len()) / 2;
        format!(
            "+{}{label}{}+\n",
            "-".repeat(before),
            "-".repeat(WIDTH - before - label.len())
        )
    };
    let mut picture = border(title);
    for row in 0..HEIGHT {
        picture.push('|');
        for column in &field {
            picture.push(char::from(SYMBOLS[column[row].min(top)]));
        }
        picture.push_str("|\n");
    }
    picture.push_str(&border(hash));
    picture
}
