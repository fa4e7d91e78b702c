//! The ledger explorer, for any logged-in person: the current checkpoint and the latest blocks (paged
//! backwards), a block's header and its transactions with their validation codes, and a transaction's
//! details with its inclusion proof and the checkpoint's signature, **checked in the browser**.
//!
//! Routes: `GET /explorer` (`?before=N`: the blocks before block N), `GET /explorer/blocks/{n}`,
//! `GET /explorer/tx/{tx_id}`.
//!
//! The views come from the REST API's service functions ([`ledger::block`], [`ledger::transaction`],
//! [`ledger::checkpoint`], [`ledger::roots`]), so the page shows a transaction's envelope exactly when
//! the API would ([`ledger::may_read_envelopes`]: doctors). The transaction page reads the checkpoint
//! first and asks for the proof in the tree of exactly the checkpoint's size, so a block committed
//! between the two reads cannot make a correct proof fail.
//!
//! The page embeds in `data-` attributes of `#proof`: the envelope (base64; **absent** when withheld
//! from the reader), the leaf hash, leaf index, tree size and audit path; the signed checkpoint's
//! canonical bytes, signature and signer certificate; the organizations' root certificates; and the texts
//! of every outcome in the page's language. `static/app.js` does not trust the page's root: it reads the
//! root and size out of the signed checkpoint bytes, verifies their Ed25519 signature with the signer
//! certificate's key, verifies that certificate's Ed25519 signature with a root certificate whose subject
//! is its issuer (and that it names a peer of that organization, valid at the checkpoint's time), then
//! climbs the audit path from SHA-256(0x00 ‖ envelope) — or from the given leaf hash when the envelope is
//! withheld — as RFC 9162 §2.1.3.2 says (WebCrypto throughout). It writes "verified" or "not verified:
//! why" into `#proof-status` (`role="status"`) and, when verified, the root certificate's SHA-256
//! fingerprint and the signed root into `#proof-checked`, for a person to compare with a fingerprint
//! published elsewhere. Without JavaScript `#proof-status` says the check needs JavaScript, and the proof
//! data is shown on the page. `app.js` is a static file with no inline script or handler (the
//! content-security policy allows scripts from this origin only).

use askama::Template;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use medledger_types::ValidationCode;
use serde::Deserialize;

use super::i18n::{self, Lang};
use super::page::{Page, WebUser};
use super::pages::{PageError, render};
use medledger_service::ledger::{self, BlockView, CheckpointView, TransactionView};
use medledger_service::{AppState, ServiceError};

/// Blocks listed per explorer page.
pub const BLOCKS_PER_PAGE: u64 = 20;

/// A validation code's name in words (`validation.*`), or the code itself if unknown.
fn code_name(lang: Lang, code: &str) -> String {
    let key = format!("validation.{code}");
    if i18n::has(&key) {
        i18n::t(lang, &key).to_owned()
    } else {
        code.to_owned()
    }
}

fn is_valid(code: &str) -> bool {
    code == ValidationCode::Valid.as_str()
}

/// The checkpoint as pages show it.
#[derive(Debug, Clone)]
pub struct CheckpointSummary {
    pub block_number: u64,
    pub tree_size: u64,
    pub root: String,
    pub when: String,
}

fn summary(lang: Lang, checkpoint: &CheckpointView) -> CheckpointSummary {
    CheckpointSummary {
        block_number: checkpoint.block_number,
        tree_size: checkpoint.tree_size,
        root: checkpoint.root.clone(),
        when: i18n::format_timestamp_ms(lang, checkpoint.timestamp_ms),
    }
}

// --- the home page -----------------------------------------------------------------------------------

/// A row of the latest blocks.
#[derive(Debug, Clone)]
pub struct BlockRow {
    pub number: u64,
    pub when: String,
    pub tx_count: u64,
    pub header_hash: String,
}

#[derive(Template)]
#[template(path = "explorer/home.html")]
struct HomePage<'a> {
    page: &'a Page,
    checkpoint: CheckpointSummary,
    blocks: Vec<BlockRow>,
    older_link: Option<String>,
    newest_link: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct HomeQuery {
    #[serde(default)]
    before: Option<u64>,
}

