//! The deploy key as the API shows it: the public line and its md5 and
//! sha256 fingerprints with their randomart, as `ssh-keygen -l -v` draws
//! them (Flux's `ssh.PublicKey`).

use std::collections::BTreeMap;

use base64::Engine as _;
use gitsync::PublicKeyInfo;
use md5::Digest as _;

use crate::api::{FINGERPRINT_MD5, FINGERPRINT_SHA256, Fingerprint, PublicSshKey, randomart};

/// The API's view of a public key: the line (with a line break, as the
/// Secret holds it) and both fingerprints. A line whose key data is not
/// base64 gets no fingerprints (and a warning), the line is still shown.
pub(crate) fn public_ssh_key(info: &PublicKeyInfo) -> PublicSshKey {
    let key = format!("{}\n", info.openssh);
    let Some(blob) = info
        .openssh
        .split_whitespace()
        .nth(1)
        .and_then(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
    else {
        tracing::warn!(algorithm = %info.algorithm, "the deploy key's public line does not decode; no fingerprints");
        return PublicSshKey {
            key,
            fingerprints: BTreeMap::new(),
        };
    };
    let label = format!(
        "{} {}",
        key_type_label(&info.algorithm),
        key_bits(&info.algorithm, &blob)
    );
    let md5 = md5::Md5::digest(&blob);
    let sha256_text = info.sha256.strip_prefix("SHA256:").unwrap_or(&info.sha256);
    let sha256 = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(sha256_text)
        .unwrap_or_default();
    let mut fingerprints = BTreeMap::new();
    fingerprints.insert(
        FINGERPRINT_MD5.to_owned(),
        Fingerprint {
            hash: md5
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            randomart: randomart(&label, "MD5", &md5),
        },
    );
    fingerprints.insert(
        FINGERPRINT_SHA256.to_owned(),
        Fingerprint {
            hash: sha256_text.to_owned(),
            randomart: randomart(&label, "SHA256", &sha256),
        },
    );
    PublicSshKey { key, fingerprints }
}

/// `ssh-keygen`'s name of a key type in the randomart's title.
fn key_type_label(algorithm: &str) -> &'static str {
    match algorithm {
        "ssh-ed25519" => "ED25519",
        "ssh-rsa" => "RSA",
        a if a.starts_with("ecdsa-") => "ECDSA",
        "ssh-dss" => "DSA",
        _ => "UNKNOWN",
    }
}

/// The key's size in bits: fixed for ed25519 and the ECDSA curves, the
/// modulus's for RSA (the blob is `string "ssh-rsa", mpint e, mpint n`).
fn key_bits(algorithm: &str, blob: &[u8]) -> usize {
    match algorithm {
        "ssh-ed25519" => 256,
        "ecdsa-sha2-nistp256" => 256,
        "ecdsa-sha2-nistp384" => 384,
        "ecdsa-sha2-nistp521" => 521,
        "ssh-rsa" => rsa_modulus_bits(blob).unwrap_or(0),
        _ => 0,
    }
}

fn rsa_modulus_bits(blob: &[u8]) -> Option<usize> {
    let mut rest = blob;
    let mut field = || -> Option<&[u8]> {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let value = rest.get(4..4 + len)?;
        rest = &rest[4 + len..];
        Some(value)
    };
    let _name = field()?;
    let _exponent = field()?;
    let modulus = field()?;
    let first = modulus.iter().position(|byte| *byte != 0)?;
    let leading = modulus[first].leading_zeros() as usize;
    Some((modulus.len() - first) * 8 - leading)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprints and pictures are ssh-keygen's, for keys fluxd
    /// generates (ed25519, the default, and RSA).
    #[test]
    fn matches_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        for key_type in [
            gitsync::KeyType::Ed25519,
            gitsync::KeyType::Rsa { bits: 2048 },
        ] {
            let info = gitsync::KeyPair::generate(key_type, "fluxd@test")
                .unwrap()
                .public()
                .clone();
            let file = dir.path().join(format!("{}.pub", info.algorithm));
            std::fs::write(&file, format!("{}\n", info.openssh)).unwrap();
            let shown = public_ssh_key(&info);
            assert_eq!(shown.key, format!("{}\n", info.openssh));
            for (hash_name, name) in [("md5", FINGERPRINT_MD5), ("sha256", FINGERPRINT_SHA256)] {
                let printed = std::process::Command::new("ssh-keygen")
                    .args(["-lv", "-E", hash_name, "-f"])
                    .arg(&file)
                    .output()
                    .expect("ssh-keygen (openssh-client) is needed")
                    .stdout;
                let printed = String::from_utf8(printed).unwrap();
                let (summary, picture) = printed.split_once('\n').unwrap();
                let hash = summary
                    .split(' ')
                    .nth(1)
                    .unwrap()
                    .split_once(':')
                    .unwrap()
                    .1;
                let ours = &shown.fingerprints[name];
                assert_eq!(
                    (ours.hash.as_str(), ours.randomart.as_str()),
                    (hash, picture),
                    "{key_type:?} {hash_name}"
                );
            }
        }
    }
}
