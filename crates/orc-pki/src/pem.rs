//! Small helpers: PEM decoding and randomness.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::error::{PkiError, Result};

/// All certificates of a PEM document, in order; at least one.
pub(crate) fn certs_from_pem(
    pem: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Pem {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PkiError::Pem {
            what,
            reason: "no CERTIFICATE section".into(),
        });
    }
    Ok(certs)
}

/// The single certificate of a PEM document.
pub(crate) fn one_cert_from_pem(pem: &str, what: &'static str) -> Result<CertificateDer<'static>> {
    let mut certs = certs_from_pem(pem, what)?;
    if certs.len() != 1 {
        return Err(PkiError::Pem {
            what,
            reason: format!("expected one certificate, found {}", certs.len()),
        });
    }
    Ok(certs.remove(0))
}

/// `N` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| PkiError::Random(e.to_string()))?;
    Ok(buf)
}
