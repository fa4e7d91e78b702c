//! The peer's validation, scenario by scenario. Failures pinned: a transaction judged with the wrong code
//! (or the right code for the wrong reason), an invalid transaction that changes state, a copy of a
//! transaction that hides the genuine one, a block that is not the next link getting committed, verdicts
//! that differ when the same blocks are replayed, and a commit-status waiter that is never answered.
//!
//! Each scenario goes through the harness: members propose EHR calls, the peer endorses them, the orderer
//! cuts blocks, and the test reads back the validation codes, the world state and the transaction index.

mod harness;

use harness::*;
use medledger_crypto::merkle;
use medledger_peer::verify::{VerifyError, VerifyReport, verify_ledger};
use medledger_peer::{
    BlockError, EndorseError, PeerError, Subscription, TxStatus, WAITERS_COUNT_MAX, WaitError,
    WaitOutcome,
};
use medledger_store::Store;
use medledger_types::ValidationCode::{self, *};
use medledger_types::{
    Envelope, FORMAT_VERSION, Hash, IdentityRef, KvWrite, ProposalResponsePayload, Response,
    ResponseStatus, Role, RwSet, TxLocation, Version, codec,
};
use tokio::sync::oneshot::error::TryRecvError;

fn at(block: u64, tx: u32) -> Option<Version> {
    Some(Version { block, tx })
}

fn located(block: u64, index: u32, code: ValidationCode) -> Option<TxLocation> {
    Some(TxLocation { block, index, code })
}

/// The value the endorsement of `tx` wrote to `key`.
fn endorsed_write(tx: &Tx, key: &str) -> Vec<u8> {
    endorsed_payload(tx)
        .rwset
        .writes
        .into_iter()
        .find(|w| w.key == key)
        .map(|w| w.value)
        .expect("the transaction writes the key")
}

// ---------------------------------------------------------------------------------------------------
// Valid transactions
// ---------------------------------------------------------------------------------------------------

#[test]
fn an_admin_registers_itself_and_a_doctor_creates_a_patient() {
    let mut net = Network::new();
    let admin_record = net.transaction(&net.admin, &create_admin(1, &net.admin));
    let patient = net.transaction(&net.doctor, &create_patient(100));

    assert_eq!(
        net.submit(vec![admin_record.entry(), patient.entry()]),
        [Valid, Valid]
    );

    assert_eq!(net.version(&admin_key(1)), at(1, 0));
    assert_eq!(net.version("idx/admin_email/admin@org1.example"), at(1, 0));
    assert_eq!(net.version(&patient_key(100)), at(1, 1));
    assert_eq!(
        net.state(&patient_key(100)).map(|v| v.value),
        Some(endorsed_write(&patient, &patient_key(100)))
    );
    let history = net.history(&patient_key(100));
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].tx_id, patient.tx_id);
    assert_eq!(net.location(&admin_record.tx_id), located(1, 0, Valid));
    assert_eq!(net.location(&patient.tx_id), located(1, 1, Valid));
}

// ---------------------------------------------------------------------------------------------------
// 1. malformed_envelope
// ---------------------------------------------------------------------------------------------------

#[test]
fn malformed_envelopes_are_recorded_and_change_nothing() {
    let mut net = Network::new();
    let first = net.transaction(&net.doctor, &create_patient(1));
    let second = net.transaction(&net.doctor, &create_patient(2));
    let payload = first.endorsed.response_payload.clone();
    let endorsement = first.endorsed.endorsement.clone();

    let with_trailing_byte = {
        let mut bytes = first.entry();
        bytes.push(0);
        bytes
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage bytes", b"not an envelope".to_vec()),
        ("an envelope with a trailing byte", with_trailing_byte),
        (
            "the second proposal with the first's endorsed response (tx ids differ)",
            entry(&envelope(
                second.proposal.clone(),
                payload.clone(),
                vec![endorsement.clone()],
            )),
        ),
        (
            "no endorsements",
            entry(&envelope(first.proposal.clone(), payload.clone(), vec![])),
        ),
        (
            "more endorsements than the limit",
            entry(&envelope(
                first.proposal.clone(),
                payload.clone(),
                vec![endorsement.clone(); medledger_types::limits::ENDORSEMENTS_COUNT_MAX + 1],
            )),
        ),
        (
            "a response payload that does not decode",
            entry(&envelope(
                first.proposal.clone(),
                b"not a payload".to_vec(),
                vec![net.peer_member.endorse_payload(b"not a payload")],
            )),
        ),
        ("an envelope of the next format version", {
            let mut envelope = first.envelope.clone();
            envelope.format_version = FORMAT_VERSION + 1;
            entry(&envelope)
        }),
    ];

    let codes = net.submit(cases.iter().map(|(_, entry)| entry.clone()).collect());

    for ((case, _), code) in cases.iter().zip(&codes) {
        assert_eq!(*code, MalformedEnvelope, "{case}");
    }
    assert_eq!(net.state(&patient_key(1)), None);
    assert_eq!(net.state(&patient_key(2)), None);
    // The ids of proposals that decoded are indexed with their first (malformed) occurrence (the
    // envelope with a trailing byte does not decode, so it has no id)...
    assert_eq!(
        net.location(&second.tx_id),
        located(1, 2, MalformedEnvelope)
    );
    assert_eq!(net.location(&first.tx_id), located(1, 3, MalformedEnvelope));

    // ...which does not stop the genuine envelopes from committing later.
    assert_eq!(
        net.submit(vec![first.entry(), second.entry()]),
        [Valid, Valid]
    );
    assert_eq!(net.location(&first.tx_id), located(2, 0, Valid));
    assert_eq!(net.location(&second.tx_id), located(2, 1, Valid));
}

// ---------------------------------------------------------------------------------------------------
// 2. wrong_channel
// ---------------------------------------------------------------------------------------------------

#[test]
fn a_proposal_for_another_channel_or_contract_is_wrong_channel() {
    let mut net = Network::new();
    let other_channel = net.doctor.propose_to("billing", "ehr", &create_patient(1));
    let other_contract = net
        .doctor
        .propose_to(CHANNEL, "payroll", &create_patient(2));

    assert!(matches!(
        net.peer.endorse(&other_channel),
        Err(EndorseError::WrongChannel { .. })
    ));
    assert!(matches!(
        net.peer.endorse(&other_contract),
        Err(EndorseError::WrongChannel { .. })
    ));

    let codes = net.submit(vec![
        entry(&net.endorse_without_checks(&other_channel)),
        entry(&net.endorse_without_checks(&other_contract)),
    ]);

    assert_eq!(codes, [WrongChannel, WrongChannel]);
    assert_eq!(net.state(&patient_key(1)), None);
    assert_eq!(net.state(&patient_key(2)), None);
}

// ---------------------------------------------------------------------------------------------------
// 3. unknown_certificate / revoked_certificate
// ---------------------------------------------------------------------------------------------------

