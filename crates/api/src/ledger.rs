//! The ledger as an auditor reads it (the views are the service's [`medledger_service::ledger`]; the
//! structs here only document them in the OpenAPI document): blocks, transactions with their inclusion
//! proofs, the node's signed checkpoint of the ledger-wide Merkle tree, the organizations' root
//! certificates, and consistency proofs between two tree sizes.
//!
//! Everything a client needs to check a proof itself is in the answers, as the bytes the ledger hashed
//! and signed: a transaction's envelope (base64) is the Merkle leaf input, so
//! `verify_inclusion(leaf_hash(envelope), leaf_index, tree_size, audit_path, root)` must hold against the
//! checkpoint's root; the checkpoint's signature covers its canonical bytes (base64) under the signer's
//! certificate, which an organization's root certificate (`GET /ledger/roots`) signed. Hashes are hex.
//! Any logged-in person may read these; a transaction's envelope only one who may read every kind of
//! record in full (doctors): for the others it is `null`, and the proof's `leaf_hash` proves inclusion.
//!
//! | status | when |
//! |---|---|
//! | 400 | a malformed number or transaction id; a consistency range with `from` after `to` |
//! | 401 | not logged in |
//! | 404 | no such block or committed transaction; a tree size beyond the ledger's; a transaction that is not in the tree of the size asked for |

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use medledger_service::{AppState, ledger};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiError;
use crate::auth::Authenticated;
use crate::error::Problem;

/// A block's header, hashes in hex.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BlockHeaderView {
    pub format_version: u8,
    pub number: u64,
    /// SHA-256 of the previous block's header (zeros for the genesis block).
    pub previous_hash: String,
    /// Merkle root of this block's entries.
    pub data_hash: String,
    /// Root of the ledger-wide Merkle tree after this block.
    pub ledger_root: String,
    /// Entries in the ledger-wide tree after this block.
    pub ledger_size: u64,
    pub timestamp: String,
    pub timestamp_ms: i64,
}

/// One entry of a block.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BlockTransaction {
    pub index: u32,
    /// The transaction id (hex); `null` for an entry that is not a transaction envelope (the genesis
    /// block's channel configuration) or does not decode.
    pub tx_id: Option<String>,
    /// `valid`, or why the transaction is invalid (`mvcc_read_conflict`, `bad_signature`, ...).
    pub validation_code: String,
}

/// A block: its header, the hash of the header, and each entry's id and validation code.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BlockView {
    pub number: u64,
    /// SHA-256 of the header's canonical bytes: what the next block links to and the orderer signed.
    pub header_hash: String,
    pub header: BlockHeaderView,
    pub tx_count: u64,
    pub transactions: Vec<BlockTransaction>,
    /// The orderer's Ed25519 signature over the header hash (hex).
    pub orderer_signature: String,
    /// The orderer's X.509 certificate (DER, base64).
    pub orderer_certificate: String,
}

/// Who signed a transaction, from the creator certificate in its proposal.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SignerView {
    /// The organization (MSP id).
    pub org: String,
    /// `admin`, `doctor`, `auditor`, ...; `null` if the certificate names no role.
    pub role: Option<String>,
    /// The certificate's common name: a person's email.
    pub name: String,
    /// The creator certificate (DER, base64).
    pub certificate: String,
}

/// An RFC 9162 inclusion proof of a leaf in the ledger-wide tree of `tree_size` leaves.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct InclusionProofView {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// SHA-256(0x00 || envelope), hex.
    pub leaf_hash: String,
    /// Sibling hashes from the leaf up, hex.
    pub audit_path: Vec<String>,
    /// The tree's root at `tree_size`, hex.
    pub root: String,
}

