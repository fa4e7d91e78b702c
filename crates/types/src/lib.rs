//! The vocabulary of medledger: what a transaction, a block and a version are, and how they become bytes.
//!
//! Everything that is signed, hashed or stored is a borsh value defined here, encoded by [`codec`]. The
//! byte layouts are written down in `docs/formats.md`; a change to a struct here is a format change and
//! needs a new `format_version`.
//!
//! Architecture invariant: this crate does no I/O, no hashing and no async. It knows nothing about keys,
//! certificates, Raft or HTTP; it only names things. Hashes are computed by `medledger-crypto`.

pub mod codec;
pub mod limits;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};

/// The format version written into every top-level signed or stored structure.
pub const FORMAT_VERSION: u8 = 2;

/// A clock: the current time in milliseconds since the Unix epoch. Whatever needs the time (the peer for
/// certificate validity at endorsement, the orderer for block timestamps) is handed one rather than
/// reading the system clock, so tests and simulations can move time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A SHA-256 digest.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// A string was not 64 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 hexadecimal digits")]
pub struct ParseHashError;

impl FromStr for Hash {
    type Err = ParseHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| ParseHashError)?;
        Ok(Hash(out))
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A transaction's identity: the SHA-256 of its proposal's canonical bytes (which include a nonce and the
/// creator's certificate), so two different proposals never share an id and a replayed one is a duplicate.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct TxId(pub Hash);

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({})", self.0.to_hex())
    }
}

impl FromStr for TxId {
    type Err = ParseHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(TxId)
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

/// Where a value was written: the block and the transaction's index in it. Versions order like the chain.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    Default,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Version {
    pub block: u64,
    pub tx: u32,
}

/// The role a certificate carries (in its subject's organizational unit, as Fabric's NodeOUs).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Role {
    Admin = 0,
    Doctor = 1,
    Peer = 2,
    Orderer = 3,
    Client = 4,
    Auditor = 5,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Doctor,
        Role::Peer,
        Role::Orderer,
        Role::Client,
        Role::Auditor,
    ];

    /// The name used in certificates and in endorsement policies (`Org1.peer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Doctor => "doctor",
            Role::Peer => "peer",
            Role::Orderer => "orderer",
            Role::Client => "client",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string named no known role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected admin, doctor, peer, orderer, client or auditor)")]
pub struct ParseRoleError(pub String);

impl FromStr for Role {
    type Err = ParseRoleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ParseRoleError(s.to_owned()))
    }
}

/// Who signed a transaction, as the contract sees it: taken from a certificate that the peer has already
/// validated against the organization's root and CRL.
#[derive(
    Clone,
    PartialEq,
    Eq,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Signer {
    /// The organization (MSP id), e.g. `Org1`.
    pub org: String,
    pub role: Role,
    /// The certificate subject's common name: the person's identifier (for people, their email).
    pub name: String,
    /// SHA-256 of the certificate's DER bytes.
    pub certificate_hash: Hash,
}

/// How a transaction names a signer's certificate: whole, or by the SHA-256 of its DER once the
/// ledger holds it. A certificate reaches the ledger the first time a valid transaction carries it
/// whole (as creator or endorser); from the next block on, a transaction may name it by hash instead,
/// and validation resolves the hash through the ledger's certificate table (a hash the table does not
/// hold is `unknown_certificate_hash`). Either way the certificate is judged the same: chain, role,
/// validity window at the block's time, CRLs.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub enum IdentityRef {
    /// The X.509 certificate, DER (at most `limits::CERTIFICATE_BYTES_MAX`). Discriminant 0.
    Certificate(Vec<u8>),
    /// SHA-256 of the DER of a certificate that a valid transaction of an earlier block carried whole.
    /// Discriminant 1.
    Known(Hash),
}

impl IdentityRef {
    /// The certificate, if it is carried whole.
    pub fn certificate(&self) -> Option<&[u8]> {
        match self {
            IdentityRef::Certificate(der) => Some(der),
            IdentityRef::Known(_) => None,
        }
    }
}

/// What a person asks the ledger to do: run `function` of `contract` with `args`.
/// Signed by the creator; its SHA-256 is the [`TxId`].
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub format_version: u8,
    pub channel: String,
    pub contract: String,
    pub function: String,
    /// Each argument is opaque bytes (the contract decodes them; the EHR contract uses borsh).
    pub args: Vec<Vec<u8>>,
    /// The creator's certificate, whole or by hash.
    pub creator: IdentityRef,
    /// Random bytes so that two identical requests are two transactions.
    pub nonce: [u8; 16],
    /// Milliseconds since the Unix epoch, chosen by the creator. The contract's only clock.
    pub timestamp_ms: i64,
}

/// A proposal's canonical bytes as the creator signed them, and the signature.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct SignedProposal {
    pub proposal: Vec<u8>,
    pub signature: Signature,
}

/// A key read during simulation, with the version it had (`None`: absent).
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct KvRead {
    pub key: String,
    pub version: Option<Version>,
}

