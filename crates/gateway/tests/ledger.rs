//! The ledger endpoints, checked the way an outside auditor would: every proof is verified here, in the
//! test, from the bytes the API returns, with nothing but the Merkle and signature primitives. The
//! failures this pins: an envelope that is not the leaf the tree holds, a proof against a root other
//! than the signed checkpoint's, a checkpoint whose signature does not cover what it claims, a newer
//! checkpoint that does not extend an older one, and bad ranges or ids answered as anything but 400/404.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use medledger_crypto::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use medledger_testkit::{TestGateway, TestResponse};
use medledger_types::{Checkpoint, Hash, Signature, codec};
use serde_json::{Value, json};

fn hash(value: &Value) -> Hash {
    value
        .as_str()
        .expect("a hex string")
        .parse()
        .expect("64 hex digits")
}

fn hashes(value: &Value) -> Vec<Hash> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(hash)
        .collect()
}

fn base64(value: &Value) -> Vec<u8> {
    BASE64
        .decode(value.as_str().expect("a base64 string"))
        .expect("base64")
}

struct Ledger {
    gateway: TestGateway,
    doctor: String,
    doctor_email: String,
}

impl Ledger {
    async fn open() -> Ledger {
        let gateway = TestGateway::start().await;
        let (doctor, doctor_email) = gateway.doctor(10).await;
        Ledger {
            gateway,
            doctor,
            doctor_email,
        }
    }

    async fn get(&self, path: &str) -> TestResponse {
        self.gateway
            .get(&format!("/api/v1{path}"), Some(&self.doctor))
            .await
    }

    async fn get_ok(&self, path: &str) -> Value {
        self.gateway
            .get_json(&format!("/api/v1{path}"), &self.doctor)
            .await
    }

    async fn create(&self, collection: &str, body: Value) -> Value {
        let response = self
            .gateway
            .post(&format!("/api/v1{collection}"), Some(&self.doctor), body)
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()
    }

    async fn patient(&self, id: i64) -> Value {
        self.create(
            "/patients",
            json!({
                "person_id": id,
                "gender_concept_id": 8507,
                "year_of_birth": 1975,
                "race_concept_id": 0,
                "ethnicity_concept_id": 0,
            }),
        )
        .await
    }

    async fn note(&self, id: i64, patient_id: i64) -> Value {
        self.create(
            "/notes",
            json!({
                "note_id": id,
                "person_id": patient_id,
                "note_date": "2024-06-01",
                "note_type_concept_id": 44814645,
                "note_class_concept_id": 44814639,
                "note_text": "Control: presión arterial normal.",
                "encoding_concept_id": 32678,
                "language_concept_id": 4182511,
            }),
        )
        .await
    }

    /// The checkpoint, with its signature verified against its signer's certificate and its JSON
    /// fields checked against the signed bytes.
    async fn checkpoint(&self) -> (u64, Hash, Value) {
        let answer = self.get_ok("/ledger/checkpoint").await;
        let bytes = base64(&answer["checkpoint"]);
        let certificate =
            medledger_crypto::x509::parse_certificate(&base64(&answer["signer_certificate"]))
                .expect("the signer certificate parses");
        let mut signature = [0u8; 64];
        hex::decode_to_slice(answer["signature"].as_str().expect("hex"), &mut signature)
            .expect("a 64-byte signature");
        certificate
            .public_key
            .verify(&bytes, &Signature(signature))
            .expect("the checkpoint signature verifies");
        let signed: Checkpoint = codec::decode("checkpoint", &bytes, 1024).expect("decodes");
        assert_eq!(answer["tree_size"], signed.tree_size);
        assert_eq!(hash(&answer["root"]), signed.root);
        assert_eq!(answer["block_number"], signed.block_number);
        assert_eq!(answer["channel"], signed.channel.as_str());
        (signed.tree_size, signed.root, answer)
    }
}