/// A committed transaction with its proof.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TransactionView {
    pub tx_id: String,
    pub block_number: u64,
    pub tx_index: u32,
    pub validation_code: String,
    /// The block's timestamp.
    pub block_timestamp: String,
    pub block_timestamp_ms: i64,
    /// `null` when the envelope does not decode (an invalid transaction kept in its block).
    pub signer: Option<SignerView>,
    /// The proposal's channel, contract and function.
    pub channel: Option<String>,
    pub contract: Option<String>,
    pub function: Option<String>,
    /// The envelope's canonical bytes as ordered, base64: the Merkle leaf input. `null` when withheld
    /// from this reader: the envelope holds the call's clinical content, so only a role that may read
    /// every kind of record in full (doctors) gets it; `inclusion_proof.leaf_hash` still proves
    /// inclusion.
    pub envelope: Option<String>,
    pub inclusion_proof: InclusionProofView,
}

/// The ledger-wide tree's head, signed by this node's peer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CheckpointView {
    pub channel: String,
    /// The last block in the tree.
    pub block_number: u64,
    pub tree_size: u64,
    /// Hex.
    pub root: String,
    /// The last block's timestamp.
    pub timestamp: String,
    pub timestamp_ms: i64,
    /// The checkpoint's canonical bytes (base64): what the signature covers.
    pub checkpoint: String,
    /// Ed25519 signature over `checkpoint`'s bytes, hex.
    pub signature: String,
    /// The signing peer's X.509 certificate (DER, base64).
    pub signer_certificate: String,
}

/// An organization's root certificate: the trust anchor its certificates (the checkpoint signer's
/// among them) chain to.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OrganizationRootView {
    /// The organization (MSP id): the `O=` of every certificate it issues.
    pub msp_id: String,
    /// The organization CA's self-signed X.509 certificate (DER, base64).
    pub certificate: String,
    /// SHA-256 of the certificate's DER, hex: compare it with the fingerprint the organization
    /// publishes elsewhere, since this node could serve any certificate.
    pub fingerprint: String,
}

/// The trust anchors of the channel: its organizations' root certificates, from its configuration.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RootsView {
    pub channel: String,
    pub organizations: Vec<OrganizationRootView>,
}

/// A consistency proof: the tree of `from` leaves is a prefix of the tree of `to` leaves.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsistencyView {
    pub from: u64,
    pub to: u64,
    /// The root at `from`, hex.
    pub from_root: String,
    /// The root at `to`, hex.
    pub to_root: String,
    /// Hex, as RFC 9162 §2.1.4.
    pub proof: Vec<String>,
}

/// `?tree_size=` of a transaction's proof.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// Prove inclusion in the tree of this size (an earlier checkpoint's); default: the current size.
    #[param(minimum = 1)]
    pub tree_size: Option<u64>,
}

/// `?from=&to=` of a consistency proof.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size, at least 1.
    #[param(minimum = 1)]
    pub from: u64,
    /// The newer tree size, at least `from` and at most the current size; default: the current size.
    #[param(minimum = 1)]
    pub to: Option<u64>,
}

