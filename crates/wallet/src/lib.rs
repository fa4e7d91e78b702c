//! People's credentials and keys, off the ledger: the gateway's own file `DATA/wallet.redb`.
//!
//! For each person, by email (lower-cased): their role, the id of their ledger record, an Argon2id
//! password hash (PHC string), their Ed25519 key's 32-byte seed encrypted with AES-256-GCM under a key
//! derived from the password (Argon2id, with its own random salt and the parameters it was derived with),
//! and their certificate. The gateway can sign only for people who have just given their password.
//!
//! **Why redb.** It is already the ledger's store (no new dependency); a write transaction is atomic and
//! durable on commit (fsync), so a password change that replaces the hash and re-encrypts the key is
//! all-or-nothing; and one file holds everyone, so no file names are derived from emails.
//!
//! **Entry format** (value of table `people`, key = lower-cased email), borsh, [`ENTRY_FORMAT_VERSION`] 3:
//! `format_version u8, email string, role u8, record_id i64, password_hash string (PHC, $argon2id$...),
//! kdf {memory_kib u32, iterations u32, parallelism u32}, kdf_salt [u8; 16], nonce [u8; 12],
//! sealed_seed bytes (32 + 16-byte tag), certificate bytes (DER), on_ledger OnLedger, updated_ms i64,
//! sealed_ca option<{nonce [u8; 12], ciphertext bytes (32 + 16)}>, must_change_password bool`, where
//! `OnLedger` is `Yes` (0), `FirstAdmin` (1) or `Registering { tx: option<[u8; 32]> }` (2).
//!
//! **Registration survives a crash** ([`OnLedger`]): the entry is written first, `Registering`; the id of
//! each ledger transaction proposed for it is noted in it before that transaction is submitted; it
//! becomes `Yes` after the commit. Whoever finds it `Registering` (the service at start, a login) settles
//! it by that transaction's status: committed valid, the registration completes; invalid, or never
//! ordered once the node has restarted, the entry is removed and the email is free again.
//!
//! **The organization CA's key** lives only here, sealed in each administrator's entry under the same
//! password-derived key (AAD `"medledger-wallet-ca-v1" 0x00 email`): it is unlocked at an
//! administrator's login and held in that session only, so a node's disk, and a node with no
//! administrator logged in, cannot issue certificates.
//!
//! **Key encryption.** `kek = Argon2id(password, kdf_salt, kdf)` (32 bytes); `sealed_seed =
//! AES-256-GCM(kek, nonce, seed, aad)` with `aad = "medledger-wallet-v1" 0x00 email 0x00 role
//! certificate`, so an entry's key cannot be moved to another person or certificate. Each encryption uses a
//! fresh salt (hence a fresh key) and a fresh nonce. The password hash and the key-encryption key use
//! different random salts, so the stored hash says nothing about the key-encryption key. After decrypting,
//! the seed's public key must be the certificate's, or the entry is damaged.
//!
//! Outcomes of [`Wallet::unlock`]: the identity; `WrongCredentials` for an unknown email *and* for a
//! wrong password (an unknown email is checked against a dummy hash, so both take one Argon2 run); a
//! storage or damaged-entry error. Argon2 is CPU- and memory-heavy: call the hashing methods from
//! `spawn_blocking`.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use borsh::{BorshDeserialize, BorshSerialize};
use medledger_crypto::keys::{SigningKey, random_bytes};
use medledger_node::Identity;
use medledger_types::{Role, codec};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use zeroize::Zeroizing;

/// The wallet's file name inside the data directory.
pub const WALLET_FILE: &str = "wallet.redb";
/// The entry layout version written by this code.
pub const ENTRY_FORMAT_VERSION: u8 = 3;
/// Largest stored entry accepted when reading (a certificate is at most `CERTIFICATE_BYTES_MAX`).
pub const ENTRY_BYTES_MAX: usize = 16 * 1024;
/// Longest email stored, in bytes (as the contract's short texts).
pub const EMAIL_BYTES_MAX: usize = medledger_types::limits::SHORT_TEXT_BYTES_MAX;
/// The key-derivation salt's length.
pub const KDF_SALT_BYTES: usize = 16;

