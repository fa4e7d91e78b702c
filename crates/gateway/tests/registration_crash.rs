//! A registration survives a stop at any point (issue 8, item 3): the wallet entry is written first as a
//! registration under way, its ledger transaction's id is noted before the submit, and the entry completes
//! after the commit. Each test plays a crash by stopping the gateway between two steps (the steps are the
//! service's own functions, so nothing here re-implements them) and restarting it on the same data
//! directory: the start settles the registration, completing it when its transaction committed and
//! freeing the email when it did not, and the person can then log in, or be registered again.

use axum::http::StatusCode;
use medledger_contract::ehr::Doctor;
use medledger_service::ServiceError;
use medledger_service::auth::{Session, session_of};
use medledger_service::people::{
    PreparedRegistration, Settled, begin_registration, complete_registration, prepare_registration,
    settle_registration, submit_registration,
};
use medledger_testkit::{DOCTOR_PASSWORD, TestGateway};
use medledger_wallet::OnLedger;

const EMAIL: &str = "luisa@hospital.test";
const PROVIDER_ID: i64 = 4040;

/// The first administrator's session, as the API would find it from their token.
async fn admin_session(gateway: &TestGateway) -> Session {
    let token = gateway.admin_token().await;
    session_of(&gateway.state, Some(&token)).expect("the administrator's session")
}

/// Prepares the registration of doctor [`EMAIL`] as the first administrator (certificate issued, entry
/// sealed; nothing stored), or the error it is refused with.
async fn prepare(gateway: &TestGateway) -> Result<PreparedRegistration, ServiceError> {
    let initial = TestGateway::initial_password(DOCTOR_PASSWORD);
    prepare_registration::<Doctor>(
        &gateway.state,
        &admin_session(gateway).await,
        TestGateway::doctor_body(PROVIDER_ID, EMAIL, &initial),
    )
    .await
}

async fn prepared(gateway: &TestGateway) -> PreparedRegistration {
    prepare(gateway).await.expect("a valid registration")
}

fn wallet_state(gateway: &TestGateway) -> Option<OnLedger> {
    gateway
        .state
        .inner
        .wallet
        .person(EMAIL)
        .expect("the wallet reads")
        .map(|person| person.on_ledger)
}

/// How many doctors with [`EMAIL`] the ledger holds, asked as the administrator.
async fn on_the_ledger(gateway: &TestGateway) -> bool {
    let token = gateway.admin_token().await;
    let found = gateway
        .get(&format!("/api/v1/doctors/{PROVIDER_ID}"), Some(&token))
        .await;
    match found.status {
        StatusCode::OK => true,
        StatusCode::NOT_FOUND => false,
        other => panic!("reading the doctor: {other} {}", found.text()),
    }
}

/// Restarts the gateway (as after a crash) and checks that the start freed the email: no entry, nothing on
/// the ledger, and registering it anew over the API works end to end.
async fn restart_frees_the_email(gateway: TestGateway) {
    let gateway = gateway.restart(None).await;
    assert_eq!(wallet_state(&gateway), None, "the start removed the entry");
    assert!(!on_the_ledger(&gateway).await);
    can_register_again(&gateway).await;
}

async fn can_register_again(gateway: &TestGateway) {
    let admin = gateway.admin_token().await;
    gateway
        .register_doctor(&admin, PROVIDER_ID, EMAIL, DOCTOR_PASSWORD)
        .await;
    gateway.login(EMAIL, DOCTOR_PASSWORD).await;
}

#[tokio::test]
async fn a_stop_after_sealing_leaves_nothing_behind() {
    let gateway = TestGateway::start().await;
    let registration = prepared(&gateway).await;
    drop(registration);
    restart_frees_the_email(gateway).await;
}

#[tokio::test]
async fn a_stop_after_the_wallet_entry_frees_the_email_at_the_next_start() {
    let gateway = TestGateway::start().await;
    let registration = prepared(&gateway).await;
    begin_registration(&gateway.state, &registration).expect("the entry is written");
    assert_eq!(
        wallet_state(&gateway),
        Some(OnLedger::Registering { tx: None })
    );
    // Meanwhile the entry holds the email: no second registration of it.
    let again = prepare(&gateway).await.expect_err("the email is taken");
    assert_eq!(again.status(), StatusCode::CONFLICT.as_u16());

    restart_frees_the_email(gateway).await;
}