/// A key written by a transaction. There is no delete: the ledger never forgets.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct KvWrite {
    pub key: String,
    pub value: Vec<u8>,
}

/// Everything one simulated transaction read (with versions) and would write.
#[derive(Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize)]
pub struct RwSet {
    /// Sorted by key, no duplicates.
    pub reads: Vec<KvRead>,
    /// Sorted by key, no duplicates.
    pub writes: Vec<KvWrite>,
}

/// Whether the contract accepted the proposal.
#[derive(Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum ResponseStatus {
    Ok = 0,
    /// The contract refused (validation, authorization, conflict). The payload says why.
    Refused = 1,
}

/// The contract's answer: on `Ok` the function's result, on `Refused` the encoded contract error.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct Response {
    pub status: ResponseStatus,
    pub payload: Vec<u8>,
}

/// What an endorsing peer signs: the proposal it ran, the read-write set and the contract's response.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct ProposalResponsePayload {
    pub format_version: u8,
    pub tx_id: TxId,
    pub rwset: RwSet,
    pub response: Response,
}

/// One peer's signature over the canonical bytes of a [`ProposalResponsePayload`].
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct Endorsement {
    /// The endorsing peer's certificate, whole or by hash.
    pub endorser: IdentityRef,
    pub signature: Signature,
}

/// A transaction as it is ordered and stored: the signed proposal, the endorsed result, the endorsements.
/// Its canonical bytes are the Merkle leaf input.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct Envelope {
    pub format_version: u8,
    pub proposal: SignedProposal,
    /// Canonical bytes of a [`ProposalResponsePayload`]; every endorsement signs exactly these bytes.
    pub response_payload: Vec<u8>,
    pub endorsements: Vec<Endorsement>,
}

/// The outcome of validating one transaction. Invalid transactions stay in their block and change no state.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum ValidationCode {
    Valid = 0,
    /// The envelope or one of its parts did not decode, broke a limit, or disagreed with itself.
    MalformedEnvelope = 1,
    /// The creator's or an endorser's signature does not verify.
    BadSignature = 2,
    /// A certificate does not chain to a member organization's root, or has the wrong role.
    UnknownCertificate = 3,
    /// A certificate is on its organization's revocation list.
    RevokedCertificate = 4,
    /// The endorsements do not satisfy the channel's endorsement policy.
    EndorsementPolicyFailure = 5,
    /// A transaction with the same id is already on the ledger (or earlier in this block).
    DuplicateTxId = 6,
    /// A key the transaction read has changed since it was simulated.
    MvccReadConflict = 7,
    /// The contract refused the proposal when it was endorsed.
    ContractRefused = 8,
    /// The proposal names another channel or contract.
    WrongChannel = 9,
    /// A configuration update that is not the one the channel's rules produce, or an application
    /// transaction that writes configuration keys.
    BadConfigUpdate = 10,
    /// A certificate is named by a hash that no valid transaction of an earlier block carried whole.
    UnknownCertificateHash = 11,
    /// The proposal's timestamp is further from its block's time than the channel's window allows
    /// (`ChannelConfig::proposal_window_ms`): a record cannot be backdated or dated ahead.
    OutsideTimeWindow = 12,
}

impl ValidationCode {
    pub fn is_valid(self) -> bool {
        self == ValidationCode::Valid
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::Valid => "valid",
            ValidationCode::MalformedEnvelope => "malformed_envelope",
            ValidationCode::BadSignature => "bad_signature",
            ValidationCode::UnknownCertificate => "unknown_certificate",
            ValidationCode::RevokedCertificate => "revoked_certificate",
            ValidationCode::EndorsementPolicyFailure => "endorsement_policy_failure",
            ValidationCode::DuplicateTxId => "duplicate_tx_id",
            ValidationCode::MvccReadConflict => "mvcc_read_conflict",
            ValidationCode::ContractRefused => "contract_refused",
            ValidationCode::WrongChannel => "wrong_channel",
            ValidationCode::BadConfigUpdate => "bad_config_update",
            ValidationCode::UnknownCertificateHash => "unknown_certificate_hash",
            ValidationCode::OutsideTimeWindow => "outside_time_window",
        }
    }
}

impl fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A block's header. Its hash (SHA-256 of its canonical bytes) is what the next block links to and what the
/// orderer signs.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct BlockHeader {
    pub format_version: u8,
    pub number: u64,
    /// Hash of block `number - 1`'s header; [`Hash::ZERO`] for the genesis block.
    pub previous_hash: Hash,
    /// RFC 6962 Merkle root over this block's entries.
    pub data_hash: Hash,
    /// RFC 6962 root of the ledger-wide tree over every entry of blocks `0..=number`, in order.
    pub ledger_root: Hash,
    /// Number of leaves in that ledger-wide tree.
    pub ledger_size: u64,
    /// Milliseconds since the Unix epoch, from the orderer's clock when it cut the block.
    pub timestamp_ms: i64,
}

