//! Administrators and doctors: registration, and who wrote each version of any record
//! ([`RecordMeta`]).
//!
//! Registering a person (administrators only) issues them an Ed25519 identity from the organization CA
//! with their role, records their public profile and certificate on the ledger — signed by the
//! registering administrator — and stores their credentials in the wallet, their key encrypted under
//! the initial password the administrator gave. The expensive part (Argon2) is done before the ledger
//! write, so once the profile has committed only a small file write remains. Reads of people are the
//! records module's ([`crate::records::get_record`], [`crate::records::list_records`]).
//!
//! A registration's JSON is the profile without `certificate` (the service issues it) plus `password`
//! (≥ 12 characters).

use medledger_contract::ContractError;
use medledger_contract::ehr::{Admin, Doctor, EhrCall, NewRecord, RecordHeader};
use medledger_node::{Identity, InvokeError};
use medledger_types::Role;
use medledger_wallet::{OnLedger, Wallet, WalletError, normalize_email};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{Argon2Permit, Session, check_new_password, rfc3339};
use crate::records::{RecordVersion, Served, parse_record};
use crate::state::{Attempt, Written};
use crate::{AppState, ServiceError};

/// Who wrote a version of a record, when, why, and in which transaction: the `header` of every
/// [`RecordVersion`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordMeta {
    /// 1 as created, 2 after the first amendment, ...
    pub version_number: u32,
    /// The signer's certificate name (an email).
    pub author: String,
    /// The signer's organization (MSP id).
    pub author_org: String,
    /// When the version was proposed (RFC 3339, UTC).
    pub timestamp: String,
    /// The transaction that wrote this version (hex).
    pub tx_id: String,
    /// Why this version was written (`null` for version 1).
    pub amendment_reason: Option<String>,
}

impl From<&RecordHeader> for RecordMeta {
    fn from(header: &RecordHeader) -> RecordMeta {
        RecordMeta {
            version_number: header.version_number,
            author: header.author.clone(),
            author_org: header.author_org.clone(),
            timestamp: rfc3339(header.timestamp_ms),
            tx_id: header.tx_id.to_string(),
            amendment_reason: header.amendment_reason.clone(),
        }
    }
}

/// A person a registration creates: an administrator or a doctor.
pub trait Person: Served {
    /// The role their certificate and wallet entry carry.
    const ROLE: Role;
    /// The email they log in with.
    fn email(&self) -> &str;
    /// The profile with the certificate the organization CA issued.
    fn with_certificate(self, certificate: Vec<u8>) -> Self;
}

impl Person for Admin {
    const ROLE: Role = Role::Admin;
    fn email(&self) -> &str {
        &self.email
    }
    fn with_certificate(self, certificate: Vec<u8>) -> Admin {
        Admin {
            certificate,
            ..self
        }
    }
}

impl Person for Doctor {
    const ROLE: Role = Role::Doctor;
    fn email(&self) -> &str {
        &self.email
    }
    fn with_certificate(self, certificate: Vec<u8>) -> Doctor {
        Doctor {
            certificate,
            ..self
        }
    }
}

/// The field of a registration that carries the initial password.
pub const PASSWORD_FIELD: &str = "password";
/// The model field a registration may not name (the service issues it).
const CERTIFICATE_FIELD: &str = "certificate";

/// A registration's JSON as the person's profile (certificate still empty) and initial password: the
/// model's fields without `certificate`, plus `password`. 422 naming the field otherwise.
fn parse_registration<M: Person>(body: Value) -> Result<(M, String), ServiceError> {
    let Value::Object(mut fields) = body else {
        return Err(ServiceError::BadRequest(
            "a registration is a JSON object".into(),
        ));
    };
    if fields.contains_key(CERTIFICATE_FIELD) {
        return Err(ServiceError::field(
            CERTIFICATE_FIELD,
            "unknown_field",
            "unknown field `certificate`: the organization CA issues it",
        ));
    }
    let password = match fields.remove(PASSWORD_FIELD) {
        Some(Value::String(password)) => password,
        Some(other) => {
            return Err(ServiceError::field(
                PASSWORD_FIELD,
                "invalid",
                format!("invalid type: {other}, expected a string"),
            ));
        }
        None => {
            return Err(ServiceError::field(
                PASSWORD_FIELD,
                "required",
                "missing field `password`",
            ));
        }
    };
    // A placeholder the issued certificate replaces; the model requires the field.
    fields.insert(CERTIFICATE_FIELD.into(), Value::from("00"));
    let model: M = parse_record(Value::Object(fields))?;
    Ok((model.with_certificate(Vec::new()), password))
}