const PEOPLE: TableDefinition<&str, &[u8]> = TableDefinition::new("people");
const AAD_PREFIX: &[u8] = b"medledger-wallet-v1";
/// What the organization CA's key is sealed with, beside the person's own key.
const CA_AAD_PREFIX: &[u8] = b"medledger-wallet-ca-v1";

/// Argon2id cost: used for new password hashes and key encryptions. Stored with each hash and each
/// encrypted key, so changing it later affects only passwords set from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl PasswordParams {
    /// OWASP's first Argon2id configuration: 19 MiB, 2 passes, 1 lane (tens of milliseconds here).
    pub const RECOMMENDED: PasswordParams = PasswordParams {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    /// The cheapest Argon2 allows. For tests only: it protects nothing.
    pub const CHEAP_FOR_TESTS: PasswordParams = PasswordParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    fn argon2(&self) -> Result<Argon2<'static>, WalletError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|e| WalletError::Crypto(format!("Argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams::RECOMMENDED
    }
}

/// The wallet cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("{path}: {detail}")]
    Storage { path: String, detail: String },
    #[error("the entry of {email} is damaged: {detail}")]
    Corrupted { email: String, detail: String },
    #[error("{0}")]
    Crypto(String),
    /// Unknown email or wrong password (deliberately one case).
    #[error("wrong email or password")]
    WrongCredentials,
    #[error("{0} already has a wallet entry")]
    AlreadyExists(String),
    #[error("{0} has no registration under way")]
    NotRegistering(String),
}

/// A stored entry (see the module doc for the layout).
#[derive(Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct Entry {
    format_version: u8,
    email: String,
    role: Role,
    record_id: i64,
    password_hash: String,
    kdf: PasswordParams,
    kdf_salt: [u8; KDF_SALT_BYTES],
    nonce: [u8; 12],
    sealed_seed: Vec<u8>,
    certificate: Vec<u8>,
    on_ledger: OnLedger,
    updated_ms: i64,
    /// The organization CA's key, sealed under the same password (administrators only): the only copy
    /// of it anywhere, so that certificates are issued only while an administrator is logged in.
    sealed_ca: Option<SealedSecret>,
    /// The password was chosen by someone else (the registering administrator, or generated at the
    /// first run): it must be replaced before anything else.
    must_change_password: bool,
}

/// Whether a person's profile is on the ledger (module doc, "Registration survives a crash").
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum OnLedger {
    /// The profile is committed on the ledger.
    Yes,
    /// The first administrator, whose profile they record themselves (at the first run, or at their
    /// first login if the first run stopped before it).
    FirstAdmin,
    /// A registration under way: the entry was written before its ledger transaction. `tx` is the last
    /// transaction proposed for it (none yet, if it stopped before the first).
    Registering { tx: Option<medledger_types::TxId> },
}

/// A secret sealed with AES-256-GCM under an entry's password-derived key.
#[derive(Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct SealedSecret {
    nonce: [u8; 12],
    ciphertext: Vec<u8>,
}

/// What the wallet tells about a person without their password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub email: String,
    pub role: Role,
    pub record_id: i64,
    pub certificate: Vec<u8>,
    /// Whether the person's profile is known to be on the ledger.
    pub on_ledger: OnLedger,
    /// Whether the password was chosen by someone else and must be replaced before anything else.
    pub must_change_password: bool,
    /// Whether the entry holds the organization CA's key (administrators).
    pub holds_ca_key: bool,
}

/// A person whose password unlocked their key.
#[derive(Debug)]
pub struct Unlocked {
    pub person: Person,
    pub identity: Identity,
    /// The organization CA's key, for administrators.
    pub ca_key: Option<SigningKey>,
}

/// A person's credentials sealed under their password, ready to store (the expensive part, done before
/// the ledger write so that storing after it is a cheap file write).
#[derive(Clone)]
pub struct Sealed(Entry);

impl Sealed {
    /// Marks the password as chosen by someone else: its owner must replace it at their first login.
    pub fn must_change_password(mut self) -> Sealed {
        self.0.must_change_password = true;
        self
    }
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("email", &self.0.email)
            .finish_non_exhaustive()
    }
}

