//! X.509 identities: organization CAs that issue Ed25519 certificates and CRLs, and the strict parser
//! that reads them back.
//!
//! Each member organization runs one [`CertificateAuthority`] (a self-signed root, no intermediates). It
//! issues certificates for people and nodes whose subject is `CN=<name>, O=<msp id>, OU=<role>` (the role
//! in the OU, as Fabric's NodeOUs), over an Ed25519 key that the subject generated: the CA only ever sees
//! the public half. It also signs CRLs listing revoked serial numbers.
//!
//! The parser is the ledger's gate for certificates coming from the network or the disk, so it is narrow
//! on purpose: only Ed25519 (key and signature), only v3, serials that fit a `u64`, no trailing bytes, no
//! unknown critical extensions, and nothing larger than [`limits::CERTIFICATE_BYTES_MAX`]. Signatures are
//! checked over the to-be-signed bytes exactly as received; nothing is re-encoded to verify. Trust
//! decisions (which roots, revocation, validity at a time) belong to [`crate::msp`].

use medledger_types::{Role, Signature, limits};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData, RevokedCertParams,
    SerialNumber, SignatureAlgorithm,
};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::OID_SIG_ED25519;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::{AlgorithmIdentifier, X509Name, X509Version};

use crate::keys::{PublicKey, SigningKey};

/// Largest CRL (DER) accepted, in bytes. About 30,000 revoked serials. CRLs travel in the channel
/// configuration, itself bounded by the block size.
pub const CRL_BYTES_MAX: usize = 1024 * 1024;

/// Validity of a root CA certificate: from 2000-01-01 to the end of 9999 (RFC 5280's "no well-defined
/// expiration"). A root is replaced by a channel configuration change, not by expiry.
const ROOT_NOT_BEFORE_UNIX_S: i64 = 946_684_800;
const ROOT_NOT_AFTER_UNIX_S: i64 = 253_402_300_799;

/// Why a certificate or CRL could not be issued, parsed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X509Error {
    #[error("{what} is {len} bytes, more than the {max} allowed")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("malformed DER: {0}")]
    Malformed(String),
    #[error("trailing bytes after the DER structure")]
    TrailingBytes,
    #[error("unsupported X.509 version (only v3)")]
    UnsupportedVersion,
    #[error("unsupported algorithm {0} (only Ed25519)")]
    UnsupportedAlgorithm(String),
    #[error("the signature algorithm inside the signed part differs from the outer one")]
    AlgorithmMismatch,
    #[error("the signature does not verify with the issuer's key")]
    BadSignature,
    #[error("the public key is not a usable Ed25519 key")]
    BadPublicKey,
    #[error("serial number is not a positive integer that fits in 64 bits")]
    SerialOutOfRange,
    #[error("{name}: expected exactly one {attribute} attribute")]
    Attribute {
        name: &'static str,
        attribute: &'static str,
    },
    #[error("organizational unit {0:?} is not a role")]
    UnknownRole(String),
    #[error("unsupported critical extension {0}")]
    UnsupportedCriticalExtension(String),
    #[error("invalid extension: {0}")]
    InvalidExtension(String),
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    #[error("the signing key does not match the CA certificate")]
    KeyMismatch,
    #[error("the certificate is not a CA certificate for this organization: {0}")]
    NotOrgCa(&'static str),
    #[error("rcgen could not build the certificate: {0}")]
    Issue(String),
}

/// What the CA certifies: who (`name`), in which role, holding which key, for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueRequest {
    /// The subject's common name: a person's email or a node's name.
    pub name: String,
    pub role: Role,
    /// The subject's Ed25519 public key; the subject keeps the private half.
    pub public_key: PublicKey,
    /// Unique within the organization; what a CRL names to revoke this certificate.
    pub serial: u64,
    pub not_before_unix_s: i64,
    pub not_after_unix_s: i64,
}

/// One organization's certificate authority: its self-signed root certificate and its key.
#[derive(Debug)]
pub struct CertificateAuthority {
    msp_id: String,
    certificate_der: Vec<u8>,
    key: SigningKey,
    /// The root's subject, key usages and key id method: what rcgen needs to write the issuer of the
    /// certificates and CRLs it signs. Rebuilt by `from_parts` and checked against the stored root.
    params: CertificateParams,
}

impl CertificateAuthority {
    /// A new root CA for `msp_id` (`CN=<msp_id> CA, O=<msp_id>`), self-signed with `key`.
    pub fn new_root(msp_id: &str, key: SigningKey) -> Result<Self, X509Error> {
        check_text(msp_id, "msp id is empty or longer than 255 bytes")?;
        // A random positive serial: roots of different organizations (or a re-keyed root) never share
        // one, which keeps issuer+serial unique as RFC 5280 expects.
        let serial = u64::from_be_bytes(crate::keys::random_bytes::<8>()) >> 1 | 1;
        let params = root_params(msp_id, serial)?;
        let certificate = params
            .self_signed(&RcgenSigner::new(&key))
            .map_err(issue_error)?;
        Ok(CertificateAuthority {
            msp_id: msp_id.to_owned(),
            certificate_der: certificate.der().to_vec(),
            key,
            params,
        })
    }