#[tokio::test]
async fn a_stop_after_noting_a_transaction_that_never_reached_the_ledger_frees_the_email() {
    let gateway = TestGateway::start().await;
    let registration = prepared(&gateway).await;
    begin_registration(&gateway.state, &registration).expect("the entry is written");
    // The id noted just before a submit that the stop prevented: a transaction nobody ordered.
    let never_ordered = medledger_types::TxId(medledger_crypto::sha256(b"never submitted"));
    gateway
        .state
        .inner
        .wallet
        .note_registration_tx(EMAIL, never_ordered)
        .expect("noted");

    restart_frees_the_email(gateway).await;
}

#[tokio::test]
async fn a_stop_after_the_commit_completes_the_registration_at_the_next_start() {
    let gateway = TestGateway::start().await;
    let registration = prepared(&gateway).await;
    begin_registration(&gateway.state, &registration).expect("the entry is written");
    let session = admin_session(&gateway).await;
    let written = submit_registration(
        &gateway.state,
        &session,
        &registration.email_key,
        &registration.record,
    )
    .await
    .expect("committed");
    assert_eq!(
        wallet_state(&gateway),
        Some(OnLedger::Registering {
            tx: Some(written.tx_id)
        }),
        "the entry names the committed transaction, and is not complete yet"
    );

    let gateway = gateway.restart(None).await;
    assert_eq!(wallet_state(&gateway), Some(OnLedger::Yes));
    assert!(on_the_ledger(&gateway).await);
    // The doctor's key survived: they log in with the initial password and replace it.
    let initial = TestGateway::initial_password(DOCTOR_PASSWORD);
    gateway.enrol(EMAIL, &initial, DOCTOR_PASSWORD).await;
    gateway.login(EMAIL, DOCTOR_PASSWORD).await;
}

#[tokio::test]
async fn a_registration_the_ledger_refuses_removes_its_entry_at_once() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    // Another doctor already holds the provider id: the contract refuses the second registration.
    gateway
        .register_doctor(&admin, PROVIDER_ID, "first@hospital.test", DOCTOR_PASSWORD)
        .await;
    let refused = gateway
        .post(
            "/api/v1/doctors",
            Some(&admin),
            TestGateway::doctor_body(
                PROVIDER_ID,
                EMAIL,
                &TestGateway::initial_password(DOCTOR_PASSWORD),
            ),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    assert_eq!(wallet_state(&gateway), None, "no entry is left behind");
}

#[tokio::test]
async fn the_steps_in_order_complete_and_settling_again_changes_nothing() {
    let gateway = TestGateway::start().await;
    let registration = prepared(&gateway).await;
    begin_registration(&gateway.state, &registration).expect("begin");
    let session = admin_session(&gateway).await;
    submit_registration(
        &gateway.state,
        &session,
        &registration.email_key,
        &registration.record,
    )
    .await
    .expect("committed");
    complete_registration(&gateway.state, &registration.email_key).expect("complete");
    assert_eq!(wallet_state(&gateway), Some(OnLedger::Yes));
    let settled = settle_registration(&gateway.state, EMAIL, true)
        .await
        .expect("settles");
    assert_eq!(settled, Settled::NotRegistering);
    assert_eq!(wallet_state(&gateway), Some(OnLedger::Yes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_answered_202_completes_when_its_transaction_commits() {
    // A zero commit wait: every write answers 202 before its commit.
    let gateway = TestGateway::start_with_commit_wait(0).await;
    let admin = gateway.admin_token().await;
    let initial = TestGateway::initial_password(DOCTOR_PASSWORD);
    let paused = gateway.state.node().pause_commits();
    let accepted = gateway
        .post(
            "/api/v1/doctors",
            Some(&admin),
            TestGateway::doctor_body(PROVIDER_ID, EMAIL, &initial),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text());
    assert!(matches!(
        wallet_state(&gateway),
        Some(OnLedger::Registering { tx: Some(_) })
    ));
    // The login settles it by the transaction's status: while it has not committed, it says so.
    let login = gateway
        .post(
            "/api/v1/auth/login",
            None,
            serde_json::json!({"email": EMAIL, "password": initial}),
        )
        .await;
    login.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "registration_pending");
    drop(paused);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let login = gateway
            .post(
                "/api/v1/auth/login",
                None,
                serde_json::json!({"email": EMAIL, "password": initial}),
            )
            .await;
        if login.status == StatusCode::OK {
            break;
        }
        login.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "registration_pending");
        assert!(
            std::time::Instant::now() < deadline,
            "the registration never committed"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(wallet_state(&gateway), Some(OnLedger::Yes));
}
