//! ssh key pairs for deploy keys: generation (ed25519, RSA, ECDSA, as
//! `ssh-keygen -t` makes them), the one-line public key and its fingerprint.
//!
//! Keys are written in the OpenSSH private key format that `ssh-keygen`
//! writes by default (and libssh2 and OpenSSH read); the private key text is
//! held in memory only, and never appears in `Debug` output.

use std::fmt;

use ssh_key::private::{EcdsaKeypair, KeypairData, RsaKeypair};
use ssh_key::rand_core::OsRng;
use ssh_key::{EcdsaCurve, HashAlg, LineEnding, PrivateKey};

use crate::{Error, SshKey};

/// The kind of key to generate, as `ssh-keygen -t TYPE -b BITS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// ed25519 (the default; fixed size).
    Ed25519,
    /// RSA with this many bits (`ssh-keygen`'s default 3072; at least 2048).
    Rsa {
        /// Modulus size.
        bits: u32,
    },
    /// ECDSA on NIST P-256, P-384 or P-521 (`bits` 256, 384 or 521).
    Ecdsa {
        /// Curve size.
        bits: u32,
    },
}

impl KeyType {
    /// The type `ssh-keygen -t` names with `name` (`ed25519`, `rsa`,
    /// `ecdsa`), sized by `bits` as `ssh-keygen -b` is (`None`: its default).
    /// Errors name what is wrong.
    pub fn parse(name: &str, bits: Option<u32>) -> Result<Self, Error> {
        let invalid = |reason: String| Error::Key { reason };
        match (name.to_ascii_lowercase().as_str(), bits) {
            ("ed25519", None | Some(256)) => Ok(Self::Ed25519),
            ("ed25519", Some(bits)) => Err(invalid(format!(
                "ed25519 keys have a fixed size; {bits} bits is not one"
            ))),
            ("rsa", None) => Ok(Self::Rsa { bits: 3072 }),
            ("rsa", Some(bits)) if (2048..=16384).contains(&bits) => Ok(Self::Rsa { bits }),
            ("rsa", Some(bits)) => Err(invalid(format!(
                "RSA keys of {bits} bits are refused: give 2048 to 16384"
            ))),
            ("ecdsa", None) => Ok(Self::Ecdsa { bits: 256 }),
            ("ecdsa", Some(bits @ (256 | 384 | 521))) => Ok(Self::Ecdsa { bits }),
            ("ecdsa", Some(bits)) => Err(invalid(format!(
                "ECDSA keys are 256, 384 or 521 bits, not {bits}"
            ))),
            (other, _) => Err(invalid(format!(
                "unknown key type {other:?}: give ed25519, rsa or ecdsa"
            ))),
        }
    }
}

/// A key pair: the private key (OpenSSH format) and what may be shown of it.
#[derive(Clone)]
pub struct KeyPair {
    private_key: String,
    public: PublicKeyInfo,
}

/// The public half of a key, as `ssh-keygen -y` and `ssh-keygen -l` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// The one-line OpenSSH public key: `ssh-ed25519 AAAA... comment`.
    pub openssh: String,
    /// Its SHA256 fingerprint, `SHA256:` and unpadded base64.
    pub sha256: String,
    /// The key type name (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`).
    pub algorithm: String,
}

impl KeyPair {
    /// Generates a new key pair with `comment` (the last field of the public key).
    pub fn generate(key_type: KeyType, comment: &str) -> Result<Self, Error> {
        let failed = |e: ssh_key::Error| Error::Key {
            reason: format!("cannot generate a {key_type:?} key: {e}"),
        };
        let data = match key_type {
            KeyType::Ed25519 => {
                KeypairData::from(ssh_key::private::Ed25519Keypair::random(&mut OsRng))
            }
            KeyType::Rsa { bits } => {
                KeypairData::from(RsaKeypair::random(&mut OsRng, bits as usize).map_err(failed)?)
            }
            KeyType::Ecdsa { bits } => {
                let curve = match bits {
                    384 => EcdsaCurve::NistP384,
                    521 => EcdsaCurve::NistP521,
                    _ => EcdsaCurve::NistP256,
                };
                KeypairData::from(EcdsaKeypair::random(&mut OsRng, curve).map_err(failed)?)
            }
        };
        let key = PrivateKey::new(data, comment).map_err(failed)?;
        Self::from_key(&key)
    }