    /// Reloads a CA from its stored root certificate and key. Refuses a certificate that is not a root
    /// for `msp_id` made by [`CertificateAuthority::new_root`], or whose key is not `key`'s.
    pub fn from_parts(
        msp_id: &str,
        certificate_der: Vec<u8>,
        key: SigningKey,
    ) -> Result<Self, X509Error> {
        let checked = parse_full(&certificate_der)?;
        let info = &checked.info;
        if !info.is_ca {
            return Err(X509Error::NotOrgCa("not a CA"));
        }
        if info.msp_id != msp_id
            || info.issuer_msp_id != msp_id
            || info.name != root_common_name(msp_id)
        {
            return Err(X509Error::NotOrgCa(
                "subject is not CN=<msp id> CA, O=<msp id>",
            ));
        }
        if info.public_key != key.public_key() {
            return Err(X509Error::KeyMismatch);
        }
        if checked.issuer_raw() != checked.subject_raw() {
            return Err(X509Error::NotOrgCa("not self-issued"));
        }
        checked.verify_signed_by(&info.public_key)?;
        let params = root_params(msp_id, info.serial)?;
        // The issuer name of every certificate we sign must be byte-identical to the root's subject. rcgen
        // writes the name from `params`, so write it once and compare with the stored root.
        let probe = params
            .self_signed(&RcgenSigner::new(&key))
            .map_err(issue_error)?;
        let probe = parse_full(probe.der())?;
        if probe.subject_raw() != checked.subject_raw() {
            return Err(X509Error::NotOrgCa(
                "subject encoding differs from the one this CA writes",
            ));
        }
        Ok(CertificateAuthority {
            msp_id: msp_id.to_owned(),
            certificate_der,
            key,
            params,
        })
    }

    pub fn msp_id(&self) -> &str {
        &self.msp_id
    }

    /// The root certificate, DER: what goes into the channel configuration.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Issues a certificate (DER) for `request.public_key`, signed by this CA.
    pub fn issue(&self, request: &IssueRequest) -> Result<Vec<u8>, X509Error> {
        check_text(&request.name, "name is empty or longer than 255 bytes")?;
        if request.not_after_unix_s < request.not_before_unix_s {
            return Err(X509Error::InvalidRequest("not_after is before not_before"));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, request.name.as_str());
        params
            .distinguished_name
            .push(DnType::OrganizationName, self.msp_id.as_str());
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, request.role.as_str());
        params.serial_number = Some(SerialNumber::from(request.serial));
        params.not_before = to_datetime(request.not_before_unix_s)?;
        params.not_after = to_datetime(request.not_after_unix_s)?;
        // An explicit CA:FALSE, so that no verifier can mistake a leaf for a CA.
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_params(&self.params, RcgenSigner::new(&self.key));
        let der = params
            .signed_by(&request.public_key, &issuer)
            .map_err(issue_error)?
            .der()
            .to_vec();
        if der.len() > limits::CERTIFICATE_BYTES_MAX {
            return Err(X509Error::TooLarge {
                what: "certificate",
                len: der.len(),
                max: limits::CERTIFICATE_BYTES_MAX,
            });
        }
        Ok(der)
    }

    /// Signs a certificate with arbitrary parameters: lets tests build certificates that `issue` refuses
    /// to make (wrong O, missing or unknown OU, a second CA...).
    #[cfg(test)]
    pub(crate) fn issue_with_params(
        &self,
        params: &CertificateParams,
        public_key: &PublicKey,
    ) -> Vec<u8> {
        let issuer = Issuer::from_params(&self.params, RcgenSigner::new(&self.key));
        params
            .signed_by(public_key, &issuer)
            .expect("rcgen signs")
            .der()
            .to_vec()
    }

    /// A CRL (DER) numbered `crl_number` revoking `revoked_serials`, signed by this CA. A CRL replaces
    /// the previous one of its CA, so it lists every serial still revoked.
    ///
    /// `nextUpdate` is set to the end of 9999: the ledger does not expire CRLs (a stale CRL still
    /// revokes; un-revoking is not a thing), and RFC 5280 requires the field.
    pub fn revocation_list(
        &self,
        crl_number: u64,
        this_update_unix_s: i64,
        revoked_serials: &[u64],
    ) -> Result<Vec<u8>, X509Error> {
        let this_update = to_datetime(this_update_unix_s)?;
        let mut serials = revoked_serials.to_vec();
        serials.sort_unstable();
        serials.dedup();
        let params = CertificateRevocationListParams {
            this_update,
            next_update: to_datetime(ROOT_NOT_AFTER_UNIX_S)?,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs: serials
                .into_iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(serial),
                    revocation_time: this_update,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let issuer = Issuer::from_params(&self.params, RcgenSigner::new(&self.key));
        let crl = params.signed_by(&issuer).map_err(issue_error)?;
        Ok(crl.der().to_vec())
    }
}

