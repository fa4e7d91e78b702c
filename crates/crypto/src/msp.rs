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
