//! The membership service provider: who is a member of the channel, and in which role.
//!
//! An [`Msp`] is built from the channel configuration's trust anchors (one self-signed root CA per
//! organization, plus the CRLs that root signed) and answers one question for the peer, the orderer and
//! the gateway: "is this certificate a current member's, and who is it?" ([`Msp::validate`]). The answer
//! is an [`Identity`] (organization, role, name, certificate hash, key, serial) or an [`IdentityError`]
//! that the peer maps to the validation codes `UnknownCertificate` and `RevokedCertificate`.
//!
//! Performance: at 5,000 transactions per second with two or more certificates each, parsing and
//! verifying every certificate would cost a core. The same few thousand certificates come back again and
//! again, so the outcome of the expensive, time-independent part (parse, issuer, signature, subject
//! rules) is cached by the certificate's SHA-256. The cheap, time- and revocation-dependent part (validity
//! window, CRLs) is checked on every call, so a cache hit is never stale. The cache is bounded by
//! [`IDENTITY_CACHE_COUNT_MAX`] and simply cleared when full.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use medledger_types::{ChannelConfig, Hash, OrgConfig, Role, Signer, limits};

use crate::keys::PublicKey;
use crate::x509::{X509Error, parse_crl_full, parse_full};

/// Most validated certificates remembered by one [`Msp`]; the cache is cleared when it is full.
pub const IDENTITY_CACHE_COUNT_MAX: usize = 10_000;

/// A validated member: who signed, with which key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Organization, role and name from the certificate's subject; the hash of its DER.
    pub signer: Signer,
    pub public_key: PublicKey,
    pub serial: u64,
}

/// Why a certificate is not a current member's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not issued by a member organization's root, malformed, outside its validity window, a CA, or
    /// breaking the subject rules. The string says which, for logs; do not match on it.
    #[error("unknown certificate: {0}")]
    Unknown(String),
    /// Issued by a member organization, and listed on that organization's CRL.
    #[error("certificate serial {serial} is revoked by its organization")]
    Revoked { serial: u64 },
}

/// Why a channel configuration's trust anchors (or a new CRL) were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MspError {
    #[error("the channel configuration names no organization")]
    NoOrganizations,
    #[error("organization {0} appears twice")]
    DuplicateOrganization(String),
    #[error("no organization {0}")]
    UnknownOrganization(String),
    #[error("organization {msp_id}: root certificate: {source}")]
    RootCertificate { msp_id: String, source: X509Error },
    #[error("organization {msp_id}: root certificate refused: {reason}")]
    BadRoot {
        msp_id: String,
        reason: &'static str,
    },
    #[error("organization {msp_id}: CRL {index}: {source}")]
    RevocationList {
        msp_id: String,
        index: usize,
        source: X509Error,
    },
    #[error("organization {msp_id}: CRL {index} is not signed by the organization's root")]
    RevocationListIssuer { msp_id: String, index: usize },
    #[error("orderer certificate {index}: {reason}")]
    Orderer { index: usize, reason: String },
}

/// The trust anchors of a channel, with a cache of validated certificates. `Send + Sync`: share it
/// behind an `Arc`; replace it (not mutate it) when the configuration changes.
pub struct Msp {
    orgs: BTreeMap<String, Org>,
    /// SHA-256 of each certificate in `ChannelConfig::orderers`.
    orderers: HashSet<Hash>,
    cache: RwLock<HashMap<Hash, Arc<Chained>>>,
}

/// One member organization's root and revocations.
#[derive(Clone)]
struct Org {
    root_certificate: Vec<u8>,
    root_key: PublicKey,
    /// The root's subject name, DER as in the root: the issuer name its certificates must carry.
    root_subject: Vec<u8>,
    root_not_before_unix_s: i64,
    root_not_after_unix_s: i64,
    crls: Vec<Vec<u8>>,
    /// Union of the serials on `crls`: revocation is permanent, so an older CRL still counts.
    revoked: HashSet<u64>,
}

/// The time-independent facts about a certificate that chained to a member root.
struct Chained {
    identity: Identity,
    not_before_unix_s: i64,
    not_after_unix_s: i64,
}

