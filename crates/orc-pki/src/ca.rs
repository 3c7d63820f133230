//! The cluster certificate authority: created by `orc cluster init`, held by managers.

use std::fmt;
use std::net::IpAddr;

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::{CertificateDer, DnsName};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::error::{PkiError, Result};
use crate::identity::{node_dns_name, node_uri, Role, MANAGER_DNS_NAME};
use crate::node::NodeCert;
use crate::pem::{one_cert_from_pem, random_bytes};

/// How long the CA certificate is valid.
pub const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a node certificate is valid. Renewal before expiry is future work:
/// today a node whose certificate expired must leave and join again.
pub const NODE_CERT_VALIDITY: Duration = Duration::days(365);
/// Certificates start being valid this long before they are issued, so a
/// board whose clock is a little behind the manager's accepts them at once.
/// Boards without a real-time clock must have NTP-synchronised time before
/// they join: a clock left at 1970 rejects every certificate.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::hours(1);

const URI_CLUSTER_PREFIX: &str = "orc:cluster:";

/// The cluster's self-signed certificate authority (ECDSA P-256, 10 years).
///
/// It signs every node certificate. Its certificate is public (every node
/// has it in `ca.pem`, and joiners check its SHA-256 [fingerprint](Self::fingerprint)
/// from the join token); its private key is a secret kept by managers only
/// (`ca-key.pem`, mode 0600). `Debug` never prints the key.
///
/// The CA certificate allows no intermediate CAs (path length 0), so a node
/// certificate can never be used to sign further certificates.
pub struct ClusterCa {
    cluster_name: String,
    params: CertificateParams,
    key: KeyPair,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa")
            .field("cluster_name", &self.cluster_name)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl ClusterCa {
    /// Creates a new CA for the cluster `cluster_name` (1–63 characters from
    /// `[A-Za-z0-9._-]`). The name is recorded in the CA certificate (subject OU
    /// and URI `orc:cluster:<name>`), so [`from_pem`](Self::from_pem) can rebuild
    /// the issuer from the certificate alone.
    pub fn generate(cluster_name: &str) -> Result<ClusterCa> {
        check_cluster_name(cluster_name)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = ca_params(cluster_name)?;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - CLOCK_SKEW_ALLOWANCE;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key)?;
        Ok(ClusterCa {
            cluster_name: cluster_name.to_string(),
            params,
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key,
        })
    }