/// The wallet file.
pub struct Wallet {
    db: Database,
    path: String,
    /// A hash of a random password, verified against when the email is unknown so that an unknown email
    /// costs what a wrong password costs.
    dummy_hash: String,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet").field("path", &self.path).finish()
    }
}

/// The key under which a person is stored: the email, trimmed and lower-cased (emails are compared
/// case-insensitively, as the contract's email index does).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Wallet {
    /// Opens (or creates) the wallet file. `params` sets the cost of the dummy hash used for unknown
    /// emails; it should be the cost new passwords get.
    pub fn open(path: &Path, params: PasswordParams) -> Result<Wallet, WalletError> {
        let shown = path.display().to_string();
        let storage = |e: &dyn std::fmt::Display| WalletError::Storage {
            path: shown.clone(),
            detail: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| storage(&e))?;
        }
        let db = Database::create(path).map_err(|e| storage(&e))?;
        let txn = db.begin_write().map_err(|e| storage(&e))?;
        txn.open_table(PEOPLE).map_err(|e| storage(&e))?;
        txn.commit().map_err(|e| storage(&e))?;
        let dummy_password = Zeroizing::new(random_bytes::<32>());
        let dummy_hash = hash_password(params, dummy_password.as_slice())?;
        Ok(Wallet {
            db,
            path: shown,
            dummy_hash,
        })
    }

    fn storage(&self, e: impl std::fmt::Display) -> WalletError {
        WalletError::Storage {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }

    /// Hashes `password` and encrypts `identity`'s key under it, and the organization CA's key `ca_key`
    /// when given (administrators). Expensive (two Argon2 runs).
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        email: &str,
        role: Role,
        record_id: i64,
        password: &str,
        identity: &Identity,
        ca_key: Option<&SigningKey>,
        params: PasswordParams,
        now_ms: i64,
    ) -> Result<Sealed, WalletError> {
        let email = normalize_email(email);
        let password_hash = hash_password(params, password.as_bytes())?;
        let kdf_salt = random_bytes::<KDF_SALT_BYTES>();
        let nonce = random_bytes::<12>();
        let kek = derive_kek(params, password.as_bytes(), &kdf_salt)?;
        let seed = Zeroizing::new(identity.key.seed());
        let aad = aad(&email, role, &identity.certificate);
        let sealed_seed = Aes256Gcm::new(&(*kek).into())
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: seed.as_slice(),
                    aad: &aad,
                },
            )
            .map_err(|_| WalletError::Crypto("AES-GCM encryption failed".into()))?;
        let sealed_ca = ca_key
            .map(|key| {
                let nonce = random_bytes::<12>();
                let seed = Zeroizing::new(key.seed());
                Aes256Gcm::new(&(*kek).into())
                    .encrypt(
                        &Nonce::from(nonce),
                        Payload {
                            msg: seed.as_slice(),
                            aad: &ca_aad(&email),
                        },
                    )
                    .map(|ciphertext| SealedSecret { nonce, ciphertext })
                    .map_err(|_| WalletError::Crypto("AES-GCM encryption failed".into()))
            })
            .transpose()?;
        Ok(Sealed(Entry {
            format_version: ENTRY_FORMAT_VERSION,
            email,
            role,
            record_id,
            password_hash,
            kdf: params,
            kdf_salt,
            nonce,
            sealed_seed,
            certificate: identity.certificate.clone(),
            on_ledger: OnLedger::Yes,
            updated_ms: now_ms,
            sealed_ca,
            must_change_password: false,
        }))
    }

    /// Stores a sealed entry of someone whose profile is already on the ledger; refuses
    /// (`AlreadyExists`) if the email has one.
    pub fn insert_new(&self, sealed: Sealed) -> Result<(), WalletError> {
        self.write(sealed.0, false)
    }

    /// Begins a registration: stores the entry as [`OnLedger::Registering`], before any ledger write;
    /// refuses (`AlreadyExists`) if the email has an entry.
    pub fn begin_registration(&self, mut sealed: Sealed) -> Result<(), WalletError> {
        sealed.0.on_ledger = OnLedger::Registering { tx: None };
        self.write(sealed.0, false)
    }

    /// Notes, durably, the transaction about to be submitted for a registration under way. Refuses
    /// (`NotRegistering`) an email with no registration under way.
    pub fn note_registration_tx(
        &self,
        email: &str,
        tx: medledger_types::TxId,
    ) -> Result<(), WalletError> {
        self.update(email, |entry| match entry.on_ledger {
            OnLedger::Registering { .. } => {
                entry.on_ledger = OnLedger::Registering { tx: Some(tx) };
                Ok(true)
            }
            _ => Err(WalletError::NotRegistering(entry.email.clone())),
        })
        .map(|_| ())
    }

    /// Ends a registration that did not reach the ledger: removes the entry if it is still
    /// [`OnLedger::Registering`] (never one that completed). Whether it removed one.
    pub fn abandon_registration(&self, email: &str) -> Result<bool, WalletError> {
        let email = normalize_email(email);
        let txn = self.db.begin_write().map_err(|e| self.storage(e))?;
        let removed = {
            let mut table = txn.open_table(PEOPLE).map_err(|e| self.storage(e))?;
            let registering = match table.get(email.as_str()).map_err(|e| self.storage(e))? {
                Some(bytes) => matches!(
                    decode_entry(&email, bytes.value())?.on_ledger,
                    OnLedger::Registering { .. }
                ),
                None => false,
            };
            if registering {
                table.remove(email.as_str()).map_err(|e| self.storage(e))?;
            }
            registering
        };
        txn.commit().map_err(|e| self.storage(e))?;
        Ok(removed)
    }

    /// Stores a sealed entry whose profile is not on the ledger yet (the first administrator), replacing
    /// any entry of that email: one left by a first run that crashed before its genesis block.
    pub fn insert_first_admin(&self, mut sealed: Sealed) -> Result<(), WalletError> {
        sealed.0.on_ledger = OnLedger::FirstAdmin;
        self.write(sealed.0, true)
    }

    /// Changes the entry of `email` with `change` in one write transaction (when `change` says it
    /// changed something). `Ok(false)` if there is no such entry.
    fn update(
        &self,
        email: &str,
        change: impl FnOnce(&mut Entry) -> Result<bool, WalletError>,
    ) -> Result<bool, WalletError> {
        let email = normalize_email(email);
        let txn = self.db.begin_write().map_err(|e| self.storage(e))?;
        let changed = {
            let mut table = txn.open_table(PEOPLE).map_err(|e| self.storage(e))?;
            let entry = match table.get(email.as_str()).map_err(|e| self.storage(e))? {
                Some(bytes) => Some(decode_entry(&email, bytes.value())?),
                None => None,
            };
            match entry {
                None => false,
                Some(mut entry) => {
                    if !change(&mut entry)? {
                        return Ok(true);
                    }
                    table
                        .insert(email.as_str(), codec::encode(&entry).as_slice())
                        .map_err(|e| self.storage(e))?;
                    true
                }
            }
        };
        txn.commit().map_err(|e| self.storage(e))?;
        Ok(changed)
    }

    fn write(&self, entry: Entry, replace: bool) -> Result<(), WalletError> {
        let txn = self.db.begin_write().map_err(|e| self.storage(e))?;
        {
            let mut table = txn.open_table(PEOPLE).map_err(|e| self.storage(e))?;
            if !replace
                && table
                    .get(entry.email.as_str())
                    .map_err(|e| self.storage(e))?
                    .is_some()
            {
                return Err(WalletError::AlreadyExists(entry.email));
            }
            table
                .insert(entry.email.as_str(), codec::encode(&entry).as_slice())
                .map_err(|e| self.storage(e))?;
        }
        txn.commit().map_err(|e| self.storage(e))
    }

    fn entry(&self, email: &str) -> Result<Option<Entry>, WalletError> {
        let email = normalize_email(email);
        let txn = self.db.begin_read().map_err(|e| self.storage(e))?;
        let table = txn.open_table(PEOPLE).map_err(|e| self.storage(e))?;
        let Some(bytes) = table.get(email.as_str()).map_err(|e| self.storage(e))? else {
            return Ok(None);
        };
        decode_entry(&email, bytes.value()).map(Some)
    }

    /// The person with this email, if any (no password needed; no secret returned).
    pub fn person(&self, email: &str) -> Result<Option<Person>, WalletError> {
        Ok(self.entry(email)?.map(|entry| person(&entry)))
    }

    /// Everyone in the wallet, by email.
    pub fn people(&self) -> Result<Vec<Person>, WalletError> {
        let txn = self.db.begin_read().map_err(|e| self.storage(e))?;
        let table = txn.open_table(PEOPLE).map_err(|e| self.storage(e))?;
        let mut people = Vec::new();
        for item in table.iter().map_err(|e| self.storage(e))? {
            let (key, value) = item.map_err(|e| self.storage(e))?;
            people.push(person(&decode_entry(key.value(), value.value())?));
        }
        Ok(people)
    }

    /// Checks the password and decrypts the person's key. Expensive (two Argon2 runs on success, one on
    /// failure). See the module doc for the outcomes.
    pub fn unlock(&self, email: &str, password: &str) -> Result<Unlocked, WalletError> {
        let Some(entry) = self.entry(email)? else {
            // Same work as a wrong password; the answer is the same too.
            let _ = verify_password(&self.dummy_hash, password.as_bytes());
            return Err(WalletError::WrongCredentials);
        };
        if !verify_password(&entry.password_hash, password.as_bytes())? {
            return Err(WalletError::WrongCredentials);
        }
        let kek = derive_kek(entry.kdf, password.as_bytes(), &entry.kdf_salt)?;
        let key = open_seed(&entry, &kek)?;
        let ca_key = entry
            .sealed_ca
            .as_ref()
            .map(|sealed| open_ca_key(&entry, sealed, &kek))
            .transpose()?;
        Ok(Unlocked {
            person: person(&entry),
            identity: Identity {
                key,
                certificate: entry.certificate,
            },
            ca_key,
        })
    }

    /// Replaces the password: checks `current`, hashes `new` and re-encrypts the keys under it, in one
    /// durable write; the new password is the person's own, so no change is asked of them any more.
    /// Expensive (four Argon2 runs). Outcomes: `Ok`; `WrongCredentials` (unknown email or
    /// wrong current password); a storage error (nothing changed).
    pub fn change_password(
        &self,
        email: &str,
        current: &str,
        new: &str,
        params: PasswordParams,
        now_ms: i64,
    ) -> Result<(), WalletError> {
        let unlocked = self.unlock(email, current)?;
        let before = self.entry(email)?.ok_or(WalletError::WrongCredentials)?;
        let mut sealed = Wallet::seal(
            email,
            unlocked.person.role,
            unlocked.person.record_id,
            new,
            &unlocked.identity,
            unlocked.ca_key.as_ref(),
            params,
            now_ms,
        )?
        .0;
        sealed.on_ledger = before.on_ledger;
        let txn = self.db.begin_write().map_err(|e| self.storage(e))?;
        {
            let mut table = txn.open_table(PEOPLE).map_err(|e| self.storage(e))?;
            // Another change may have committed since `unlock`: only replace what was verified.
            let still = table
                .get(sealed.email.as_str())
                .map_err(|e| self.storage(e))?
                .map(|bytes| decode_entry(&sealed.email, bytes.value()))
                .transpose()?;
            if still.as_ref() != Some(&before) {
                return Err(WalletError::WrongCredentials);
            }
            table
                .insert(sealed.email.as_str(), codec::encode(&sealed).as_slice())
                .map_err(|e| self.storage(e))?;
        }
        txn.commit().map_err(|e| self.storage(e))
    }

    /// Records that the person's profile is on the ledger (ends a registration, or the first
    /// administrator's wait).
    pub fn mark_on_ledger(&self, email: &str) -> Result<(), WalletError> {
        self.update(email, |entry| {
            let changed = entry.on_ledger != OnLedger::Yes;
            entry.on_ledger = OnLedger::Yes;
            Ok(changed)
        })
        .map(|_| ())
    }
}