impl Msp {
    /// Builds the MSP from a channel configuration: every org's root must be a self-signed CA whose
    /// `O=` is the org's MSP id; every CRL must be signed by that root; every orderer certificate must
    /// chain to a member root and carry the orderer role.
    pub fn from_config(config: &ChannelConfig) -> Result<Msp, MspError> {
        if config.orgs.is_empty() {
            return Err(MspError::NoOrganizations);
        }
        let mut orgs = BTreeMap::new();
        for org_config in &config.orgs {
            let msp_id = &org_config.msp_id;
            let mut org = Org::from_root(msp_id, &org_config.root_certificate)?;
            for (index, crl) in org_config.crls.iter().enumerate() {
                org.add_crl(msp_id, index, crl)?;
            }
            if orgs.insert(msp_id.clone(), org).is_some() {
                return Err(MspError::DuplicateOrganization(msp_id.clone()));
            }
        }
        let mut msp = Msp {
            orgs,
            orderers: HashSet::new(),
            cache: RwLock::new(HashMap::new()),
        };
        for (index, der) in config.orderers.iter().enumerate() {
            let chained = msp
                .chain(der, crate::sha256(der))
                .map_err(|e| MspError::Orderer {
                    index,
                    reason: e.to_string(),
                })?;
            if chained.identity.signer.role != Role::Orderer {
                return Err(MspError::Orderer {
                    index,
                    reason: format!("role is {}", chained.identity.signer.role),
                });
            }
            msp.orderers
                .insert(chained.identity.signer.certificate_hash);
        }
        Ok(msp)
    }

    /// A copy of this MSP with one more CRL for `msp_id` (checked as in [`Msp::from_config`]). The
    /// cache is carried over: a CRL changes only the per-call revocation check.
    pub fn with_crl(&self, msp_id: &str, crl_der: &[u8]) -> Result<Msp, MspError> {
        let mut orgs = self.orgs.clone();
        let org = orgs
            .get_mut(msp_id)
            .ok_or_else(|| MspError::UnknownOrganization(msp_id.to_owned()))?;
        let index = org.crls.len();
        org.add_crl(msp_id, index, crl_der)?;
        let cache = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok(Msp {
            orgs,
            orderers: self.orderers.clone(),
            cache: RwLock::new(cache),
        })
    }

    /// The organizations as they would be written back into a [`ChannelConfig`] (CRLs included, e.g.
    /// after [`Msp::with_crl`]), sorted by MSP id.
    pub fn org_configs(&self) -> Vec<OrgConfig> {
        self.orgs
            .iter()
            .map(|(msp_id, org)| OrgConfig {
                msp_id: msp_id.clone(),
                root_certificate: org.root_certificate.clone(),
                crls: org.crls.clone(),
            })
            .collect()
    }

    /// The member organizations' MSP ids, sorted.
    pub fn msp_ids(&self) -> impl Iterator<Item = &str> {
        self.orgs.keys().map(String::as_str)
    }

    /// The public key of `msp_id`'s root CA.
    pub fn root_public_key(&self, msp_id: &str) -> Option<PublicKey> {
        self.orgs.get(msp_id).map(|org| org.root_key)
    }

    /// Whether `msp_id` has revoked `serial`.
    pub fn is_revoked(&self, msp_id: &str, serial: u64) -> bool {
        self.orgs
            .get(msp_id)
            .is_some_and(|org| org.revoked.contains(&serial))
    }

