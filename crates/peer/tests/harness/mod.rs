//! The scenario harness of the peer's tests: one organization's CA and its members, a channel whose
//! genesis block the peer has committed, and the few lines of the client and the orderer that a write
//! needs (sign a proposal, have the peer endorse it, wrap it in an envelope, cut a block). A test then
//! reads as what was submitted and what the peer decided.
//!
//! Everything is deterministic except key generation and proposal nonces, which no assertion depends on;
//! the peer's clock and every block timestamp are [`NOW_MS`] unless a test says otherwise.

// Each test binary uses its own part of the harness.
#![allow(dead_code)]

use std::sync::Arc;

use medledger_contract::ehr::{
    CONTRACT_NAME, EhrCall, EhrContract, NewRecord, RecordKind, samples,
};
use medledger_contract::runtime::{Invocation, simulate};
use medledger_crypto::keys::SigningKey;
use medledger_crypto::x509::{CertificateAuthority, IssueRequest, parse_certificate};
use medledger_orderer::BlockAssembler;
use medledger_orderer::assembler::OrdererIdentity;
use medledger_peer::{Endorsed, Peer, PeerError, PeerIdentity};
use medledger_store::{MemoryStore, Store};
use medledger_types::{
    BatchConfig, Block, ChannelConfig, Clock, Endorsement, Envelope, FORMAT_VERSION, HistoryEntry,
    IdentityRef, OrgConfig, Proposal, ProposalResponsePayload, Role, SignedProposal, Signer, TxId,
    TxLocation, ValidationCode, Version, VersionedValue, codec,
};

/// The peer's clock and the default block time: mid-2025, inside every certificate's validity.
pub const NOW_MS: i64 = 1_750_000_000_000;
/// Members' certificates are valid from late 2023 to early 2027 unless a test asks otherwise.
pub const VALID_FROM_S: i64 = 1_700_000_000;
pub const VALID_UNTIL_S: i64 = 1_800_000_000;

pub const CHANNEL: &str = "ehr";
pub const ORG: &str = "Org1";

/// Serial numbers are fixed so that a CRL in the genesis configuration can name a member that a test
/// creates later.
pub mod serial {
    pub const PEER: u64 = 1;
    pub const ORDERER: u64 = 2;
    pub const ADMIN: u64 = 3;
    pub const DOCTOR: u64 = 10;
    pub const SECOND_DOCTOR: u64 = 11;
    pub const SECOND_PEER: u64 = 20;
    /// Free for a test's own members.
    pub const SPARE: u64 = 50;
    /// Revoked by [`Setup::with_revocation_list`](super::Setup::with_revocation_list).
    pub const REVOKED_DOCTOR: u64 = 66;
    /// Revoked by [`Setup::with_revocation_list`](super::Setup::with_revocation_list).
    pub const REVOKED_PEER: u64 = 67;
}

/// Someone holding a key and a certificate for it.
pub struct Member {
    pub name: String,
    pub role: Role,
    pub key: SigningKey,
    pub certificate: Vec<u8>,
}

impl Member {
    /// A signed proposal of `call` to this channel's EHR contract, timestamped [`NOW_MS`].
    pub fn propose(&self, call: &EhrCall) -> SignedProposal {
        self.propose_to(CHANNEL, CONTRACT_NAME, call)
    }

    /// A signed proposal of `call` to this channel's EHR contract that names its creator by certificate
    /// hash (resolved through the ledger's certificate table).
    pub fn propose_by_hash(&self, call: &EhrCall) -> SignedProposal {
        self.propose_as(self.by_hash(), CHANNEL, CONTRACT_NAME, call)
    }

    /// This member's certificate, named by hash.
    pub fn by_hash(&self) -> IdentityRef {
        IdentityRef::Known(medledger_crypto::sha256(&self.certificate))
    }

    /// A signed proposal of `call` to any channel and contract (as `medledger_node::Identity::propose`).
    pub fn propose_to(&self, channel: &str, contract: &str, call: &EhrCall) -> SignedProposal {
        let creator = IdentityRef::Certificate(self.certificate.clone());
        self.propose_as(creator, channel, contract, call)
    }

    /// A signed proposal of `call` to this channel's EHR contract dated `timestamp_ms`.
    pub fn propose_at(&self, call: &EhrCall, timestamp_ms: i64) -> SignedProposal {
        let creator = IdentityRef::Certificate(self.certificate.clone());
        self.sign_proposal(creator, CHANNEL, CONTRACT_NAME, call, timestamp_ms)
    }

