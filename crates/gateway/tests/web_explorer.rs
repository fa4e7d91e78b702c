//! The ledger explorer through the served app: the failures this pins are a page closed to a logged-in
//! role, a block page without its transactions' codes, and — above all — proof data embedded in the
//! transaction page that would not verify (the browser's check would then say "not verified" for a
//! correct ledger), so the embedded values are verified here with the crypto crate.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use medledger_crypto::merkle::{leaf_hash, verify_inclusion};
use medledger_testkit::{
    ADMIN_EMAIL, ADMIN_PASSWORD, DOCTOR_PASSWORD, TestBrowser, TestGateway, attribute_of, location,
};
use medledger_types::Hash;

/// The value of attribute `name` in `html` (the first one), unescaped.
fn attribute(html: &str, name: &str) -> String {
    attribute_of(html, name).unwrap_or_else(|| panic!("no {name} in {html}"))
}

fn hash(hex: &str) -> Hash {
    hex.parse().unwrap_or_else(|_| panic!("{hex:?} is a hash"))
}

#[tokio::test]
async fn the_transaction_page_embeds_a_proof_that_verifies_against_the_checkpoint() {
    let gateway = TestGateway::start().await;
    let token = gateway.admin_token().await;
    // A few transactions, so that the tree has more than one leaf and the path is not empty.
    let mut tx_ids = Vec::new();
    for id in 1..=5 {
        let doctor = gateway
            .register_doctor(&token, id, &format!("d{id}@hospital.test"), DOCTOR_PASSWORD)
            .await;
        tx_ids.push(doctor["tx_id"].as_str().unwrap_or_default().to_owned());
    }
    let mut browser = TestBrowser::new(&gateway);
    browser.accept_language = Some("en".into());
    browser.login("d1@hospital.test", DOCTOR_PASSWORD).await;
    for tx_id in &tx_ids {
        let answer = browser.get(&format!("/explorer/tx/{tx_id}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let html = answer.text();
        assert!(
            html.contains("id=\"proof-status\" role=\"status\""),
            "{html}"
        );
        assert!(html.contains("The proof is checked in your browser with JavaScript."));
        assert!(html.contains("data-text-verified=\"Verified\""));
        assert!(html.contains("id=\"tx-code\" data-code=\"valid\""));
        assert!(html.contains(ADMIN_EMAIL), "the signer");
        let envelope = BASE64
            .decode(attribute(&html, "data-envelope"))
            .unwrap_or_else(|e| panic!("base64: {e}"));
        let index: u64 = attribute(&html, "data-leaf-index")
            .parse()
            .unwrap_or(u64::MAX);
        let size: u64 = attribute(&html, "data-tree-size").parse().unwrap_or(0);
        let path: Vec<Hash> = attribute(&html, "data-audit-path")
            .split(',')
            .filter(|h| !h.is_empty())
            .map(hash)
            .collect();
        let root = hash(&attribute(&html, "data-root"));
        assert!(!path.is_empty());
        verify_inclusion(&leaf_hash(&envelope), index, size, &path, &root)
            .unwrap_or_else(|e| panic!("the embedded proof verifies: {e:?}"));
        // The root is the current checkpoint's.
        let checkpoint = gateway
            .get("/api/v1/ledger/checkpoint", Some(&token))
            .await
            .json();
        assert_eq!(
            checkpoint["root"].as_str(),
            Some(attribute(&html, "data-root").as_str())
        );
        if let Ok(dump) = std::env::var("MEDLEDGER_PROOF_DUMP") {
            let fields: Vec<String> = [
                "data-envelope",
                "data-leaf-index",
                "data-tree-size",
                "data-audit-path",
                "data-root",
            ]
            .iter()
            .map(|n| attribute(&html, n))
            .collect();
            std::fs::write(format!("{dump}.{index}"), fields.join("\n"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let bad = browser.get("/explorer/tx/not-an-id").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let missing = browser
        .get(&format!("/explorer/tx/{}", "0".repeat(64)))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn blocks_show_their_transactions_with_codes_in_words_and_page_backwards() {
    let gateway = TestGateway::start().await;
    let token = gateway.admin_token().await;
    let doctor = gateway
        .register_doctor(&token, 7, "d7@hospital.test", DOCTOR_PASSWORD)
        .await;
    let block_number = doctor["block_number"].as_u64().unwrap_or(0);
    let tx_id = doctor["tx_id"].as_str().unwrap_or_default();
    let mut browser = TestBrowser::new(&gateway);
    browser.accept_language = Some("es".into());
    browser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let home = browser.get("/explorer").await;
    assert_eq!(home.status, StatusCode::OK);
    let html = home.text();
    assert!(html.contains("id=\"checkpoint-root\""), "{html}");
    assert!(html.contains(&format!("href=\"/explorer/blocks/{block_number}\"")));
    let block = browser
        .get(&format!("/explorer/blocks/{block_number}"))
        .await
        .text();
    assert!(
        block.contains(&format!("href=\"/explorer/tx/{tx_id}\"")),
        "{block}"
    );
    assert!(block.contains("data-code=\"valid\">Válida</td>"), "{block}");
    assert!(block.contains("id=\"header-hash\""));
    let genesis = browser.get("/explorer/blocks/0").await.text();
    assert!(genesis.contains("Configuración del canal"), "{genesis}");
    assert!(!genesis.contains("id=\"previous-block\""));
    let older = browser
        .get(&format!("/explorer?before={block_number}"))
        .await
        .text();
    assert!(!older.contains(&format!("<td><a href=\"/explorer/blocks/{block_number}\">")));
    assert!(older.contains("href=\"/explorer/blocks/0\""), "{older}");
    assert_eq!(
        browser.get("/explorer/blocks/999999").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        browser.get("/explorer/blocks/x").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_logged_in_role_may_use_the_explorer_and_nobody_else() {
    let gateway = TestGateway::start().await;
    let token = gateway.admin_token().await;
    gateway
        .register_doctor(&token, 3, "d3@hospital.test", DOCTOR_PASSWORD)
        .await;
    let mut anonymous = TestBrowser::new(&gateway);
    assert_eq!(
        location(&anonymous.get("/explorer").await).as_deref(),
        Some("/login?next=/explorer")
    );
    let mut doctor = TestBrowser::new(&gateway);
    doctor.login("d3@hospital.test", DOCTOR_PASSWORD).await;
    assert_eq!(doctor.get("/explorer").await.status, StatusCode::OK);
    assert_eq!(
        doctor.get("/explorer/blocks/0").await.status,
        StatusCode::OK
    );
    let mut admin = TestBrowser::new(&gateway);
    admin.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(admin.get("/explorer").await.status, StatusCode::OK);
}