/// Registers a person from a registration's JSON (see [`parse_registration`]): what `POST /admins` and
/// `POST /doctors` do, shared with the web forms. Answers version 1 of the profile, committed.
pub async fn register_person<M: Person>(
    state: &AppState,
    session: &Session,
    body: Value,
) -> Result<RecordVersion<M>, ServiceError> {
    let prepared = prepare_registration::<M>(state, session, body).await?;
    let (written, record) = register(state, session, prepared).await?;
    let model = M::from_new(record).ok_or_else(|| {
        ServiceError::Internal(format!("registered a {} that is not one", M::KIND))
    })?;
    Ok(registered(model, &written))
}

/// Registers an administrator ([`register_person`]).
pub async fn register_admin(
    state: &AppState,
    session: &Session,
    body: Value,
) -> Result<RecordVersion<Admin>, ServiceError> {
    register_person(state, session, body).await
}

/// Registers a doctor ([`register_person`]).
pub async fn register_doctor(
    state: &AppState,
    session: &Session,
    body: Value,
) -> Result<RecordVersion<Doctor>, ServiceError> {
    register_person(state, session, body).await
}

/// Registers a person: issues their certificate, stores their wallet entry as a registration under way,
/// records `record(certificate)` on the ledger signed by the logged-in administrator (noting each
/// transaction's id in the entry before submitting it), and completes the entry after the commit. A
/// stop at any point leaves the entry for [`settle_registrations`]; a write that certainly failed
/// removes it at once. Outcomes: the committed write and the record; 403 (not an administrator); 409
/// (the email has a wallet entry, or the contract says the id or email exists); 422 (password or profile
/// invalid); 202 (not committed within the wait: the entry completes when it commits, see
/// [`settle_registration`]); others as [`From<InvokeError>`](ServiceError).
async fn register(
    state: &AppState,
    session: &Session,
    prepared: PreparedRegistration,
) -> Result<(Written, NewRecord), ServiceError> {
    let PreparedRegistration {
        email_key,
        role,
        sealed,
        record: new_record,
    } = prepared;
    let record_id = new_record.id();
    let written = write_registration(state, session, &email_key, sealed, &new_record).await?;
    tracing::info!(email = %email_key, %role, record_id, registered_by = %session.email, "registered");
    Ok((written, new_record))
}

/// A registration ready to write: the person's certificate issued, their wallet entry sealed (Argon2
/// done), their profile record built. Nothing is stored yet.
pub struct PreparedRegistration {
    /// The email as the wallet keys it.
    pub email_key: String,
    pub role: Role,
    sealed: medledger_wallet::Sealed,
    /// The profile as it will be created on the ledger.
    pub record: NewRecord,
}

impl std::fmt::Debug for PreparedRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedRegistration")
            .field("email_key", &self.email_key)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Checks a registration's JSON and prepares it ([`PreparedRegistration`]). Outcomes: 403 (not an
/// administrator, or a login without the CA's key); 409 (the email has a wallet entry); 422.
pub async fn prepare_registration<M: Person>(
    state: &AppState,
    session: &Session,
    body: Value,
) -> Result<PreparedRegistration, ServiceError> {
    session.require(&[Role::Admin])?;
    let (profile, password) = parse_registration::<M>(body)?;
    let email = profile.email().to_owned();
    prepare(state, session, M::ROLE, &email, password, |certificate| {
        profile.with_certificate(certificate).into_new()
    })
    .await
}

async fn prepare(
    state: &AppState,
    session: &Session,
    role: Role,
    email: &str,
    password: String,
    record: impl FnOnce(Vec<u8>) -> NewRecord,
) -> Result<PreparedRegistration, ServiceError> {
    session.require(&[Role::Admin])?;
    let ca = session.ca.clone().ok_or_else(|| {
        ServiceError::Forbidden(
            "your login holds no key of the organization CA, so it cannot issue certificates"
                .into(),
        )
    })?;
    check_new_password("password", &password)?;
    let email_key = new_email(state, email)?;
    let identity =
        medledger_node::init::issue_identity(&ca, &email_key, role, state.now_ms() / 1000)
            .map_err(|e| {
                ServiceError::field(
                    "email",
                    "invalid_email",
                    format!("cannot be put in a certificate: {e}"),
                )
            })?;
    let new_record = record(identity.certificate.clone());
    let record_id = new_record.id();
    // An administrator can issue certificates in turn: their entry holds the CA's key too.
    let ca_key = (role == Role::Admin).then(|| ca.key().clone());
    let sealed = seal(
        state, &email_key, role, record_id, password, identity, ca_key,
    )
    .await?;
    Ok(PreparedRegistration {
        email_key,
        role,
        sealed,
        record: new_record,
    })
}