    /// A signed proposal of `call` naming the creator as `creator`.
    pub fn propose_as(
        &self,
        creator: IdentityRef,
        channel: &str,
        contract: &str,
        call: &EhrCall,
    ) -> SignedProposal {
        self.sign_proposal(creator, channel, contract, call, NOW_MS)
    }

    fn sign_proposal(
        &self,
        creator: IdentityRef,
        channel: &str,
        contract: &str,
        call: &EhrCall,
        timestamp_ms: i64,
    ) -> SignedProposal {
        let proposal = Proposal {
            format_version: FORMAT_VERSION,
            channel: channel.to_owned(),
            contract: contract.to_owned(),
            function: call.function().to_owned(),
            args: vec![call.encode()],
            creator,
            nonce: medledger_crypto::keys::random_bytes(),
            timestamp_ms,
        };
        let bytes = codec::encode(&proposal);
        SignedProposal {
            signature: self.key.sign(&bytes),
            proposal: bytes,
        }
    }

    /// This member's signature over a response payload, as an endorser signs.
    pub fn endorse_payload(&self, response_payload: &[u8]) -> Endorsement {
        Endorsement {
            endorser: IdentityRef::Certificate(self.certificate.clone()),
            signature: self.key.sign(response_payload),
        }
    }

    fn clone_identity(&self) -> (SigningKey, Vec<u8>) {
        (self.key.clone(), self.certificate.clone())
    }
}

/// An organization: its CA, which issues members.
pub struct Org {
    pub ca: CertificateAuthority,
}

impl Org {
    pub fn new(msp_id: &str) -> Org {
        let ca = CertificateAuthority::new_root(msp_id, SigningKey::generate()).expect("a root CA");
        Org { ca }
    }

    /// A member with a fresh key, valid from [`VALID_FROM_S`] to [`VALID_UNTIL_S`].
    pub fn member(&self, name: &str, role: Role, serial: u64) -> Member {
        self.member_valid(name, role, serial, VALID_FROM_S, VALID_UNTIL_S)
    }

    /// A member with a fresh key and the given validity window.
    pub fn member_valid(
        &self,
        name: &str,
        role: Role,
        serial: u64,
        not_before_unix_s: i64,
        not_after_unix_s: i64,
    ) -> Member {
        self.certify(
            name,
            role,
            serial,
            SigningKey::generate(),
            not_before_unix_s,
            not_after_unix_s,
        )
    }

    /// A certificate for an existing key (a renewal, or a second certificate for the same holder).
    pub fn recertify(&self, member: &Member, serial: u64) -> Member {
        self.certify(
            &member.name,
            member.role,
            serial,
            member.key.clone(),
            VALID_FROM_S,
            VALID_UNTIL_S,
        )
    }

    fn certify(
        &self,
        name: &str,
        role: Role,
        serial: u64,
        key: SigningKey,
        not_before_unix_s: i64,
        not_after_unix_s: i64,
    ) -> Member {
        let certificate = self
            .ca
            .issue(&IssueRequest {
                name: name.to_owned(),
                role,
                public_key: key.public_key(),
                serial,
                not_before_unix_s,
                not_after_unix_s,
            })
            .expect("the CA issues the certificate");
        Member {
            name: name.to_owned(),
            role,
            key,
            certificate,
        }
    }

    fn config(&self, revoked_serials: &[u64]) -> OrgConfig {
        let crls = if revoked_serials.is_empty() {
            Vec::new()
        } else {
            let crl = self
                .ca
                .revocation_list(1, VALID_FROM_S, revoked_serials)
                .expect("the CA signs a CRL");
            vec![crl]
        };
        OrgConfig {
            msp_id: self.ca.msp_id().to_owned(),
            root_certificate: self.ca.certificate_der().to_vec(),
            crls,
        }
    }
}

/// What varies between the channels the tests run on.
pub struct Setup {
    pub endorsement_policy: String,
    /// Serials on the organization's CRL in the channel configuration (none: no CRL).
    pub revoked_serials: Vec<u64>,
    /// The channel's proposal time window.
    pub proposal_window_ms: u64,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            endorsement_policy: "OR('Org1.peer')".into(),
            revoked_serials: Vec::new(),
            proposal_window_ms: medledger_types::limits::PROPOSAL_WINDOW_MS_DEFAULT,
        }
    }
}