/// What a certificate says, once its structure has been checked. Says nothing about trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCertificate {
    /// The subject's organization (`O=`).
    pub msp_id: String,
    /// The subject's role (`OU=`); `None` for a certificate without OU (a CA's).
    pub role: Option<Role>,
    /// The subject's common name (`CN=`).
    pub name: String,
    pub public_key: PublicKey,
    pub serial: u64,
    /// The issuer's organization (`O=` of the issuer name).
    pub issuer_msp_id: String,
    pub not_before_unix_s: i64,
    pub not_after_unix_s: i64,
    /// `basicConstraints` says CA:TRUE.
    pub is_ca: bool,
}

/// Parses and structurally checks a certificate (see the module documentation for what is refused).
pub fn parse_certificate(der: &[u8]) -> Result<ParsedCertificate, X509Error> {
    parse_full(der).map(|checked| checked.info)
}

/// Checks that `child_der` is signed by `issuer_public_key`: Ed25519 only, over the to-be-signed bytes
/// exactly as they appear in `child_der`.
pub fn verify_issued_by(child_der: &[u8], issuer_public_key: &PublicKey) -> Result<(), X509Error> {
    parse_full(child_der)?.verify_signed_by(issuer_public_key)
}

/// What a CRL says, once its structure has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRevocationList {
    /// The issuer's organization (`O=` of the issuer name).
    pub issuer_msp_id: String,
    pub crl_number: Option<u64>,
    pub this_update_unix_s: i64,
    /// Sorted, without duplicates.
    pub revoked_serials: Vec<u64>,
}

/// Parses and structurally checks a CRL (Ed25519 only, at most [`CRL_BYTES_MAX`], serials fit `u64`).
pub fn parse_revocation_list(der: &[u8]) -> Result<ParsedRevocationList, X509Error> {
    parse_crl_full(der).map(|checked| checked.info)
}

/// Checks that the CRL `crl_der` is signed by `issuer_public_key`, over its to-be-signed bytes as received.
pub fn verify_revocation_list_issued_by(
    crl_der: &[u8],
    issuer_public_key: &PublicKey,
) -> Result<(), X509Error> {
    parse_crl_full(crl_der)?.verify_signed_by(issuer_public_key)
}

/// A parsed certificate with the raw pieces the MSP needs to check the chain without parsing twice.
pub(crate) struct CheckedCertificate<'a> {
    pub(crate) info: ParsedCertificate,
    cert: X509Certificate<'a>,
    signature: Signature,
}

impl<'a> CheckedCertificate<'a> {
    pub(crate) fn verify_signed_by(&self, key: &PublicKey) -> Result<(), X509Error> {
        key.verify(self.cert.tbs_certificate.as_ref(), &self.signature)
            .map_err(|_| X509Error::BadSignature)
    }

    /// The DER of the issuer name, as received.
    pub(crate) fn issuer_raw(&self) -> &'a [u8] {
        self.cert.tbs_certificate.issuer.as_raw()
    }

    /// The DER of the subject name, as received.
    pub(crate) fn subject_raw(&self) -> &'a [u8] {
        self.cert.tbs_certificate.subject.as_raw()
    }
}

pub(crate) fn parse_full(der: &[u8]) -> Result<CheckedCertificate<'_>, X509Error> {
    check_size("certificate", der.len(), limits::CERTIFICATE_BYTES_MAX)?;
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| X509Error::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(X509Error::TrailingBytes);
    }
    if cert.version() != X509Version::V3 {
        return Err(X509Error::UnsupportedVersion);
    }
    check_ed25519(&cert.signature_algorithm)?;
    // RFC 5280 4.1.1.2: the signed copy of the algorithm must equal the outer, unsigned one.
    if cert.tbs_certificate.signature != cert.signature_algorithm {
        return Err(X509Error::AlgorithmMismatch);
    }
    let signature = signature_bytes(&cert.signature_value)?;
    check_canonical_envelope(der, cert.tbs_certificate.as_ref(), &signature)?;

    let spki = cert.public_key();
    check_ed25519(&spki.algorithm)?;
    if spki.subject_public_key.unused_bits != 0 {
        return Err(X509Error::BadPublicKey);
    }
    let key_bytes: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| X509Error::BadPublicKey)?;
    let public_key = PublicKey::from_bytes(key_bytes);
    // Refuse keys that could never verify anything (not a point, or small order) at the gate.
    if !public_key.is_usable() {
        return Err(X509Error::BadPublicKey);
    }

    let mut is_ca = false;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::ParseError { error } => {
                return Err(X509Error::InvalidExtension(format!("{}: {error}", ext.oid)));
            }
            ParsedExtension::UnsupportedExtension { .. } if ext.critical => {
                return Err(X509Error::UnsupportedCriticalExtension(
                    ext.oid.to_id_string(),
                ));
            }
            ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
            _ => {}
        }
    }
    // Fails on a duplicated extension, which the loop above would not notice.
    cert.basic_constraints()
        .map_err(|e| X509Error::InvalidExtension(e.to_string()))?;

    let subject = cert.subject();
    let role = match optional_attribute(subject, "subject", Attr::Ou)? {
        None => None,
        Some(ou) => Some(
            ou.parse::<Role>()
                .map_err(|_| X509Error::UnknownRole(ou.to_owned()))?,
        ),
    };
    let info = ParsedCertificate {
        msp_id: one_attribute(subject, "subject", Attr::O)?.to_owned(),
        role,
        name: one_attribute(subject, "subject", Attr::Cn)?.to_owned(),
        public_key,
        serial: serial_to_u64(cert.raw_serial())?,
        issuer_msp_id: one_attribute(cert.issuer(), "issuer", Attr::O)?.to_owned(),
        not_before_unix_s: cert.validity().not_before.timestamp(),
        not_after_unix_s: cert.validity().not_after.timestamp(),
        is_ca,
    };
    Ok(CheckedCertificate {
        info,
        cert,
        signature,
    })
}

