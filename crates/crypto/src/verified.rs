//! Signatures a node has already found valid, so that it does not check the same one twice.
//!
//! A transaction endorsed by this node is checked three times over without it: the creator's signature at
//! endorsement and again in the block, the endorsement this peer just made, the header its own orderer
//! signed. Ed25519 verification is the largest cost of a write, so a node remembers, by digest, each
//! (key, signature, message) it verified or made, and validation skips those. The verdict cannot differ:
//! an item is remembered only after it passed the one verification rule ([`PublicKey::verify`]), or when
//! this node's own key made it; a different key, signature or message is a different digest. `verify`
//! (the offline auditor) never shares one: it checks every signature itself.
//!
//! Bounded: at most the capacity's digests (32 bytes each), the oldest forgotten first.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use medledger_types::Signature;
use sha2::{Digest, Sha256};

use crate::keys::PublicKey;

/// Digests a node remembers by default: well over the transactions in flight at once, about 1 MiB.
pub const VERIFIED_SIGNATURES_DEFAULT: usize = 32 * 1024;

/// A bounded set of signatures known to verify. Shared between endorsement and validation.
#[derive(Debug)]
pub struct VerifiedSignatures {
    capacity: usize,
    inner: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    digests: HashSet<[u8; 32]>,
    /// The same digests, oldest first.
    order: VecDeque<[u8; 32]>,
}

impl Default for VerifiedSignatures {
    fn default() -> Self {
        VerifiedSignatures::new(VERIFIED_SIGNATURES_DEFAULT)
    }
}

impl VerifiedSignatures {
    /// A set that remembers at most `capacity` signatures (0 remembers none).
    pub fn new(capacity: usize) -> VerifiedSignatures {
        VerifiedSignatures {
            capacity,
            inner: Mutex::new(Remembered::default()),
        }
    }

    /// What identifies an item: the key, the signature and the message, with a domain of its own.
    fn digest(msg: &[u8], signature: &Signature, key: &PublicKey) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"medledger verified signature\0");
        hasher.update(key.as_bytes());
        hasher.update(signature.0);
        hasher.update(msg);
        hasher.finalize().into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Verifies `signature` on `msg` under `key` (the one rule) and remembers it if it is valid.
    pub fn verify(
        &self,
        msg: &[u8],
        signature: &Signature,
        key: &PublicKey,
    ) -> Result<(), crate::keys::SignatureError> {
        key.verify(msg, signature)?;
        self.insert(Self::digest(msg, signature, key));
        Ok(())
    }

    /// Verifies `items` (message, signature, key) in one batch, or one by one if the batch fails (the
    /// one rule either way), and remembers each that verifies.
    pub fn verify_all(&self, items: &[(&[u8], &Signature, &PublicKey)]) {
        if crate::keys::verify_batch(items).is_ok() {
            for (msg, signature, key) in items {
                self.insert(Self::digest(msg, signature, key));
            }
        } else {
            for (msg, signature, key) in items {
                let _ = self.verify(msg, signature, key);
            }
        }
    }

    /// Remembers a signature this node's own `key` just made on `msg`.
    pub fn made(&self, msg: &[u8], signature: &Signature, key: &PublicKey) {
        self.insert(Self::digest(msg, signature, key));
    }

    /// Whether this exact signature on this message under this key is known to verify.
    pub fn contains(&self, msg: &[u8], signature: &Signature, key: &PublicKey) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let digest = Self::digest(msg, signature, key);
        self.lock().digests.contains(&digest)
    }

    fn insert(&self, digest: [u8; 32]) {
        if self.capacity == 0 {
            return;
        }
        let mut remembered = self.lock();
        if !remembered.digests.insert(digest) {
            return;
        }
        remembered.order.push_back(digest);
        while remembered.order.len() > self.capacity {
            if let Some(oldest) = remembered.order.pop_front() {
                remembered.digests.remove(&oldest);
            }
        }
    }

    /// How many signatures are remembered now.
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;

    #[test]
    fn only_the_exact_item_that_verified_or_was_made_is_known() {
        let key = SigningKey::from_seed(&[7; 32]);
        let public = key.public_key();
        let other = SigningKey::from_seed(&[8; 32]).public_key();
        let known = VerifiedSignatures::new(16);
        let signature = key.sign(b"note");
        assert!(!known.contains(b"note", &signature, &public));
        known.verify(b"note", &signature, &public).expect("valid");
        assert!(known.contains(b"note", &signature, &public));
        // Another message, key or signature is another item.
        assert!(!known.contains(b"note!", &signature, &public));
        assert!(!known.contains(b"note", &signature, &other));
        let mut forged = signature;
        forged.0[0] ^= 1;
        assert!(!known.contains(b"note", &forged, &public));
        // A signature that fails is refused and not remembered.
        assert!(known.verify(b"note", &forged, &public).is_err());
        assert!(!known.contains(b"note", &forged, &public));
        let made = key.sign(b"made here");
        known.made(b"made here", &made, &public);
        assert!(known.contains(b"made here", &made, &public));
    }

    #[test]
    fn the_oldest_are_forgotten_beyond_the_capacity() {
        let key = SigningKey::from_seed(&[9; 32]);
        let public = key.public_key();
        let known = VerifiedSignatures::new(2);
        let items: Vec<(Vec<u8>, Signature)> =
            (0..3u8).map(|i| (vec![i], key.sign(&[i]))).collect();
        for (msg, signature) in &items {
            known.made(msg, signature, &public);
        }
        assert_eq!(known.len(), 2);
        assert!(!known.contains(&items[0].0, &items[0].1, &public));
        assert!(known.contains(&items[1].0, &items[1].1, &public));
        assert!(known.contains(&items[2].0, &items[2].1, &public));
        let none = VerifiedSignatures::new(0);
        none.made(&items[0].0, &items[0].1, &public);
        assert!(none.is_empty());
        assert!(!none.contains(&items[0].0, &items[0].1, &public));
    }
}