    /// Reads a private key in OpenSSH format (what `ssh-keygen` writes).
    /// Encrypted keys are refused: a daemon has nobody to ask for the passphrase.
    pub fn from_openssh(text: &str) -> Result<Self, Error> {
        let key = PrivateKey::from_openssh(text.trim_start()).map_err(|e| Error::Key {
            reason: format!("not an OpenSSH private key: {e}"),
        })?;
        if key.is_encrypted() {
            return Err(Error::Key {
                reason: "the private key is encrypted with a passphrase".to_owned(),
            });
        }
        Self::from_key(&key)
    }

    fn from_key(key: &PrivateKey) -> Result<Self, Error> {
        let private_key = key.to_openssh(LineEnding::LF).map_err(|e| Error::Key {
            reason: format!("cannot encode the private key: {e}"),
        })?;
        Ok(Self {
            private_key: private_key.as_str().to_owned(),
            public: public_info(key.public_key())?,
        })
    }

    /// The private key text (OpenSSH format), to store in a Secret.
    pub fn private_openssh(&self) -> &str {
        &self.private_key
    }

    /// The public key and its fingerprint.
    pub fn public(&self) -> &PublicKeyInfo {
        &self.public
    }

    /// The key for [`crate::Remote::with_ssh_key`], from memory.
    pub fn ssh_key(&self) -> SshKey {
        SshKey::from_memory(self.private_key.clone())
    }

    /// The key for signing commits and tags ([`crate::Signer::ssh`]).
    pub(crate) fn private_key(&self) -> Result<PrivateKey, Error> {
        PrivateKey::from_openssh(&self.private_key).map_err(|e| Error::Key {
            reason: format!("cannot read the private key: {e}"),
        })
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public.openssh)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl PublicKeyInfo {
    /// Reads a one-line OpenSSH public key (`ssh-ed25519 AAAA... comment`).
    pub fn parse(line: &str) -> Result<Self, Error> {
        let key = ssh_key::PublicKey::from_openssh(line.trim()).map_err(|e| Error::Key {
            reason: format!("not an OpenSSH public key: {e}"),
        })?;
        public_info(&key)
    }
}

fn public_info(key: &ssh_key::PublicKey) -> Result<PublicKeyInfo, Error> {
    let openssh = key.to_openssh().map_err(|e| Error::Key {
        reason: format!("cannot encode the public key: {e}"),
    })?;
    Ok(PublicKeyInfo {
        openssh: openssh.trim().to_owned(),
        sha256: key.fingerprint(HashAlg::Sha256).to_string(),
        algorithm: key.algorithm().as_str().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_and_reads_back_ed25519_and_ecdsa() {
        for key_type in [KeyType::Ed25519, KeyType::Ecdsa { bits: 384 }] {
            let pair = KeyPair::generate(key_type, "fluxd@flux").unwrap();
            let public = pair.public();
            assert!(!public.openssh.contains('\n'), "{public:?}");
            assert!(public.openssh.ends_with(" fluxd@flux"), "{public:?}");
            assert!(public.sha256.starts_with("SHA256:"), "{public:?}");
            let again = KeyPair::from_openssh(pair.private_openssh()).unwrap();
            assert_eq!(again.public(), public);
            assert_eq!(&PublicKeyInfo::parse(&public.openssh).unwrap(), public);
            assert!(!format!("{pair:?}").contains("PRIVATE"));
        }
    }

    #[test]
    fn key_types_as_ssh_keygen_names_them() {
        assert_eq!(KeyType::parse("ed25519", None).unwrap(), KeyType::Ed25519);
        assert_eq!(
            KeyType::parse("RSA", None).unwrap(),
            KeyType::Rsa { bits: 3072 }
        );
        assert_eq!(
            KeyType::parse("ecdsa", Some(521)).unwrap(),
            KeyType::Ecdsa { bits: 521 }
        );
        for (name, bits) in [("rsa", Some(1024)), ("ecdsa", Some(300)), ("dsa", None)] {
            let error = KeyType::parse(name, bits).unwrap_err().to_string();
            assert!(error.contains(name) || error.contains("bits"), "{error}");
        }
        assert!(KeyPair::from_openssh("not a key").is_err());
    }
}