impl Setup {
    pub fn with_policy(policy: &str) -> Setup {
        Setup {
            endorsement_policy: policy.into(),
            ..Setup::default()
        }
    }

    /// A channel whose proposals may be dated up to `ms` from their block's time.
    pub fn with_time_window(ms: u64) -> Setup {
        Setup {
            proposal_window_ms: ms,
            ..Setup::default()
        }
    }

    /// The organization's CRL revokes [`serial::REVOKED_DOCTOR`] and [`serial::REVOKED_PEER`].
    pub fn with_revocation_list() -> Setup {
        Setup {
            revoked_serials: vec![serial::REVOKED_DOCTOR, serial::REVOKED_PEER],
            ..Setup::default()
        }
    }
}

/// A proposal the peer endorsed, and the envelope the client would submit.
#[derive(Clone)]
pub struct Tx {
    pub tx_id: TxId,
    pub proposal: SignedProposal,
    pub endorsed: Endorsed,
    pub envelope: Envelope,
}

impl Tx {
    /// The block entry: the envelope's canonical bytes.
    pub fn entry(&self) -> Vec<u8> {
        entry(&self.envelope)
    }

    /// SHA-256 of [`Tx::entry`]: what a client subscribes with.
    pub fn entry_hash(&self) -> medledger_types::Hash {
        medledger_crypto::sha256(&self.entry())
    }
}

/// An envelope's canonical bytes, as the orderer puts them in a block.
pub fn entry(envelope: &Envelope) -> Vec<u8> {
    codec::encode(envelope)
}

/// An envelope of `proposal` carrying `response_payload` and `endorsements` (as
/// `medledger_node::assemble_envelope`, without its agreement check so that tests can disagree).
pub fn envelope(
    proposal: SignedProposal,
    response_payload: Vec<u8>,
    endorsements: Vec<Endorsement>,
) -> Envelope {
    Envelope {
        format_version: FORMAT_VERSION,
        proposal,
        response_payload,
        endorsements,
    }
}

/// The transaction id of a signed proposal.
pub fn tx_id(proposal: &SignedProposal) -> TxId {
    medledger_crypto::tx_id(&proposal.proposal)
}

/// Flips one bit of a signature.
pub fn flip(signature: &mut medledger_types::Signature) {
    signature.0[17] ^= 0x01;
}

pub fn create_patient(id: i64) -> EhrCall {
    EhrCall::Create(NewRecord::Patient(samples::patient(id)))
}

/// An admin record for `admin` (its email is the member's name).
pub fn create_admin(id: i64, admin: &Member) -> EhrCall {
    EhrCall::Create(NewRecord::Admin(samples::admin(
        id,
        &admin.name,
        admin.certificate.clone(),
    )))
}

pub fn patient_key(id: i64) -> String {
    medledger_contract::ehr::keys::record(RecordKind::Patient, id)
}

pub fn admin_key(id: i64) -> String {
    medledger_contract::ehr::keys::record(RecordKind::Admin, id)
}

/// A channel with one organization, its peer committed to genesis, and an orderer cutting blocks.
pub struct Network {
    pub org: Org,
    pub peer_member: Member,
    pub second_peer: Member,
    pub orderer: Member,
    pub admin: Member,
    pub doctor: Member,
    pub second_doctor: Member,
    pub config: ChannelConfig,
    pub genesis: Block,
    pub store: Arc<MemoryStore>,
    pub peer: Peer,
    assembler: BlockAssembler,
}

impl Network {
    pub fn new() -> Network {
        Network::with(Setup::default())
    }