    /// Validates a member's certificate at `at_unix_ms` (the transaction's or block's time, never the
    /// local clock, so that every peer reaches the same verdict): issued by a member root (exact issuer
    /// name and Ed25519 signature), same organization as that root, not a CA, a known role in the OU,
    /// within its and its root's validity window, and not revoked.
    pub fn validate(
        &self,
        certificate_der: &[u8],
        at_unix_ms: i64,
    ) -> Result<Identity, IdentityError> {
        // Refuse before hashing: the size limit bounds the work done for an unknown certificate.
        if certificate_der.len() > limits::CERTIFICATE_BYTES_MAX {
            return Err(IdentityError::Unknown(format!(
                "certificate is {} bytes, more than the {} allowed",
                certificate_der.len(),
                limits::CERTIFICATE_BYTES_MAX
            )));
        }
        let hash = crate::sha256(certificate_der);
        let cached = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&hash)
            .cloned();
        let chained = match cached {
            Some(chained) => chained,
            None => {
                let chained = Arc::new(self.chain(certificate_der, hash)?);
                let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
                if cache.len() >= IDENTITY_CACHE_COUNT_MAX {
                    cache.clear();
                }
                cache.insert(hash, Arc::clone(&chained));
                chained
            }
        };
        self.check_current(&chained, at_unix_ms)?;
        Ok(chained.identity.clone())
    }

    /// [`Msp::validate`], and the certificate must be one of the channel configuration's orderers.
    pub fn validate_orderer(
        &self,
        certificate_der: &[u8],
        at_unix_ms: i64,
    ) -> Result<Identity, IdentityError> {
        let identity = self.validate(certificate_der, at_unix_ms)?;
        if !self.orderers.contains(&identity.signer.certificate_hash) {
            return Err(IdentityError::Unknown(
                "not one of the channel's orderers".to_owned(),
            ));
        }
        Ok(identity)
    }

    /// The time-independent checks: what the cache remembers.
    fn chain(&self, der: &[u8], hash: Hash) -> Result<Chained, IdentityError> {
        let unknown = |reason: String| IdentityError::Unknown(reason);
        let cert = parse_full(der).map_err(|e| unknown(e.to_string()))?;
        let info = &cert.info;
        let org = self.orgs.get(&info.issuer_msp_id).ok_or_else(|| {
            unknown(format!(
                "issuer organization {:?} is not a member",
                info.issuer_msp_id
            ))
        })?;
        if cert.issuer_raw() != org.root_subject.as_slice() {
            return Err(unknown(format!(
                "issuer name is not {}'s root",
                info.issuer_msp_id
            )));
        }
        cert.verify_signed_by(&org.root_key).map_err(|_| {
            unknown(format!(
                "signature does not verify with {}'s root key",
                info.issuer_msp_id
            ))
        })?;
        if info.msp_id != info.issuer_msp_id {
            return Err(unknown(format!(
                "subject organization {:?} differs from issuer organization {:?}",
                info.msp_id, info.issuer_msp_id
            )));
        }
        if info.is_ca {
            return Err(unknown(
                "a CA certificate cannot act as a member".to_owned(),
            ));
        }
        let role = info
            .role
            .ok_or_else(|| unknown("no role (OU) in the subject".to_owned()))?;
        if info.name.is_empty() {
            return Err(unknown("empty common name".to_owned()));
        }
        Ok(Chained {
            identity: Identity {
                signer: Signer {
                    org: info.msp_id.clone(),
                    role,
                    name: info.name.clone(),
                    certificate_hash: hash,
                },
                public_key: info.public_key,
                serial: info.serial,
            },
            not_before_unix_s: info.not_before_unix_s,
            not_after_unix_s: info.not_after_unix_s,
        })
    }

    /// The per-call checks: revocation, then the certificate's and its root's validity windows.
    fn check_current(&self, chained: &Chained, at_unix_ms: i64) -> Result<(), IdentityError> {
        let identity = &chained.identity;
        let org = self.orgs.get(&identity.signer.org).ok_or_else(|| {
            IdentityError::Unknown("organization is no longer a member".to_owned())
        })?;
        // Revocation first: a revoked certificate says more than an expired one.
        if org.revoked.contains(&identity.serial) {
            return Err(IdentityError::Revoked {
                serial: identity.serial,
            });
        }
        if !within(
            at_unix_ms,
            chained.not_before_unix_s,
            chained.not_after_unix_s,
        ) {
            return Err(IdentityError::Unknown(format!(
                "not valid at {at_unix_ms} ms (valid from {} s to {} s)",
                chained.not_before_unix_s, chained.not_after_unix_s
            )));
        }
        if !within(
            at_unix_ms,
            org.root_not_before_unix_s,
            org.root_not_after_unix_s,
        ) {
            return Err(IdentityError::Unknown(format!(
                "{}'s root is not valid at {at_unix_ms} ms",
                identity.signer.org
            )));
        }
        Ok(())
    }
}