fn person(entry: &Entry) -> Person {
    Person {
        email: entry.email.clone(),
        role: entry.role,
        record_id: entry.record_id,
        certificate: entry.certificate.clone(),
        on_ledger: entry.on_ledger,
        must_change_password: entry.must_change_password,
        holds_ca_key: entry.sealed_ca.is_some(),
    }
}

fn decode_entry(email: &str, bytes: &[u8]) -> Result<Entry, WalletError> {
    let corrupted = |detail: String| WalletError::Corrupted {
        email: email.to_owned(),
        detail,
    };
    let entry: Entry = codec::decode("wallet entry", bytes, ENTRY_BYTES_MAX)
        .map_err(|e| corrupted(e.to_string()))?;
    if entry.format_version != ENTRY_FORMAT_VERSION {
        return Err(corrupted(format!(
            "format version {}, expected {ENTRY_FORMAT_VERSION}",
            entry.format_version
        )));
    }
    if entry.email != email {
        return Err(corrupted("stored under another email".into()));
    }
    Ok(entry)
}

fn aad(email: &str, role: Role, certificate: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + email.len() + certificate.len() + 3);
    aad.extend_from_slice(AAD_PREFIX);
    aad.push(0);
    aad.extend_from_slice(email.as_bytes());
    aad.push(0);
    aad.push(role as u8);
    aad.extend_from_slice(certificate);
    aad
}