#[tokio::test]
async fn a_notes_transaction_proves_its_inclusion_against_the_signed_checkpoint() {
    let ledger = Ledger::open().await;
    ledger.patient(1).await;
    let written = ledger.note(7, 1).await;
    let tx_id = written["tx_id"].as_str().expect("tx_id");

    let tx = ledger
        .get_ok(&format!("/ledger/transactions/{tx_id}"))
        .await;
    assert_eq!(tx["tx_id"], tx_id);
    assert_eq!(tx["block_number"], written["block_number"]);
    assert_eq!(tx["tx_index"], written["tx_index"]);
    assert_eq!(tx["validation_code"], "valid");
    assert_eq!(tx["function"], "create");
    assert_eq!(tx["contract"], "ehr");
    assert_eq!(tx["signer"]["role"], "doctor");
    assert_eq!(tx["signer"]["name"], ledger.doctor_email.as_str());
    assert_eq!(tx["signer"]["org"], written["header"]["author_org"]);

    // The envelope is the leaf: its hash is the proof's leaf, and the transaction id is the hash of the
    // signed proposal inside it.
    let envelope = base64(&tx["envelope"]);
    let leaf = leaf_hash(&envelope);
    let proof = &tx["inclusion_proof"];
    assert_eq!(hash(&proof["leaf_hash"]), leaf);
    let decoded: medledger_types::Envelope =
        codec::decode("envelope", &envelope, 1 << 20).expect("the envelope decodes");
    assert_eq!(
        medledger_crypto::tx_id(&decoded.proposal.proposal).to_string(),
        tx_id
    );

    let (tree_size, root, _) = ledger.checkpoint().await;
    let leaf_index = proof["leaf_index"].as_u64().expect("leaf_index");
    assert_eq!(
        proof["tree_size"], tree_size,
        "against the current checkpoint"
    );
    assert_eq!(hash(&proof["root"]), root);
    verify_inclusion(
        &leaf,
        leaf_index,
        tree_size,
        &hashes(&proof["audit_path"]),
        &root,
    )
    .expect("the inclusion proof verifies against the checkpoint's root");

    // A wrong leaf or a tampered path does not verify.
    assert!(
        verify_inclusion(
            &leaf_hash(b"another envelope"),
            leaf_index,
            tree_size,
            &hashes(&proof["audit_path"]),
            &root
        )
        .is_err()
    );

    // After more writes the same transaction proves against an older checkpoint on request.
    ledger.note(8, 1).await;
    ledger.note(9, 1).await;
    let (new_size, new_root, _) = ledger.checkpoint().await;
    assert!(new_size > tree_size);
    let old = ledger
        .get_ok(&format!(
            "/ledger/transactions/{tx_id}?tree_size={tree_size}"
        ))
        .await;
    let old_proof = &old["inclusion_proof"];
    assert_eq!(old_proof["tree_size"], tree_size);
    verify_inclusion(
        &leaf,
        leaf_index,
        tree_size,
        &hashes(&old_proof["audit_path"]),
        &root,
    )
    .expect("proves against the older root");
    let current = ledger
        .get_ok(&format!("/ledger/transactions/{tx_id}"))
        .await;
    verify_inclusion(
        &leaf,
        leaf_index,
        new_size,
        &hashes(&current["inclusion_proof"]["audit_path"]),
        &new_root,
    )
    .expect("proves against the newer root");
}

