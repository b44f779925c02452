//! The control plane's keys and certificates, made fresh for every start.
//!
//! A CA, a serving certificate for `127.0.0.1`/`localhost` signed by it, an
//! ECDSA key pair that signs and verifies ServiceAccount tokens, and random
//! bearer tokens for the static users. All ECDSA P-256, which Go's TLS stack
//! and kube's rustls both accept.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::Error;

/// PEM-encoded keys and certificates of one control plane.
pub(crate) struct Pki {
    /// The CA certificate clients trust.
    pub(crate) ca_pem: String,
    /// The apiserver's serving certificate (SANs 127.0.0.1 and localhost).
    pub(crate) serving_cert_pem: String,
    /// Its private key (PKCS#8).
    pub(crate) serving_key_pem: String,
    /// The ServiceAccount token signing key (PKCS#8).
    pub(crate) service_account_key_pem: String,
    /// Its public half (SubjectPublicKeyInfo), which verifies the tokens.
    pub(crate) service_account_public_key_pem: String,
}

impl Pki {
    /// Generates a new set.
    pub(crate) fn generate() -> Result<Self, Error> {
        let ca_key = KeyPair::generate().map_err(Error::certificate)?;
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).map_err(Error::certificate)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fluxd-rs test control plane CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(Error::certificate)?;
        let ca = Issuer::new(ca_params, ca_key);

        let serving_key = KeyPair::generate().map_err(Error::certificate)?;
        let mut serving_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(Error::certificate)?;
        serving_params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        serving_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving_params
            .signed_by(&serving_key, &ca)
            .map_err(Error::certificate)?;

        let service_account_key = KeyPair::generate().map_err(Error::certificate)?;

        Ok(Self {
            ca_pem: ca_cert.pem(),
            serving_cert_pem: serving_cert.pem(),
            serving_key_pem: serving_key.serialize_pem(),
            service_account_key_pem: service_account_key.serialize_pem(),
            service_account_public_key_pem: service_account_key.public_key_pem(),
        })
    }
}

/// A random bearer token: 32 bytes from the operating system, hex-encoded.
pub(crate) fn random_token() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::io(
            "reading random bytes for a token",
            std::io::Error::other(e.to_string()),
        )
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_distinct_pem_material() {
        let pki = Pki::generate().unwrap();
        assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(
            pki.serving_cert_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(pki.serving_key_pem.contains("PRIVATE KEY"));
        assert_ne!(pki.serving_key_pem, pki.service_account_key_pem);
        let token = random_token().unwrap();
        assert_eq!(token.len(), 64);
        assert_ne!(token, random_token().unwrap());
    }
}