fn ca_aad(email: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(CA_AAD_PREFIX.len() + email.len() + 1);
    aad.extend_from_slice(CA_AAD_PREFIX);
    aad.push(0);
    aad.extend_from_slice(email.as_bytes());
    aad
}

fn hash_password(params: PasswordParams, password: &[u8]) -> Result<String, WalletError> {
    let hash: PasswordHash = params
        .argon2()?
        .hash_password(password)
        .map_err(|e| WalletError::Crypto(format!("password hashing: {e}")))?;
    Ok(hash.to_string())
}

/// `Ok(false)` for a wrong password; `Err` only for a hash that does not parse.
fn verify_password(hash: &str, password: &[u8]) -> Result<bool, WalletError> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| WalletError::Crypto(format!("stored password hash: {e}")))?;
    // The hash's own parameters are used, whatever the configured ones are.
    Ok(Argon2::default().verify_password(password, &parsed).is_ok())
}

fn derive_kek(
    params: PasswordParams,
    password: &[u8],
    salt: &[u8; KDF_SALT_BYTES],
) -> Result<Zeroizing<[u8; 32]>, WalletError> {
    let mut kek = Zeroizing::new([0u8; 32]);
    params
        .argon2()?
        .hash_password_into(password, salt, kek.as_mut_slice())
        .map_err(|e| WalletError::Crypto(format!("key derivation: {e}")))?;
    Ok(kek)
}