/// A parsed CRL with the raw pieces needed to check who signed it.
pub(crate) struct CheckedRevocationList<'a> {
    pub(crate) info: ParsedRevocationList,
    crl: CertificateRevocationList<'a>,
    signature: Signature,
}

impl<'a> CheckedRevocationList<'a> {
    pub(crate) fn verify_signed_by(&self, key: &PublicKey) -> Result<(), X509Error> {
        key.verify(self.crl.tbs_cert_list.as_ref(), &self.signature)
            .map_err(|_| X509Error::BadSignature)
    }

    /// The DER of the issuer name, as received.
    pub(crate) fn issuer_raw(&self) -> &'a [u8] {
        self.crl.tbs_cert_list.issuer.as_raw()
    }
}

pub(crate) fn parse_crl_full(der: &[u8]) -> Result<CheckedRevocationList<'_>, X509Error> {
    check_size("CRL", der.len(), CRL_BYTES_MAX)?;
    let (rest, crl) = CertificateRevocationList::from_der(der)
        .map_err(|e| X509Error::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(X509Error::TrailingBytes);
    }
    check_ed25519(&crl.signature_algorithm)?;
    if crl.tbs_cert_list.signature != crl.signature_algorithm {
        return Err(X509Error::AlgorithmMismatch);
    }
    let signature = signature_bytes(&crl.signature_value)?;
    check_canonical_envelope(der, crl.tbs_cert_list.as_ref(), &signature)?;
    for ext in crl.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::ParseError { error } => {
                return Err(X509Error::InvalidExtension(format!("{}: {error}", ext.oid)));
            }
            ParsedExtension::UnsupportedExtension { .. } if ext.critical => {
                return Err(X509Error::UnsupportedCriticalExtension(
                    ext.oid.to_id_string(),
                ));
            }
            _ => {}
        }
    }
    let mut revoked_serials = crl
        .iter_revoked_certificates()
        .map(|revoked| serial_to_u64(revoked.raw_serial()))
        .collect::<Result<Vec<u64>, _>>()?;
    revoked_serials.sort_unstable();
    revoked_serials.dedup();
    let crl_number = match crl.crl_number() {
        None => None,
        Some(n) => Some(u64::try_from(n).map_err(|_| X509Error::SerialOutOfRange)?),
    };
    let info = ParsedRevocationList {
        issuer_msp_id: one_attribute(crl.issuer(), "CRL issuer", Attr::O)?.to_owned(),
        crl_number,
        this_update_unix_s: crl.last_update().timestamp(),
        revoked_serials,
    };
    Ok(CheckedRevocationList {
        info,
        crl,
        signature,
    })
}

/// The common name of an organization's root: `<msp_id> CA`.
fn root_common_name(msp_id: &str) -> String {
    format!("{msp_id} CA")
}

/// The parameters of a root, from which rcgen writes the root itself and the issuer of what it signs.
fn root_params(msp_id: &str, serial: u64) -> Result<CertificateParams, X509Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, root_common_name(msp_id));
    params
        .distinguished_name
        .push(DnType::OrganizationName, msp_id);
    params.serial_number = Some(SerialNumber::from(serial));
    params.not_before = to_datetime(ROOT_NOT_BEFORE_UNIX_S)?;
    params.not_after = to_datetime(ROOT_NOT_AFTER_UNIX_S)?;
    // Path length 0: an organization CA signs leaves only, never intermediate CAs.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.key_identifier_method = KeyIdMethod::Sha256;
    Ok(params)
}

fn check_text(text: &str, error: &'static str) -> Result<(), X509Error> {
    if text.is_empty() || text.len() > limits::SHORT_TEXT_BYTES_MAX {
        return Err(X509Error::InvalidRequest(error));
    }
    Ok(())
}

fn check_size(what: &'static str, len: usize, max: usize) -> Result<(), X509Error> {
    if len > max {
        return Err(X509Error::TooLarge { what, len, max });
    }
    Ok(())
}

fn to_datetime(unix_s: i64) -> Result<OffsetDateTime, X509Error> {
    OffsetDateTime::from_unix_timestamp(unix_s)
        .map_err(|_| X509Error::InvalidRequest("time out of range"))
}