#[test]
fn certificates_from_a_ca_outside_the_channel_are_unknown() {
    let mut net = Network::new();
    let org2 = Org::new("Org2");
    let stranger = org2.member("eve@org2.example", Role::Doctor, serial::DOCTOR);
    let stranger_peer = org2.member("peer0.org2", Role::Peer, serial::PEER);
    // A second CA that calls itself Org1: same names, another key.
    let impostor_ca = Org::new(ORG);
    let impostor = impostor_ca.member("mallory@org1.example", Role::Doctor, serial::SPARE);

    let from_stranger = stranger.propose(&create_patient(1));
    let from_impostor = impostor.propose(&create_patient(2));
    assert!(matches!(
        net.peer.endorse(&from_stranger),
        Err(EndorseError::UnknownCertificate(_))
    ));
    assert!(matches!(
        net.peer.endorse(&from_impostor),
        Err(EndorseError::UnknownCertificate(_))
    ));
    let genuine = net.transaction(&net.doctor, &create_patient(3));
    let payload = genuine.endorsed.response_payload.clone();
    let endorsed_by_stranger = envelope(
        genuine.proposal.clone(),
        payload.clone(),
        vec![stranger_peer.endorse_payload(&payload)],
    );
    // The policy is met by the channel's peer, but one endorser is not a member: still unknown.
    let one_stranger_among_endorsers = envelope(
        genuine.proposal.clone(),
        payload.clone(),
        vec![
            genuine.endorsed.endorsement.clone(),
            stranger_peer.endorse_payload(&payload),
        ],
    );

    let codes = net.submit(vec![
        entry(&net.endorse_without_checks(&from_stranger)),
        entry(&net.endorse_without_checks(&from_impostor)),
        entry(&endorsed_by_stranger),
        entry(&one_stranger_among_endorsers),
    ]);

    assert_eq!(codes, [UnknownCertificate; 4]);
    for id in 1..=3 {
        assert_eq!(net.state(&patient_key(id)), None, "patient {id}");
    }
}

#[test]
fn certificates_are_judged_at_the_block_time_not_at_endorsement() {
    // A channel that accepts proposals dated up to three hours from their block.
    let mut net = Network::with(Setup::with_time_window(3 * 3600 * 1000));
    let one_hour_s = 3600;
    let leaving = net.org.member_valid(
        "locum@org1.example",
        Role::Doctor,
        serial::SPARE,
        VALID_FROM_S,
        NOW_MS / 1000 + one_hour_s,
    );
    // Endorsed while the certificate is valid...
    let tx = net.transaction(&leaving, &create_patient(1));
    let on_time = net.transaction(&net.doctor, &create_patient(2));

    // ...but ordered two hours later, when it no longer is.
    let block = net.cut_at(
        vec![tx.entry(), on_time.entry()],
        NOW_MS + 2 * one_hour_s * 1000,
    );

    assert_eq!(net.deliver(&block), [UnknownCertificate, Valid]);
    assert_eq!(net.state(&patient_key(1)), None);
}

#[test]
fn a_proposal_dated_outside_the_window_of_its_block_is_invalid_and_endorsement_refuses_it() {
    let mut net = Network::new();
    let window_ms = medledger_types::limits::PROPOSAL_WINDOW_MS_DEFAULT as i64;
    // Endorsed now, but put in a block dated more than the window later (an orderer holding it back, or
    // a client reusing an old endorsement to backdate a record).
    // At the edge of the window it is still valid (block times never go back: the edge comes first).
    let edge = net.transaction(&net.doctor, &create_patient(2));
    let block = net.cut_at(vec![edge.entry()], NOW_MS + window_ms);
    assert_eq!(net.deliver(&block), [Valid]);
    let late = net.transaction(&net.doctor, &create_patient(1));
    let block = net.cut_at(vec![late.entry()], NOW_MS + window_ms + 1);
    assert_eq!(net.deliver(&block), [OutsideTimeWindow]);
    assert_eq!(net.state(&patient_key(1)), None);
    // A proposal dated an hour before the peer's clock is refused at endorsement already.
    let backdated = net
        .doctor
        .propose_at(&create_patient(3), NOW_MS - 3_600_000);
    assert!(matches!(
        net.peer.endorse(&backdated),
        Err(EndorseError::OutsideTimeWindow { .. })
    ));
}

#[test]
fn a_certificate_named_by_hash_is_unknown_until_a_valid_transaction_of_an_earlier_block_carried_it()
{
    let mut net = Network::new();
    let first = net.doctor.propose_by_hash(&create_patient(1));
    assert!(matches!(
        net.peer.endorse(&first),
        Err(EndorseError::UnknownCertificate(_))
    ));
    assert_eq!(
        net.peer.identity_ref(&net.doctor.certificate),
        IdentityRef::Certificate(net.doctor.certificate.clone()),
        "a client carries a certificate the peer has not seen committed"
    );
    let early = net.endorse_without_checks(&first);
    // Carried whole by an invalid transaction: not on the ledger.
    let mut forged = net.transaction(&net.doctor, &create_patient(2)).envelope;
    flip(&mut forged.proposal.signature);
    let whole = net.transaction(&net.doctor, &create_patient(3));
    // Named by hash in the block that carries it whole: only committed blocks count.
    let same_block = net.endorse_without_checks(&net.doctor.propose_by_hash(&create_patient(4)));

    assert_eq!(
        net.submit(vec![
            entry(&early),
            entry(&forged),
            whole.entry(),
            entry(&same_block)
        ]),
        [
            UnknownCertificateHash,
            BadSignature,
            Valid,
            UnknownCertificateHash
        ]
    );
    assert_eq!(net.state(&patient_key(1)), None);

    // From the next block on, the hash resolves for endorsement and validation alike; the peer now
    // names itself by hash in its endorsements too.
    let doctor_hash = medledger_crypto::sha256(&net.doctor.certificate);
    assert_eq!(
        net.peer.identity_ref(&net.doctor.certificate),
        IdentityRef::Known(doctor_hash)
    );
    let by_hash = net.transaction_of(net.doctor.propose_by_hash(&create_patient(5)));
    assert_eq!(
        by_hash.envelope.endorsements[0].endorser,
        IdentityRef::Known(medledger_crypto::sha256(&net.peer_member.certificate))
    );
    assert_eq!(net.submit(vec![by_hash.entry()]), [Valid]);
    assert!(net.state(&patient_key(5)).is_some());
    assert_eq!(
        net.store
            .certificate(&doctor_hash)
            .expect("the store reads"),
        Some(net.doctor.certificate.clone())
    );
    // A certificate no transaction carried stays unknown by hash, as creator or as endorser.
    let stranger =
        net.endorse_without_checks(&net.second_doctor.propose_by_hash(&create_patient(6)));
    let genuine = net.transaction(&net.doctor, &create_patient(7));
    let payload = genuine.endorsed.response_payload.clone();
    let mut unknown_endorser = net.second_peer.endorse_payload(&payload);
    unknown_endorser.endorser = net.second_peer.by_hash();
    let by_unknown_endorser = envelope(
        genuine.proposal.clone(),
        payload,
        vec![
            net.peer_member
                .endorse_payload(&genuine.endorsed.response_payload),
            unknown_endorser,
        ],
    );
    assert_eq!(
        net.submit(vec![entry(&stranger), entry(&by_unknown_endorser)]),
        [UnknownCertificateHash, UnknownCertificateHash]
    );

    // The history of a record is read back from the blocks: the value each version wrote.
    let history = net
        .store
        .history(&patient_key(5), None, 10)
        .expect("the store reads");
    let current = net.state(&patient_key(5)).expect("written");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].value, current.value);
    assert_eq!(history[0].version, current.version);
    assert_eq!(history[0].tx_id, by_hash.tx_id);

    // The replay resolves the references from the ledger alone.
    let report = verify_ledger(net.store.as_ref(), &mut |_, _| {}).expect("the ledger verifies");
    assert_eq!(report.valid_transactions, 2);
    // A peer opened again over the store names the certificates on it by hash at once.
    let reopened = open_peer(&net.store, &net.peer_member);
    assert_eq!(
        reopened.identity_ref(&net.doctor.certificate),
        IdentityRef::Known(doctor_hash)
    );
    assert_eq!(
        reopened.identity_ref(&net.second_doctor.certificate),
        IdentityRef::Certificate(net.second_doctor.certificate.clone())
    );
}

