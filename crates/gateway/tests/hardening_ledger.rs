//! The ledger under a hostile insider (security review: "Hardening against a hostile insider and a
//! hostile network"). The failures this pins: an administrator or an auditor reading clinical content —
//! a note's text, a patient's name — through the ledger routes or the explorer page, which carried every
//! envelope's bytes, while the record routes refuse them; a withheld envelope taking away what inclusion
//! needs (the leaf hash); and the explorer page embedding a checkpoint signature or root certificates
//! that the browser's check could not verify.
//!
//! Auditors cannot be registered through the API (only administrators and doctors), so the auditor here
//! is a wallet entry with an auditor certificate from the organization CA, made as the service makes a
//! registration's (issue, seal, insert), who then logs in through the ordinary login.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use medledger_crypto::merkle::{leaf_hash, verify_inclusion};
use medledger_testkit::{
    ADMIN_EMAIL, ADMIN_PASSWORD, DOCTOR_PASSWORD, TestBrowser, TestGateway, attribute_of,
};
use medledger_types::{Checkpoint, Hash, Role, Signature, codec};
use medledger_wallet::{PasswordParams, Wallet};
use serde_json::{Value, json};

const AUDITOR_EMAIL: &str = "auditor@hospital.test";
const AUDITOR_PASSWORD: &str = "auditor-initial-password";

/// What no administrator or auditor may read: the patient's name and both versions of the note.
const GIVEN_NAME: &str = "Zenobia";
const FAMILY_NAME: &str = "Quintanilla-Ybarra";
const NOTE_TEXT: &str = "Dolor torácico atípico; antecedente de consumo de cocaína.";
const AMENDED_TEXT: &str = "Dolor torácico atípico; prueba de embarazo positiva.";
const SECRETS: [&str; 4] = [GIVEN_NAME, FAMILY_NAME, NOTE_TEXT, AMENDED_TEXT];

fn hash(value: &Value) -> Hash {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is a hex string"))
        .parse()
        .unwrap_or_else(|_| panic!("{value} is 64 hex digits"))
}

fn hashes(value: &Value) -> Vec<Hash> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{value} is an array"))
        .iter()
        .map(hash)
        .collect()
}