/// The steps of a registration after [`prepare_registration`], each durable before the next:
/// [`begin_registration`], [`submit_registration`], [`complete_registration`]. (Each is public, so that
/// tests can stop between them as a crash would.)
async fn write_registration(
    state: &AppState,
    session: &Session,
    email_key: &str,
    sealed: medledger_wallet::Sealed,
    new_record: &NewRecord,
) -> Result<Written, ServiceError> {
    begin_sealed(state, sealed)?;
    let written = submit_registration(state, session, email_key, new_record).await?;
    complete_registration(state, email_key)?;
    Ok(written)
}

/// Step 1: the wallet entry, as a registration under way, before anything reaches the ledger. 409 if
/// the email has an entry.
pub fn begin_registration(
    state: &AppState,
    prepared: &PreparedRegistration,
) -> Result<(), ServiceError> {
    begin_sealed(state, prepared.sealed.clone())
}

fn begin_sealed(state: &AppState, sealed: medledger_wallet::Sealed) -> Result<(), ServiceError> {
    match state.inner.wallet.begin_registration(sealed) {
        Ok(()) => Ok(()),
        Err(WalletError::AlreadyExists(email)) => Err(already_registered(&email)),
        Err(e) => Err(ServiceError::Internal(e.to_string())),
    }
}

/// Step 2: the ledger write, each attempt's transaction id noted in the entry before it is submitted.
/// A write that certainly failed removes the entry (the email is free again); one that may still
/// commit leaves it to be settled by its transaction's status.
pub async fn submit_registration(
    state: &AppState,
    session: &Session,
    email_key: &str,
    new_record: &NewRecord,
) -> Result<Written, ServiceError> {
    let wallet = &state.inner.wallet;
    let noted = state
        .invoke_noting(session, &EhrCall::Create(new_record.clone()), |tx_id| {
            wallet
                .note_registration_tx(email_key, tx_id)
                .map_err(|e| ServiceError::Internal(e.to_string()))
        })
        .await;
    match noted {
        Ok(written) => Ok(written),
        Err(Attempt::Node(e)) if crate::state::may_still_commit(&e) => Err(e.into()),
        // Committed: the entry stays for settling, which completes it by the transaction's status.
        Err(failed @ Attempt::Unreadable(_)) => Err(failed.into()),
        Err(failed) => {
            if let Err(e) = wallet.abandon_registration(email_key) {
                tracing::warn!(email = %email_key, error = %e, "cannot remove a failed registration's wallet entry; the next start will");
            }
            Err(failed.into())
        }
    }
}

/// Step 3: the entry is complete; its owner can log in.
pub fn complete_registration(state: &AppState, email_key: &str) -> Result<(), ServiceError> {
    state
        .inner
        .wallet
        .mark_on_ledger(email_key)
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

/// What settling a registration under way found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Its transaction committed valid: the entry is complete.
    Completed,
    /// Its transaction was refused by validation, or (`final_view`) never reached the ledger: the
    /// entry is removed and the email is free.
    Abandoned,
    /// Its transaction has not committed yet and may still: nothing changed.
    StillPending,
    /// Not a registration under way (complete, or a first administrator).
    NotRegistering,
}

/// Settles the registration under way of `email_key` by its last transaction's status. `final_view`:
/// nothing this node submitted before can still commit (a node just started: its queue did not survive
/// the stop), so a transaction absent from the ledger never will.
pub async fn settle_registration(
    state: &AppState,
    email_key: &str,
    final_view: bool,
) -> Result<Settled, ServiceError> {
    let wallet = &state.inner.wallet;
    let internal = |e: WalletError| ServiceError::Internal(e.to_string());
    let Some(person) = wallet.person(email_key).map_err(internal)? else {
        return Ok(Settled::NotRegistering);
    };
    let OnLedger::Registering { tx } = person.on_ledger else {
        return Ok(Settled::NotRegistering);
    };
    let location = match tx {
        None => None,
        Some(tx_id) => state
            .with_peer(move |peer| peer.store().tx_location(&tx_id))
            .await?
            .map_err(|e| ServiceError::Internal(format!("transaction index: {e}")))?,
    };
    let settled = match location {
        Some(location) if location.code.is_valid() => {
            wallet.mark_on_ledger(email_key).map_err(internal)?;
            Settled::Completed
        }
        Some(_) => {
            wallet.abandon_registration(email_key).map_err(internal)?;
            Settled::Abandoned
        }
        None if final_view => {
            wallet.abandon_registration(email_key).map_err(internal)?;
            Settled::Abandoned
        }
        None => Settled::StillPending,
    };
    tracing::info!(email = %email_key, ?settled, "settled a registration under way");
    Ok(settled)
}