    pub fn with(setup: Setup) -> Network {
        let org = Org::new(ORG);
        let peer_member = org.member("peer0.org1", Role::Peer, serial::PEER);
        let second_peer = org.member("peer1.org1", Role::Peer, serial::SECOND_PEER);
        let orderer = org.member("orderer0.org1", Role::Orderer, serial::ORDERER);
        let admin = org.member("admin@org1.example", Role::Admin, serial::ADMIN);
        let doctor = org.member("ana@org1.example", Role::Doctor, serial::DOCTOR);
        let second_doctor = org.member("luis@org1.example", Role::Doctor, serial::SECOND_DOCTOR);
        let config = ChannelConfig {
            format_version: FORMAT_VERSION,
            channel: CHANNEL.into(),
            orgs: vec![org.config(&setup.revoked_serials)],
            orderers: vec![orderer.certificate.clone()],
            contract: CONTRACT_NAME.into(),
            endorsement_policy: setup.endorsement_policy,
            batch: BatchConfig::default(),
            proposal_window_ms: setup.proposal_window_ms,
        };
        let (genesis, assembler) =
            BlockAssembler::genesis(&config, orderer_identity(&orderer), NOW_MS);
        let store = Arc::new(MemoryStore::new());
        Peer::bootstrap(store.as_ref(), &genesis).expect("the genesis block commits");
        let peer = open_peer(&store, &peer_member);
        Network {
            org,
            peer_member,
            second_peer,
            orderer,
            admin,
            doctor,
            second_doctor,
            config,
            genesis,
            store,
            peer,
            assembler,
        }
    }

    /// The peer's endorsement of `proposal`, which must not be refused before simulation.
    pub fn endorse(&self, proposal: &SignedProposal) -> Endorsed {
        self.peer
            .endorse(proposal)
            .expect("the peer runs the proposal")
    }

    /// `who` proposes `call`, the peer endorses it, and the endorsement becomes an envelope.
    pub fn transaction(&self, who: &Member, call: &EhrCall) -> Tx {
        self.transaction_of(who.propose(call))
    }

    /// The peer endorses `proposal`, and the endorsement becomes an envelope.
    pub fn transaction_of(&self, proposal: SignedProposal) -> Tx {
        let endorsed = self.endorse(&proposal);
        let envelope = envelope(
            proposal.clone(),
            endorsed.response_payload.clone(),
            vec![endorsed.endorsement.clone()],
        );
        Tx {
            tx_id: endorsed.tx_id,
            proposal,
            endorsed,
            envelope,
        }
    }

    /// The envelope a careless peer would make: it skips every check `Peer::endorse` does before
    /// simulating (channel, certificate, signature), runs the contract as the certificate's subject and
    /// signs the result with the real peer's key. How a refused proposal reaches a block anyway.
    pub fn endorse_without_checks(&self, proposal: &SignedProposal) -> Envelope {
        let decoded: Proposal = codec::decode("proposal", &proposal.proposal, usize::MAX)
            .expect("the proposal decodes");
        let der = match &decoded.creator {
            IdentityRef::Certificate(der) => der.clone(),
            // Named by hash: the ledger's copy, or (for a certificate not on it yet) the member's.
            IdentityRef::Known(hash) => self
                .store
                .certificate(hash)
                .expect("the store reads")
                .or_else(|| {
                    [&self.doctor, &self.second_doctor, &self.admin]
                        .into_iter()
                        .map(|m| m.certificate.clone())
                        .find(|der| medledger_crypto::sha256(der) == *hash)
                })
                .expect("a member's certificate"),
        };
        let parsed = parse_certificate(&der).expect("the creator's certificate parses");
        let signer = Signer {
            org: parsed.msp_id,
            role: parsed.role.expect("the certificate has a role"),
            name: parsed.name,
            certificate_hash: medledger_crypto::sha256(&der),
        };
        let tx_id = tx_id(proposal);
        let simulation = simulate(
            &EhrContract,
            &medledger_peer::StoreState(self.store.as_ref()),
            &Invocation {
                tx_id,
                signer: &signer,
                function: &decoded.function,
                args: &decoded.args,
                timestamp_ms: decoded.timestamp_ms,
            },
        )
        .expect("the state reads");
        let payload = codec::encode(&ProposalResponsePayload {
            format_version: FORMAT_VERSION,
            tx_id,
            rwset: simulation.rwset,
            response: simulation.response,
        });
        let endorsement = self.peer_member.endorse_payload(&payload);
        envelope(proposal.clone(), payload, vec![endorsement])
    }

    /// The orderer's next block over `entries`, at [`NOW_MS`].
    pub fn cut(&mut self, entries: Vec<Vec<u8>>) -> Block {
        self.cut_at(entries, NOW_MS)
    }

    /// The orderer's next block over `entries`, at `timestamp_ms`.
    pub fn cut_at(&mut self, entries: Vec<Vec<u8>>, timestamp_ms: i64) -> Block {
        self.assembler.assemble(entries, timestamp_ms)
    }