#[test]
fn a_certificate_on_the_org_crl_is_revoked_as_creator_and_as_endorser() {
    let mut net = Network::with(Setup::with_revocation_list());
    let struck_off = net.org.member(
        "struck.off@org1.example",
        Role::Doctor,
        serial::REVOKED_DOCTOR,
    );
    let revoked_peer = net
        .org
        .member("peer9.org1", Role::Peer, serial::REVOKED_PEER);

    let proposal = struck_off.propose(&create_patient(1));
    assert_eq!(
        net.peer
            .endorse(&proposal)
            .expect_err("the peer refuses a revoked creator"),
        EndorseError::RevokedCertificate
    );
    let by_revoked_creator = net.endorse_without_checks(&proposal);
    let genuine = net.transaction(&net.doctor, &create_patient(2));
    let payload = genuine.endorsed.response_payload.clone();
    let by_revoked_endorser = envelope(
        genuine.proposal.clone(),
        payload.clone(),
        vec![revoked_peer.endorse_payload(&payload)],
    );

    let codes = net.submit(vec![
        entry(&by_revoked_creator),
        entry(&by_revoked_endorser),
    ]);

    assert_eq!(codes, [RevokedCertificate, RevokedCertificate]);
    assert_eq!(net.state(&patient_key(1)), None);
    assert_eq!(net.state(&patient_key(2)), None);
    // The rest of the organization is unaffected.
    assert_eq!(net.submit(vec![genuine.entry()]), [Valid]);
}

// ---------------------------------------------------------------------------------------------------
// 4. bad_signature
// ---------------------------------------------------------------------------------------------------

#[test]
fn a_flipped_creator_or_endorser_signature_is_bad_signature() {
    let mut net = Network::new();
    let mut creator_flipped = net.transaction(&net.doctor, &create_patient(1));
    flip(&mut creator_flipped.envelope.proposal.signature);
    let mut endorser_flipped = net.transaction(&net.doctor, &create_patient(2));
    flip(&mut endorser_flipped.envelope.endorsements[0].signature);
    let untouched = net.transaction(&net.doctor, &create_patient(3));

    let codes = net.submit(vec![
        creator_flipped.entry(),
        endorser_flipped.entry(),
        untouched.entry(),
    ]);

    assert_eq!(codes, [BadSignature, BadSignature, Valid]);
    assert_eq!(net.state(&patient_key(1)), None);
    assert_eq!(net.state(&patient_key(2)), None);
    assert_eq!(net.version(&patient_key(3)), at(1, 2));
}

#[test]
fn what_the_peer_verified_or_signed_is_known_but_a_signature_moved_to_another_message_is_bad() {
    let mut net = Network::new();
    let known = net.peer.verified_signatures();
    let before = known.len();
    let a = net.transaction(&net.doctor, &create_patient(1));
    let b = net.transaction(&net.doctor, &create_patient(2));
    // For each: the creator's signature it verified and the endorsement it made.
    assert_eq!(known.len(), before + 4);
    // Both signatures are genuine and known, but not on these messages.
    let mut moved_creator = a.clone();
    moved_creator.envelope.proposal.signature = b.envelope.proposal.signature;
    let mut moved_endorsement = b.clone();
    moved_endorsement.envelope.endorsements[0].signature = a.envelope.endorsements[0].signature;

    let codes = net.submit(vec![
        moved_creator.entry(),
        moved_endorsement.entry(),
        a.entry(),
        b.entry(),
    ]);

    assert_eq!(codes, [BadSignature, BadSignature, Valid, Valid]);
}