/// Get a block by number.
#[utoipa::path(
    get, path = "/ledger/blocks/{number}", tag = "ledger",
    params(("number" = u64, Path, description = "The block number (0 is the genesis block)")),
    responses(
        (status = 200, description = "The block", body = BlockView),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such block", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
async fn get_block(
    State(state): State<AppState>,
    _session: Authenticated,
    number: Result<Path<u64>, PathRejection>,
) -> Result<Json<ledger::BlockView>, ApiError> {
    let Path(number) = number
        .map_err(|e| ApiError::bad_request(format!("the block number: {}", e.body_text())))?;
    Ok(Json(ledger::block(&state, number).await?))
}

/// Get a committed transaction with its inclusion proof.
///
/// The proof is against the current checkpoint (`GET /ledger/checkpoint`) unless `tree_size` names an
/// earlier one. The envelope is `null` unless the reader may read every kind of record in full
/// (doctors): administrators and auditors get the header facts and the proof, never the call's content.
#[utoipa::path(
    get, path = "/ledger/transactions/{tx_id}", tag = "ledger",
    params(
        ("tx_id" = String, Path, description = "The transaction id: 64 hexadecimal digits", pattern = "^[0-9a-fA-F]{64}$"),
        ProofQuery,
    ),
    responses(
        (status = 200, description = "The transaction and its proof", body = TransactionView),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such committed transaction; or the tree of `tree_size` is larger than the ledger's, or ends before the transaction", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
async fn get_transaction(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    tx_id: Result<Path<String>, PathRejection>,
    proof: Result<Query<ProofQuery>, QueryRejection>,
) -> Result<Json<ledger::TransactionView>, ApiError> {
    let Path(tx_id) = tx_id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Query(proof) = proof.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(
        ledger::transaction(&state, &session, &tx_id, proof.tree_size).await?,
    ))
}

/// The ledger-wide Merkle tree's current head, signed by this node.
#[utoipa::path(
    get, path = "/ledger/checkpoint", tag = "ledger",
    responses(
        (status = 200, description = "The signed checkpoint", body = CheckpointView),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
async fn get_checkpoint(
    State(state): State<AppState>,
    _session: Authenticated,
) -> Result<Json<ledger::CheckpointView>, ApiError> {
    Ok(Json(ledger::checkpoint(&state).await?))
}

/// The organizations' root certificates: what the checkpoint signer's certificate must chain to.
///
/// The fingerprints are only as trustworthy as this node: compare them with ones published elsewhere.
#[utoipa::path(
    get, path = "/ledger/roots", tag = "ledger",
    responses(
        (status = 200, description = "The channel's organization root certificates", body = RootsView),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
async fn get_roots(
    State(state): State<AppState>,
    _session: Authenticated,
) -> Result<Json<ledger::RootsView>, ApiError> {
    Ok(Json(ledger::roots(&state).await?))
}

/// A consistency proof between two sizes of the ledger-wide tree.
#[utoipa::path(
    get, path = "/ledger/consistency", tag = "ledger",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyView),
        (status = 400, description = "Malformed request, or `from` after `to`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A tree size beyond the ledger's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
async fn get_consistency(
    State(state): State<AppState>,
    _session: Authenticated,
    range: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<ledger::ConsistencyView>, ApiError> {
    let Query(range) = range.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(
        ledger::consistency(&state, range.from, range.to).await?,
    ))
}

/// Where a transaction stands (the documentation twin of the service's view).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TransactionStatusView {
    tx_id: String,
    /// `committed` (in a block, valid or not: see `validation_code`), or `not_committed` (not in any
    /// block yet: still on its way, or never ordered).
    #[schema(pattern = "^(committed|not_committed)$")]
    status: String,
    /// The block holding it, once committed.
    block_number: Option<u64>,
    /// Its index in the block, once committed.
    tx_index: Option<u32>,
    /// `valid`, or why the transaction changed nothing; once committed.
    validation_code: Option<String>,
}

/// Where a transaction stands: committed (valid or not) or not yet. A write whose commit takes longer
/// than its wait answers 202 with the transaction id and this route, so that its author can tell
/// whether to write again.
#[utoipa::path(
    get, path = "/ledger/transactions/{tx_id}/status", tag = "ledger",
    params(
        ("tx_id" = String, Path, description = "The transaction id: 64 hexadecimal digits", pattern = "^[0-9a-fA-F]{64}$"),
    ),
    responses(
        (status = 200, description = "Committed or not yet", body = TransactionStatusView),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
async fn get_transaction_status(
    State(state): State<AppState>,
    _session: Authenticated,
    tx_id: Result<Path<String>, PathRejection>,
) -> Result<Json<ledger::TransactionStatusView>, ApiError> {
    let Path(tx_id) = tx_id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(ledger::transaction_status(&state, &tx_id).await?))
}

/// The ledger routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_block))
        .routes(routes!(get_transaction))
        .routes(routes!(get_transaction_status))
        .routes(routes!(get_checkpoint))
        .routes(routes!(get_roots))
        .routes(routes!(get_consistency))
}
