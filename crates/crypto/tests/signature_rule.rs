//! One definition of a valid Ed25519 signature. The failure this pins: a signature whose verdict depends
//! on how it is checked — alone (`PublicKey::verify`) or in a batch (`verify_batch`), and with which
//! other signatures — so that peers batching differently, or a batch's fall-back, disagree.
//!
//! The edge cases are the published vectors of "Taming the many EdDSAs" (tests/data/taming_eddsa_vectors.txt:
//! small-order and mixed-order keys and `R`, non-canonical `R`, `A` and `S`), each with the verdict of the
//! ledger's rule.

use medledger_crypto::keys::{PublicKey, SignatureError, SigningKey, verify_batch};
use medledger_types::Signature;

/// One vector: what is signed, by which key, and what the rule says.
struct Case {
    index: usize,
    message: Vec<u8>,
    key: PublicKey,
    signature: Signature,
    expected: Result<(), SignatureError>,
}

fn cases() -> Vec<Case> {
    let text = include_str!("data/taming_eddsa_vectors.txt");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let hex = |i: usize| hex::decode(fields[i]).expect("the data file holds hex");
            let key: [u8; 32] = hex(2).try_into().expect("a key is 32 bytes");
            let signature: [u8; 64] = hex(3).try_into().expect("a signature is 64 bytes");
            let expected = match fields[4] {
                "valid" => Ok(()),
                "invalid" => Err(SignatureError::Invalid),
                "weak_key" => Err(SignatureError::MalformedKey),
                other => panic!("unknown verdict {other}"),
            };
            Case {
                index: fields[0].parse().expect("an index"),
                message: hex(1),
                key: PublicKey::from_bytes(key),
                signature: Signature(signature),
                expected,
            }
        })
        .collect()
}

/// An honest signature, to mix with the edge cases.
fn honest(i: u8) -> (Vec<u8>, Signature, PublicKey) {
    let key = SigningKey::from_seed(&[i; 32]);
    let message = vec![i; 17];
    let signature = key.sign(&message);
    (message, signature, key.public_key())
}

#[test]
fn every_vector_gets_the_verdict_of_the_rule_alone_and_in_a_batch_of_one() {
    let cases = cases();
    assert_eq!(cases.len(), 15, "the data file holds every published case");
    for case in &cases {
        let single = case.key.verify(&case.message, &case.signature);
        assert_eq!(single, case.expected, "case {} alone", case.index);
        let batch = verify_batch(&[(&case.message, &case.signature, &case.key)]);
        assert_eq!(
            batch, case.expected,
            "case {} in a batch of one",
            case.index
        );
    }
}

/// Every vector in a batch with honest signatures around it: the batch accepts exactly when every item
/// does alone, and the items that fail alone are the vectors the rule refuses — the fall-back a peer runs
/// after a failed batch finds the same culprits, whatever shares the batch.
#[test]
fn a_mixed_batch_accepts_exactly_when_every_single_check_does() {
    let cases = cases();
    let honest: Vec<_> = (1..=4).map(honest).collect();
    for case in &cases {
        let mut items: Vec<(&[u8], &Signature, &PublicKey)> = honest
            .iter()
            .map(|(m, s, k)| (m.as_slice(), s, k))
            .collect();
        items.insert(2, (&case.message, &case.signature, &case.key));
        let all_alone = items.iter().all(|(m, s, k)| k.verify(m, s).is_ok());
        assert_eq!(
            verify_batch(&items).is_ok(),
            all_alone,
            "case {} among honest signatures",
            case.index
        );
        let refused_alone: Vec<bool> = items
            .iter()
            .map(|(m, s, k)| k.verify(m, s).is_err())
            .collect();
        let refused_by_the_rule: Vec<bool> = (0..items.len())
            .map(|i| i == 2 && case.expected.is_err())
            .collect();
        assert_eq!(refused_alone, refused_by_the_rule, "case {}", case.index);
    }
    // All the vectors the rule accepts, together in one batch, and with every honest one.
    let valid: Vec<(&[u8], &Signature, &PublicKey)> = cases
        .iter()
        .filter(|c| c.expected.is_ok())
        .map(|c| (c.message.as_slice(), &c.signature, &c.key))
        .chain(honest.iter().map(|(m, s, k)| (m.as_slice(), s, k)))
        .collect();
    assert_eq!(verify_batch(&valid), Ok(()));
}

/// The same for every pair of vectors: a batch of two accepts exactly when both do alone.
#[test]
fn every_pair_of_vectors_is_judged_as_its_items_are() {
    let cases = cases();
    for a in &cases {
        for b in &cases {
            let items = [
                (a.message.as_slice(), &a.signature, &a.key),
                (b.message.as_slice(), &b.signature, &b.key),
            ];
            assert_eq!(
                verify_batch(&items).is_ok(),
                a.expected.is_ok() && b.expected.is_ok(),
                "cases {} and {}",
                a.index,
                b.index
            );
        }
    }
}

/// S ≥ ℓ is refused even when `S − ℓ` would verify: an honest signature with ℓ added to its `S`.
#[test]
fn a_non_canonical_s_is_refused_alone_and_in_a_batch() {
    const GROUP_ORDER_LE: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let (message, signature, key) = honest(9);
    let mut bumped = signature;
    let mut carry = 0u16;
    for (byte, order_byte) in bumped.0[32..].iter_mut().zip(GROUP_ORDER_LE) {
        let sum = u16::from(*byte) + u16::from(order_byte) + carry;
        *byte = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + ℓ still fits in 32 bytes");
    assert_eq!(key.verify(&message, &signature), Ok(()));
    assert_eq!(key.verify(&message, &bumped), Err(SignatureError::Invalid));
    let (m2, s2, k2) = honest(10);
    assert_eq!(
        verify_batch(&[(&m2, &s2, &k2), (&message, &bumped, &key)]),
        Err(SignatureError::Invalid)
    );
}
