//! First run: creating a one-organization network in an empty data directory.
//!
//! `init` makes the organization CA, the node's peer and orderer identities, the channel configuration
//! (trust anchors, orderer, endorsement policy, block cutting) and the first administrator's identity, then
//! commits the genesis block. The genesis block is written last: a crash part-way leaves no ledger, and the
//! next run starts again from scratch.
//!
//! Neither the first administrator's private key nor the organization CA's is ever written in the clear:
//! `init` returns both, and [`init_with`] hands them to the caller (the service, which seals them in the
//! wallet under the administrator's password) *before* the genesis block is written, so a ledger never
//! exists whose only administrator's key, or whose CA key, was lost in a crash. The data directory is
//! created owner-only ([`files::PRIVATE_DIR_MODE`]), and so is every file in it.

use medledger_crypto::keys::{self, SigningKey};
use medledger_crypto::x509::{CertificateAuthority, IssueRequest};
use medledger_orderer::BlockAssembler;
use medledger_orderer::assembler::OrdererIdentity;
use medledger_peer::Peer;
use medledger_store::{RedbStore, Store};
use medledger_types::{BatchConfig, ChannelConfig, FORMAT_VERSION, OrgConfig, Role};

use crate::client::Identity;
use crate::files::{self, DataDir};
use crate::{NodeError, now_ms};

/// How long issued certificates stay valid.
pub const CERTIFICATE_VALIDITY_DAYS: i64 = 3650;
/// How far back a certificate's validity starts, to tolerate clocks that disagree a little.
pub const CERTIFICATE_BACKDATE_S: i64 = 3600;

/// What to create.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub msp_id: String,
    pub channel: String,
    pub admin_email: String,
    pub batch: BatchConfig,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            msp_id: "Org1".into(),
            channel: "ehr".into(),
            admin_email: "admin@medledger.local".into(),
            batch: BatchConfig::default(),
        }
    }
}

/// What `init` did.
#[derive(Debug)]
pub enum InitOutcome {
    /// The data directory already holds a ledger; nothing was changed.
    AlreadyInitialized,
    /// A new network was created; the first administrator's identity and the organization CA (with its
    /// key, written nowhere) are returned.
    Created {
        admin: Box<Identity>,
        ca: Box<CertificateAuthority>,
    },
}

/// What the first run hands to the caller to keep before the ledger exists.
#[derive(Debug)]
pub struct FirstRun<'a> {
    /// The first administrator's identity.
    pub admin: &'a Identity,
    /// The organization CA, with the only copy of its key.
    pub ca: &'a CertificateAuthority,
}

/// Issues a certificate for a fresh key.
pub fn issue_identity(
    ca: &CertificateAuthority,
    name: &str,
    role: Role,
    now_s: i64,
) -> Result<Identity, NodeError> {
    let key = SigningKey::generate();
    let serial = u64::from_le_bytes(keys::random_bytes()) >> 1;
    let certificate = ca
        .issue(&IssueRequest {
            name: name.to_owned(),
            role,
            public_key: key.public_key(),
            serial,
            not_before_unix_s: now_s - CERTIFICATE_BACKDATE_S,
            not_after_unix_s: now_s + CERTIFICATE_VALIDITY_DAYS * 86_400,
        })
        .map_err(|e| NodeError::Identity(e.to_string()))?;
    Ok(Identity { key, certificate })
}

/// Creates a network in `data` unless one is there already. The first administrator's key and the CA's
/// are only returned, never stored: see [`init_with`] to keep them before the ledger is created.
pub fn init(data: &DataDir, options: &InitOptions) -> Result<InitOutcome, NodeError> {
    init_with(data, options, &mut |_| Ok(()))
}

/// [`init`], calling `keep_admin` with the first administrator's identity and the organization CA after
/// every other file is written and before the genesis block is. If `keep_admin` fails, no ledger is created (and the next run
/// starts again from scratch, with new identities).
///
/// Outcomes: `AlreadyInitialized` (nothing changed, `keep_admin` not called); `Created` (the genesis block
/// is durable and `keep_admin` succeeded); `Err` (no ledger exists).
pub fn init_with(
    data: &DataDir,
    options: &InitOptions,
    keep_admin: &mut dyn FnMut(&FirstRun<'_>) -> Result<(), NodeError>,
) -> Result<InitOutcome, NodeError> {
    files::create_private_dir(data.root())?;
    if data.ledger().exists() {
        let store = RedbStore::open(&data.ledger())?;
        if store.height()? > 0 {
            return Ok(InitOutcome::AlreadyInitialized);
        }
    }
    // A directory made by hand before the first run (`mkdir data`) has the default mode.
    files::make_private(data.root())?;
    let now = now_ms();
    let now_s = now / 1000;
    let ca = CertificateAuthority::new_root(&options.msp_id, SigningKey::generate())
        .map_err(|e| NodeError::Identity(e.to_string()))?;
    let peer_name = format!("peer0.{}", options.msp_id.to_lowercase());
    let orderer_name = format!("orderer0.{}", options.msp_id.to_lowercase());
    let peer = issue_identity(&ca, &peer_name, Role::Peer, now_s)?;
    let orderer = issue_identity(&ca, &orderer_name, Role::Orderer, now_s)?;
    let admin = issue_identity(&ca, &options.admin_email, Role::Admin, now_s)?;

    files::write_file(&data.ca_certificate(), ca.certificate_der())?;
    peer.save(&data.node_identity("peer"))?;
    orderer.save(&data.node_identity("orderer"))?;
    let config = ChannelConfig {
        format_version: FORMAT_VERSION,
        channel: options.channel.clone(),
        orgs: vec![OrgConfig {
            msp_id: options.msp_id.clone(),
            root_certificate: ca.certificate_der().to_vec(),
            crls: Vec::new(),
        }],
        orderers: vec![orderer.certificate.clone()],
        contract: medledger_contract::ehr::CONTRACT_NAME.to_owned(),
        endorsement_policy: format!("OR('{}.peer')", options.msp_id),
        batch: options.batch.clone(),
        proposal_window_ms: medledger_types::limits::PROPOSAL_WINDOW_MS_DEFAULT,
    };
    files::write_file(
        &data.root().join("node.toml"),
        format!(
            "# Written by `medledger up` on first run; informational. The ledger's genesis block is authoritative.\nmsp_id = {:?}\nchannel = {:?}\npeer = {:?}\norderer = {:?}\n",
            options.msp_id, options.channel, peer_name, orderer_name
        )
        .as_bytes(),
    )?;
    let orderer_identity = OrdererIdentity {
        key: orderer.key,
        certificate: orderer.certificate,
    };
    let (genesis, _) = BlockAssembler::genesis(&config, orderer_identity, now);
    keep_admin(&FirstRun {
        admin: &admin,
        ca: &ca,
    })?;
    let store = RedbStore::open(&data.ledger())?;
    files::make_private(&data.ledger())?;
    Peer::bootstrap(&store, &genesis)?;
    Ok(InitOutcome::Created {
        admin: Box::new(admin),
        ca: Box::new(ca),
    })
}
