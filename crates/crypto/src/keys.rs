//! Ed25519 keys and signatures: the only signature scheme of the ledger.
//!
//! Every signature on the ledger (proposals, endorsements, block headers, certificates, CRLs) is Ed25519
//! over the exact bytes as received. [`SigningKey`] wraps `ed25519_dalek::SigningKey` so that the rest of
//! the workspace never depends on the dalek API and so that its `Debug` cannot leak the secret;
//! [`PublicKey`] is the plain 32 bytes that certificates carry.
//!
//! **The ledger's one definition of a valid signature** is ZIP-215's (Zcash, the rule of `ed25519-zebra`
//! and `ed25519-consensus`), with weak keys refused, and [`PublicKey::verify`] and [`verify_batch`] both
//! apply it, so that no signature's verdict depends on which others share its batch:
//! 1. `A` (the key) decompresses, and is not of small order (else [`SignatureError::MalformedKey`]);
//!    non-canonical encodings of a point are accepted;
//! 2. `R` (the signature's first half) decompresses; non-canonical encodings and small-order points are
//!    accepted;
//! 3. `S` (the second half) is canonical: `S < ℓ`;
//! 4. the *cofactored* equation `[8]([S]B − [k]A − R) = 0` holds, with `k = SHA-512(R ‖ A ‖ M) mod ℓ` over
//!    the 32-byte encodings of `R` and `A` as received.
//!
//! The batch equation is the same equation, summed with coefficients derived from the items, and also
//! multiplied by the cofactor: it holds whenever every item's does, and otherwise fails except with
//! probability below 2⁻¹²⁰. dalek's `verify_strict` (cofactorless, no small-order `R`) and its batch
//! (cofactorless) are two different predicates, which is why neither is used.

use std::fmt;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity as _, VartimeMultiscalarMul as _};
use ed25519_dalek::Signer as _;
use medledger_types::Signature;
use sha2::{Digest as _, Sha512};
use zeroize::Zeroizing;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature does not verify for this message and key: its `R` is not a point, its `S` is not
    /// below the group order, or the equation does not hold.
    #[error("signature does not verify")]
    Invalid,
    /// The public key is not a valid Ed25519 point, or is of small order.
    #[error("malformed or weak Ed25519 public key")]
    MalformedKey,
}

/// An Ed25519 private key. The secret is wiped when the key is dropped (dalek's `zeroize` feature).
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A fresh key from the operating system's random source.
    ///
    /// # Panics
    /// If the OS random source fails (see [`random_bytes`]).
    pub fn generate() -> Self {
        let seed = Zeroizing::new(random_bytes::<32>());
        Self::from_seed(&seed)
    }

    /// The key whose 32-byte seed (RFC 8032 private key) is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for storage in a wallet or key file. The caller owns (and should wipe) the copy.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_bytes(self.0.verifying_key().to_bytes())
    }

    /// Signs `msg` (pure Ed25519, no prehash, no context).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
}

impl fmt::Debug for SigningKey {
    /// Shows only the public half: keys end up in logs through the structs that hold them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key: the 32-byte compressed point, as carried in a certificate.
///
/// Any 32 bytes can be held; whether they are a usable key is checked when the key is made and reported
/// when verifying. The decompressed point is kept beside the bytes, so a key that verifies many signatures
/// (a cached identity's) decompresses once. Equality, order and hashing are those of the bytes.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    /// `None` when the bytes are not a point or are a small-order point.
    point: Option<EdwardsPoint>,
}

impl PublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        let point = CompressedEdwardsY(bytes)
            .decompress()
            .filter(|point| !point.is_small_order());
        PublicKey { bytes, point }
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// Whether these bytes are a point of the curve that is not of small order: a key that can verify.
    pub fn is_usable(&self) -> bool {
        self.point.is_some()
    }

    /// Whether `sig` is a valid signature of `msg` by this key, by the ledger's one rule (module doc).
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), SignatureError> {
        let item = Parsed::new(msg, sig, self)?;
        let check =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&-item.k, &item.a, &item.s) - item.r;
        if check.mul_by_cofactor().is_identity() {
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }

    /// The decompressed key, refusing bytes that are not a point and small-order points.
    fn point(&self) -> Result<EdwardsPoint, SignatureError> {
        self.point.ok_or(SignatureError::MalformedKey)
    }
}