#[test]
fn in_a_batch_verified_block_only_the_bad_signature_is_invalid() {
    // 20 entries: the block is split in two halves (0..10, 10..20) verified on two threads.
    const ENTRIES: usize = 20;
    let mut net = Network::new();
    let cases = [
        (0, "creator"),
        (9, "endorser"),
        (10, "creator"),
        (19, "endorser"),
    ];
    for (round, (bad_index, which)) in cases.into_iter().enumerate() {
        let id = |i: usize| (round * 100 + i + 1) as i64;
        let mut txs: Vec<Tx> = (0..ENTRIES)
            .map(|i| net.transaction(&net.doctor, &create_patient(id(i))))
            .collect();
        match which {
            "creator" => flip(&mut txs[bad_index].envelope.proposal.signature),
            _ => flip(&mut txs[bad_index].envelope.endorsements[0].signature),
        }

        let codes = net.submit(txs.iter().map(Tx::entry).collect());

        let expected: Vec<ValidationCode> = (0..ENTRIES)
            .map(|i| if i == bad_index { BadSignature } else { Valid })
            .collect();
        assert_eq!(codes, expected, "bad {which} signature at {bad_index}");
        assert_eq!(net.state(&patient_key(id(bad_index))), None);
        // Its mirror in the other half was written, at its own index.
        assert_eq!(
            net.version(&patient_key(id(ENTRIES - 1 - bad_index)))
                .map(|v| v.tx),
            Some((ENTRIES - 1 - bad_index) as u32)
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// 5. endorsement_policy_failure
// ---------------------------------------------------------------------------------------------------

#[test]
fn an_endorsement_by_a_member_who_is_not_a_peer_fails_the_policy() {
    let mut net = Network::new();
    let tx = net.transaction(&net.doctor, &create_patient(1));
    let payload = tx.endorsed.response_payload.clone();
    let endorsed_by_doctor = envelope(
        tx.proposal.clone(),
        payload.clone(),
        vec![net.doctor.endorse_payload(&payload)],
    );
    let endorsed_by_admin = envelope(
        tx.proposal.clone(),
        payload.clone(),
        vec![net.admin.endorse_payload(&payload)],
    );

    let codes = net.submit(vec![entry(&endorsed_by_doctor), entry(&endorsed_by_admin)]);

    assert_eq!(codes, [EndorsementPolicyFailure, EndorsementPolicyFailure]);
    assert_eq!(net.state(&patient_key(1)), None);
    assert_eq!(net.submit(vec![tx.entry()]), [Valid]);
}

#[test]
fn a_policy_of_two_peers_needs_two_distinct_endorsers() {
    let mut net = Network::with(Setup::with_policy("AND('Org1.peer','Org1.peer')"));
    let endorse_twice = |net: &Network, id: i64, second: &Member| {
        let tx = net.transaction(&net.doctor, &create_patient(id));
        let payload = tx.endorsed.response_payload.clone();
        envelope(
            tx.proposal.clone(),
            payload.clone(),
            vec![
                tx.endorsed.endorsement.clone(),
                second.endorse_payload(&payload),
            ],
        )
    };
    let once = net.transaction(&net.doctor, &create_patient(1));
    let same_peer_twice = endorse_twice(&net, 2, &net.peer_member);
    let two_peers = endorse_twice(&net, 3, &net.second_peer);

    let codes = net.submit(vec![
        once.entry(),
        entry(&same_peer_twice),
        entry(&two_peers),
    ]);

    assert_eq!(
        codes,
        [EndorsementPolicyFailure, EndorsementPolicyFailure, Valid]
    );
    assert_eq!(net.state(&patient_key(1)), None);
    assert_eq!(net.state(&patient_key(2)), None);
    assert_eq!(net.version(&patient_key(3)), at(1, 2));
}

#[test]
fn one_peer_key_under_two_certificates_is_one_endorser() {
    let mut net = Network::with(Setup::with_policy("AND('Org1.peer','Org1.peer')"));
    // The CA certified the peer's key a second time (a renewal that kept the key).
    let renewed = net.org.recertify(&net.peer_member, serial::SPARE);
    let tx = net.transaction(&net.doctor, &create_patient(1));
    let payload = tx.endorsed.response_payload.clone();
    let same_key_twice = envelope(
        tx.proposal.clone(),
        payload.clone(),
        vec![
            tx.endorsed.endorsement.clone(),
            renewed.endorse_payload(&payload),
        ],
    );

    assert_eq!(
        net.submit(vec![entry(&same_key_twice)]),
        [EndorsementPolicyFailure]
    );
    assert_eq!(net.state(&patient_key(1)), None);
}

// ---------------------------------------------------------------------------------------------------
// 6. contract_refused
// ---------------------------------------------------------------------------------------------------

#[test]
fn a_refused_response_submitted_anyway_is_contract_refused() {
    let mut net = Network::new();
    // Doctors may not create admins: the contract refuses, the peer still signs the refusal.
    let refused = net.transaction(&net.doctor, &create_admin(1, &net.doctor));
    assert_eq!(refused.endorsed.response.status, ResponseStatus::Refused);

    assert_eq!(net.submit(vec![refused.entry()]), [ContractRefused]);
    assert_eq!(net.state(&admin_key(1)), None);
    assert_eq!(net.location(&refused.tx_id), located(1, 0, ContractRefused));
}

#[test]
fn a_refusal_writes_nothing_even_if_its_endorsed_rwset_does() {
    let mut net = Network::new();
    let proposal = net.doctor.propose(&create_patient(1));
    // A peer that signed a refusal carrying writes.
    let payload = codec::encode(&ProposalResponsePayload {
        format_version: medledger_types::FORMAT_VERSION,
        tx_id: tx_id(&proposal),
        rwset: RwSet {
            reads: vec![],
            writes: vec![KvWrite {
                key: patient_key(1),
                value: b"should never land".to_vec(),
            }],
        },
        response: Response {
            status: ResponseStatus::Refused,
            payload: vec![],
        },
    });
    let endorsement = net.peer_member.endorse_payload(&payload);

    let codes = net.submit(vec![entry(&envelope(proposal, payload, vec![endorsement]))]);

    assert_eq!(codes, [ContractRefused]);
    assert_eq!(net.state(&patient_key(1)), None);
}

// ---------------------------------------------------------------------------------------------------
// 7. duplicate_tx_id
// ---------------------------------------------------------------------------------------------------

/// `tx` with its endorsement's signature made by someone other than the endorser it names.
fn with_forged_endorsement(net: &Network, tx: &Tx) -> Envelope {
    let mut forged = tx.envelope.clone();
    forged.endorsements[0].signature = net.doctor.key.sign(&tx.endorsed.response_payload);
    forged
}

#[test]
fn the_same_envelope_twice_in_a_block_is_a_duplicate() {
    let mut net = Network::new();
    let tx = net.transaction(&net.doctor, &create_patient(1));

    assert_eq!(
        net.submit(vec![tx.entry(), tx.entry()]),
        [Valid, DuplicateTxId]
    );

    assert_eq!(net.location(&tx.tx_id), located(1, 0, Valid));
    assert_eq!(net.version(&patient_key(1)), at(1, 0));
    assert_eq!(net.history(&patient_key(1)).len(), 1);
}

#[test]
fn the_same_envelope_in_a_later_block_is_a_duplicate() {
    let mut net = Network::new();
    let tx = net.transaction(&net.doctor, &create_patient(1));
    assert_eq!(net.submit(vec![tx.entry()]), [Valid]);

    assert_eq!(net.submit(vec![tx.entry()]), [DuplicateTxId]);

    assert_eq!(net.location(&tx.tx_id), located(1, 0, Valid));
    assert_eq!(net.version(&patient_key(1)), at(1, 0));
    assert_eq!(net.history(&patient_key(1)).len(), 1);
}

#[test]
fn an_invalid_copy_ordered_first_does_not_block_the_genuine_transaction() {
    let mut net = Network::new();
    let tx = net.transaction(&net.doctor, &create_patient(1));
    let forged = with_forged_endorsement(&net, &tx);

    // In the same block: the forged copy first, then the genuine one, then a replay of it.
    assert_eq!(
        net.submit(vec![entry(&forged), tx.entry(), tx.entry()]),
        [BadSignature, Valid, DuplicateTxId]
    );

    assert_eq!(net.location(&tx.tx_id), located(1, 1, Valid));
    assert_eq!(net.version(&patient_key(1)), at(1, 1));
}

#[test]
fn an_invalid_copy_in_an_earlier_block_does_not_block_the_genuine_transaction() {
    let mut net = Network::new();
    let tx = net.transaction(&net.doctor, &create_patient(1));
    let forged = with_forged_endorsement(&net, &tx);

    assert_eq!(net.submit(vec![entry(&forged)]), [BadSignature]);
    assert_eq!(net.location(&tx.tx_id), located(1, 0, BadSignature));
    assert_eq!(net.state(&patient_key(1)), None);

    assert_eq!(net.submit(vec![tx.entry()]), [Valid]);
    assert_eq!(net.location(&tx.tx_id), located(2, 0, Valid));
    assert_eq!(net.version(&patient_key(1)), at(2, 0));

    // Once it is valid, neither a replay nor another forgery moves it.
    assert_eq!(
        net.submit(vec![tx.entry(), entry(&forged)]),
        [DuplicateTxId, BadSignature]
    );
    assert_eq!(net.location(&tx.tx_id), located(2, 0, Valid));
    assert_eq!(net.history(&patient_key(1)).len(), 1);
}

// ---------------------------------------------------------------------------------------------------
// 8. mvcc_read_conflict
// ---------------------------------------------------------------------------------------------------

#[test]
fn two_creations_of_one_patient_in_one_block_conflict() {
    let mut net = Network::new();
    // Both are endorsed on the same state, where patient 7 does not exist yet.
    let first = net.transaction(&net.doctor, &create_patient(7));
    let second = net.transaction(&net.second_doctor, &create_patient(7));

    assert_eq!(
        net.submit(vec![first.entry(), second.entry()]),
        [Valid, MvccReadConflict]
    );

    assert_eq!(net.version(&patient_key(7)), at(1, 0));
    assert_eq!(
        net.state(&patient_key(7)).map(|v| v.value),
        Some(endorsed_write(&first, &patient_key(7)))
    );
    assert_eq!(net.history(&patient_key(7)).len(), 1);
    assert_eq!(net.location(&second.tx_id), located(1, 1, MvccReadConflict));
}

#[test]
fn two_creations_of_one_patient_in_two_blocks_conflict() {
    let mut net = Network::new();
    let first = net.transaction(&net.doctor, &create_patient(7));
    let second = net.transaction(&net.second_doctor, &create_patient(7));

    assert_eq!(net.submit(vec![first.entry()]), [Valid]);
    assert_eq!(net.submit(vec![second.entry()]), [MvccReadConflict]);

    assert_eq!(net.version(&patient_key(7)), at(1, 0));
    assert_eq!(net.history(&patient_key(7)).len(), 1);
}

#[test]
fn the_writes_of_an_invalid_transaction_cause_no_conflict() {
    let mut net = Network::new();
    let mut first = net.transaction(&net.doctor, &create_patient(7));
    flip(&mut first.envelope.proposal.signature);
    let second = net.transaction(&net.second_doctor, &create_patient(7));

    assert_eq!(
        net.submit(vec![first.entry(), second.entry()]),
        [BadSignature, Valid]
    );
    assert_eq!(net.version(&patient_key(7)), at(1, 1));
}

// ---------------------------------------------------------------------------------------------------
// Blocks that are not the next link: refused whole, nothing written
// ---------------------------------------------------------------------------------------------------

/// A valid transaction's envelope bytes.
fn valid_entry(net: &Network, patient_id: i64) -> Vec<u8> {
    net.transaction(&net.doctor, &create_patient(patient_id))
        .entry()
}

/// The next block over one valid transaction, cut but not delivered.
fn next_block(net: &mut Network, patient_id: i64) -> medledger_types::Block {
    let tx = net.transaction(&net.doctor, &create_patient(patient_id));
    net.cut(vec![tx.entry()])
}

/// The peer refuses `block` with `expected`, on validation and on delivery, and writes nothing.
fn assert_refused(net: &Network, block: &medledger_types::Block, expected: BlockError) {
    let height = net.height();
    assert_eq!(refused(net.peer.validate(block)), expected);
    assert_eq!(refused(net.peer.deliver(block)), expected);
    assert_eq!(net.height(), height, "the store is unchanged");
    assert_eq!(net.peer.height(), height, "the peer's tip is unchanged");
}

#[test]
fn a_block_from_a_forked_chain_is_refused() {
    let mut net = Network::new();
    let tx = net.transaction(&net.doctor, &create_patient(1));
    let forked = net.forked_assembler().assemble(vec![tx.entry()], NOW_MS);

    assert_refused(&net, &forked, BlockError::PreviousHash { number: 1 });

    let genuine = net.cut(vec![tx.entry()]);
    assert_eq!(net.deliver(&genuine), [Valid]);
}

#[test]
fn a_block_whose_previous_hash_was_rewritten_is_refused() {
    let mut net = Network::new();
    let mut block = next_block(&mut net, 1);
    block.header.previous_hash = Hash([7; 32]);
    net.resign(&mut block);

    assert_refused(&net, &block, BlockError::PreviousHash { number: 1 });
}

#[test]
fn a_block_whose_entries_were_changed_is_refused() {
    let mut net = Network::new();
    let genuine = next_block(&mut net, 1);
    let other = net.transaction(&net.doctor, &create_patient(2));

    let mut replaced = genuine.clone();
    replaced.data.entries[0] = other.entry();
    assert_refused(&net, &replaced, BlockError::DataHash { number: 1 });

    let mut appended = genuine.clone();
    appended.data.entries.push(other.entry());
    assert_refused(&net, &appended, BlockError::DataHash { number: 1 });

    assert_eq!(net.deliver(&genuine), [Valid]);
}

#[test]
fn a_block_with_a_wrong_ledger_root_or_size_is_refused() {
    let mut net = Network::new();
    let genuine = next_block(&mut net, 1);

    let mut wrong_root = genuine.clone();
    wrong_root.header.ledger_root = Hash([9; 32]);
    net.resign(&mut wrong_root);
    assert_refused(
        &net,
        &wrong_root,
        BlockError::LedgerRoot {
            number: 1,
            claimed: 2,
            actual: 2,
        },
    );

    let mut wrong_size = genuine.clone();
    wrong_size.header.ledger_size = 3;
    net.resign(&mut wrong_size);
    assert_refused(
        &net,
        &wrong_size,
        BlockError::LedgerRoot {
            number: 1,
            claimed: 3,
            actual: 2,
        },
    );

    assert_eq!(net.deliver(&genuine), [Valid]);
}

#[test]
fn a_block_not_signed_by_the_channel_orderer_is_refused() {
    let mut net = Network::new();
    let genuine = next_block(&mut net, 1);

    // The orderer's certificate, someone else's signature.
    let mut wrong_key = genuine.clone();
    sign_block(&mut wrong_key, &net.doctor);
    wrong_key.metadata.orderer_signature.orderer =
        medledger_crypto::sha256(&net.orderer.certificate);
    assert_refused(&net, &wrong_key, BlockError::OrdererSignature { number: 1 });

    // A header changed after the orderer signed it.
    let mut changed_after_signing = genuine.clone();
    changed_after_signing.header.timestamp_ms += 1;
    assert_refused(
        &net,
        &changed_after_signing,
        BlockError::OrdererSignature { number: 1 },
    );

    // Signed by a member, and by an orderer of the org that the channel does not list.
    let unlisted_orderer = net
        .org
        .member("orderer9.org1", Role::Orderer, serial::SPARE);
    for signer in [&net.doctor, &unlisted_orderer] {
        let mut block = genuine.clone();
        sign_block(&mut block, signer);
        assert_refused(&net, &block, BlockError::UnknownOrderer { number: 1 });
    }

    assert_eq!(net.deliver(&genuine), [Valid]);
}

#[test]
fn a_block_out_of_order_is_refused_and_the_chain_goes_on() {
    let mut net = Network::new();
    let block_1 = next_block(&mut net, 1);
    let block_2 = next_block(&mut net, 2);

    assert_refused(
        &net,
        &block_2,
        BlockError::WrongNumber {
            expected: 1,
            got: 2,
        },
    );

    assert_eq!(net.deliver(&block_1), [Valid]);
    assert_eq!(net.deliver(&block_2), [Valid]);
    assert_refused(
        &net,
        &block_1,
        BlockError::WrongNumber {
            expected: 3,
            got: 1,
        },
    );
}

#[test]
fn a_block_validated_against_an_old_tip_is_not_committed() {
    let mut net = Network::new();
    let block = next_block(&mut net, 1);
    let validated = net.peer.validate(&block).expect("the block is valid");
    let validated_again = net.peer.validate(&block).expect("the block is valid");

    net.peer.commit(validated).expect("the block commits");

    assert_eq!(
        refused(net.peer.commit(validated_again)),
        BlockError::WrongNumber {
            expected: 2,
            got: 1,
        }
    );
    assert_eq!(net.height(), 2);
}

#[test]
fn an_empty_block_is_refused() {
    let mut net = Network::new();
    let mut empty = next_block(&mut net, 1);
    empty.data.entries.clear();
    empty.header.data_hash = merkle::root_of(&[]);
    empty.header.ledger_size = 1;
    empty.header.ledger_root = net.genesis.header.ledger_root;
    net.resign(&mut empty);

    assert_refused(
        &net,
        &empty,
        BlockError::EntryCount {
            number: 1,
            count: 0,
            max: medledger_types::limits::BLOCK_TX_COUNT_MAX,
        },
    );
}

#[test]
fn a_block_of_an_unknown_format_version_is_refused() {
    let mut net = Network::new();
    let mut block = next_block(&mut net, 1);
    block.header.format_version = FORMAT_VERSION + 1;
    net.resign(&mut block);

    assert_refused(
        &net,
        &block,
        BlockError::FormatVersion {
            number: 1,
            version: FORMAT_VERSION + 1,
        },
    );
}

/// A block whose entries total more than `limits::BLOCK_BYTES_MAX` is refused as a block (a lying
/// orderer), before the store would refuse it with a fatal-looking error.
#[test]
fn a_block_over_the_byte_limit_is_refused() {
    let mut net = Network::new();
    // Garbage entries of the envelope limit, together one byte over the block limit. Each is merely a
    // malformed envelope; the block as a whole breaks docs/formats.md ("at most 16 MiB together").
    let envelope_max = medledger_types::limits::ENVELOPE_BYTES_MAX;
    let mut entries =
        vec![vec![0xAB; envelope_max]; medledger_types::limits::BLOCK_BYTES_MAX / envelope_max];
    entries.push(vec![0xAB; 1]);
    assert_eq!(
        entries.iter().map(Vec::len).sum::<usize>(),
        medledger_types::limits::BLOCK_BYTES_MAX + 1
    );
    let block = net.cut(entries);

    let height = net.height();
    let validated = net.peer.validate(&block);
    assert!(
        matches!(validated, Err(PeerError::Block(_))),
        "a block over {} bytes must be refused as a block; validate returned {:?}",
        medledger_types::limits::BLOCK_BYTES_MAX,
        validated.as_ref().map(|v| v.number())
    );
    assert!(net.peer.deliver(&block).is_err());
    assert_eq!(net.height(), height, "the oversized block was committed");
}

/// Certificates are judged at the block's timestamp, so a block dated before its predecessor is refused:
/// otherwise an orderer could backdate a block to admit a certificate that had already expired.
#[test]
fn a_block_dated_before_its_predecessor_is_refused() {
    let mut net = Network::new();
    let one_hour_ms = 3_600_000;
    let expired = net.org.member_valid(
        "former@org1.example",
        Role::Doctor,
        serial::SPARE,
        VALID_FROM_S,
        (NOW_MS - one_hour_ms) / 1000,
    );
    assert_eq!(net.submit(vec![valid_entry(&net, 1)]), [Valid]);
    // The certificate expired an hour before block 1; block 2 claims to be from two hours before it.
    let late = net.endorse_without_checks(&expired.propose(&create_patient(2)));
    let mut backdated = net.cut(vec![entry(&late)]);
    backdated.header.timestamp_ms = NOW_MS - 2 * one_hour_ms;
    net.resign(&mut backdated);

    let height = net.height();
    let outcome = net.peer.deliver(&backdated);
    assert!(
        matches!(outcome, Err(PeerError::Block(_))),
        "block 2 is dated before block 1 and must be refused; it was accepted with codes {:?}",
        net.store
            .block(2)
            .ok()
            .flatten()
            .map(|b| b.metadata.validation_codes)
    );
    assert_eq!(net.height(), height);
    assert_eq!(net.state(&patient_key(2)), None);
}

#[test]
fn a_genesis_block_not_signed_by_its_own_orderer_is_refused() {
    let net = Network::new();
    let mut genesis = net.genesis.clone();
    sign_block(&mut genesis, &net.doctor);
    let store = medledger_store::MemoryStore::new();

    let outcome = medledger_peer::Peer::bootstrap(&store, &genesis);

    assert_eq!(refused(outcome), BlockError::UnknownOrderer { number: 0 });
    assert_eq!(store.height().expect("the store reads"), 0);
}

// ---------------------------------------------------------------------------------------------------
// Determinism: verify and a second peer reach the same verdicts
// ---------------------------------------------------------------------------------------------------

/// Blocks 1–4 with every kind of verdict; returns the transaction ids submitted.
fn mixed_scenario(net: &mut Network) -> Vec<medledger_types::TxId> {
    let admin = net.transaction(&net.admin, &create_admin(1, &net.admin));
    let patient = net.transaction(&net.doctor, &create_patient(1));
    let rival = net.transaction(&net.second_doctor, &create_patient(1));
    let refused = net.transaction(&net.doctor, &create_admin(2, &net.doctor));
    let later = net.transaction(&net.doctor, &create_patient(2));
    let forged_later = with_forged_endorsement(net, &later);
    let mut bad = net.transaction(&net.doctor, &create_patient(3));
    flip(&mut bad.envelope.proposal.signature);
    let batch: Vec<Tx> = (10..30)
        .map(|id| net.transaction(&net.second_doctor, &create_patient(id)))
        .collect();

    // Block 1: admin record (2 keys), patient 1 (1 key), its rival, a refusal, garbage.
    assert_eq!(
        net.submit(vec![
            admin.entry(),
            patient.entry(),
            rival.entry(),
            refused.entry(),
            b"garbage".to_vec(),
        ]),
        [
            Valid,
            Valid,
            MvccReadConflict,
            ContractRefused,
            MalformedEnvelope
        ]
    );
    // Block 2: a forged copy of `later`, a replay of `patient`, a bad signature.
    assert_eq!(
        net.submit(vec![entry(&forged_later), patient.entry(), bad.entry()]),
        [BadSignature, DuplicateTxId, BadSignature]
    );
    // Block 3: the genuine `later` (1 key).
    assert_eq!(net.submit(vec![later.entry()]), [Valid]);
    // Block 4: twenty patients (20 keys), verified on two threads.
    assert_eq!(
        net.submit(batch.iter().map(Tx::entry).collect()),
        [Valid; 20]
    );

    let mut ids = vec![admin.tx_id, patient.tx_id, rival.tx_id, refused.tx_id];
    ids.extend([later.tx_id, bad.tx_id]);
    ids.extend(batch.iter().map(|tx| tx.tx_id));
    ids
}

#[test]
fn verify_replays_a_mixed_ledger_to_the_same_verdicts() {
    let mut net = Network::new();
    mixed_scenario(&mut net);
    let last = net
        .store
        .block(4)
        .expect("the store reads")
        .expect("block 4 is committed");

    let report = verify_ledger(net.store.as_ref(), &mut |_, _| {}).expect("the ledger verifies");

    assert_eq!(
        report,
        VerifyReport {
            blocks: 5,
            transactions: 5 + 3 + 1 + 20,
            valid_transactions: 2 + 1 + 20,
            state_keys: 2 + 1 + 1 + 20,
            ledger_size: 1 + 29,
            ledger_root: last.header.ledger_root,
            genesis_hash: net
                .store
                .header_hash(0)
                .expect("the store reads")
                .expect("genesis is committed"),
            checkpoint: None,
        }
    );
}

#[test]
fn a_second_peer_fed_the_same_blocks_reaches_the_same_verdicts() {
    let mut net = Network::new();
    let tx_ids = mixed_scenario(&mut net);
    let (replica_store, replica) = net.fresh_peer();

    for block in net.delivered_blocks() {
        replica
            .deliver(&block)
            .expect("the replica accepts the block");
    }

    for number in 0..net.height() {
        let replica_block = replica_store
            .block(number)
            .expect("the store reads")
            .expect("the replica committed the block");
        assert_eq!(
            replica_block.metadata.validation_codes,
            net.codes(number),
            "block {number}"
        );
    }
    for tx_id in &tx_ids {
        assert_eq!(
            replica_store.tx_location(tx_id).expect("the store reads"),
            net.location(tx_id)
        );
    }
    let everything = |store: &dyn Store| {
        store
            .range("", "\u{10FFFF}", 1000)
            .expect("the store reads")
    };
    assert_eq!(
        everything(replica_store.as_ref()),
        everything(net.store.as_ref())
    );
    assert_eq!(
        verify_ledger(replica_store.as_ref(), &mut |_, _| {}),
        verify_ledger(net.store.as_ref(), &mut |_, _| {})
    );
}

/// The mixed scenario replayed into a fresh store but for its last block, which is returned validated
/// and not committed, for a test to commit it altered.
fn all_but_the_last_block() -> (
    Network,
    std::sync::Arc<medledger_store::MemoryStore>,
    medledger_store::BlockCommit,
) {
    let mut net = Network::new();
    mixed_scenario(&mut net);
    let blocks = net.delivered_blocks();
    let (store, peer) = net.fresh_peer();
    let (last, earlier) = blocks.split_last().expect("blocks were cut");
    for block in earlier {
        peer.deliver(block).expect("the block is accepted");
    }
    let commit = peer
        .validate(last)
        .expect("the block is valid")
        .into_commit();
    (net, store, commit)
}

#[test]
fn verify_finds_a_stored_code_that_the_chain_does_not_give() {
    let (_net, store, mut commit) = all_but_the_last_block();
    // Commit the last block with its first transaction recorded as a conflict instead of valid.
    commit.block.metadata.validation_codes[0] = MvccReadConflict;
    commit.txs[0].code = MvccReadConflict;
    commit.writes.retain(|w| w.version.tx != 0);
    store
        .commit(commit)
        .expect("the store takes what it is given");

    let error = verify_ledger(store.as_ref(), &mut |_, _| {}).expect_err("verify finds the lie");
    assert!(
        matches!(error, VerifyError::Block { block: 4, .. }),
        "{error}"
    );
}

#[test]
fn verify_finds_a_certificate_table_that_the_chain_does_not_give() {
    let (net, store, mut commit) = all_but_the_last_block();
    // Commit the last block with a certificate no transaction carried: a later transaction naming
    // it by hash would resolve on this store, and on no honest replay.
    let never_signed = net
        .org
        .member("nobody@org1.example", Role::Doctor, serial::SPARE);
    commit.certificates.push(never_signed.certificate.clone());
    store
        .commit(commit)
        .expect("the store takes what it is given");

    let error = verify_ledger(store.as_ref(), &mut |_, _| {}).expect_err("verify finds the lie");
    assert!(
        matches!(&error, VerifyError::Other(reason) if reason.contains("certificate table")),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------------
// Commit status
// ---------------------------------------------------------------------------------------------------

/// Registers a waiter for `tx` as a client does: its id and the hash of the entry it submits.
fn wait_for(net: &Network, tx: &Tx) -> Subscription {
    net.peer
        .subscribe(tx.tx_id, tx.entry_hash())
        .expect("the peer takes a waiter")
}

/// The status a waiter heard, or why it heard nothing yet.
fn heard(subscription: &mut Subscription) -> Result<WaitOutcome, TryRecvError> {
    subscription.receiver.try_recv()
}

fn status(
    tx: &Tx,
    block: u64,
    index: u32,
    code: ValidationCode,
) -> Result<WaitOutcome, TryRecvError> {
    Ok(Ok(TxStatus {
        tx_id: tx.tx_id,
        block,
        index,
        code,
    }))
}

#[test]
fn a_waiter_subscribed_before_delivery_hears_the_commit() {
    let mut net = Network::new();
    let first = net.transaction(&net.doctor, &create_patient(1));
    let tx = net.transaction(&net.doctor, &create_patient(2));
    let mut waiter = wait_for(&net, &tx);
    let mut second_waiter = wait_for(&net, &tx);
    assert_eq!(
        heard(&mut waiter),
        Err(TryRecvError::Empty),
        "nothing has committed yet"
    );

    net.submit(vec![first.entry(), tx.entry()]);

    assert_eq!(heard(&mut waiter), status(&tx, 1, 1, Valid));
    assert_eq!(heard(&mut second_waiter), status(&tx, 1, 1, Valid));
}

#[test]
fn a_waiter_subscribed_after_the_commit_hears_it_at_once() {
    let mut net = Network::new();
    let first = net.transaction(&net.doctor, &create_patient(7));
    let rival = net.transaction(&net.second_doctor, &create_patient(7));
    net.submit(vec![first.entry(), rival.entry()]);

    let mut waiter = wait_for(&net, &rival);

    assert_eq!(heard(&mut waiter), status(&rival, 1, 1, MvccReadConflict));
}

/// Within one block, as a table: the entries of block 1 (the genuine `tx`, a `forged` copy with a forged
/// endorsement, a `mangled` copy with a flipped endorsement signature; all share the id), whose waiter
/// listens, and what it hears. A valid occurrence is what every waiter of the id hears; without one, a
/// waiter hears its own entry's code, never another copy's.
#[test]
fn a_waiter_hears_the_occurrence_that_counts_within_a_block() {
    #[derive(Clone, Copy, Debug)]
    enum Variant {
        Genuine,
        Forged,
        Mangled,
    }
    use Variant::*;
    let cases: [(&[Variant], Variant, u32, ValidationCode); 4] = [
        (&[Forged, Genuine], Genuine, 1, Valid),
        (&[Forged, Mangled], Mangled, 1, BadSignature),
        (&[Mangled, Forged], Mangled, 0, BadSignature),
        (&[Mangled, Genuine], Mangled, 1, Valid),
    ];
    for (entries, listener, index, code) in cases {
        let mut net = Network::new();
        let tx = net.transaction(&net.doctor, &create_patient(1));
        let bytes = |copy: Variant| match copy {
            Genuine => tx.entry(),
            Forged => entry(&with_forged_endorsement(&net, &tx)),
            Mangled => {
                let mut mangled = tx.envelope.clone();
                flip(&mut mangled.endorsements[0].signature);
                entry(&mangled)
            }
        };
        let mut waiter = net
            .peer
            .subscribe(tx.tx_id, medledger_crypto::sha256(&bytes(listener)))
            .expect("the peer takes a waiter");

        net.submit(entries.iter().map(|copy| bytes(*copy)).collect());

        assert_eq!(
            heard(&mut waiter),
            status(&tx, 1, index, code),
            "{entries:?}, {listener:?} listening"
        );
    }
}

/// A forged copy of a transaction (same id, a forged endorsement) ordered in an earlier block than the
/// genuine one does not answer the genuine one's waiter with the copy's `BadSignature`: the waiter hears
/// the genuine entry's verdict, from the block that holds it. Whether it subscribed before the copy
/// committed, or after (then the index points at the copy, which is not the caller's entry).
#[test]
fn a_waiter_hears_the_valid_occurrence_when_a_forged_copy_was_ordered_in_an_earlier_block() {
    for subscribe_before_the_copy in [true, false] {
        let mut net = Network::new();
        let tx = net.transaction(&net.doctor, &create_patient(1));
        let forged = with_forged_endorsement(&net, &tx);
        let mut early = subscribe_before_the_copy.then(|| wait_for(&net, &tx));

        assert_eq!(net.submit(vec![entry(&forged)]), [BadSignature]);
        let mut waiter = early.take().unwrap_or_else(|| wait_for(&net, &tx));
        assert_eq!(
            heard(&mut waiter),
            Err(TryRecvError::Empty),
            "the forged copy is not the waiter's transaction (subscribed before: {subscribe_before_the_copy})"
        );

        assert_eq!(net.submit(vec![tx.entry()]), [Valid]);
        assert_eq!(heard(&mut waiter), status(&tx, 2, 0, Valid));
    }
}

/// Unsubscribing (a caller that timed out) removes that caller's waiter only: another caller waiting on
/// the same transaction id still hears the commit.
#[test]
fn unsubscribing_removes_only_that_waiter() {
    let mut net = Network::new();
    let tx = net.transaction(&net.doctor, &create_patient(1));
    let mut gave_up = wait_for(&net, &tx);
    let mut still_waiting = wait_for(&net, &tx);

    net.peer.unsubscribe(&tx.tx_id, gave_up.waiter);
    // A second call, or an id already gone, changes nothing.
    net.peer.unsubscribe(&tx.tx_id, gave_up.waiter);
    net.submit(vec![tx.entry()]);

    assert_eq!(heard(&mut gave_up), Err(TryRecvError::Closed));
    assert_eq!(heard(&mut still_waiting), status(&tx, 1, 0, Valid));
}

/// Unsubscribed waiters give their place back: the limit counts waiters, not what was ever registered.
#[test]
fn unsubscribed_waiters_do_not_count_against_the_limit() {
    let net = Network::new();
    let id = medledger_types::TxId(Hash([7; 32]));
    for _ in 0..WAITERS_COUNT_MAX + 1 {
        let subscription = net
            .peer
            .subscribe(id, Hash::ZERO)
            .expect("the waiter before was removed");
        net.peer.unsubscribe(&id, subscription.waiter);
    }
}

#[test]
fn the_peer_refuses_more_waiters_than_its_limit() {
    let net = Network::new();
    let waiters: Vec<_> = (0..WAITERS_COUNT_MAX)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            net.peer
                .subscribe(medledger_types::TxId(Hash(id)), Hash::ZERO)
                .expect("under the limit")
        })
        .collect();

    let one_more = net
        .peer
        .subscribe(medledger_types::TxId(Hash([0xFF; 32])), Hash::ZERO);

    assert!(matches!(one_more, Err(PeerError::TooManyWaiters)));
    drop(waiters);
}

/// When the node stops committing it abandons its waiters: every one hears at once, with the reason,
/// that no status will come, instead of waiting out its timeout; and a later subscription is refused
/// rather than left to wait for a commit that will not come.
#[test]
fn abandoned_waiters_hear_at_once_that_no_status_will_come() {
    let net = Network::new();
    let tx = net.transaction(&net.doctor, &create_patient(1));
    let other = net.transaction(&net.doctor, &create_patient(2));
    let mut waiters = [
        wait_for(&net, &tx),
        wait_for(&net, &tx),
        wait_for(&net, &other),
    ];
    assert_eq!(heard(&mut waiters[0]), Err(TryRecvError::Empty));

    net.peer.abandon_waiters("block 9: disk full");
    net.peer.abandon_waiters("a second reason is ignored");

    let stopped = Ok(Err(WaitError::Stopped("block 9: disk full".into())));
    for waiter in &mut waiters {
        assert_eq!(heard(waiter), stopped);
    }
    assert!(matches!(
        net.peer.subscribe(tx.tx_id, tx.entry_hash()),
        Err(PeerError::Stopped(reason)) if reason == "block 9: disk full"
    ));
}
