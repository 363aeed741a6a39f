//! TLS for stratum ports.

use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::StratumError;

/// A TLS server configuration from PEM text: the certificate chain (leaf first) and its
/// private key (PKCS#8, PKCS#1 or SEC1). No client certificates are asked for.
///
/// Fails with [`StratumError::Tls`] when either PEM text holds nothing usable or the key
/// does not match the certificate.
pub fn tls_config_from_pem(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, StratumError> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| tls_error(format!("certificate PEM: {error}")))?;
    if chain.is_empty() {
        return Err(tls_error(
            "the certificate PEM holds no CERTIFICATE block".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|error| tls_error(format!("private key PEM: {error}")))?;
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| tls_error(format!("certificate and key: {error}")))?;
    Ok(Arc::new(config))
}

fn tls_error(reason: String) -> StratumError {
    StratumError::Tls { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_pair_makes_a_config_and_garbage_is_named() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert!(tls_config_from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).is_ok());

        let err = tls_config_from_pem(b"not pem", key.serialize_pem().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
        let err = tls_config_from_pem(cert.pem().as_bytes(), b"").unwrap_err();
        assert!(err.to_string().contains("private key"), "{err}");
        let other = rcgen::KeyPair::generate().unwrap();
        let err = tls_config_from_pem(cert.pem().as_bytes(), other.serialize_pem().as_bytes())
            .unwrap_err();
        assert!(err.to_string().contains("certificate and key"), "{err}");
    }
}