    /// Delivers `block` to the peer (validate and commit) and returns the committed validation codes.
    pub fn deliver(&self, block: &Block) -> Vec<ValidationCode> {
        self.peer.deliver(block).expect("the block is accepted");
        self.codes(block.header.number)
    }

    /// Cuts a block over `entries`, delivers it, and returns its validation codes.
    pub fn submit(&mut self, entries: Vec<Vec<u8>>) -> Vec<ValidationCode> {
        let block = self.cut(entries);
        self.deliver(&block)
    }

    /// The validation codes of committed block `number`.
    pub fn codes(&self, number: u64) -> Vec<ValidationCode> {
        self.store
            .block(number)
            .expect("the store reads")
            .expect("the block is committed")
            .metadata
            .validation_codes
    }

    pub fn height(&self) -> u64 {
        self.store.height().expect("the store reads")
    }

    pub fn state(&self, key: &str) -> Option<VersionedValue> {
        self.store.get(key).expect("the store reads")
    }

    pub fn version(&self, key: &str) -> Option<Version> {
        self.state(key).map(|v| v.version)
    }

    pub fn history(&self, key: &str) -> Vec<HistoryEntry> {
        self.store
            .history(key, None, usize::MAX)
            .expect("the store reads")
    }

    pub fn location(&self, tx_id: &TxId) -> Option<TxLocation> {
        self.store.tx_location(tx_id).expect("the store reads")
    }

    /// Signs `block`'s header again with the orderer's key, after a test changed it.
    pub fn resign(&self, block: &mut Block) {
        sign_block(block, &self.orderer);
    }

    /// A second orderer over the same configuration and key: its chain starts from a genesis block of
    /// its own (a different timestamp), so it forks from the peer's at block 1.
    pub fn forked_assembler(&self) -> BlockAssembler {
        let (_, assembler) =
            BlockAssembler::genesis(&self.config, orderer_identity(&self.orderer), NOW_MS + 1);
        assembler
    }

    /// A fresh store and peer that have committed only the genesis block.
    pub fn fresh_peer(&self) -> (Arc<MemoryStore>, Peer) {
        let store = Arc::new(MemoryStore::new());
        Peer::bootstrap(store.as_ref(), &self.genesis).expect("the genesis block commits");
        let peer = open_peer(&store, &self.peer_member);
        (store, peer)
    }

    /// Every committed block after genesis, as the orderer delivered it (without validation codes).
    pub fn delivered_blocks(&self) -> Vec<Block> {
        (1..self.height())
            .map(|number| {
                let mut block = self
                    .store
                    .block(number)
                    .expect("the store reads")
                    .expect("the block is committed");
                block.metadata.validation_codes.clear();
                block
            })
            .collect()
    }
}

/// Signs `block`'s header hash as `signer`, naming `signer`'s certificate.
pub fn sign_block(block: &mut Block, signer: &Member) {
    let hash = medledger_crypto::header_hash(&block.header);
    block.metadata.orderer_signature.orderer = medledger_crypto::sha256(&signer.certificate);
    block.metadata.orderer_signature.signature = signer.key.sign(&hash.0);
}

fn orderer_identity(orderer: &Member) -> OrdererIdentity {
    let (key, certificate) = orderer.clone_identity();
    OrdererIdentity { key, certificate }
}

pub fn open_peer(store: &Arc<MemoryStore>, member: &Member) -> Peer {
    let (key, certificate) = member.clone_identity();
    let clock: Clock = Arc::new(|| NOW_MS);
    let store: Arc<dyn Store> = store.clone();
    Peer::open(
        store,
        Arc::new(EhrContract),
        PeerIdentity { key, certificate },
        clock,
    )
    .expect("the peer opens over a bootstrapped store")
}

/// Whether `result` is a refusal of the block (as opposed to a store failure).
pub fn refused<T>(result: Result<T, PeerError>) -> medledger_peer::BlockError {
    match result {
        Err(PeerError::Block(e)) => e,
        Err(other) => panic!("expected the block to be refused, the peer failed instead: {other}"),
        Ok(_) => panic!("expected the block to be refused, it was accepted"),
    }
}

/// The read-write set and response the peer endorsed for `tx`.
pub fn endorsed_payload(tx: &Tx) -> ProposalResponsePayload {
    codec::decode(
        "response payload",
        &tx.endorsed.response_payload,
        usize::MAX,
    )
    .expect("the endorsed payload decodes")
}