fn issue_error(e: rcgen::Error) -> X509Error {
    X509Error::Issue(e.to_string())
}

/// DER of the Ed25519 AlgorithmIdentifier: SEQUENCE { OID 1.3.101.112 }, no parameters (RFC 8410).
const ED25519_ALGORITHM_DER: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];

/// Requires the unsigned outer layer of a certificate or CRL — `SEQUENCE { tbs, algorithm, BIT STRING
/// signature }` — to be exactly the one DER encoding of what was signed. Without this, a lenient parser
/// accepts variants of the unsigned bytes (seen: a wrong tag on the outer algorithm's OID), and one
/// signed certificate gets several encodings, hence several certificate hashes for one identity.
fn check_canonical_envelope(
    der: &[u8],
    tbs: &[u8],
    signature: &Signature,
) -> Result<(), X509Error> {
    let content_len = tbs.len() + ED25519_ALGORITHM_DER.len() + 3 + signature.0.len();
    let mut expected = Vec::with_capacity(content_len + 6);
    expected.push(0x30);
    match content_len {
        0..=0x7f => expected.push(content_len as u8),
        0x80..=0xff => expected.extend([0x81, content_len as u8]),
        0x100..=0xffff => expected.extend([0x82, (content_len >> 8) as u8, content_len as u8]),
        _ => expected.extend([
            0x83,
            (content_len >> 16) as u8,
            (content_len >> 8) as u8,
            content_len as u8,
        ]),
    }
    expected.extend_from_slice(tbs);
    expected.extend_from_slice(&ED25519_ALGORITHM_DER);
    expected.extend([0x03, 0x41, 0x00]);
    expected.extend_from_slice(&signature.0);
    if der != expected.as_slice() {
        return Err(X509Error::Malformed(
            "not the canonical DER encoding of its signed content".into(),
        ));
    }
    Ok(())
}

/// Ed25519 (RFC 8410): the OID and no parameters at all (not even NULL).
fn check_ed25519(alg: &AlgorithmIdentifier<'_>) -> Result<(), X509Error> {
    if alg.algorithm != OID_SIG_ED25519 || alg.parameters.is_some() {
        return Err(X509Error::UnsupportedAlgorithm(
            alg.algorithm.to_id_string(),
        ));
    }
    Ok(())
}

fn signature_bytes(
    value: &x509_parser::der_parser::asn1_rs::BitString<'_>,
) -> Result<Signature, X509Error> {
    if value.unused_bits != 0 {
        return Err(X509Error::BadSignature);
    }
    let bytes: [u8; 64] = value
        .data
        .as_ref()
        .try_into()
        .map_err(|_| X509Error::BadSignature)?;
    Ok(Signature(bytes))
}

/// A DER INTEGER's content octets as a `u64`: positive (RFC 5280 4.1.2.2), at most 8 significant bytes.
fn serial_to_u64(raw: &[u8]) -> Result<u64, X509Error> {
    // A negative number has its top bit set; DER allows one leading 0x00 to keep a positive one positive.
    if raw.first().is_none_or(|b| b & 0x80 != 0) {
        return Err(X509Error::SerialOutOfRange);
    }
    let significant = match raw {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => raw,
    };
    if significant.len() > 8 {
        return Err(X509Error::SerialOutOfRange);
    }
    Ok(significant
        .iter()
        .fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
}

#[derive(Clone, Copy)]
enum Attr {
    Cn,
    O,
    Ou,
}

impl Attr {
    fn label(self) -> &'static str {
        match self {
            Attr::Cn => "CN",
            Attr::O => "O",
            Attr::Ou => "OU",
        }
    }
}

/// The single value of `attr` in `name`, if any; an error if it appears twice or is not a string.
fn optional_attribute<'a>(
    name: &X509Name<'a>,
    which: &'static str,
    attr: Attr,
) -> Result<Option<&'a str>, X509Error> {
    let error = || X509Error::Attribute {
        name: which,
        attribute: attr.label(),
    };
    let mut values = match attr {
        Attr::Cn => name.iter_common_name().collect::<Vec<_>>(),
        Attr::O => name.iter_organization().collect(),
        Attr::Ou => name.iter_organizational_unit().collect(),
    };
    match values.len() {
        0 => Ok(None),
        1 => values
            .pop()
            .map(|v| v.as_str().map_err(|_| error()))
            .transpose(),
        _ => Err(error()),
    }
}

fn one_attribute<'a>(
    name: &X509Name<'a>,
    which: &'static str,
    attr: Attr,
) -> Result<&'a str, X509Error> {
    optional_attribute(name, which, attr)?.ok_or(X509Error::Attribute {
        name: which,
        attribute: attr.label(),
    })
}

/// Lets rcgen sign with our Ed25519 key: rcgen asks for the public key (raw 32 bytes, as RFC 8410 puts it
/// in the SubjectPublicKeyInfo) and for signatures over the bytes it has encoded.
struct RcgenSigner<'a> {
    key: &'a SigningKey,
    public: PublicKey,
}

impl<'a> RcgenSigner<'a> {
    fn new(key: &'a SigningKey) -> Self {
        RcgenSigner {
            key,
            public: key.public_key(),
        }
    }
}