/// `GET /explorer`.
pub async fn home(
    State(state): State<AppState>,
    user: WebUser,
    query: Result<Query<HomeQuery>, QueryRejection>,
) -> Response {
    let page = &user.page;
    let result = async {
        let Query(query) = query.map_err(|e| ServiceError::BadRequest(e.body_text()))?;
        let checkpoint = ledger::checkpoint(&state).await?;
        let last = checkpoint.block_number;
        // Blocks `first..=top`, newest first.
        let top = match query.before {
            Some(0) => None,
            Some(before) => Some(before.saturating_sub(1).min(last)),
            None => Some(last),
        };
        let mut blocks = Vec::new();
        if let Some(top) = top {
            let first = top.saturating_sub(BLOCKS_PER_PAGE - 1);
            for number in (first..=top).rev() {
                let block = ledger::block(&state, number).await?;
                blocks.push(BlockRow {
                    number,
                    when: i18n::format_timestamp_ms(page.lang, block.header.timestamp_ms),
                    tx_count: block.tx_count,
                    header_hash: block.header_hash,
                });
            }
        }
        let older_link = blocks
            .last()
            .filter(|b| b.number > 0)
            .map(|b| format!("/explorer?before={}", b.number));
        Ok::<_, ServiceError>(HomePage {
            page,
            checkpoint: summary(page.lang, &checkpoint),
            blocks,
            older_link,
            newest_link: query.before.is_some(),
        })
    }
    .await;
    match result {
        Ok(home) => render(&home),
        Err(e) => PageError::new(page, e).into_response(),
    }
}

// --- a block -----------------------------------------------------------------------------------------

/// A transaction row of a block page.
#[derive(Debug, Clone)]
pub struct TxRow {
    pub index: u32,
    pub tx_id: Option<String>,
    pub code: String,
    pub code_name: String,
    pub valid: bool,
}

#[derive(Template)]
#[template(path = "explorer/block.html")]
struct BlockPage<'a> {
    page: &'a Page,
    title: String,
    block: BlockView,
    when: String,
    transactions: Vec<TxRow>,
    has_next: bool,
}

/// `GET /explorer/blocks/{n}`.
pub async fn block(
    State(state): State<AppState>,
    user: WebUser,
    number: Result<Path<u64>, PathRejection>,
) -> Response {
    let page = &user.page;
    let Ok(Path(number)) = number else {
        return PageError::new(page, ServiceError::NotFound("no such block".into()))
            .into_response();
    };
    let block = match ledger::block(&state, number).await {
        Ok(block) => block,
        Err(e) => return PageError::new(page, e).into_response(),
    };
    let transactions = block
        .transactions
        .iter()
        .map(|tx| TxRow {
            index: tx.index,
            tx_id: tx.tx_id.clone(),
            code: tx.validation_code.clone(),
            code_name: code_name(page.lang, &tx.validation_code),
            valid: is_valid(&tx.validation_code),
        })
        .collect();
    let has_next = ledger::checkpoint(&state)
        .await
        .is_ok_and(|c| c.block_number > number);
    render(&BlockPage {
        page,
        title: page.tf("explorer.block", &[("number", &number.to_string())]),
        when: i18n::format_timestamp_ms(page.lang, block.header.timestamp_ms),
        block,
        transactions,
        has_next,
    })
}

// --- a transaction -----------------------------------------------------------------------------------

/// The texts `app.js` shows, in the page's language (so the script needs no catalogue).
#[derive(Debug, Clone)]
pub struct ProofTexts {
    pub verifying: String,
    pub verified: String,
    pub not_verified: String,
    pub mismatch: String,
    pub no_webcrypto: String,
    pub no_ed25519: String,
    pub bad_data: String,
    pub failed: String,
    pub needs_javascript: String,
    pub signature_mismatch: String,
    pub chain_mismatch: String,
    pub signer_not_peer: String,
    pub signer_not_valid: String,
    pub root_differs: String,
    pub leaf_differs: String,
}

