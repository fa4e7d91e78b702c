//! Canonical encoding: every value round-trips, and decoding refuses trailing bytes, truncation and
//! oversize input without panicking.

use proptest::prelude::*;

use crate::codec::{self, CodecError};
use crate::*;

fn arb_hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn arb_version() -> impl Strategy<Value = Version> {
    (any::<u64>(), any::<u32>()).prop_map(|(block, tx)| Version { block, tx })
}

fn arb_rwset() -> impl Strategy<Value = RwSet> {
    let read = ("[a-z/]{0,12}", proptest::option::of(arb_version()))
        .prop_map(|(key, version)| KvRead { key, version });
    let write = (
        "[a-z/]{0,12}",
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(key, value)| KvWrite { key, value });
    (
        proptest::collection::vec(read, 0..5),
        proptest::collection::vec(write, 0..5),
    )
        .prop_map(|(reads, writes)| RwSet { reads, writes })
}

fn arb_signature() -> impl Strategy<Value = Signature> {
    proptest::collection::vec(any::<u8>(), 64).prop_map(|v| {
        let mut s = [0u8; 64];
        s.copy_from_slice(&v);
        Signature(s)
    })
}

fn arb_envelope() -> impl Strategy<Value = Envelope> {
    (
        proptest::collection::vec(any::<u8>(), 0..100),
        arb_signature(),
        proptest::collection::vec(any::<u8>(), 0..100),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..50),
                arb_signature(),
            ),
            0..3,
        ),
    )
        .prop_map(|(proposal, signature, response_payload, ends)| Envelope {
            format_version: FORMAT_VERSION,
            proposal: SignedProposal {
                proposal,
                signature,
            },
            response_payload,
            endorsements: ends
                .into_iter()
                .map(|(endorser, signature)| Endorsement {
                    endorser: if endorser.len() % 2 == 0 {
                        IdentityRef::Certificate(endorser)
                    } else {
                        IdentityRef::Known(Hash([endorser.len() as u8; 32]))
                    },
                    signature,
                })
                .collect(),
        })
}

fn arb_block() -> impl Strategy<Value = Block> {
    (
        any::<u64>(),
        arb_hash(),
        arb_hash(),
        arb_hash(),
        any::<u64>(),
        any::<i64>(),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 0..4),
        arb_signature(),
    )
        .prop_map(
            |(
                number,
                previous_hash,
                data_hash,
                ledger_root,
                ledger_size,
                timestamp_ms,
                entries,
                signature,
            )| {
                let codes = vec![ValidationCode::MvccReadConflict; entries.len()];
                Block {
                    header: BlockHeader {
                        format_version: FORMAT_VERSION,
                        number,
                        previous_hash,
                        data_hash,
                        ledger_root,
                        ledger_size,
                        timestamp_ms,
                    },
                    data: BlockData { entries },
                    metadata: BlockMetadata {
                        orderer_signature: OrdererSignature {
                            orderer: Hash([3; 32]),
                            signature,
                        },
                        validation_codes: codes,
                    },
                }
            },
        )
}

fn round_trip<T: borsh::BorshSerialize + borsh::BorshDeserialize + PartialEq + std::fmt::Debug>(
    value: &T,
) {
    let bytes = codec::encode(value);
    let back: T = codec::decode("value", &bytes, usize::MAX).expect("decodes");
    assert_eq!(&back, value);
    assert_eq!(
        codec::encode(&back),
        bytes,
        "re-encoding gives the same bytes"
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(
        codec::decode::<T>("value", &longer, usize::MAX).is_err(),
        "trailing byte refused"
    );
    if !bytes.is_empty() {
        assert!(
            codec::decode::<T>("value", &bytes[..bytes.len() - 1], usize::MAX).is_err(),
            "truncation refused"
        );
    }
}

proptest! {
    #[test]
    fn rwset_round_trips(rwset in arb_rwset()) { round_trip(&rwset); }

    #[test]
    fn envelope_round_trips(envelope in arb_envelope()) { round_trip(&envelope); }

    #[test]
    fn block_round_trips(block in arb_block()) { round_trip(&block); }

    #[test]
    fn proposal_round_trips(channel in "[a-z]{1,8}", args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..4), nonce in any::<[u8; 16]>(), ts in any::<i64>()) {
        round_trip(&Proposal { format_version: FORMAT_VERSION, channel, contract: "ehr".into(), function: "create".into(), args, creator: IdentityRef::Certificate(vec![9; 10]), nonce, timestamp_ms: ts });
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = codec::decode::<Block>("block", &bytes, usize::MAX);
        let _ = codec::decode::<Envelope>("envelope", &bytes, usize::MAX);
        let _ = codec::decode::<ChannelConfig>("config", &bytes, usize::MAX);
    }
}

#[test]
fn oversize_input_is_refused_before_decoding() {
    let err =
        codec::decode::<RwSet>("rwset", &[0u8; 100], 99).expect_err("oversize input is refused");
    assert_eq!(
        err,
        CodecError::TooLarge {
            what: "rwset",
            len: 100,
            max: 99
        }
    );
}

#[test]
fn forged_length_prefix_is_an_error() {
    // A Vec<u8> claiming 4 GiB of content with 4 bytes behind it.
    let bytes = [0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4];
    assert!(codec::decode::<Vec<u8>>("bytes", &bytes, usize::MAX).is_err());
}

#[test]
fn unknown_enum_discriminant_is_an_error() {
    assert!(codec::decode::<ValidationCode>("code", &[200], 1).is_err());
    assert_eq!(
        codec::decode::<ValidationCode>("code", &[7], 1),
        Ok(ValidationCode::MvccReadConflict)
    );
}

#[test]
fn identity_ref_layout_is_a_discriminant_then_the_certificate_or_its_hash() {
    let whole = codec::encode(&IdentityRef::Certificate(vec![0xaa, 0xbb]));
    assert_eq!(whole, [0, 2, 0, 0, 0, 0xaa, 0xbb]);
    let known = codec::encode(&IdentityRef::Known(Hash([5; 32])));
    assert_eq!(known.len(), 33);
    assert_eq!(known[0], 1);
    assert!(codec::decode::<IdentityRef>("identity", &[2; 33], 33).is_err());
    assert_eq!(
        codec::decode::<ValidationCode>("code", &[11], 1),
        Ok(ValidationCode::UnknownCertificateHash)
    );
}

#[test]
fn version_is_checked() {
    assert!(codec::check_version("block", FORMAT_VERSION).is_ok());
    assert_eq!(
        codec::check_version("block", 9),
        Err(CodecError::Version {
            what: "block",
            found: 9,
            expected: FORMAT_VERSION
        })
    );
}

#[test]
fn versions_order_like_the_chain() {
    let a = Version { block: 1, tx: 9 };
    let b = Version { block: 2, tx: 0 };
    assert!(a < b);
    assert!(Version { block: 2, tx: 1 } > b);
}

#[test]
fn hash_and_role_parse_from_text() {
    let h: Hash = "00".repeat(32).parse().expect("hex");
    assert_eq!(h, Hash::ZERO);
    assert!("zz".parse::<Hash>().is_err());
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>(), Ok(role));
    }
    assert!("nurse".parse::<Role>().is_err());
}