/// Settles every registration under way, at start (after the node has opened its ledger, before the
/// gateway serves): each completes or is removed. Returns how many of each.
pub async fn settle_registrations(state: &AppState) -> Result<(usize, usize), ServiceError> {
    let people = state
        .inner
        .wallet
        .people()
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let (mut completed, mut abandoned) = (0, 0);
    for person in people {
        if matches!(person.on_ledger, OnLedger::Registering { .. }) {
            match settle_registration(state, &person.email, true).await? {
                Settled::Completed => completed += 1,
                Settled::Abandoned => abandoned += 1,
                Settled::StillPending | Settled::NotRegistering => {}
            }
        }
    }
    Ok((completed, abandoned))
}

fn already_registered(email: &str) -> ServiceError {
    ServiceError::Conflict(format!("a person with email {email} is already registered"))
}

/// A registration's email as the wallet keys it (lower case): present, not too long, and nobody's yet.
fn new_email(state: &AppState, email: &str) -> Result<String, ServiceError> {
    let email_key = normalize_email(email);
    if email_key.is_empty() {
        return Err(ServiceError::field(
            "email",
            "required",
            "an email is required",
        ));
    }
    if email.len() > medledger_wallet::EMAIL_BYTES_MAX {
        return Err(ServiceError::field(
            "email",
            "too_long",
            "the email is too long",
        ));
    }
    let known = state
        .inner
        .wallet
        .person(&email_key)
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    match known {
        Some(_) => Err(already_registered(&email_key)),
        None => Ok(email_key),
    }
}

/// The new person's wallet entry: their key (and an administrator's copy of the CA's key) sealed under
/// their initial password (Argon2, on the blocking pool, under the Argon2 cap:
/// [`ServiceError::RateLimited`] at once when it is reached). The initial password is the registering
/// administrator's choice, so its owner must replace it at their first login: otherwise the
/// administrator could log in as them and sign in their name.
async fn seal(
    state: &AppState,
    email_key: &str,
    role: Role,
    record_id: i64,
    password: String,
    identity: Identity,
    ca_key: Option<medledger_crypto::keys::SigningKey>,
) -> Result<medledger_wallet::Sealed, ServiceError> {
    let params = state.inner.config.password;
    let now_ms = state.now_ms();
    let email_key = email_key.to_owned();
    Argon2Permit::try_take(&state.inner.argon2_runs)?
        .run(move || {
            Wallet::seal(
                &email_key,
                role,
                record_id,
                &password,
                &identity,
                ca_key.as_ref(),
                params,
                now_ms,
            )
            .map(medledger_wallet::Sealed::must_change_password)
        })
        .await?
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

/// Records the first administrator's profile on the ledger, signed by them, and marks their wallet
/// entry. Done at first run, or at their first login if the first run stopped before it.
pub async fn record_first_admin(
    state: &AppState,
    identity: &Identity,
    email: &str,
) -> Result<(), ServiceError> {
    let started = std::time::Instant::now();
    match medledger_node::register_first_admin(state.node(), identity, email).await {
        Ok(_) => state.inner.metrics.record_commit(started.elapsed()),
        Err(InvokeError::Refused(payload))
            if matches!(
                medledger_node::refusal(&payload),
                Some(ContractError::AlreadyExists { .. })
            ) => {}
        Err(e) => return Err(e.into()),
    }
    state
        .inner
        .wallet
        .mark_on_ledger(email)
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

/// The answer to a registration: version 1 of the profile, committed.
fn registered<M: Served>(model: M, written: &Written) -> RecordVersion<M> {
    let header = &written.header;
    RecordVersion {
        kind: header.kind.as_str().to_owned(),
        id: header.id,
        patient_id: header.patient_id,
        record: Some(model),
        header: header.into(),
        tx_id: written.tx_id.to_string(),
        block_number: written.block_number,
        tx_index: written.tx_index,
    }
}