/// A block's entries, each the canonical bytes as received: the genesis block holds one encoded
/// [`ChannelConfig`]; every later block holds encoded [`Envelope`]s.
#[derive(Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize)]
pub struct BlockData {
    pub entries: Vec<Vec<u8>>,
}

/// The orderer's signature over the block header hash.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct OrdererSignature {
    /// SHA-256 of the orderer's certificate (DER), one of the channel configuration's `orderers`.
    pub orderer: Hash,
    pub signature: Signature,
}

/// What is known about a block besides its header and data. Not covered by the header hash: the orderer
/// signs the header; each peer computes the validation codes deterministically (verify recomputes them).
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct BlockMetadata {
    pub orderer_signature: OrdererSignature,
    /// One per entry once the block is committed; empty while it is being delivered.
    pub validation_codes: Vec<ValidationCode>,
}

#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub data: BlockData,
    pub metadata: BlockMetadata,
}

/// How the orderer cuts blocks.
#[derive(
    Clone,
    PartialEq,
    Eq,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct BatchConfig {
    pub tx_count_max: u32,
    pub bytes_max: u32,
    pub timeout_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            tx_count_max: limits::BLOCK_TX_COUNT_DEFAULT as u32,
            bytes_max: limits::BLOCK_BYTES_DEFAULT as u32,
            timeout_ms: limits::BLOCK_TIMEOUT_MS_DEFAULT,
        }
    }
}

/// One member organization: its root certificate and its current revocation lists.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct OrgConfig {
    /// The MSP id, e.g. `Org1`; also the `O=` of every certificate the org issues.
    pub msp_id: String,
    /// The organization CA's self-signed certificate, DER.
    pub root_certificate: Vec<u8>,
    /// CRLs (DER) signed by that CA.
    pub crls: Vec<Vec<u8>>,
}

/// The channel's configuration: the trust anchors and rules every peer validates by. It is the single entry
/// of the genesis block, so `verify` needs nothing but the ledger itself.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct ChannelConfig {
    pub format_version: u8,
    pub channel: String,
    pub orgs: Vec<OrgConfig>,
    /// Certificates (DER) of the orderers allowed to sign blocks.
    pub orderers: Vec<Vec<u8>>,
    /// The contract this channel runs.
    pub contract: String,
    /// Fabric-syntax endorsement policy, e.g. `OR('Org1.peer')`.
    pub endorsement_policy: String,
    pub batch: BatchConfig,
    /// How far, in milliseconds, a proposal's timestamp may lie from its block's time (either way) for
    /// the transaction to be valid, as Fabric's `TimeWindowCheck`; endorsements check it against the
    /// peer's clock too. [`limits::PROPOSAL_WINDOW_MS_DEFAULT`] by default.
    pub proposal_window_ms: u64,
}

/// The name under which proposals address the channel's configuration instead of its contract.
pub const CONFIG_CONTRACT: &str = "_config";
/// The world-state key of the channel's current configuration (absent until the first update: then the
/// genesis block's configuration is current). Only configuration transactions may write under `_config/`.
pub const CONFIG_KEY: &str = "_config/channel";
/// The prefix reserved for configuration keys.
pub const CONFIG_KEY_PREFIX: &str = "_config/";

/// A change to the channel's configuration, proposed by an organization's administrator as `args[0]` of a
/// proposal to [`CONFIG_CONTRACT`]. It takes effect from the block after the one that commits it.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub enum ConfigUpdate {
    /// Adds a CRL (DER, signed by the organization's CA) to `msp_id`'s revocation lists. Function `add_crl`.
    AddCrl { msp_id: String, crl: Vec<u8> },
}

impl ConfigUpdate {
    pub fn function(&self) -> &'static str {
        match self {
            ConfigUpdate::AddCrl { .. } => "add_crl",
        }
    }
}

/// The current value of a key and the version that wrote it.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct VersionedValue {
    pub value: Vec<u8>,
    pub version: Version,
}

/// One version of a key in its history. The store keeps only where it is (the version); the
/// transaction id and the value are read from that transaction's entry in the block.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct HistoryEntry {
    pub version: Version,
    pub tx_id: TxId,
    pub value: Vec<u8>,
}

/// Where a committed transaction is and how it was judged.
#[derive(Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct TxLocation {
    pub block: u64,
    pub index: u32,
    pub code: ValidationCode,
}

/// A statement of the ledger-wide Merkle tree's head, signed by a node: clients keep one and later ask for a
/// consistency proof to a newer one, so the ledger cannot be rewritten under them unnoticed.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct Checkpoint {
    pub format_version: u8,
    pub channel: String,
    /// The last block whose entries the tree covers.
    pub block_number: u64,
    pub tree_size: u64,
    pub root: Hash,
    /// That block's timestamp.
    pub timestamp_ms: i64,
}

/// A checkpoint's canonical bytes, the signing node's certificate (DER) and its signature over those bytes.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct SignedCheckpoint {
    pub checkpoint: Vec<u8>,
    pub signer: Vec<u8>,
    pub signature: Signature,
}

#[cfg(test)]
mod tests;