/// One signature's parts, checked by rules 1–3 of the module doc, and its challenge `k`.
struct Parsed {
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl Parsed {
    fn new(msg: &[u8], sig: &Signature, key: &PublicKey) -> Result<Parsed, SignatureError> {
        let a = key.point()?;
        let (r_bytes, s_bytes) = sig.0.split_at(32);
        let r_bytes: [u8; 32] = r_bytes.try_into().map_err(|_| SignatureError::Invalid)?;
        let s_bytes: [u8; 32] = s_bytes.try_into().map_err(|_| SignatureError::Invalid)?;
        let r = CompressedEdwardsY(r_bytes)
            .decompress()
            .ok_or(SignatureError::Invalid)?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))
            .ok_or(SignatureError::Invalid)?;
        let digest: [u8; 64] = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(key.as_bytes())
            .chain_update(msg)
            .finalize()
            .into();
        let k = Scalar::from_bytes_mod_order_wide(&digest);
        Ok(Parsed { a, r, s, k })
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Bytes of each batch coefficient: 128 bits, so an invalid item slips through a batch with probability
/// about 2⁻¹²⁵ (the coefficient must cancel a torsion-free error term).
const BATCH_COEFFICIENT_BYTES: usize = 16;

/// Verifies every `(message, signature, key)` at once by the same rule as [`PublicKey::verify`]: `Ok`
/// exactly when every item's `verify` is `Ok` (up to the negligible chance above). Empty input is `Ok`.
///
/// About twice as fast per signature as [`PublicKey::verify`] for blocks of transactions. When it fails it
/// does not say which item is bad: callers fall back to [`PublicKey::verify`] on each item, which finds
/// exactly the items that fail, because the two are one predicate. A malformed key in the batch gives
/// `MalformedKey`, any other refusal `Invalid`.
///
/// The coefficients are derived from the items (a SHA-512 of every signature, key and challenge), so the
/// verdict is a deterministic function of the items and every peer reaches the same one.
pub fn verify_batch(items: &[(&[u8], &Signature, &PublicKey)]) -> Result<(), SignatureError> {
    if items.is_empty() {
        return Ok(());
    }
    let parsed = items
        .iter()
        .map(|(msg, sig, key)| Parsed::new(msg, sig, key))
        .collect::<Result<Vec<_>, _>>()?;
    let mut transcript = Sha512::new().chain_update(b"medledger ed25519 batch v1");
    for ((_, sig, key), item) in items.iter().zip(&parsed) {
        transcript.update(sig.0);
        transcript.update(key.as_bytes());
        transcript.update(item.k.as_bytes());
    }
    let transcript: [u8; 64] = transcript.finalize().into();
    let coefficients: Vec<Scalar> = (0..parsed.len() as u64)
        .map(|i| {
            let digest: [u8; 64] = Sha512::new()
                .chain_update(transcript)
                .chain_update(i.to_le_bytes())
                .finalize()
                .into();
            let mut wide = [0u8; 32];
            wide[..BATCH_COEFFICIENT_BYTES].copy_from_slice(&digest[..BATCH_COEFFICIENT_BYTES]);
            Scalar::from_bytes_mod_order(wide)
        })
        .collect();
    // Σ zᵢ([Sᵢ]B − [kᵢ]Aᵢ − Rᵢ) = [Σ zᵢSᵢ]B − Σ [zᵢkᵢ]Aᵢ − Σ [zᵢ]Rᵢ, times the cofactor.
    let basepoint_scalar: Scalar = coefficients.iter().zip(&parsed).map(|(z, p)| z * p.s).sum();
    let scalars = std::iter::once(basepoint_scalar)
        .chain(coefficients.iter().zip(&parsed).map(|(z, p)| -(z * p.k)))
        .chain(coefficients.iter().map(|z| -z));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(parsed.iter().map(|p| p.a))
        .chain(parsed.iter().map(|p| p.r));
    if EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
    {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

/// `N` bytes from the operating system's random source (nonces, key seeds, serial numbers).
///
/// # Panics
/// If the OS random source fails. On the platforms we run on (Linux `getrandom(2)`) that only happens
/// when the kernel is broken, and there is no safe way to continue without randomness.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut out).expect("the operating system's random source failed");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let key = SigningKey::generate();
        let sig = key.sign(b"hello");
        assert_eq!(key.public_key().verify(b"hello", &sig), Ok(()));
        assert_eq!(
            key.public_key().verify(b"hellO", &sig),
            Err(SignatureError::Invalid)
        );
        let other = SigningKey::generate();
        assert_eq!(
            other.public_key().verify(b"hello", &sig),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn seed_round_trip_gives_the_same_key() {
        let key = SigningKey::generate();
        let again = SigningKey::from_seed(&key.seed());
        assert_eq!(key.public_key(), again.public_key());
        // Ed25519 signatures are deterministic, so the same key signs identically.
        assert_eq!(key.sign(b"m"), again.sign(b"m"));
    }

    #[test]
    fn known_answer_rfc8032_test_1() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .expect("hex")
                .try_into()
                .expect("32");
        let key = SigningKey::from_seed(&seed);
        assert_eq!(
            key.public_key().to_hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(key.sign(b"").0),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn debug_does_not_print_the_seed() {
        let key = SigningKey::generate();
        let shown = format!("{key:?} {key:#?}");
        assert!(!shown.contains(&hex::encode(key.seed())), "{shown}");
        assert!(!shown.contains(&format!("{:?}", key.seed())), "{shown}");
        assert!(shown.contains(&key.public_key().to_hex()));
    }

    #[test]
    fn malformed_and_weak_keys_are_refused() {
        let sig = SigningKey::generate().sign(b"m");
        // The identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(identity).verify(b"m", &sig),
            Err(SignatureError::MalformedKey)
        );
        // y = 2 is not on the curve.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert_eq!(
            PublicKey::from_bytes(not_a_point).verify(b"m", &sig),
            Err(SignatureError::MalformedKey)
        );
    }

    #[test]
    fn batch_accepts_good_and_rejects_one_bad() {
        let keys: Vec<SigningKey> = (0..16).map(|_| SigningKey::generate()).collect();
        let msgs: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        let sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(SigningKey::public_key).collect();
        let items: Vec<(&[u8], &Signature, &PublicKey)> = msgs
            .iter()
            .zip(&sigs)
            .zip(&pubs)
            .map(|((m, s), p)| (m.as_slice(), s, p))
            .collect();
        assert_eq!(verify_batch(&items), Ok(()));
        assert_eq!(verify_batch(&[]), Ok(()));

        let mut bad = sigs.clone();
        bad[7].0[3] ^= 1;
        let items: Vec<(&[u8], &Signature, &PublicKey)> = msgs
            .iter()
            .zip(&bad)
            .zip(&pubs)
            .map(|((m, s), p)| (m.as_slice(), s, p))
            .collect();
        assert_eq!(verify_batch(&items), Err(SignatureError::Invalid));
        // The fall-back finds exactly the culprit.
        let culprits: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, (m, s, p))| p.verify(m, s).is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(culprits, vec![7]);

        // A signature by the wrong key for its message also fails the batch.
        let swapped: Vec<(&[u8], &Signature, &PublicKey)> = vec![
            (msgs[0].as_slice(), &sigs[0], &pubs[0]),
            (msgs[1].as_slice(), &sigs[1], &pubs[0]),
        ];
        assert_eq!(verify_batch(&swapped), Err(SignatureError::Invalid));
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes::<32>(), random_bytes::<32>());
    }
}
