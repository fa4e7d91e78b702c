//! Starting and stopping the service: first run (the network and the first administrator) or restart,
//! the node, the shared state ([`start`]); and [`stop`]: the node orders and commits what is pending
//! and stops.

use std::path::PathBuf;
use std::sync::Arc;

use medledger_node::{DataDir, InitOptions, InitOutcome, Node, NodeOptions};
use medledger_types::Role;
use medledger_wallet::{WALLET_FILE, Wallet};

use crate::AppState;
use crate::error::StartError;
use crate::state::ServiceConfig;

/// The file a generated first-administrator password is saved to (owner-only), inside the data directory.
pub const INITIAL_ADMIN_PASSWORD_FILE: &str = "initial-admin-password";
/// Characters in a generated password (62-letter alphabet: about 143 bits).
pub const GENERATED_PASSWORD_CHARS: usize = 24;
/// The first administrator's record id (`admin_id`).
pub const FIRST_ADMIN_ID: i64 = 1;

/// What `medledger up` runs.
#[derive(Debug)]
pub struct UpOptions {
    pub data: DataDir,
    /// Used only when the network is created.
    pub init: InitOptions,
    pub node: NodeOptions,
    /// The first administrator's password when the network is created; `None`: generate one and save it
    /// to [`INITIAL_ADMIN_PASSWORD_FILE`].
    pub admin_password: Option<String>,
    pub service: ServiceConfig,
}

/// The first administrator, when this run created the network.
#[derive(Debug)]
pub struct FirstAdmin {
    pub email: String,
    /// The generated password (to show once), when none was given.
    pub generated_password: Option<String>,
    /// Where the generated password was saved.
    pub password_file: Option<PathBuf>,
}

/// A started service.
pub struct Started {
    pub state: AppState,
    /// `Some` only on the run that created the network.
    pub first_admin: Option<FirstAdmin>,
}