impl PublicKeyData for RcgenSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.public.as_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for RcgenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.key.sign(msg).0.to_vec())
    }
}

/// A subject's public key, for rcgen to put in the certificate it issues.
impl PublicKeyData for PublicKey {
    fn der_bytes(&self) -> &[u8] {
        self.as_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// 2027-01-15T08:00:00Z and one year later.
    const NOT_BEFORE: i64 = 1_800_000_000;
    const NOT_AFTER: i64 = NOT_BEFORE + 365 * 24 * 3600;

    fn request(name: &str, role: Role, key: &SigningKey, serial: u64) -> IssueRequest {
        IssueRequest {
            name: name.to_owned(),
            role,
            public_key: key.public_key(),
            serial,
            not_before_unix_s: NOT_BEFORE,
            not_after_unix_s: NOT_AFTER,
        }
    }

    fn org1_with_doctor() -> (CertificateAuthority, SigningKey, Vec<u8>) {
        let ca = CertificateAuthority::new_root("Org1", SigningKey::generate()).expect("root");
        let doctor = SigningKey::generate();
        let der = ca
            .issue(&request("alice@org1.example", Role::Doctor, &doctor, 42))
            .expect("issue");
        (ca, doctor, der)
    }

    #[test]
    fn every_role_round_trips_through_a_certificate() {
        let ca = CertificateAuthority::new_root("Org1", SigningKey::generate()).expect("root");
        for (serial, role) in (1u64..).zip(Role::ALL) {
            let key = SigningKey::generate();
            let name = format!("{role}-{serial}@org1.example");
            let der = ca
                .issue(&request(&name, role, &key, serial))
                .expect("issue");
            assert!(der.len() <= limits::CERTIFICATE_BYTES_MAX);
            let parsed = parse_certificate(&der).expect("parse");
            assert_eq!(
                parsed,
                ParsedCertificate {
                    msp_id: "Org1".into(),
                    role: Some(role),
                    name,
                    public_key: key.public_key(),
                    serial,
                    issuer_msp_id: "Org1".into(),
                    not_before_unix_s: NOT_BEFORE,
                    not_after_unix_s: NOT_AFTER,
                    is_ca: false,
                }
            );
            verify_issued_by(&der, &ca.key().public_key()).expect("signed by the CA");
        }
    }

    #[test]
    fn the_subjects_signature_verifies_with_the_parsed_key() {
        let (_, doctor, der) = org1_with_doctor();
        let parsed = parse_certificate(&der).expect("parse");
        let sig = doctor.sign(b"proposal bytes");
        assert_eq!(parsed.public_key.verify(b"proposal bytes", &sig), Ok(()));
        assert!(parsed.public_key.verify(b"other bytes", &sig).is_err());
    }

    #[test]
    fn root_certificate_describes_its_organization() {
        let key = SigningKey::generate();
        let ca = CertificateAuthority::new_root("Org1", key.clone()).expect("root");
        let root = parse_certificate(ca.certificate_der()).expect("parse root");
        assert!(root.is_ca);
        assert_eq!(root.msp_id, "Org1");
        assert_eq!(root.issuer_msp_id, "Org1");
        assert_eq!(root.name, "Org1 CA");
        assert_eq!(root.role, None);
        assert_eq!(root.public_key, key.public_key());
        assert_eq!(root.not_before_unix_s, ROOT_NOT_BEFORE_UNIX_S);
        assert_eq!(root.not_after_unix_s, ROOT_NOT_AFTER_UNIX_S);
        verify_issued_by(ca.certificate_der(), &key.public_key()).expect("self-signed");
    }

    #[test]
    fn another_cas_key_does_not_verify() {
        let (_, _, der) = org1_with_doctor();
        let other = CertificateAuthority::new_root("Org1", SigningKey::generate()).expect("root");
        assert_eq!(
            verify_issued_by(&der, &other.key().public_key()),
            Err(X509Error::BadSignature)
        );
    }

    #[test]
    fn tampered_signature_or_tbs_does_not_verify() {
        let (ca, _, der) = org1_with_doctor();
        let ca_key = ca.key().public_key();
        // The signature is the last 64 bytes.
        let mut bad_sig = der.clone();
        let last = bad_sig.len() - 1;
        bad_sig[last] ^= 0x01;
        assert_eq!(
            verify_issued_by(&bad_sig, &ca_key),
            Err(X509Error::BadSignature)
        );
        // Change a letter of the subject's name inside the TBS: still parses, no longer verifies.
        let at = der
            .windows(5)
            .position(|w| w == b"alice")
            .expect("name in DER");
        let mut bad_tbs = der.clone();
        bad_tbs[at] = b'm';
        let parsed = parse_certificate(&bad_tbs).expect("still well-formed");
        assert_eq!(parsed.name, "mlice@org1.example");
        assert_eq!(
            verify_issued_by(&bad_tbs, &ca_key),
            Err(X509Error::BadSignature)
        );
    }

    #[test]
    fn ca_reloads_from_parts_and_keeps_issuing_the_same_way() {
        let key = SigningKey::generate();
        let ca = CertificateAuthority::new_root("Org1", key.clone()).expect("root");
        let again =
            CertificateAuthority::from_parts("Org1", ca.certificate_der().to_vec(), key.clone())
                .expect("reload");
        let subject = SigningKey::generate();
        let der = again
            .issue(&request("bob", Role::Peer, &subject, 7))
            .expect("issue");
        verify_issued_by(&der, &key.public_key()).expect("verifies with the original key");
        // Same issuer name bytes as certificates of the original CA.
        let original = ca
            .issue(&request("bob", Role::Peer, &subject, 7))
            .expect("issue");
        assert_eq!(
            parse_full(&der).expect("p").issuer_raw(),
            parse_full(&original).expect("p").issuer_raw()
        );
        assert_eq!(
            der, original,
            "Ed25519 is deterministic and so is rcgen's encoding"
        );

        assert_eq!(
            CertificateAuthority::from_parts(
                "Org1",
                ca.certificate_der().to_vec(),
                SigningKey::generate()
            )
            .err(),
            Some(X509Error::KeyMismatch)
        );
        assert!(matches!(
            CertificateAuthority::from_parts("Org2", ca.certificate_der().to_vec(), key.clone()),
            Err(X509Error::NotOrgCa(_))
        ));
        assert!(matches!(
            CertificateAuthority::from_parts("Org1", der, subject),
            Err(X509Error::NotOrgCa(_))
        ));
    }

    #[test]
    fn revocation_list_round_trips() {
        let (ca, _, _) = org1_with_doctor();
        let crl = ca
            .revocation_list(3, NOT_BEFORE + 100, &[9, 2, u64::MAX, 9])
            .expect("crl");
        let parsed = parse_revocation_list(&crl).expect("parse");
        assert_eq!(
            parsed,
            ParsedRevocationList {
                issuer_msp_id: "Org1".into(),
                crl_number: Some(3),
                this_update_unix_s: NOT_BEFORE + 100,
                revoked_serials: vec![2, 9, u64::MAX],
            }
        );
        verify_revocation_list_issued_by(&crl, &ca.key().public_key()).expect("signed by the CA");
        let other = SigningKey::generate().public_key();
        assert_eq!(
            verify_revocation_list_issued_by(&crl, &other),
            Err(X509Error::BadSignature)
        );
        let empty = ca.revocation_list(4, NOT_BEFORE, &[]).expect("empty crl");
        assert_eq!(
            parse_revocation_list(&empty)
                .expect("parse")
                .revoked_serials,
            Vec::<u64>::new()
        );
        // A certificate is not a CRL and the reverse.
        assert!(parse_revocation_list(ca.certificate_der()).is_err());
        assert!(parse_certificate(&crl).is_err());
    }

    #[test]
    fn extreme_serials_round_trip() {
        let ca = CertificateAuthority::new_root("Org1", SigningKey::generate()).expect("root");
        for serial in [0, 1, 0x7f, 0x80, 0xff, 0x100, u64::MAX >> 1, u64::MAX] {
            let der = ca
                .issue(&request("n", Role::Client, &SigningKey::generate(), serial))
                .expect("issue");
            assert_eq!(parse_certificate(&der).expect("parse").serial, serial);
        }
    }

    #[test]
    fn serial_decoding() {
        assert_eq!(serial_to_u64(&[0]), Ok(0));
        assert_eq!(serial_to_u64(&[0x7f]), Ok(0x7f));
        assert_eq!(serial_to_u64(&[0, 0x80]), Ok(0x80));
        assert_eq!(
            serial_to_u64(&[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Ok(u64::MAX)
        );
        assert_eq!(serial_to_u64(&[]), Err(X509Error::SerialOutOfRange));
        assert_eq!(
            serial_to_u64(&[0x80]),
            Err(X509Error::SerialOutOfRange),
            "negative"
        );
        assert_eq!(
            serial_to_u64(&[1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(X509Error::SerialOutOfRange),
            "65 bits"
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        let ca = CertificateAuthority::new_root("Org1", SigningKey::generate()).expect("root");
        let key = SigningKey::generate();
        let mut r = request("", Role::Doctor, &key, 1);
        assert!(matches!(ca.issue(&r), Err(X509Error::InvalidRequest(_))));
        r.name = "x".repeat(limits::SHORT_TEXT_BYTES_MAX + 1);
        assert!(matches!(ca.issue(&r), Err(X509Error::InvalidRequest(_))));
        r.name = "ok".into();
        r.not_after_unix_s = r.not_before_unix_s - 1;
        assert!(matches!(ca.issue(&r), Err(X509Error::InvalidRequest(_))));
        r.not_after_unix_s = i64::MAX;
        assert!(matches!(ca.issue(&r), Err(X509Error::InvalidRequest(_))));
        assert!(matches!(
            CertificateAuthority::new_root("", SigningKey::generate()),
            Err(X509Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn subject_rules_are_enforced_by_the_parser() {
        let ca = CertificateAuthority::new_root("Org1", SigningKey::generate()).expect("root");
        let key = SigningKey::generate().public_key();
        let leaf = |dn: &[(DnType, &str)]| {
            let mut params = CertificateParams::default();
            params.distinguished_name = DistinguishedName::new();
            for (ty, value) in dn {
                params.distinguished_name.push(ty.clone(), *value);
            }
            params.serial_number = Some(SerialNumber::from(5u64));
            ca.issue_with_params(&params, &key)
        };
        let unknown_ou = leaf(&[
            (DnType::CommonName, "x"),
            (DnType::OrganizationName, "Org1"),
            (DnType::OrganizationalUnitName, "nurse"),
        ]);
        assert_eq!(
            parse_certificate(&unknown_ou),
            Err(X509Error::UnknownRole("nurse".into()))
        );
        // (rcgen cannot write an attribute twice, so "exactly one" is covered by `one_attribute`'s use of
        // the count, not by a certificate here.)
        let no_cn = leaf(&[
            (DnType::OrganizationName, "Org1"),
            (DnType::OrganizationalUnitName, "doctor"),
        ]);
        assert!(matches!(
            parse_certificate(&no_cn),
            Err(X509Error::Attribute {
                attribute: "CN",
                ..
            })
        ));
        let no_o = leaf(&[
            (DnType::CommonName, "x"),
            (DnType::OrganizationalUnitName, "doctor"),
        ]);
        assert!(matches!(
            parse_certificate(&no_o),
            Err(X509Error::Attribute { attribute: "O", .. })
        ));
        let no_ou = leaf(&[
            (DnType::CommonName, "x"),
            (DnType::OrganizationName, "Org1"),
        ]);
        assert_eq!(parse_certificate(&no_ou).expect("parses").role, None);
    }

    #[test]
    fn non_ed25519_certificates_are_refused() {
        // rcgen's default key is ECDSA P-256.
        let ecdsa = rcgen::KeyPair::generate().expect("p256 key");
        let cert = CertificateParams::new(vec!["node1".to_owned()])
            .expect("params")
            .self_signed(&ecdsa)
            .expect("cert");
        assert!(matches!(
            parse_certificate(cert.der()),
            Err(X509Error::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            verify_issued_by(cert.der(), &SigningKey::generate().public_key()),
            Err(X509Error::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn size_limit_and_trailing_bytes() {
        let (_, _, der) = org1_with_doctor();
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(parse_certificate(&trailing), Err(X509Error::TrailingBytes));
        let huge = vec![0x30; limits::CERTIFICATE_BYTES_MAX + 1];
        assert!(matches!(
            parse_certificate(&huge),
            Err(X509Error::TooLarge { .. })
        ));
        assert!(matches!(
            verify_issued_by(&huge, &SigningKey::generate().public_key()),
            Err(X509Error::TooLarge { .. })
        ));
        assert!(parse_certificate(&[]).is_err());
    }

    proptest! {
        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            prop_assert!(parse_certificate(&bytes).is_err());
            prop_assert!(parse_revocation_list(&bytes).is_err());
        }

        #[test]
        fn garbage_behind_a_sequence_header_is_an_error(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
            // A plausible outer SEQUENCE so that the parser gets past the first byte.
            let mut der = vec![0x30, 0x82, (body.len() >> 8) as u8, body.len() as u8];
            der.extend_from_slice(&body);
            prop_assert!(parse_certificate(&der).is_err());
            prop_assert!(parse_revocation_list(&der).is_err());
        }
    }

    #[test]
    fn every_truncation_of_a_real_certificate_and_crl_is_an_error() {
        let (ca, _, der) = org1_with_doctor();
        for len in 0..der.len() {
            assert!(
                parse_certificate(&der[..len]).is_err(),
                "truncated to {len}"
            );
            assert!(verify_issued_by(&der[..len], &ca.key().public_key()).is_err());
        }
        let crl = ca.revocation_list(1, NOT_BEFORE, &[1, 2, 3]).expect("crl");
        for len in 0..crl.len() {
            assert!(
                parse_revocation_list(&crl[..len]).is_err(),
                "truncated to {len}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn any_single_byte_change_fails_verification(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
            let (ca, _, der) = fixture();
            let mut changed = der.clone();
            let at = pos.index(changed.len());
            changed[at] ^= xor;
            prop_assert!(verify_issued_by(&changed, &ca.key().public_key()).is_err(), "at {at} of {}: {:02x?}", der.len(), &der[at.saturating_sub(6)..(at + 6).min(der.len())]);
            // Parsing may succeed (a changed letter) or fail; it never panics.
            let _ = parse_certificate(&changed);
        }
    }

    /// One CA and certificate for all proptest cases (issuing per case would dominate the run time).
    fn fixture() -> &'static (CertificateAuthority, SigningKey, Vec<u8>) {
        static FIXTURE: std::sync::OnceLock<(CertificateAuthority, SigningKey, Vec<u8>)> =
            std::sync::OnceLock::new();
        FIXTURE.get_or_init(org1_with_doctor)
    }
}