#[tokio::test]
async fn a_newer_checkpoint_is_consistent_with_an_older_one() {
    let ledger = Ledger::open().await;
    ledger.patient(1).await;
    let (old_size, old_root, _) = ledger.checkpoint().await;
    for id in 1..=5 {
        ledger.note(id, 1).await;
    }
    let (new_size, new_root, _) = ledger.checkpoint().await;
    assert!(new_size > old_size);

    let answer = ledger
        .get_ok(&format!(
            "/ledger/consistency?from={old_size}&to={new_size}"
        ))
        .await;
    assert_eq!(hash(&answer["from_root"]), old_root);
    assert_eq!(hash(&answer["to_root"]), new_root);
    let proof = hashes(&answer["proof"]);
    verify_consistency(old_size, new_size, &old_root, &new_root, &proof)
        .expect("the consistency proof verifies");
    assert!(
        verify_consistency(old_size, new_size, &new_root, &new_root, &proof).is_err(),
        "and would not for another old root"
    );
    // `to` defaults to the current size.
    let default_to = ledger
        .get_ok(&format!("/ledger/consistency?from={old_size}"))
        .await;
    assert_eq!(default_to["to"], new_size);
    // Every older size is consistent with the newest.
    for from in 1..=new_size {
        let answer = ledger
            .get_ok(&format!("/ledger/consistency?from={from}&to={new_size}"))
            .await;
        verify_consistency(
            from,
            new_size,
            &hash(&answer["from_root"]),
            &new_root,
            &hashes(&answer["proof"]),
        )
        .unwrap_or_else(|e| panic!("from {from}: {e}"));
    }

    let beyond = new_size + 1;
    for bad in [
        "/ledger/consistency?from=0&to=1".to_owned(),
        format!("/ledger/consistency?from={new_size}&to={old_size}"),
        "/ledger/consistency".to_owned(),
        "/ledger/consistency?from=one".to_owned(),
        "/ledger/consistency?from=-1".to_owned(),
    ] {
        ledger
            .get(&bad)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    }
    // A tree the ledger does not have (yet) has no proof, as a block beyond the last: 404.
    for missing in [
        format!("/ledger/consistency?from=1&to={beyond}"),
        format!("/ledger/consistency?from={beyond}"),
        format!("/ledger/consistency?from={beyond}&to={}", beyond + 1),
    ] {
        ledger
            .get(&missing)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn blocks_show_their_header_and_each_transactions_code() {
    let ledger = Ledger::open().await;
    ledger.patient(1).await;
    let written = ledger.note(3, 1).await;
    let number = written["block_number"].as_u64().expect("block_number");

    let block = ledger.get_ok(&format!("/ledger/blocks/{number}")).await;
    assert_eq!(block["number"], number);
    assert_eq!(block["header"]["number"], number);
    let transactions = block["transactions"].as_array().expect("transactions");
    assert_eq!(block["tx_count"], transactions.len());
    let index = written["tx_index"].as_u64().expect("tx_index") as usize;
    assert_eq!(transactions[index]["tx_id"], written["tx_id"]);
    assert_eq!(transactions[index]["validation_code"], "valid");
    for field in ["previous_hash", "data_hash", "ledger_root"] {
        hash(&block["header"][field]);
    }
    hash(&block["header_hash"]);

    // Blocks link: each header names the hash of the one before.
    let previous = ledger
        .get_ok(&format!("/ledger/blocks/{}", number - 1))
        .await;
    assert_eq!(block["header"]["previous_hash"], previous["header_hash"]);

    // The genesis block holds the channel configuration, not a transaction.
    let genesis = ledger.get_ok("/ledger/blocks/0").await;
    assert_eq!(genesis["header"]["previous_hash"], Hash::ZERO.to_hex());
    assert_eq!(genesis["transactions"][0]["tx_id"], Value::Null);

    // The checkpoint's block is the last one, and its root is that block's ledger root.
    let (size, root, checkpoint) = ledger.checkpoint().await;
    let last = ledger
        .get_ok(&format!("/ledger/blocks/{}", checkpoint["block_number"]))
        .await;
    assert_eq!(last["header"]["ledger_size"], size);
    assert_eq!(hash(&last["header"]["ledger_root"]), root);
    ledger
        .get(&format!(
            "/ledger/blocks/{}",
            checkpoint["block_number"].as_u64().expect("number") + 1
        ))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    ledger
        .get("/ledger/blocks/latest")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn unknown_or_malformed_transactions_and_proof_sizes_are_refused() {
    let ledger = Ledger::open().await;
    let written = ledger.patient(1).await;
    let tx_id = written["tx_id"].as_str().expect("tx_id");
    ledger
        .get(&format!("/ledger/transactions/{}", Hash::ZERO.to_hex()))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    for bad in [
        "/ledger/transactions/xyz".to_owned(),
        format!("/ledger/transactions/{tx_id}?tree_size=big"),
    ] {
        ledger
            .get(&bad)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    }
    // No proof in a tree larger than the ledger's, nor in one that ends before the transaction.
    for missing in [
        format!("/ledger/transactions/{tx_id}?tree_size=1000000"),
        format!("/ledger/transactions/{tx_id}?tree_size=0"),
        format!("/ledger/transactions/{tx_id}?tree_size=1"),
    ] {
        ledger
            .get(&missing)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn the_ledger_wants_a_login_and_is_open_to_every_role() {
    let ledger = Ledger::open().await;
    let written = ledger.patient(1).await;
    let tx_id = written["tx_id"].as_str().expect("tx_id");
    let paths = [
        "/api/v1/ledger/blocks/1".to_owned(),
        format!("/api/v1/ledger/transactions/{tx_id}"),
        "/api/v1/ledger/checkpoint".to_owned(),
        "/api/v1/ledger/consistency?from=1&to=2".to_owned(),
    ];
    let admin = ledger.gateway.admin_token().await;
    for path in &paths {
        ledger
            .gateway
            .get(path, None)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        for token in [&admin, &ledger.doctor] {
            let response = ledger.gateway.get(path, Some(token)).await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{path}: {}",
                response.text()
            );
        }
    }
}
