//! Connecting to a manager before having a certificate: trust by CA fingerprint.
//!
//! A joining node has only its join token. It must not trust any server that
//! merely has *some* certificate, so [`JoinVerifier`] accepts the server only
//! if the chain it presents contains a CA certificate whose SHA-256 is the
//! token's fingerprint, and the server certificate verifies against that CA
//! alone (signature, validity, server-auth usage) for the name `orc-manager`
//! (which only manager certificates carry). Sending the real CA certificate
//! next to a leaf signed by another CA does not help: the leaf must chain to it.
//!
//! tonic 0.14.9 takes a custom rustls verifier directly
//! (`Endpoint::tls_config_with_verifier`), so no hand-made connector is needed;
//! ALPN `h2` is set by tonic as for every TLS channel.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::ca::fingerprint_of;
use crate::error::{Result, TokenError};
use crate::identity::MANAGER_DNS_NAME;
use crate::tls::{https_uri, TLS_HANDSHAKE_TIMEOUT};

/// A rustls server-certificate verifier pinned to a CA fingerprint (see the module docs).
#[derive(Debug)]
pub struct JoinVerifier {
    ca_fingerprint: String,
    provider: Arc<CryptoProvider>,
}

/// The handshake error when no certificate in the server's chain has the expected fingerprint.
#[derive(Debug, thiserror::Error)]
#[error("the server's cluster CA does not have the join token's fingerprint")]
pub struct CaFingerprintMismatch;

impl JoinVerifier {
    /// A verifier that accepts only servers certified by the CA whose
    /// SHA-256 fingerprint is `expected_ca_fingerprint` (64 hex digits).
    pub fn new(expected_ca_fingerprint: &str) -> Result<JoinVerifier> {
        let fp = expected_ca_fingerprint.trim();
        if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::BadFingerprint(fp.chars().count()).into());
        }
        Ok(JoinVerifier {
            ca_fingerprint: fp.to_ascii_lowercase(),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }
}

impl ServerCertVerifier for JoinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| fingerprint_of(c) == self.ca_fingerprint)
            .ok_or_else(|| {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                    CaFingerprintMismatch,
                ))))
            })?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let pinned =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        pinned.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// An endpoint for a joining node to reach a manager at `addr` (`host:port`
/// or `https://` URI): server verified by [`JoinVerifier`], no client certificate.
pub fn join_endpoint(addr: &str, expected_ca_fingerprint: &str) -> Result<Endpoint> {
    let verifier = Arc::new(JoinVerifier::new(expected_ca_fingerprint)?);
    let tls = ClientTlsConfig::new()
        .domain_name(MANAGER_DNS_NAME)
        .timeout(TLS_HANDSHAKE_TIMEOUT);
    Ok(Endpoint::from_shared(https_uri(addr)?)?.tls_config_with_verifier(tls, verifier)?)
}

/// Connects [`join_endpoint`] now; fails if the manager is not the token's cluster.
pub async fn connect_join(addr: &str, expected_ca_fingerprint: &str) -> Result<Channel> {
    Ok(join_endpoint(addr, expected_ca_fingerprint)?
        .connect()
        .await?)
}