impl fmt::Debug for Msp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Msp")
            .field("orgs", &self.orgs.keys().collect::<Vec<_>>())
            .field("orderers", &self.orderers.len())
            .field("cached", &cached)
            .finish()
    }
}

impl Org {
    fn from_root(msp_id: &str, der: &[u8]) -> Result<Org, MspError> {
        let bad = |reason| MspError::BadRoot {
            msp_id: msp_id.to_owned(),
            reason,
        };
        let root = parse_full(der).map_err(|source| MspError::RootCertificate {
            msp_id: msp_id.to_owned(),
            source,
        })?;
        let info = &root.info;
        if !info.is_ca {
            return Err(bad("not a CA certificate"));
        }
        if info.msp_id != msp_id {
            return Err(bad("its O= is not the organization's MSP id"));
        }
        if root.issuer_raw() != root.subject_raw() {
            return Err(bad("not self-issued"));
        }
        root.verify_signed_by(&info.public_key)
            .map_err(|_| bad("not self-signed"))?;
        Ok(Org {
            root_certificate: der.to_vec(),
            root_key: info.public_key,
            root_subject: root.subject_raw().to_vec(),
            root_not_before_unix_s: info.not_before_unix_s,
            root_not_after_unix_s: info.not_after_unix_s,
            crls: Vec::new(),
            revoked: HashSet::new(),
        })
    }

    fn add_crl(&mut self, msp_id: &str, index: usize, der: &[u8]) -> Result<(), MspError> {
        let crl = parse_crl_full(der).map_err(|source| MspError::RevocationList {
            msp_id: msp_id.to_owned(),
            index,
            source,
        })?;
        if crl.issuer_raw() != self.root_subject.as_slice()
            || crl.verify_signed_by(&self.root_key).is_err()
        {
            return Err(MspError::RevocationListIssuer {
                msp_id: msp_id.to_owned(),
                index,
            });
        }
        self.revoked
            .extend(crl.info.revoked_serials.iter().copied());
        self.crls.push(der.to_vec());
        Ok(())
    }
}

/// Whether `at_unix_ms` falls in `[not_before_s, not_after_s]`, both ends inclusive to the second
/// (RFC 5280 4.1.2.5). In `i128` so that no certificate time can overflow.
fn within(at_unix_ms: i64, not_before_s: i64, not_after_s: i64) -> bool {
    let at = i128::from(at_unix_ms);
    at >= i128::from(not_before_s) * 1000 && at < (i128::from(not_after_s) + 1) * 1000
}

