//! Deterministic simulation: one seed drives a whole scenario — keys, certificates, nonces, the workload,
//! the order of transactions in blocks, and the faults — so any failure replays exactly from its seed.
//!
//! The scenario runs two peers of one channel side by side: peer A over the in-memory store, peer B over a
//! redb file that the simulation "crashes" (drops and reopens) at random. Each step does one of:
//! doctors propose and the endorsing peer endorses (creates with colliding ids, amendments, patients that
//! do not exist); the orderer cuts a block from pending envelopes in a shuffled order, sometimes with a
//! replayed envelope, a forged signature, garbage, or a stale endorsement; a lying orderer offers a damaged
//! block; peer B crashes and restarts. After every step the named invariants are checked:
//!
//! - `same_verdicts`: both peers accept or refuse each block, with identical validation codes;
//! - `same_chain`: same height and last header hash;
//! - `same_state`: identical world state (every key, value and version);
//! - `durable`: after a restart, peer B has every block it had acknowledged;
//! - `lie_refused`: a damaged block changes neither peer.
//!
//! At the end `verify` must accept both ledgers.
//!
//! [`faults`] strikes every disk write and sync of a block commit with a power loss (torn writes), a full
//! disk and an I/O error, on the simulated [`disk::Disk`] under redb.
//!
//! Not yet simulated: the network between nodes and consensus (the multi-node issue brings both, and
//! turmoil for their faults), clock skew between nodes.

pub mod disk;
pub mod faults;

use std::sync::Arc;

use medledger_contract::ehr::{EhrCall, EhrContract, NewRecord, RecordKind, samples};
use medledger_crypto::keys::SigningKey;
use medledger_crypto::x509::{CertificateAuthority, IssueRequest};
use medledger_orderer::BlockAssembler;
use medledger_orderer::assembler::OrdererIdentity;
use medledger_peer::{Peer, PeerIdentity};
use medledger_store::{MemoryStore, RedbStore, Store};
use medledger_types::{
    BatchConfig, Block, ChannelConfig, Envelope, FORMAT_VERSION, OrgConfig, Proposal, Role,
    SignedProposal, codec,
};

/// A peer's signing key and certificate (DER).
pub type PeerKeys = (SigningKey, Vec<u8>);

/// A small, fast, seedable generator (SplitMix64): enough for workloads, and the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        out
    }
}

/// The simulation's clock: every certificate is valid throughout.
pub(crate) const START_MS: i64 = 1_750_000_000_000;
const CHANNEL: &str = "ehr";
const ORG: &str = "Org1";

/// A named invariant that did not hold, with the step where it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seed {seed}, step {step}: invariant `{invariant}` broken: {detail}")]
pub struct Violation {
    pub seed: u64,
    pub step: u64,
    pub invariant: &'static str,
    pub detail: String,
}

/// What a run did (for the test's assertions that the scenario really exercised things).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub blocks: u64,
    pub valid: u64,
    pub invalid: u64,
    pub lies_refused: u64,
    pub restarts: u64,
}

struct Person {
    key: SigningKey,
    certificate: Vec<u8>,
}

fn issue(ca: &CertificateAuthority, rng: &mut Rng, name: &str, role: Role, serial: u64) -> Person {
    let key = SigningKey::from_seed(&rng.bytes());
    let certificate = ca
        .issue(&IssueRequest {
            name: name.to_owned(),
            role,
            public_key: key.public_key(),
            serial,
            not_before_unix_s: START_MS / 1000 - 86_400,
            not_after_unix_s: START_MS / 1000 + 365 * 86_400,
        })
        .unwrap_or_else(|e| panic!("the simulation's CA issues certificates: {e}"));
    Person { key, certificate }
}

/// One simulated channel with two peers.
pub struct Simulation {
    seed: u64,
    step: u64,
    rng: Rng,
    now_ms: i64,
    doctors: Vec<Person>,
    assembler: BlockAssembler,
    peer_a: Peer,
    store_a: Arc<MemoryStore>,
    peer_b: Option<Peer>,
    dir: tempfile::TempDir,
    peer_identity: (SigningKey, Vec<u8>),
    /// The orderer's key and certificate (the lying orderer signs with them too).
    orderer: (SigningKey, Vec<u8>),
    /// Endorsed envelopes waiting to be ordered.
    pending: Vec<Vec<u8>>,
    /// Envelopes already ordered once (for replays).
    ordered: Vec<Vec<u8>>,
    report: Report,
}