impl ProofTexts {
    fn of(page: &Page) -> ProofTexts {
        let t = |key: &str| page.t(key).to_owned();
        ProofTexts {
            verifying: t("explorer.verifying"),
            verified: t("explorer.verified"),
            not_verified: t("explorer.not_verified"),
            mismatch: t("explorer.proof_mismatch"),
            no_webcrypto: t("explorer.no_webcrypto"),
            no_ed25519: t("explorer.no_ed25519"),
            bad_data: t("explorer.proof_bad_data"),
            failed: t("explorer.proof_failed"),
            needs_javascript: t("explorer.needs_javascript"),
            signature_mismatch: t("explorer.signature_mismatch"),
            chain_mismatch: t("explorer.chain_mismatch"),
            signer_not_peer: t("explorer.signer_not_peer"),
            signer_not_valid: t("explorer.signer_not_valid"),
            root_differs: t("explorer.root_differs"),
            leaf_differs: t("explorer.leaf_differs"),
        }
    }
}

#[derive(Template)]
#[template(path = "explorer/tx.html")]
struct TxPage<'a> {
    page: &'a Page,
    tx: TransactionView,
    code_name: String,
    valid: bool,
    when: String,
    /// The envelope's size in words; `None` when the envelope is withheld from this reader.
    envelope_size: Option<String>,
    role_name: String,
    checkpoint: CheckpointView,
    checkpoint_summary: CheckpointSummary,
    /// The audit path as the `data-audit-path` attribute: hex hashes separated by commas.
    audit_path: String,
    /// The organizations' root certificates as the `data-root-certificates` attribute: base64 DER
    /// separated by commas.
    root_certificates: String,
    /// What the browser checks, in words: with the envelope, or from the leaf hash alone.
    proof_explained: String,
    texts: ProofTexts,
}

/// `GET /explorer/tx/{tx_id}`.
pub async fn transaction(
    State(state): State<AppState>,
    user: WebUser,
    tx_id: Result<Path<String>, PathRejection>,
) -> Response {
    let page = &user.page;
    let Ok(Path(tx_id)) = tx_id else {
        return PageError::new(page, ServiceError::NotFound("no such transaction".into()))
            .into_response();
    };
    let result = async {
        // The checkpoint first, then the proof in exactly its tree (see the module doc).
        let checkpoint = ledger::checkpoint(&state).await?;
        let tx =
            ledger::transaction(&state, &user.session, &tx_id, Some(checkpoint.tree_size)).await?;
        let roots = ledger::roots(&state).await?;
        Ok::<_, ServiceError>((checkpoint, tx, roots))
    }
    .await;
    let (checkpoint, tx, roots) = match result {
        Ok(found) => found,
        Err(e) => return PageError::new(page, e).into_response(),
    };
    let envelope_size = tx.envelope.as_ref().map(|envelope| {
        let bytes = BASE64.decode(envelope).map_or(0, |b| b.len());
        page.tf("explorer.bytes", &[("count", &bytes.to_string())])
    });
    let role_name = tx
        .signer
        .as_ref()
        .and_then(|s| s.role.as_deref())
        .map(|role| {
            let key = format!("role.{role}");
            if i18n::has(&key) {
                page.t(&key).to_owned()
            } else {
                role.to_owned()
            }
        })
        .unwrap_or_default();
    let proof_explained = if tx.envelope.is_some() {
        page.t("explorer.proof_explained")
    } else {
        page.t("explorer.proof_explained_withheld")
    };
    render(&TxPage {
        page,
        code_name: code_name(page.lang, &tx.validation_code),
        valid: is_valid(&tx.validation_code),
        when: i18n::format_timestamp_ms(page.lang, tx.block_timestamp_ms),
        envelope_size,
        role_name,
        checkpoint_summary: summary(page.lang, &checkpoint),
        checkpoint,
        audit_path: tx.inclusion_proof.audit_path.join(","),
        root_certificates: roots
            .organizations
            .iter()
            .map(|org| org.certificate.as_str())
            .collect::<Vec<_>>()
            .join(","),
        proof_explained: proof_explained.to_owned(),
        texts: ProofTexts::of(page),
        tx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_codes_are_named_in_words() {
        assert_eq!(code_name(Lang::En, "valid"), "Valid");
        assert_eq!(
            code_name(Lang::Es, "mvcc_read_conflict"),
            "Conflicto de lectura (los datos cambiaron mientras tanto)"
        );
        assert_eq!(code_name(Lang::En, "unknown"), "unknown");
    }
}