fn base64(text: &str) -> Vec<u8> {
    BASE64
        .decode(text)
        .unwrap_or_else(|e| panic!("{text:?} is base64: {e}"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A secret that `text` holds, plainly or in bytes it encodes (base64 or hex, as the ledger's answers
/// carry bytes).
fn secret_in(text: &str) -> Option<&'static str> {
    let mut decoded: Vec<Vec<u8>> = vec![text.as_bytes().to_vec()];
    decoded.extend(BASE64.decode(text).ok());
    decoded.extend(hex::decode(text).ok());
    SECRETS.into_iter().find(|secret| {
        decoded
            .iter()
            .any(|bytes| contains(bytes, secret.as_bytes()))
    })
}

/// A secret anywhere in `value`: any string, at any depth (keys included).
fn secret_anywhere(value: &Value) -> Option<&'static str> {
    match value {
        Value::String(text) => secret_in(text),
        Value::Array(items) => items.iter().find_map(secret_anywhere),
        Value::Object(fields) => fields
            .iter()
            .find_map(|(key, inner)| secret_in(key).or_else(|| secret_anywhere(inner))),
        _ => None,
    }
}

fn required_attribute(html: &str, name: &str) -> String {
    attribute_of(html, name).unwrap_or_else(|| panic!("no {name} in {html}"))
}

/// A network where a doctor has written a patient, a note about her and an amendment of the note; an
/// administrator has registered the doctor; and an auditor exists.
struct Clinic {
    gateway: TestGateway,
    admin: String,
    doctor: String,
    auditor: String,
    doctor_email: String,
    /// The transactions that carry clinical content: the patient, the note, the amendment.
    clinical_tx_ids: Vec<String>,
}

impl Clinic {
    async fn open() -> Clinic {
        let gateway = TestGateway::start().await;
        let (doctor, doctor_email) = gateway.doctor(10).await;
        add_auditor(&gateway);
        let admin = gateway.admin_token().await;
        let auditor = gateway.login(AUDITOR_EMAIL, AUDITOR_PASSWORD).await;
        let mut clinic = Clinic {
            gateway,
            admin,
            doctor,
            auditor,
            doctor_email,
            clinical_tx_ids: Vec::new(),
        };
        let patient = clinic
            .write(
                "/patients",
                json!({
                    "person_id": 1, "gender_concept_id": 8532, "year_of_birth": 1990,
                    "race_concept_id": 0, "ethnicity_concept_id": 0,
                    "given_name": GIVEN_NAME, "family_name": FAMILY_NAME,
                }),
            )
            .await;
        let note = clinic
            .write(
                "/notes",
                json!({
                    "note_id": 7, "person_id": 1, "note_date": "2024-06-01",
                    "note_type_concept_id": 44814645, "note_class_concept_id": 44814639,
                    "note_text": NOTE_TEXT, "encoding_concept_id": 32678, "language_concept_id": 4182511,
                }),
            )
            .await;
        let amendment = clinic
            .write(
                "/notes/7/amendments",
                json!({"changes": {"note_text": AMENDED_TEXT}, "reason": "Resultado de laboratorio."}),
            )
            .await;
        clinic.clinical_tx_ids = [patient, note, amendment]
            .iter()
            .map(|written| {
                written["header"]["tx_id"]
                    .as_str()
                    .or_else(|| written["tx_id"].as_str())
                    .unwrap_or_else(|| panic!("a tx id in {written}"))
                    .to_owned()
            })
            .collect();
        clinic
    }

    /// A doctor's write, answered 201 or 200.
    async fn write(&self, path: &str, body: Value) -> Value {
        let response = self
            .gateway
            .post(&format!("/api/v1{path}"), Some(&self.doctor), body)
            .await;
        assert!(
            response.status == StatusCode::CREATED || response.status == StatusCode::OK,
            "{path}: {}",
            response.text()
        );
        response.json()
    }

    async fn get_ok(&self, token: &str, path: &str) -> Value {
        self.gateway
            .get_json(&format!("/api/v1{path}"), token)
            .await
    }

    /// Every committed transaction, block by block, as `token` reads the blocks: (block, tx id). Each
    /// block answer is checked for secrets on the way.
    async fn walk(&self, token: &str) -> Vec<(u64, String)> {
        let checkpoint = self.get_ok(token, "/ledger/checkpoint").await;
        let last = checkpoint["block_number"].as_u64().unwrap_or(0);
        let mut found = Vec::new();
        for number in 0..=last {
            let block = self
                .get_ok(token, &format!("/ledger/blocks/{number}"))
                .await;
            assert_eq!(secret_anywhere(&block), None, "block {number}: {block}");
            for entry in block["transactions"].as_array().into_iter().flatten() {
                if let Some(tx_id) = entry["tx_id"].as_str() {
                    found.push((number, tx_id.to_owned()));
                }
            }
        }
        found
    }
}

/// An auditor's wallet entry: an auditor certificate from the organization CA and the key sealed under
/// [`AUDITOR_PASSWORD`], as a registration makes one.
fn add_auditor(gateway: &TestGateway) {
    let state = &gateway.state;
    // The organization CA's key is sealed in the administrators' wallet entries only.
    let ca_key = state
        .inner
        .wallet
        .unlock(
            medledger_testkit::ADMIN_EMAIL,
            medledger_testkit::ADMIN_PASSWORD,
        )
        .ok()
        .and_then(|unlocked| unlocked.ca_key)
        .expect("the first administrator holds the CA's key");
    let ca = state
        .organization_ca(ca_key)
        .unwrap_or_else(|e| panic!("the organization CA: {e}"));
    let identity = medledger_node::init::issue_identity(
        &ca,
        AUDITOR_EMAIL,
        Role::Auditor,
        state.now_ms() / 1000,
    )
    .unwrap_or_else(|e| panic!("the CA issues an auditor certificate: {e}"));
    let sealed = Wallet::seal(
        AUDITOR_EMAIL,
        Role::Auditor,
        900,
        AUDITOR_PASSWORD,
        &identity,
        None,
        PasswordParams::CHEAP_FOR_TESTS,
        state.now_ms(),
    )
    .unwrap_or_else(|e| panic!("sealed: {e}"));
    state
        .inner
        .wallet
        .insert_new(sealed)
        .unwrap_or_else(|e| panic!("stored: {e}"));
}

#[tokio::test]
async fn administrators_and_auditors_walk_the_whole_ledger_and_read_no_clinical_content() {
    let clinic = Clinic::open().await;
    // The record routes refuse administrators and give auditors the header only ...
    clinic
        .gateway
        .get("/api/v1/notes/7", Some(&clinic.admin))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let audited = clinic.get_ok(&clinic.auditor, "/notes/7").await;
    assert_eq!(audited["record"], Value::Null, "{audited}");

    // ... and so, now, does the ledger: every block and every transaction, with a proof that verifies
    // from the leaf hash alone.
    let checkpoint = clinic.get_ok(&clinic.doctor, "/ledger/checkpoint").await;
    let tree_size = checkpoint["tree_size"].as_u64().unwrap_or(0);
    let root = hash(&checkpoint["root"]);
    let mut leaves = Vec::new();
    for (who, token) in [("admin", &clinic.admin), ("auditor", &clinic.auditor)] {
        let transactions = clinic.walk(token).await;
        assert!(transactions.len() >= 5, "{who}: {transactions:?}");
        for tx_id in &clinic.clinical_tx_ids {
            assert!(transactions.iter().any(|(_, id)| id == tx_id), "{tx_id}");
        }
        let mut seen = Vec::new();
        for (block, tx_id) in &transactions {
            let tx = clinic
                .get_ok(
                    token,
                    &format!("/ledger/transactions/{tx_id}?tree_size={tree_size}"),
                )
                .await;
            assert_eq!(tx["envelope"], Value::Null, "{who} {tx_id}: {tx}");
            assert_eq!(secret_anywhere(&tx), None, "{who} {tx_id}: {tx}");
            // The header facts stay.
            assert_eq!(tx["block_number"], *block);
            assert_eq!(tx["validation_code"], "valid");
            assert!(tx["function"].is_string() && tx["signer"]["name"].is_string());
            let proof = &tx["inclusion_proof"];
            let leaf = hash(&proof["leaf_hash"]);
            verify_inclusion(
                &leaf,
                proof["leaf_index"].as_u64().unwrap_or(u64::MAX),
                tree_size,
                &hashes(&proof["audit_path"]),
                &root,
            )
            .unwrap_or_else(|e| panic!("{who} {tx_id}: the leaf hash proves inclusion: {e:?}"));
            seen.push((tx_id.clone(), leaf));
        }
        leaves.push(seen);
    }
    assert_eq!(leaves[0], leaves[1], "both read the same leaves");

    // A doctor reads every envelope, and they do hold the clinical content withheld above; each hashes
    // to the leaf the others were given.
    let mut revealed = Vec::new();
    for (tx_id, leaf) in &leaves[0] {
        let tx = clinic
            .get_ok(
                &clinic.doctor,
                &format!("/ledger/transactions/{tx_id}?tree_size={tree_size}"),
            )
            .await;
        let envelope = base64(tx["envelope"].as_str().unwrap_or_else(|| panic!("{tx}")));
        assert_eq!(leaf_hash(&envelope), *leaf, "{tx_id}");
        revealed.extend(
            SECRETS
                .into_iter()
                .filter(|secret| contains(&envelope, secret.as_bytes())),
        );
    }
    for secret in SECRETS {
        assert!(revealed.contains(&secret), "{secret} is in an envelope");
    }
}

#[tokio::test]
async fn the_explorer_page_carries_no_envelope_for_administrators_and_auditors() {
    let clinic = Clinic::open().await;
    let mut admin = TestBrowser::new(&clinic.gateway);
    admin.accept_language = Some("en".into());
    admin.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut auditor = TestBrowser::new(&clinic.gateway);
    auditor.accept_language = Some("es".into());
    auditor.login(AUDITOR_EMAIL, AUDITOR_PASSWORD).await;
    let mut doctor = TestBrowser::new(&clinic.gateway);
    doctor.accept_language = Some("en".into());
    doctor.login(&clinic.doctor_email, DOCTOR_PASSWORD).await;

    for tx_id in &clinic.clinical_tx_ids {
        let path = format!("/explorer/tx/{tx_id}");
        let from_api = clinic
            .get_ok(&clinic.doctor, &format!("/ledger/transactions/{tx_id}"))
            .await;
        let envelope = from_api["envelope"].as_str().unwrap_or_default().to_owned();
        assert!(!envelope.is_empty());

        // The doctor's page embeds the envelope, as before.
        let html = doctor.get(&path).await.text();
        assert_eq!(
            attribute_of(&html, "data-envelope").as_deref(),
            Some(envelope.as_str())
        );
        assert!(html.contains("id=\"proof-envelope\""));

        for (who, browser, withheld) in [
            (
                "admin",
                &mut admin,
                "Not shown: the envelope holds the call",
            ),
            ("auditor", &mut auditor, "No se muestra: el sobre contiene"),
        ] {
            let answer = browser.get(&path).await;
            assert_eq!(answer.status, StatusCode::OK, "{who}: {}", answer.text());
            let html = answer.text();
            assert_eq!(attribute_of(&html, "data-envelope"), None, "{who}: {html}");
            assert!(!html.contains("id=\"proof-envelope\""), "{who}");
            assert!(!html.contains(&envelope), "{who}: the envelope's base64");
            for secret in SECRETS {
                assert!(!html.contains(secret), "{who}: {secret} in {html}");
            }
            assert!(html.contains(withheld), "{who}: {html}");
            assert!(html.contains("id=\"proof-explained\""));
            // The page still carries what inclusion needs, from the leaf hash.
            let leaf = hash(&Value::from(required_attribute(&html, "data-leaf-hash")));
            assert_eq!(leaf, leaf_hash(&base64(&envelope)));
            let size: u64 = required_attribute(&html, "data-tree-size")
                .parse()
                .unwrap_or(0);
            let index: u64 = required_attribute(&html, "data-leaf-index")
                .parse()
                .unwrap_or(u64::MAX);
            let path_hashes: Vec<Hash> = required_attribute(&html, "data-audit-path")
                .split(',')
                .filter(|h| !h.is_empty())
                .map(|h| hash(&Value::from(h)))
                .collect();
            let root = hash(&Value::from(required_attribute(&html, "data-root")));
            verify_inclusion(&leaf, index, size, &path_hashes, &root)
                .unwrap_or_else(|e| panic!("{who}: the page's proof verifies: {e:?}"));
        }
    }
}

#[tokio::test]
async fn the_explorer_page_embeds_a_checkpoint_signed_under_an_organization_root() {
    let clinic = Clinic::open().await;
    let roots = clinic.get_ok(&clinic.auditor, "/ledger/roots").await;
    let organizations = roots["organizations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(organizations.len(), 1, "{roots}");
    // The root the route serves is the organization CA's certificate, with its SHA-256 fingerprint (as
    // `openssl x509 -inform DER -in DATA/msp/ca.crt -noout -fingerprint -sha256` prints it, in hex).
    let ca_file = clinic.gateway.data().ca_certificate();
    let ca_der = std::fs::read(&ca_file).unwrap_or_else(|e| panic!("{}: {e}", ca_file.display()));
    let root_der = base64(organizations[0]["certificate"].as_str().unwrap_or_default());
    assert_eq!(root_der, ca_der);
    assert_eq!(
        organizations[0]["fingerprint"],
        medledger_crypto::sha256(&ca_der).to_hex()
    );
    let ca = medledger_crypto::x509::parse_certificate(&ca_der)
        .unwrap_or_else(|e| panic!("the CA certificate parses: {e}"));
    assert_eq!(organizations[0]["msp_id"], ca.msp_id.as_str());
    // Anyone logged in may read it; nobody else.
    for token in [&clinic.admin, &clinic.doctor] {
        assert_eq!(clinic.get_ok(token, "/ledger/roots").await, roots);
    }
    clinic
        .gateway
        .get("/api/v1/ledger/roots", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    // What app.js checks, checked here on the embedded data: the checkpoint's signature by the signer's
    // key, the signer's certificate issued by the embedded root, and the signed root and size as shown.
    let mut admin = TestBrowser::new(&clinic.gateway);
    admin.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let html = admin
        .get(&format!("/explorer/tx/{}", clinic.clinical_tx_ids[1]))
        .await
        .text();
    let checkpoint_bytes = base64(&required_attribute(&html, "data-checkpoint"));
    let signer_der = base64(&required_attribute(&html, "data-signer-certificate"));
    let signer = medledger_crypto::x509::parse_certificate(&signer_der)
        .unwrap_or_else(|e| panic!("the signer certificate parses: {e}"));
    let mut signature = [0u8; 64];
    hex::decode_to_slice(required_attribute(&html, "data-signature"), &mut signature)
        .unwrap_or_else(|e| panic!("a 64-byte signature: {e}"));
    signer
        .public_key
        .verify(&checkpoint_bytes, &Signature(signature))
        .unwrap_or_else(|e| panic!("the checkpoint signature verifies: {e}"));
    assert_eq!(signer.role, Some(Role::Peer));
    assert_eq!(signer.msp_id, ca.msp_id);
    let embedded_roots: Vec<Vec<u8>> = required_attribute(&html, "data-root-certificates")
        .split(',')
        .map(base64)
        .collect();
    assert_eq!(embedded_roots, vec![ca_der]);
    medledger_crypto::x509::verify_issued_by(&signer_der, &ca.public_key)
        .unwrap_or_else(|e| panic!("the signer is issued by the root: {e}"));
    let signed: Checkpoint = codec::decode("checkpoint", &checkpoint_bytes, 1024)
        .unwrap_or_else(|e| panic!("the checkpoint decodes: {e}"));
    assert_eq!(signed.root.to_hex(), required_attribute(&html, "data-root"));
    assert_eq!(
        signed.tree_size.to_string(),
        required_attribute(&html, "data-tree-size")
    );
    assert!(
        signed.timestamp_ms / 1000 >= signer.not_before_unix_s
            && signed.timestamp_ms / 1000 <= signer.not_after_unix_s
    );
    // The fingerprint's place is on the page, filled by the browser.
    assert!(html.contains("id=\"root-fingerprint\""), "{html}");
    assert!(html.contains("id=\"proof-checked\" hidden"), "{html}");
}