pub(crate) fn open_peer(
    store: Arc<dyn Store>,
    identity: &(SigningKey, Vec<u8>),
    now_ms: i64,
) -> Peer {
    Peer::open(
        store,
        Arc::new(EhrContract),
        PeerIdentity {
            key: identity.0.clone(),
            certificate: identity.1.clone(),
        },
        Arc::new(move || now_ms),
    )
    .unwrap_or_else(|e| panic!("the peer opens: {e}"))
}

impl Simulation {
    /// Builds the channel: CA, members, genesis committed on both peers.
    pub fn new(seed: u64) -> Simulation {
        let mut rng = Rng::new(seed);
        let ca = CertificateAuthority::new_root(ORG, SigningKey::from_seed(&rng.bytes()))
            .unwrap_or_else(|e| panic!("the CA is created: {e}"));
        let peer = issue(&ca, &mut rng, "peer0.org1", Role::Peer, 1);
        let orderer = issue(&ca, &mut rng, "orderer0.org1", Role::Orderer, 2);
        let doctors = (0..3)
            .map(|i| {
                issue(
                    &ca,
                    &mut rng,
                    &format!("doctor{i}@org1"),
                    Role::Doctor,
                    10 + i,
                )
            })
            .collect();
        let config = ChannelConfig {
            format_version: FORMAT_VERSION,
            channel: CHANNEL.into(),
            orgs: vec![OrgConfig {
                msp_id: ORG.into(),
                root_certificate: ca.certificate_der().to_vec(),
                crls: vec![],
            }],
            orderers: vec![orderer.certificate.clone()],
            contract: medledger_contract::ehr::CONTRACT_NAME.into(),
            endorsement_policy: format!("OR('{ORG}.peer')"),
            batch: BatchConfig::default(),
            proposal_window_ms: medledger_types::limits::PROPOSAL_WINDOW_MS_DEFAULT,
        };
        let (genesis, assembler) = BlockAssembler::genesis(
            &config,
            OrdererIdentity {
                key: orderer.key.clone(),
                certificate: orderer.certificate.clone(),
            },
            START_MS,
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let store_a = Arc::new(MemoryStore::new());
        let store_b = RedbStore::open(&dir.path().join("b.redb"))
            .unwrap_or_else(|e| panic!("peer B's store: {e}"));
        for store in [store_a.as_ref() as &dyn Store, &store_b] {
            Peer::bootstrap(store, &genesis).unwrap_or_else(|e| panic!("genesis commits: {e}"));
        }
        let peer_identity = (peer.key, peer.certificate);
        let peer_a = open_peer(store_a.clone(), &peer_identity, START_MS);
        let peer_b = open_peer(Arc::new(store_b), &peer_identity, START_MS);
        Simulation {
            seed,
            step: 0,
            rng,
            now_ms: START_MS,
            doctors,
            assembler,
            peer_a,
            store_a,
            peer_b: Some(peer_b),
            dir,
            peer_identity,
            orderer: (orderer.key, orderer.certificate),
            pending: Vec::new(),
            ordered: Vec::new(),
            report: Report::default(),
        }
    }

    fn violation(&self, invariant: &'static str, detail: impl Into<String>) -> Violation {
        Violation {
            seed: self.seed,
            step: self.step,
            invariant,
            detail: detail.into(),
        }
    }

    fn peer_b(&self) -> &Peer {
        self.peer_b
            .as_ref()
            .unwrap_or_else(|| unreachable!("peer B is always open between steps"))
    }

    /// A random EHR call; ids are drawn from small ranges so that creates collide and amendments race.
    fn random_call(&mut self) -> EhrCall {
        let patient = 1 + self.rng.below(8) as i64;
        match self.rng.below(4) {
            0 => EhrCall::Create(NewRecord::Patient(samples::patient(patient))),
            1 => EhrCall::Create(NewRecord::Note(samples::note(
                100 + self.rng.below(30) as i64,
                patient,
            ))),
            2 => EhrCall::Create(NewRecord::DrugExposure(samples::drug_exposure(
                200 + self.rng.below(30) as i64,
                patient,
            ))),
            _ => {
                let mut note = samples::note(100 + self.rng.below(30) as i64, patient);
                note.note_text = format!("amended at step {}", self.step);
                EhrCall::Amend {
                    kind: RecordKind::Note,
                    id: note.note_id,
                    record: NewRecord::Note(note),
                    reason: "simulated correction".into(),
                    expected_version: None,
                }
            }
        }
    }

    fn propose(&mut self) {
        let call = self.random_call();
        let doctor = &self.doctors[self.rng.below(self.doctors.len() as u64) as usize];
        let proposal = Proposal {
            format_version: FORMAT_VERSION,
            channel: CHANNEL.into(),
            contract: medledger_contract::ehr::CONTRACT_NAME.into(),
            function: call.function().into(),
            args: vec![call.encode()],
            // Whole until peer A has seen it committed, then by hash: both forms are exercised.
            creator: self.peer_a.identity_ref(&doctor.certificate),
            nonce: self.rng.bytes(),
            timestamp_ms: self.now_ms,
        };
        let bytes = codec::encode(&proposal);
        let signed = SignedProposal {
            signature: doctor.key.sign(&bytes),
            proposal: bytes,
        };
        let Ok(endorsed) = self.peer_a.endorse(&signed) else {
            return;
        };
        // Refused proposals are ordered too, sometimes: a careless client submits them anyway.
        if endorsed.response.status != medledger_types::ResponseStatus::Ok && !self.rng.chance(20) {
            return;
        }
        let envelope = Envelope {
            format_version: FORMAT_VERSION,
            proposal: signed,
            response_payload: endorsed.response_payload,
            endorsements: vec![endorsed.endorsement],
        };
        self.pending.push(codec::encode(&envelope));
    }

    /// Cuts a block from the pending envelopes (shuffled), with occasional replays, forgeries and garbage.
    fn cut(&mut self) -> Option<Block> {
        let mut entries = std::mem::take(&mut self.pending);
        if self.rng.chance(30) && !self.ordered.is_empty() {
            let replay = self.ordered[self.rng.below(self.ordered.len() as u64) as usize].clone();
            entries.push(replay);
        }
        if self.rng.chance(10) {
            entries.push(self.rng.bytes::<48>().to_vec());
        }
        if self.rng.chance(15)
            && let Some(entry) = entries.first().cloned()
            && let Ok(mut envelope) = codec::decode::<Envelope>("envelope", &entry, usize::MAX)
        {
            envelope.proposal.signature.0[self.rng.below(64) as usize] ^= 1;
            entries.push(codec::encode(&envelope));
        }
        if entries.is_empty() {
            return None;
        }
        for i in (1..entries.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            entries.swap(i, j);
        }
        self.ordered.extend(entries.iter().cloned());
        self.now_ms += 1 + self.rng.below(50) as i64;
        Some(self.assembler.assemble(entries, self.now_ms))
    }

    fn deliver(&mut self, block: &Block) -> Result<(), Violation> {
        let a = self.peer_a.deliver(block).map_err(|e| e.to_string());
        let b = self.peer_b().deliver(block).map_err(|e| e.to_string());
        if a.is_ok() != b.is_ok() {
            return Err(self.violation("same_verdicts", format!("peer A: {a:?}, peer B: {b:?}")));
        }
        if let Err(e) = a {
            return Err(
                self.violation("same_verdicts", format!("an honest block was refused: {e}"))
            );
        }
        let number = block.header.number;
        let codes_a = self
            .store_a
            .block(number)
            .ok()
            .flatten()
            .map(|b| b.metadata.validation_codes);
        let codes_b = self
            .peer_b()
            .store()
            .block(number)
            .ok()
            .flatten()
            .map(|b| b.metadata.validation_codes);
        if codes_a != codes_b {
            return Err(self.violation(
                "same_verdicts",
                format!("codes differ: {codes_a:?} vs {codes_b:?}"),
            ));
        }
        let codes = codes_a.unwrap_or_default();
        self.report.blocks += 1;
        self.report.valid += codes.iter().filter(|c| c.is_valid()).count() as u64;
        self.report.invalid += codes.iter().filter(|c| !c.is_valid()).count() as u64;
        Ok(())
    }

    /// A lying orderer: the next block, damaged (and, for header damage, signed again with the real
    /// orderer key, so that the peer's link and root checks, not just the signature, must catch it). Both
    /// peers must refuse it and stay where they were.
    fn lie(&mut self) -> Result<(), Violation> {
        let Ok(tip) = self.peer_a.tip() else {
            return Ok(());
        };
        let height = tip.height;
        let identity = OrdererIdentity {
            key: self.orderer.0.clone(),
            certificate: self.orderer.1.clone(),
        };
        let mut copy = BlockAssembler::resume(
            identity,
            tip.height,
            tip.last_hash,
            tip.frontier,
            tip.last_timestamp_ms,
        );
        let mut block = copy.assemble(vec![self.rng.bytes::<16>().to_vec()], self.now_ms + 1);
        let resign = |block: &mut Block, key: &SigningKey| {
            let hash = medledger_crypto::header_hash(&block.header);
            block.metadata.orderer_signature.signature = key.sign(&hash.0);
        };
        match self.rng.below(4) {
            0 => {
                block.header.previous_hash.0[0] ^= 1;
                resign(&mut block, &self.orderer.0);
            }
            1 => block.data.entries.push(vec![0xEE; 8]),
            2 => {
                block.header.ledger_root.0[31] ^= 1;
                resign(&mut block, &self.orderer.0);
            }
            _ => block.metadata.orderer_signature.signature.0[5] ^= 1,
        }
        let refused_a = self.peer_a.deliver(&block).is_err();
        let refused_b = self.peer_b().deliver(&block).is_err();
        if !(refused_a && refused_b)
            || self.peer_a.height() != height
            || self.peer_b().height() != height
        {
            return Err(self.violation(
                "lie_refused",
                format!("refused by A: {refused_a}, by B: {refused_b}"),
            ));
        }
        self.report.lies_refused += 1;
        Ok(())
    }

    fn restart_b(&mut self) -> Result<(), Violation> {
        let before = (
            self.peer_b().height(),
            self.peer_b().tip().map(|tip| tip.last_hash).ok(),
        );
        self.peer_b = None;
        let store = RedbStore::open(&self.dir.path().join("b.redb"))
            .map_err(|e| self.violation("durable", format!("reopening: {e}")))?;
        self.peer_b = Some(open_peer(Arc::new(store), &self.peer_identity, self.now_ms));
        let after = (
            self.peer_b().height(),
            self.peer_b().tip().map(|tip| tip.last_hash).ok(),
        );
        if before != after {
            return Err(self.violation(
                "durable",
                format!("before the crash {before:?}, after {after:?}"),
            ));
        }
        self.report.restarts += 1;
        Ok(())
    }

    fn check(&self) -> Result<(), Violation> {
        let tip_a = self
            .peer_a
            .tip()
            .map(|tip| (tip.height, tip.last_hash))
            .map_err(|e| self.violation("same_chain", e.to_string()))?;
        let tip_b = self
            .peer_b()
            .tip()
            .map(|tip| (tip.height, tip.last_hash))
            .map_err(|e| self.violation("same_chain", e.to_string()))?;
        if tip_a != tip_b {
            return Err(self.violation("same_chain", format!("{tip_a:?} vs {tip_b:?}")));
        }
        let all = |store: &dyn Store| store.range("", "\u{10FFFF}", 100_000);
        let state_a =
            all(self.store_a.as_ref()).map_err(|e| self.violation("same_state", e.to_string()))?;
        let state_b = all(self.peer_b().store().as_ref())
            .map_err(|e| self.violation("same_state", e.to_string()))?;
        if state_a != state_b {
            return Err(self.violation(
                "same_state",
                format!("{} keys vs {} keys", state_a.len(), state_b.len()),
            ));
        }
        Ok(())
    }

    /// One random step, then the invariants.
    pub fn step(&mut self) -> Result<(), Violation> {
        self.step += 1;
        match self.rng.below(10) {
            0..=4 => {
                for _ in 0..1 + self.rng.below(6) {
                    self.propose();
                }
            }
            5..=7 => {
                if let Some(block) = self.cut() {
                    self.deliver(&block)?;
                }
            }
            8 => self.lie()?,
            _ => self.restart_b()?,
        }
        self.check()
    }

    /// Blocks on peer A's chain, the genesis included.
    pub fn height(&self) -> u64 {
        self.peer_a.height()
    }

    /// Peer A's chain so far, every block from the genesis, and the peer's identity: what
    /// [`faults`] replays onto a faulty disk.
    pub fn chain(&self) -> Result<(Vec<Block>, PeerKeys), Violation> {
        let height = self.peer_a.height();
        let blocks = (0..height)
            .map(|n| {
                self.store_a
                    .block(n)
                    .map_err(|e| self.violation("same_chain", e.to_string()))?
                    .ok_or_else(|| self.violation("same_chain", format!("block {n} missing")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((blocks, self.peer_identity.clone()))
    }

    /// Runs `steps` steps, flushes what is pending, and verifies both ledgers offline.
    pub fn run(mut self, steps: u64) -> Result<Report, Violation> {
        for _ in 0..steps {
            self.step()?;
        }
        if let Some(block) = self.cut() {
            self.deliver(&block)?;
        }
        for (name, store) in [
            ("A", self.store_a.as_ref() as &dyn Store),
            ("B", self.peer_b().store().as_ref()),
        ] {
            medledger_peer::verify::verify_ledger(store, &mut |_, _| {})
                .map_err(|e| self.violation("verify", format!("peer {name}: {e}")))?;
        }
        Ok(self.report)
    }
}