/// The organization CA's key sealed in `entry`, opened with the entry's key-encryption key.
fn open_ca_key(
    entry: &Entry,
    sealed: &SealedSecret,
    kek: &[u8; 32],
) -> Result<SigningKey, WalletError> {
    let seed = Zeroizing::new(
        Aes256Gcm::new(&(*kek).into())
            .decrypt(
                &Nonce::from(sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &ca_aad(&entry.email),
                },
            )
            .map_err(|_| WalletError::Corrupted {
                email: entry.email.clone(),
                detail: "the organization CA's key does not open".into(),
            })?,
    );
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| WalletError::Corrupted {
            email: entry.email.clone(),
            detail: "the organization CA's key is not 32 bytes".into(),
        })?;
    Ok(SigningKey::from_seed(&seed))
}

fn open_seed(entry: &Entry, kek: &[u8; 32]) -> Result<SigningKey, WalletError> {
    let corrupted = |detail: &str| WalletError::Corrupted {
        email: entry.email.clone(),
        detail: detail.to_owned(),
    };
    let aad = aad(&entry.email, entry.role, &entry.certificate);
    let seed = Zeroizing::new(
        Aes256Gcm::new(&(*kek).into())
            .decrypt(
                &Nonce::from(entry.nonce),
                Payload {
                    msg: &entry.sealed_seed,
                    aad: &aad,
                },
            )
            // The password verified against the hash, so a failing tag means the entry was altered.
            .map_err(|_| corrupted("the encrypted key does not open"))?,
    );
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| corrupted("the key is not 32 bytes"))?;
    let key = SigningKey::from_seed(&seed);
    let certified = medledger_crypto::x509::parse_certificate(&entry.certificate)
        .map_err(|_| corrupted("the certificate does not parse"))?
        .public_key;
    if certified != key.public_key() {
        return Err(corrupted("the key is not the certificate's"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_crypto::x509::{CertificateAuthority, IssueRequest};

    fn identity(name: &str) -> Identity {
        let ca = CertificateAuthority::new_root("Org1", SigningKey::generate()).expect("ca");
        let key = SigningKey::generate();
        let certificate = ca
            .issue(&IssueRequest {
                name: name.into(),
                role: Role::Doctor,
                public_key: key.public_key(),
                serial: 7,
                not_before_unix_s: 0,
                not_after_unix_s: 4_000_000_000,
            })
            .expect("issue");
        Identity { key, certificate }
    }

    const CHEAP: PasswordParams = PasswordParams::CHEAP_FOR_TESTS;

    #[test]
    fn a_sealed_key_unlocks_only_with_its_password_and_a_changed_password_re_encrypts_it() {
        let dir = tempfile::tempdir().expect("dir");
        let wallet = Wallet::open(&dir.path().join(WALLET_FILE), CHEAP).expect("open");
        let ana = identity("ana@hospital.cu");
        let sealed = Wallet::seal(
            "Ana@Hospital.cu",
            Role::Doctor,
            10,
            "correct horse battery",
            &ana,
            None,
            CHEAP,
            1,
        )
        .expect("seal");
        wallet.insert_new(sealed).expect("insert");

        let unlocked = wallet
            .unlock("ana@hospital.cu", "correct horse battery")
            .expect("unlock");
        assert_eq!(unlocked.identity.key.seed(), ana.key.seed());
        assert_eq!(unlocked.person.record_id, 10);
        assert!(matches!(
            wallet.unlock("ana@hospital.cu", "wrong horse battery"),
            Err(WalletError::WrongCredentials)
        ));
        assert!(matches!(
            wallet.unlock("nobody@hospital.cu", "correct horse battery"),
            Err(WalletError::WrongCredentials)
        ));

        wallet
            .change_password(
                "ana@hospital.cu",
                "correct horse battery",
                "a new passphrase",
                CHEAP,
                2,
            )
            .expect("change");
        assert!(matches!(
            wallet.unlock("ana@hospital.cu", "correct horse battery"),
            Err(WalletError::WrongCredentials)
        ));
        let again = wallet
            .unlock("ana@hospital.cu", "a new passphrase")
            .expect("unlock with the new password");
        assert_eq!(again.identity.key.seed(), ana.key.seed());
    }

    #[test]
    fn a_registration_under_way_is_noted_completed_or_abandoned_and_a_completed_one_stays() {
        let dir = tempfile::tempdir().expect("dir");
        let wallet = Wallet::open(&dir.path().join(WALLET_FILE), CHEAP).expect("open");
        let seal = |email: &str| {
            Wallet::seal(
                email,
                Role::Doctor,
                10,
                "correct horse battery",
                &identity(email),
                None,
                CHEAP,
                1,
            )
            .expect("seal")
        };
        let state = |email: &str| wallet.person(email).expect("read").map(|p| p.on_ledger);
        let tx = medledger_types::TxId(medledger_types::Hash([5; 32]));

        wallet
            .begin_registration(seal("ana@hospital.cu"))
            .expect("begin");
        assert_eq!(
            state("ana@hospital.cu"),
            Some(OnLedger::Registering { tx: None })
        );
        assert!(matches!(
            wallet.begin_registration(seal("ana@hospital.cu")),
            Err(WalletError::AlreadyExists(_))
        ));
        wallet
            .note_registration_tx("ana@hospital.cu", tx)
            .expect("note");
        assert_eq!(
            state("ana@hospital.cu"),
            Some(OnLedger::Registering { tx: Some(tx) })
        );
        wallet.mark_on_ledger("ana@hospital.cu").expect("complete");
        assert_eq!(state("ana@hospital.cu"), Some(OnLedger::Yes));
        // A completed entry is never removed as an abandoned registration, nor noted again.
        assert!(
            !wallet
                .abandon_registration("ana@hospital.cu")
                .expect("abandon")
        );
        assert_eq!(state("ana@hospital.cu"), Some(OnLedger::Yes));
        assert!(matches!(
            wallet.note_registration_tx("ana@hospital.cu", tx),
            Err(WalletError::NotRegistering(_))
        ));

        wallet
            .begin_registration(seal("luis@hospital.cu"))
            .expect("begin");
        assert!(
            wallet
                .abandon_registration("LUIS@hospital.cu")
                .expect("abandon")
        );
        assert_eq!(state("luis@hospital.cu"), None);
        wallet
            .begin_registration(seal("luis@hospital.cu"))
            .expect("the email is free again");
    }

    #[test]
    fn no_plaintext_seed_or_password_is_in_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(WALLET_FILE);
        let ana = identity("ana@hospital.cu");
        {
            let wallet = Wallet::open(&path, CHEAP).expect("open");
            let sealed = Wallet::seal(
                "ana@hospital.cu",
                Role::Doctor,
                10,
                "correct horse battery",
                &ana,
                None,
                CHEAP,
                1,
            )
            .expect("seal");
            wallet.insert_new(sealed).expect("insert");
        }
        let bytes = std::fs::read(&path).expect("read");
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(!contains(&ana.key.seed()));
        assert!(!contains(b"correct horse battery"));
        assert!(contains(&ana.certificate));
    }

    #[test]
    fn an_email_is_registered_once_and_a_moved_key_does_not_open() {
        let dir = tempfile::tempdir().expect("dir");
        let wallet = Wallet::open(&dir.path().join(WALLET_FILE), CHEAP).expect("open");
        let ana = identity("ana@hospital.cu");
        let seal = |email: &str| {
            Wallet::seal(
                email,
                Role::Doctor,
                10,
                "correct horse battery",
                &ana,
                None,
                CHEAP,
                1,
            )
            .expect("seal")
        };
        wallet.insert_new(seal("ana@hospital.cu")).expect("insert");
        assert!(matches!(
            wallet.insert_new(seal("ANA@hospital.cu")),
            Err(WalletError::AlreadyExists(_))
        ));
        // An entry sealed for one email and stored under another does not open.
        let mut moved = seal("ana@hospital.cu").0;
        moved.email = "eve@hospital.cu".into();
        wallet.write(moved, false).expect("write");
        assert!(matches!(
            wallet.unlock("eve@hospital.cu", "correct horse battery"),
            Err(WalletError::Corrupted { .. })
        ));
    }

    #[test]
    fn the_ca_key_opens_only_with_the_administrators_password_and_survives_a_change() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(WALLET_FILE);
        let wallet = Wallet::open(&path, CHEAP).expect("open");
        let raul = identity("raul@hospital.cu");
        let ca_key = SigningKey::generate();
        let sealed = Wallet::seal(
            "raul@hospital.cu",
            Role::Admin,
            2,
            "chosen by another admin",
            &raul,
            Some(&ca_key),
            CHEAP,
            1,
        )
        .expect("seal")
        .must_change_password();
        wallet.insert_new(sealed).expect("insert");
        let person = wallet
            .person("raul@hospital.cu")
            .expect("read")
            .expect("there");
        assert!(person.holds_ca_key && person.must_change_password);
        let unlocked = wallet
            .unlock("raul@hospital.cu", "chosen by another admin")
            .expect("unlock");
        assert_eq!(unlocked.ca_key.map(|k| k.seed()), Some(ca_key.seed()));
        let bytes = std::fs::read(&path).expect("read");
        assert!(
            !bytes.windows(32).any(|w| w == ca_key.seed()),
            "never in the clear"
        );

        wallet
            .change_password(
                "raul@hospital.cu",
                "chosen by another admin",
                "my own passphrase",
                CHEAP,
                2,
            )
            .expect("change");
        let person = wallet
            .person("raul@hospital.cu")
            .expect("read")
            .expect("there");
        assert!(
            !person.must_change_password,
            "the password is the person's own now"
        );
        let again = wallet
            .unlock("raul@hospital.cu", "my own passphrase")
            .expect("unlock");
        assert_eq!(again.ca_key.map(|k| k.seed()), Some(ca_key.seed()));
    }
}
