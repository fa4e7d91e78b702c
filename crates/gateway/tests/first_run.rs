//! The first run of `medledger up`: the failures this pins are a network whose first administrator
//! cannot log in (password lost, key lost in a crash), a private key left on disk in the clear, a
//! generated password readable by others, and a second run that creates anything again.

use std::collections::BTreeSet;
use std::path::Path;

use axum::http::StatusCode;
use medledger_node::{DataDir, InitOptions, InitOutcome, init_with};
use medledger_service::start::{
    FIRST_ADMIN_ID, GENERATED_PASSWORD_CHARS, INITIAL_ADMIN_PASSWORD_FILE,
};
use medledger_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestGateway, TestOptions};
use medledger_types::Role;
use medledger_wallet::{PasswordParams, WALLET_FILE, Wallet};

/// Every file under `root`, relative.
fn files(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.insert(
                    path.strip_prefix(root)
                        .expect("inside")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found
}

/// The files a data directory holds after a first run; no person's key is among them.
/// No key of a person's and not the organization CA's: those are sealed in the wallet.
const NETWORK_FILES: [&str; 7] = [
    "ledger.redb",
    "msp/ca.crt",
    "node.toml",
    "node/orderer.crt",
    "node/orderer.key",
    "node/peer.crt",
    "node/peer.key",
];

#[tokio::test]
async fn a_given_password_logs_the_first_administrator_in_and_no_key_of_theirs_is_on_disk() {
    let gateway = TestGateway::start().await;
    let first = gateway.first_admin.as_ref().expect("created on this run");
    assert_eq!(first.email, ADMIN_EMAIL);
    assert_eq!(first.generated_password, None);
    assert_eq!(first.password_file, None);

    let mut expected: BTreeSet<String> = NETWORK_FILES.iter().map(|f| f.to_string()).collect();
    expected.insert(WALLET_FILE.to_owned());
    assert_eq!(files(gateway.dir.path()), expected, "no users/ key files");

    let token = gateway.admin_token().await;
    let admin = gateway
        .get(&format!("/api/v1/admins/{FIRST_ADMIN_ID}"), Some(&token))
        .await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.text());
    let admin = admin.json();
    assert_eq!(admin["record"]["email"], ADMIN_EMAIL);
    assert_eq!(
        admin["header"]["author"], ADMIN_EMAIL,
        "signed by themselves"
    );
}

#[tokio::test]
async fn a_generated_password_is_saved_owner_only_and_a_second_run_creates_nothing() {
    let gateway = TestGateway::start_with(TestOptions {
        admin_password: None,
    })
    .await;
    let first = gateway.first_admin.as_ref().expect("created on this run");
    let password = first.generated_password.clone().expect("generated");
    assert_eq!(password.chars().count(), GENERATED_PASSWORD_CHARS);
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    let file = gateway.dir.path().join(INITIAL_ADMIN_PASSWORD_FILE);
    assert_eq!(first.password_file.as_deref(), Some(file.as_path()));
    assert_eq!(std::fs::read_to_string(&file).expect("saved"), password);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only, got {mode:o}");
    }
    gateway.login(ADMIN_EMAIL, &password).await;
    let height = gateway.state.node().peer().height();
    let files_before = files(gateway.dir.path());

    // A second run, even with a password in the environment, creates nothing.
    let gateway = gateway.restart(Some(ADMIN_PASSWORD.to_owned())).await;
    assert!(gateway.first_admin.is_none());
    assert_eq!(gateway.state.node().peer().height(), height);
    assert_eq!(files(gateway.dir.path()), files_before);
    assert_eq!(std::fs::read_to_string(&file).expect("kept"), password);
    let token = gateway.login(ADMIN_EMAIL, &password).await;
    gateway
        .login_from(
            medledger_testkit::CLIENT_ADDRESS,
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
        )
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // The generated password opens nothing but its own replacement.
    gateway
        .get("/api/v1/admins", Some(&token))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "password_change_required");
    gateway
        .enrol(ADMIN_EMAIL, &password, "the administrator's own")
        .await;
    assert!(!file.exists(), "the saved copy opens nothing now");
    let token = gateway.login(ADMIN_EMAIL, "the administrator's own").await;
    let admins = gateway.get("/api/v1/admins", Some(&token)).await;
    assert_eq!(admins.json()["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_first_run_that_stopped_before_recording_the_administrator_is_finished_at_their_login() {
    // The state a crash leaves between the genesis block and the administrator's ledger record: the
    // key is in the wallet (kept before the genesis block), the profile is not on the ledger.
    let dir = tempfile::tempdir().expect("dir");
    let data = DataDir::new(dir.path());
    {
        let wallet = Wallet::open(
            &dir.path().join(WALLET_FILE),
            PasswordParams::CHEAP_FOR_TESTS,
        )
        .expect("wallet");
        let outcome = init_with(
            &data,
            &InitOptions {
                admin_email: ADMIN_EMAIL.into(),
                ..InitOptions::default()
            },
            &mut |first| {
                let sealed = Wallet::seal(
                    ADMIN_EMAIL,
                    Role::Admin,
                    FIRST_ADMIN_ID,
                    ADMIN_PASSWORD,
                    first.admin,
                    Some(first.ca.key()),
                    PasswordParams::CHEAP_FOR_TESTS,
                    0,
                )
                .expect("seal");
                wallet.insert_first_admin(sealed).expect("keep");
                Ok(())
            },
        )
        .expect("init");
        assert!(matches!(outcome, InitOutcome::Created { .. }));
    }
    let gateway = TestGateway::start_in(dir, TestOptions::default()).await;
    assert!(gateway.first_admin.is_none(), "the network existed");
    let token = gateway.admin_token().await;
    let admin = gateway
        .get(&format!("/api/v1/admins/{FIRST_ADMIN_ID}"), Some(&token))
        .await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.text());
    assert_eq!(
        gateway
            .state
            .inner
            .wallet
            .person(ADMIN_EMAIL)
            .expect("wallet")
            .expect("there")
            .on_ledger,
        medledger_wallet::OnLedger::Yes
    );
    // A second login does not record them again.
    gateway.admin_token().await;
}