#[cfg(test)]
mod tests {
    use medledger_types::{BatchConfig, FORMAT_VERSION};
    use proptest::prelude::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, SerialNumber};

    use super::*;
    use crate::keys::SigningKey;
    use crate::x509::{CertificateAuthority, IssueRequest};

    const NOT_BEFORE: i64 = 1_800_000_000;
    const NOT_AFTER: i64 = NOT_BEFORE + 365 * 24 * 3600;
    /// A moment inside every test certificate's validity window, in milliseconds.
    const NOW_MS: i64 = (NOT_BEFORE + 1000) * 1000;

    struct Net {
        org1: CertificateAuthority,
        org2: CertificateAuthority,
        orderer: Vec<u8>,
    }

    impl Net {
        fn new() -> Net {
            let org1 =
                CertificateAuthority::new_root("Org1", SigningKey::generate()).expect("org1");
            let org2 =
                CertificateAuthority::new_root("Org2", SigningKey::generate()).expect("org2");
            let orderer = issue(&org1, "orderer0", Role::Orderer, 1000).1;
            Net {
                org1,
                org2,
                orderer,
            }
        }

        fn config(&self) -> ChannelConfig {
            ChannelConfig {
                format_version: FORMAT_VERSION,
                channel: "ehr".into(),
                orgs: vec![
                    org_config(&self.org1, vec![]),
                    org_config(&self.org2, vec![]),
                ],
                orderers: vec![self.orderer.clone()],
                contract: "ehr".into(),
                endorsement_policy: "OR('Org1.peer')".into(),
                batch: BatchConfig::default(),
                proposal_window_ms: medledger_types::limits::PROPOSAL_WINDOW_MS_DEFAULT,
            }
        }

        fn msp(&self) -> Msp {
            Msp::from_config(&self.config()).expect("msp")
        }
    }

    fn org_config(ca: &CertificateAuthority, crls: Vec<Vec<u8>>) -> OrgConfig {
        OrgConfig {
            msp_id: ca.msp_id().to_owned(),
            root_certificate: ca.certificate_der().to_vec(),
            crls,
        }
    }

    fn issue(
        ca: &CertificateAuthority,
        name: &str,
        role: Role,
        serial: u64,
    ) -> (SigningKey, Vec<u8>) {
        let key = SigningKey::generate();
        let der = ca
            .issue(&IssueRequest {
                name: name.to_owned(),
                role,
                public_key: key.public_key(),
                serial,
                not_before_unix_s: NOT_BEFORE,
                not_after_unix_s: NOT_AFTER,
            })
            .expect("issue");
        (key, der)
    }

    fn is_unknown<T: fmt::Debug>(result: Result<T, IdentityError>) -> bool {
        matches!(result, Err(IdentityError::Unknown(_)))
    }

    #[test]
    fn msp_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Msp>();
    }

    #[test]
    fn members_of_every_role_validate_with_their_identity() {
        let net = Net::new();
        let msp = net.msp();
        for (serial, role) in (1u64..).zip(Role::ALL) {
            for ca in [&net.org1, &net.org2] {
                let name = format!("{role}{serial}@{}.example", ca.msp_id());
                let (key, der) = issue(ca, &name, role, serial);
                let identity = msp.validate(&der, NOW_MS).expect("valid");
                assert_eq!(
                    identity,
                    Identity {
                        signer: Signer {
                            org: ca.msp_id().to_owned(),
                            role,
                            name,
                            certificate_hash: crate::sha256(&der)
                        },
                        public_key: key.public_key(),
                        serial,
                    }
                );
                // The person's signature verifies with the key the MSP vouches for.
                let sig = key.sign(b"proposal");
                assert_eq!(identity.public_key.verify(b"proposal", &sig), Ok(()));
            }
        }
        assert_eq!(msp.msp_ids().collect::<Vec<_>>(), ["Org1", "Org2"]);
        assert_eq!(
            msp.root_public_key("Org1"),
            Some(net.org1.key().public_key())
        );
    }

    #[test]
    fn a_certificate_from_a_non_member_ca_is_unknown() {
        let net = Net::new();
        let msp = net.msp();
        let org3 = CertificateAuthority::new_root("Org3", SigningKey::generate()).expect("org3");
        let (_, der) = issue(&org3, "mallory", Role::Admin, 1);
        assert!(is_unknown(msp.validate(&der, NOW_MS)));
        // A rogue CA that calls itself Org1 (same names, another key).
        let rogue = CertificateAuthority::new_root("Org1", SigningKey::generate()).expect("rogue");
        let (_, der) = issue(&rogue, "mallory", Role::Admin, 1);
        assert!(is_unknown(msp.validate(&der, NOW_MS)));
    }

    #[test]
    fn tampered_certificates_are_unknown() {
        let net = Net::new();
        let msp = net.msp();
        let (_, der) = issue(&net.org1, "alice@org1.example", Role::Doctor, 7);
        let mut bad_sig = der.clone();
        let last = bad_sig.len() - 1;
        bad_sig[last] ^= 0x40;
        assert!(is_unknown(msp.validate(&bad_sig, NOW_MS)));
        // Change the name inside the TBS: the DER stays well-formed, the CA's signature no longer fits.
        let at = der.windows(5).position(|w| w == b"alice").expect("name");
        let mut bad_tbs = der.clone();
        bad_tbs[at] = b'A';
        assert!(is_unknown(msp.validate(&bad_tbs, NOW_MS)));
        // The genuine one still validates (and the failures were not cached as successes).
        assert!(msp.validate(&der, NOW_MS).is_ok());
        assert!(is_unknown(msp.validate(&bad_tbs, NOW_MS)));
    }

    #[test]
    fn validity_window_is_checked_on_every_call() {
        let net = Net::new();
        let msp = net.msp();
        let (_, der) = issue(&net.org1, "alice", Role::Doctor, 7);
        assert!(msp.validate(&der, NOW_MS).is_ok());
        // Cached now; the window is still enforced.
        assert!(is_unknown(msp.validate(&der, (NOT_AFTER + 1) * 1000)));
        assert!(is_unknown(msp.validate(&der, NOT_BEFORE * 1000 - 1)));
        // Both ends are inclusive to the second.
        assert!(msp.validate(&der, NOT_BEFORE * 1000).is_ok());
        assert!(msp.validate(&der, NOT_AFTER * 1000 + 999).is_ok());
        assert!(is_unknown(msp.validate(&der, i64::MAX)));
        assert!(is_unknown(msp.validate(&der, i64::MIN)));
    }

    #[test]
    fn a_revoked_serial_is_revoked_and_its_neighbours_are_not() {
        let net = Net::new();
        let msp = net.msp();
        let (_, revoked) = issue(&net.org1, "bob", Role::Doctor, 8);
        let (_, kept) = issue(&net.org1, "carol", Role::Doctor, 9);
        let (_, other_org_same_serial) = issue(&net.org2, "dave", Role::Doctor, 8);
        // Validated (and cached) before the revocation.
        assert!(msp.validate(&revoked, NOW_MS).is_ok());

        let crl = net
            .org1
            .revocation_list(1, NOT_BEFORE + 10, &[8])
            .expect("crl");
        let updated = msp.with_crl("Org1", &crl).expect("crl accepted");
        assert_eq!(
            updated.validate(&revoked, NOW_MS),
            Err(IdentityError::Revoked { serial: 8 })
        );
        assert!(updated.validate(&kept, NOW_MS).is_ok());
        assert!(
            updated.validate(&other_org_same_serial, NOW_MS).is_ok(),
            "serials are per organization"
        );
        assert!(updated.is_revoked("Org1", 8));
        assert!(!updated.is_revoked("Org2", 8));
        // The original MSP is unchanged.
        assert!(msp.validate(&revoked, NOW_MS).is_ok());

        // The same CRL in the configuration has the same effect, and round-trips through org_configs.
        let mut config = net.config();
        config.orgs = updated.org_configs();
        assert_eq!(config.orgs[0].crls, vec![crl.clone()]);
        let from_config = Msp::from_config(&config).expect("msp with crl");
        assert_eq!(
            from_config.validate(&revoked, NOW_MS),
            Err(IdentityError::Revoked { serial: 8 })
        );
        assert!(from_config.validate(&kept, NOW_MS).is_ok());

        // A later CRL that forgets serial 8 does not un-revoke it.
        let later = net
            .org1
            .revocation_list(2, NOT_BEFORE + 20, &[9])
            .expect("crl 2");
        let both = from_config
            .with_crl("Org1", &later)
            .expect("crl 2 accepted");
        assert_eq!(
            both.validate(&revoked, NOW_MS),
            Err(IdentityError::Revoked { serial: 8 })
        );
        assert_eq!(
            both.validate(&kept, NOW_MS),
            Err(IdentityError::Revoked { serial: 9 })
        );
    }

    #[test]
    fn a_crl_signed_by_the_wrong_ca_is_refused() {
        let net = Net::new();
        let crl_by_org2 = net.org2.revocation_list(1, NOT_BEFORE, &[8]).expect("crl");
        let mut config = net.config();
        config.orgs[0].crls.push(crl_by_org2.clone());
        assert_eq!(
            Msp::from_config(&config).err(),
            Some(MspError::RevocationListIssuer {
                msp_id: "Org1".into(),
                index: 0
            })
        );
        // Same names, other key: a rogue "Org1" CA.
        let rogue = CertificateAuthority::new_root("Org1", SigningKey::generate()).expect("rogue");
        let rogue_crl = rogue.revocation_list(1, NOT_BEFORE, &[8]).expect("crl");
        let msp = net.msp();
        assert!(matches!(
            msp.with_crl("Org1", &rogue_crl),
            Err(MspError::RevocationListIssuer { .. })
        ));
        assert!(matches!(
            msp.with_crl("Org1", &crl_by_org2),
            Err(MspError::RevocationListIssuer { .. })
        ));
        assert!(matches!(
            msp.with_crl("Org9", &crl_by_org2),
            Err(MspError::UnknownOrganization(_))
        ));
        assert!(matches!(
            msp.with_crl("Org1", b"not a crl"),
            Err(MspError::RevocationList { .. })
        ));
    }

    #[test]
    fn bad_roots_are_refused() {
        let net = Net::new();
        // Org1's root under Org2's name.
        let mut config = net.config();
        config.orgs[1].root_certificate = net.org1.certificate_der().to_vec();
        assert!(matches!(
            Msp::from_config(&config),
            Err(MspError::BadRoot { .. })
        ));
        // A leaf as a root.
        let mut config = net.config();
        config.orgs[0].root_certificate = issue(&net.org1, "Org1 CA", Role::Admin, 5).1;
        assert!(matches!(
            Msp::from_config(&config),
            Err(MspError::BadRoot { .. })
        ));
        // Garbage as a root.
        let mut config = net.config();
        config.orgs[0].root_certificate = vec![0x30, 0x00];
        assert!(matches!(
            Msp::from_config(&config),
            Err(MspError::RootCertificate { .. })
        ));
        // The same organization twice.
        let mut config = net.config();
        config.orgs.push(org_config(&net.org1, vec![]));
        assert_eq!(
            Msp::from_config(&config).err(),
            Some(MspError::DuplicateOrganization("Org1".into()))
        );
        // No organization.
        let mut config = net.config();
        config.orgs.clear();
        assert_eq!(
            Msp::from_config(&config).err(),
            Some(MspError::NoOrganizations)
        );
    }

    #[test]
    fn a_ca_certificate_is_not_a_member_identity() {
        let net = Net::new();
        let msp = net.msp();
        assert!(is_unknown(msp.validate(net.org1.certificate_der(), NOW_MS)));
    }

    #[test]
    fn subject_organization_must_be_the_issuers() {
        let net = Net::new();
        let msp = net.msp();
        let subject = |dn: &[(DnType, &str)]| {
            let mut params = CertificateParams::default();
            params.distinguished_name = DistinguishedName::new();
            for (ty, value) in dn {
                params.distinguished_name.push(ty.clone(), *value);
            }
            params.serial_number = Some(SerialNumber::from(77u64));
            net.org1
                .issue_with_params(&params, &SigningKey::generate().public_key())
        };
        // Org1's CA vouching for an Org2 admin.
        let cross = subject(&[
            (DnType::CommonName, "eve"),
            (DnType::OrganizationName, "Org2"),
            (DnType::OrganizationalUnitName, "admin"),
        ]);
        assert!(is_unknown(msp.validate(&cross, NOW_MS)));
        let no_role = subject(&[
            (DnType::CommonName, "eve"),
            (DnType::OrganizationName, "Org1"),
        ]);
        assert!(is_unknown(msp.validate(&no_role, NOW_MS)));
        let unknown_role = subject(&[
            (DnType::CommonName, "eve"),
            (DnType::OrganizationName, "Org1"),
            (DnType::OrganizationalUnitName, "nurse"),
        ]);
        assert!(is_unknown(msp.validate(&unknown_role, NOW_MS)));
        let fine = subject(&[
            (DnType::CommonName, "eve"),
            (DnType::OrganizationName, "Org1"),
            (DnType::OrganizationalUnitName, "client"),
        ]);
        assert_eq!(
            msp.validate(&fine, NOW_MS).expect("valid").signer.role,
            Role::Client
        );
    }

    #[test]
    fn orderers_are_those_of_the_configuration() {
        let net = Net::new();
        let msp = net.msp();
        let identity = msp
            .validate_orderer(&net.orderer, NOW_MS)
            .expect("listed orderer");
        assert_eq!(identity.signer.role, Role::Orderer);
        // A valid orderer certificate that the configuration does not list.
        let (_, unlisted) = issue(&net.org1, "orderer9", Role::Orderer, 1001);
        assert!(msp.validate(&unlisted, NOW_MS).is_ok());
        assert!(is_unknown(msp.validate_orderer(&unlisted, NOW_MS)));
        // A peer listed as an orderer is refused when the MSP is built, and so is a stranger.
        let mut config = net.config();
        config
            .orderers
            .push(issue(&net.org1, "peer0", Role::Peer, 1002).1);
        assert!(matches!(
            Msp::from_config(&config),
            Err(MspError::Orderer { index: 1, .. })
        ));
        let org3 = CertificateAuthority::new_root("Org3", SigningKey::generate()).expect("org3");
        let mut config = net.config();
        config.orderers = vec![issue(&org3, "orderer0", Role::Orderer, 1).1];
        assert!(matches!(
            Msp::from_config(&config),
            Err(MspError::Orderer { index: 0, .. })
        ));
    }

    #[test]
    fn the_cache_remembers_only_successes_and_stays_bounded() {
        let net = Net::new();
        let msp = net.msp();
        let (_, der) = issue(&net.org1, "alice", Role::Doctor, 7);
        for _ in 0..5 {
            assert!(msp.validate(&der, NOW_MS).is_ok());
        }
        assert!(is_unknown(msp.validate(b"garbage", NOW_MS)));
        let cache_len = || msp.cache.read().expect("lock").len();
        assert_eq!(cache_len(), 1);
        // Fill to the bound with fake entries; the next miss clears the cache before inserting.
        {
            let chained = Arc::clone(
                msp.cache
                    .read()
                    .expect("lock")
                    .values()
                    .next()
                    .expect("one"),
            );
            let mut cache = msp.cache.write().expect("lock");
            for i in 0..IDENTITY_CACHE_COUNT_MAX as u64 {
                let mut h = [0u8; 32];
                h[..8].copy_from_slice(&i.to_be_bytes());
                cache.insert(Hash(h), Arc::clone(&chained));
            }
            assert!(cache.len() >= IDENTITY_CACHE_COUNT_MAX);
        }
        let (_, other) = issue(&net.org2, "bob", Role::Peer, 1);
        assert!(msp.validate(&other, NOW_MS).is_ok());
        assert_eq!(cache_len(), 1);
    }

    #[test]
    fn oversized_input_is_unknown() {
        let msp = Net::new().msp();
        assert!(is_unknown(msp.validate(
            &vec![0x30; limits::CERTIFICATE_BYTES_MAX + 1],
            NOW_MS
        )));
        assert!(is_unknown(msp.validate(&[], NOW_MS)));
    }

    #[test]
    fn can_be_shared_between_threads() {
        let net = Net::new();
        let msp = Arc::new(net.msp());
        let certs: Vec<Vec<u8>> = (0..8)
            .map(|i| issue(&net.org1, "p", Role::Peer, i).1)
            .collect();
        let certs = Arc::new(certs);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let msp = Arc::clone(&msp);
                let certs = Arc::clone(&certs);
                std::thread::spawn(move || {
                    for cert in certs.iter().cycle().take(100) {
                        assert!(msp.validate(cert, NOW_MS).is_ok());
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("thread");
        }
    }

    proptest! {
        #[test]
        fn garbage_and_truncations_are_unknown(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cut in any::<prop::sample::Index>()) {
            let (msp, cert) = fixture();
            prop_assert!(is_unknown(msp.validate(&bytes, NOW_MS)));
            let len = cut.index(cert.len());
            prop_assert!(is_unknown(msp.validate(&cert[..len], NOW_MS)));
        }
    }

    fn fixture() -> &'static (Msp, Vec<u8>) {
        static FIXTURE: std::sync::OnceLock<(Msp, Vec<u8>)> = std::sync::OnceLock::new();
        FIXTURE.get_or_init(|| {
            let net = Net::new();
            let cert = issue(&net.org1, "alice", Role::Doctor, 1).1;
            (net.msp(), cert)
        })
    }
}