/// A random password of [`GENERATED_PASSWORD_CHARS`] letters and digits.
pub fn generate_password() -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut password = String::with_capacity(GENERATED_PASSWORD_CHARS);
    while password.len() < GENERATED_PASSWORD_CHARS {
        for byte in medledger_crypto::keys::random_bytes::<32>() {
            // 248 = 4 * 62: rejecting the rest keeps every letter equally likely.
            if byte < 248 && password.len() < GENERATED_PASSWORD_CHARS {
                password.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    password
}

/// Creates the network on first run (with the first administrator, whose key goes into the wallet
/// encrypted under their password before the genesis block is written), starts the node and builds the
/// shared state. A second run creates nothing.
pub async fn start(options: UpOptions) -> Result<Started, StartError> {
    let UpOptions {
        data,
        init,
        node: node_options,
        admin_password,
        service: config,
    } = options;
    if let Some(password) = &admin_password {
        check_given_password(password)?;
    }
    medledger_node::files::create_private_dir(data.root())?;
    let wallet_file = data.root().join(WALLET_FILE);
    let wallet = Wallet::open(&wallet_file, config.password)?;
    medledger_node::files::make_private(&wallet_file)?;
    let password_file = data.root().join(INITIAL_ADMIN_PASSWORD_FILE);
    let mut first_admin = None;
    let outcome = medledger_node::init_with(&data, &init, &mut |first| {
        let password = admin_password.clone().map_or_else(
            || Password::generated(&password_file),
            |p| Password::given(p, &password_file),
        )?;
        keep_first_admin(&wallet, &init.admin_email, &password, first, &config)?;
        first_admin = Some(FirstAdmin {
            email: medledger_wallet::normalize_email(&init.admin_email),
            password_file: password.generated.then(|| password_file.clone()),
            generated_password: password.generated.then_some(password.text),
        });
        Ok(())
    })?;
    medledger_node::files::check_private(&data)?;
    let node = Node::start(&data, &node_options)?;
    let config = ServiceConfig {
        initial_password_file: Some(password_file),
        ..config
    };
    let state = AppState::new(Arc::new(node), wallet, config);
    match outcome {
        InitOutcome::Created { admin, .. } => {
            let email = first_admin
                .as_ref()
                .map_or_else(|| init.admin_email.clone(), |a| a.email.clone());
            crate::people::record_first_admin(&state, &admin, &email)
                .await
                .map_err(|e| StartError::FirstAdmin(e.to_string()))?;
        }
        InitOutcome::AlreadyInitialized => {
            first_admin = None;
            if state.inner.wallet.people()?.is_empty() {
                tracing::warn!(
                    "the wallet has nobody in it: no one can log in (was the data directory created by an older medledger?)"
                );
            }
        }
    }
    let (completed, abandoned) = crate::people::settle_registrations(&state)
        .await
        .map_err(|e| StartError::Registrations(e.to_string()))?;
    if completed + abandoned > 0 {
        tracing::info!(
            completed,
            abandoned,
            "registrations a stop interrupted: completed those on the ledger, removed the others"
        );
    }
    Ok(Started { state, first_admin })
}

/// A first administrator's password given in the environment must be one a person could choose
/// ([`check_new_password`](crate::auth::check_new_password): long enough and not too easy to guess).
fn check_given_password(password: &str) -> Result<(), StartError> {
    crate::auth::check_new_password("MEDLEDGER_ADMIN_PASSWORD", password).map_err(|e| {
        let why = e
            .field_problems()
            .first()
            .map_or_else(|| e.to_string(), |problem| problem.message.clone());
        StartError::Config(format!(
            "the first administrator's password (MEDLEDGER_ADMIN_PASSWORD) is not accepted: {why}"
        ))
    })
}

/// The first administrator's password, and whether this run generated it.
struct Password {
    text: String,
    generated: bool,
}

impl Password {
    /// A generated password, saved owner-only to `file` so that it can be read once.
    fn generated(file: &std::path::Path) -> Result<Password, medledger_node::NodeError> {
        let text = generate_password();
        medledger_node::files::write_file(file, text.as_bytes())?;
        Ok(Password {
            text,
            generated: true,
        })
    }

    /// A given password; a saved one left by an earlier first run that did not finish opens nothing
    /// now, so it goes.
    fn given(text: String, file: &std::path::Path) -> Result<Password, medledger_node::NodeError> {
        if file.exists() {
            let _ = std::fs::remove_file(file);
        }
        Ok(Password {
            text,
            generated: false,
        })
    }
}

/// Seals the first administrator's key and the organization CA's under their password into the wallet,
/// before the genesis block is written (so that neither key is ever on disk in the clear). A generated
/// password must be replaced at the first login.
fn keep_first_admin(
    wallet: &Wallet,
    email: &str,
    password: &Password,
    first: &medledger_node::init::FirstRun<'_>,
    config: &ServiceConfig,
) -> Result<(), medledger_node::NodeError> {
    let keep = |e: medledger_wallet::WalletError| {
        medledger_node::NodeError::Identity(format!(
            "cannot keep the first administrator's key in the wallet: {e}"
        ))
    };
    let mut sealed = Wallet::seal(
        email,
        Role::Admin,
        FIRST_ADMIN_ID,
        &password.text,
        first.admin,
        Some(first.ca.key()),
        config.password,
        (config.clock)(),
    )
    .map_err(keep)?;
    if password.generated {
        sealed = sealed.must_change_password();
    }
    wallet.insert_first_admin(sealed).map_err(keep)
}

/// Stops the node once nothing else holds the state: it orders and commits what is pending, then its
/// threads end. Sessions (and the keys they hold) are dropped.
pub fn stop(state: AppState) -> Result<(), StartError> {
    state.begin_shutdown();
    let inner = match Arc::try_unwrap(state.inner) {
        Ok(inner) => inner,
        Err(_) => {
            tracing::warn!("the service is still in use; the node stops when its last user ends");
            return Ok(());
        }
    };
    match Arc::try_unwrap(inner.node) {
        Ok(node) => node.shutdown()?,
        Err(_) => {
            tracing::warn!("the node is still in use; it stops when its last user ends");
        }
    }
    Ok(())
}
