//! The ledger explorer, for any logged-in person: the current checkpoint and the latest blocks (paged
//! backwards), a block's header and its transactions with their validation codes, and a transaction's
//! details with its inclusion proof, **checked in the browser**.
//!
//! Routes: `GET /explorer` (`?before=N`: the blocks before block N), `GET /explorer/blocks/{n}`,
//! `GET /explorer/tx/{tx_id}`.
//!
//! The views come from the REST API's service functions ([`ledger::block`], [`ledger::transaction`],
//! [`ledger::checkpoint`]). The transaction page reads the checkpoint first and asks for the proof in the
//! tree of exactly the checkpoint's size, so a block committed between the two reads cannot make a
//! correct proof fail. The page embeds the envelope (base64), the leaf index, the tree size, the audit
//! path and the checkpoint's root in `data-` attributes of `#proof`, and the texts of every outcome in the
//! page's language; `static/app.js` computes SHA-256(0x00 ‖ envelope), climbs the path to a root as RFC
//! 9162 §2.1.3.2 says (WebCrypto), and writes "verified" or "not verified: why" into `#proof-status`
//! (`role="status"`). Without JavaScript that element says the check needs JavaScript, and the proof data
//! is shown on the page.

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
    pub bad_data: String,
    pub failed: String,
    pub needs_javascript: String,
}

#[derive(Template)]
#[template(path = "explorer/tx.html")]
struct TxPage<'a> {
    page: &'a Page,
    tx: TransactionView,
    code_name: String,
    valid: bool,
    when: String,
    envelope_size: String,
    role_name: String,
    checkpoint: CheckpointSummary,
    /// The audit path as the `data-audit-path` attribute: hex hashes separated by commas.
    audit_path: String,
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
        let tx = ledger::transaction(&state, &tx_id, Some(checkpoint.tree_size)).await?;
        Ok::<_, ServiceError>((checkpoint, tx))
    }
    .await;
    let (checkpoint, tx) = match result {
        Ok(found) => found,
        Err(e) => return PageError::new(page, e).into_response(),
    };
    let envelope_bytes = BASE64.decode(&tx.envelope).map_or(0, |b| b.len());
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
    let not_verified = page.t("explorer.not_verified");
    render(&TxPage {
        page,
        code_name: code_name(page.lang, &tx.validation_code),
        valid: is_valid(&tx.validation_code),
        when: i18n::format_timestamp_ms(page.lang, tx.block_timestamp_ms),
        envelope_size: page.tf("explorer.bytes", &[("count", &envelope_bytes.to_string())]),
        role_name,
        checkpoint: summary(page.lang, &checkpoint),
        audit_path: tx.inclusion_proof.audit_path.join(","),
        texts: ProofTexts {
            verifying: page.t("explorer.verifying").to_owned(),
            verified: page.t("explorer.verified").to_owned(),
            not_verified: not_verified.to_owned(),
            mismatch: page.t("explorer.proof_mismatch").to_owned(),
            no_webcrypto: page.t("explorer.no_webcrypto").to_owned(),
            bad_data: page.t("explorer.proof_bad_data").to_owned(),
            failed: page.t("explorer.proof_failed").to_owned(),
            needs_javascript: page.t("explorer.needs_javascript").to_owned(),
        },
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