    /// Loads a CA saved with [`to_pem`](Self::to_pem).
    ///
    /// Refuses a certificate that orc did not make (no `orc:cluster:` URI, or a
    /// subject that differs from what orc writes) and a key that is not the
    /// certificate's.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<ClusterCa> {
        let cert_der = one_cert_from_pem(cert_pem, "CA certificate")?;
        let cert = webpki::EndEntityCert::try_from(&cert_der)
            .map_err(|e| PkiError::cert("CA certificate", e))?;
        let cluster_name = cert
            .valid_uri_names()
            .find_map(|u| u.strip_prefix(URI_CLUSTER_PREFIX))
            .ok_or_else(|| PkiError::NotOrcCertificate("CA has no orc:cluster: URI".into()))?
            .to_string();
        check_cluster_name(&cluster_name)?;
        let key = KeyPair::from_pem(key_pem)?;
        if key.subject_public_key_info() != cert.subject_public_key_info().as_ref() {
            return Err(PkiError::KeyMismatch("CA certificate"));
        }
        // Issued certificates copy the issuer name byte for byte from `params`;
        // make sure it is the name in the stored certificate, or nothing would chain.
        let params = ca_params(&cluster_name)?;
        let probe = params.self_signed(&key)?;
        let probe = webpki::EndEntityCert::try_from(probe.der())
            .map_err(|e| PkiError::cert("rebuilt CA certificate", e))?;
        if probe.subject() != cert.subject() {
            return Err(PkiError::NotOrcCertificate(
                "CA subject is not the one orc writes".into(),
            ));
        }
        Ok(ClusterCa {
            cluster_name,
            params,
            key,
            cert_der: cert_der.clone(),
            cert_pem: cert_pem.to_string(),
        })
    }

    /// The CA certificate and the CA private key, both PEM. The key is a
    /// secret: write it only with [`save_ca`](crate::save_ca) (mode 0600).
    pub fn to_pem(&self) -> (String, String) {
        (self.cert_pem.clone(), self.key.serialize_pem())
    }

    /// The CA certificate, PEM (public).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER (public).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The cluster name given to [`generate`](Self::generate).
    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// SHA-256 of the CA certificate's DER, 64 lowercase hex digits: what join
    /// tokens carry so a joiner can recognise the right cluster.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.cert_der)
    }

    /// Issues a certificate and a fresh ECDSA P-256 key for node `node_id`
    /// (1 year, usable as TLS server and client).
    ///
    /// The id and role are written as described in [`identity`](crate::identity).
    /// `hostname` becomes an extra DNS name only if it is a valid DNS name and
    /// does not start with `orc-` (that prefix is reserved for the names orc
    /// verifies, so a node named `orc-manager` cannot pass for a manager);
    /// orc itself never verifies peers by hostname. `ip_sans` become IP names.
    pub fn issue(
        &self,
        node_id: u64,
        role: Role,
        hostname: &str,
        ip_sans: &[IpAddr],
    ) -> Result<NodeCert> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        self.issue_for(node_id, role, hostname, ip_sans, key)
    }

    /// Like [`issue`](Self::issue), for the node's existing key (`key_pem`): a node
    /// whose address changed gets a certificate naming the new IP while its key,
    /// and so the key file, stays as it is.
    pub fn reissue(
        &self,
        node_id: u64,
        role: Role,
        hostname: &str,
        ip_sans: &[IpAddr],
        key_pem: &str,
    ) -> Result<NodeCert> {
        let key = KeyPair::from_pem(key_pem)?;
        self.issue_for(node_id, role, hostname, ip_sans, key)
    }

    fn issue_for(
        &self,
        node_id: u64,
        role: Role,
        hostname: &str,
        ip_sans: &[IpAddr],
        key: KeyPair,
    ) -> Result<NodeCert> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, node_dns_name(node_id));
        dn.push(DnType::OrganizationName, "orc");
        dn.push(DnType::OrganizationalUnitName, role.as_str());
        params.distinguished_name = dn;

        let mut sans = vec![
            SanType::URI(Ia5String::try_from(node_uri(node_id, role))?),
            SanType::DnsName(Ia5String::try_from(node_dns_name(node_id))?),
        ];
        if role == Role::Manager {
            sans.push(SanType::DnsName(Ia5String::try_from(MANAGER_DNS_NAME)?));
        }
        if hostname_usable(hostname) {
            sans.push(SanType::DnsName(Ia5String::try_from(hostname)?));
        }
        sans.extend(ip_sans.iter().map(|ip| SanType::IpAddress(*ip)));
        params.subject_alt_names = sans;

        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - CLOCK_SKEW_ALLOWANCE;
        params.not_after = now + NODE_CERT_VALIDITY;
        params.serial_number = Some(random_serial()?);

        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(NodeCert::new(
            node_id,
            role,
            format!("{}{}", cert.pem(), self.cert_pem),
            key.serialize_pem(),
        ))
    }
}

/// SHA-256 of a DER certificate as 64 lowercase hex digits.
pub fn fingerprint_of(cert_der: &[u8]) -> String {
    hex::encode(Sha256::digest(cert_der))
}

/// The CA's fixed parameters; also the issuer description used when signing.
fn ca_params(cluster_name: &str) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "orc cluster CA");
    dn.push(DnType::OrganizationName, "orc");
    dn.push(DnType::OrganizationalUnitName, cluster_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.subject_alt_names = vec![SanType::URI(Ia5String::try_from(format!(
        "{URI_CLUSTER_PREFIX}{cluster_name}"
    ))?)];
    Ok(params)
}

fn check_cluster_name(name: &str) -> Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidClusterName(name.to_string()))
    }
}

fn hostname_usable(hostname: &str) -> bool {
    !hostname.to_ascii_lowercase().starts_with("orc-")
        && hostname.parse::<IpAddr>().is_err()
        && DnsName::try_from(hostname).is_ok()
}

/// A random positive 128-bit serial number (RFC 5280 allows up to 20 bytes).
fn random_serial() -> Result<SerialNumber> {
    let mut bytes: [u8; 16] = random_bytes()?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // keep it 16 bytes long: no leading zero to strip
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names() {
        assert!(check_cluster_name("home-lab_1.x").is_ok());
        for bad in ["", "a b", "ünï", &"x".repeat(64), "a:b", "a/b"] {
            assert!(check_cluster_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hostnames_in_the_reserved_namespace_are_not_names() {
        assert!(hostname_usable("board-2"));
        assert!(hostname_usable("pi4.lan"));
        assert!(!hostname_usable("orc-manager"));
        assert!(!hostname_usable("ORC-node-0000000000000001"));
        assert!(!hostname_usable("10.0.0.1"));
        assert!(!hostname_usable("bad host"));
        assert!(!hostname_usable(""));
    }
}
