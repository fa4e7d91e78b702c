//! Configuration updates (revocation lists) through the ledger. The failures this pins: a revocation
//! that does not take effect, takes effect inside its own block, or does not survive replay; and a peer
//! that trusts an endorser's word for what the new configuration is.

mod harness;

use harness::*;
use medledger_peer::verify::verify_ledger;
use medledger_types::ValidationCode::*;
use medledger_types::{
    CONFIG_CONTRACT, CONFIG_KEY, ChannelConfig, ConfigUpdate, FORMAT_VERSION, IdentityRef, KvRead,
    KvWrite, Proposal, ProposalResponsePayload, Response, ResponseStatus, RwSet, SignedProposal,
    codec,
};

/// `who` proposes a configuration update.
fn propose_update(who: &Member, update: &ConfigUpdate) -> SignedProposal {
    let proposal = Proposal {
        format_version: FORMAT_VERSION,
        channel: CHANNEL.into(),
        contract: CONFIG_CONTRACT.into(),
        function: update.function().into(),
        args: vec![codec::encode(update)],
        creator: IdentityRef::Certificate(who.certificate.clone()),
        nonce: medledger_crypto::keys::random_bytes(),
        timestamp_ms: NOW_MS,
    };
    let bytes = codec::encode(&proposal);
    SignedProposal {
        signature: who.key.sign(&bytes),
        proposal: bytes,
    }
}

fn revoke(net: &Network, serials: &[u64]) -> ConfigUpdate {
    let crl = net
        .org
        .ca
        .revocation_list(1, NOW_MS / 1000 - 60, serials)
        .expect("a CRL");
    ConfigUpdate::AddCrl {
        msp_id: ORG.into(),
        crl,
    }
}

/// An envelope for `proposal` whose endorsed read-write set is `rwset`, signed by the real peer: what a
/// lying (or buggy) endorser could produce.
fn forged(net: &Network, proposal: SignedProposal, rwset: RwSet) -> Vec<u8> {
    let payload = codec::encode(&ProposalResponsePayload {
        format_version: FORMAT_VERSION,
        tx_id: tx_id(&proposal),
        rwset,
        response: Response {
            status: ResponseStatus::Ok,
            payload: Vec::new(),
        },
    });
    let endorsement = net.peer_member.endorse_payload(&payload);
    entry(&envelope(proposal, payload, vec![endorsement]))
}

fn endorsed_update(net: &Network, who: &Member, update: &ConfigUpdate) -> Vec<u8> {
    let proposal = propose_update(who, update);
    let endorsed = net.endorse(&proposal);
    assert_eq!(
        endorsed.response.status,
        ResponseStatus::Ok,
        "the update is endorsed"
    );
    entry(&envelope(
        proposal,
        endorsed.response_payload,
        vec![endorsed.endorsement],
    ))
}

#[test]
fn a_revocation_applies_from_the_next_block_and_survives_replay() {
    let mut net = Network::new();
    let before = net.transaction(&net.doctor, &create_patient(1));
    let same_block = net.transaction(&net.doctor, &create_patient(2));
    let later = net.transaction(&net.doctor, &create_patient(3));
    let colleague = net.transaction(&net.second_doctor, &create_patient(4));
    let update = endorsed_update(&net, &net.admin, &revoke(&net, &[serial::DOCTOR]));

    assert_eq!(net.submit(vec![before.entry()]), [Valid]);
    assert_eq!(
        net.submit(vec![update, same_block.entry()]),
        [Valid, Valid],
        "effective from the next block"
    );
    assert_eq!(
        net.submit(vec![later.entry(), colleague.entry()]),
        [RevokedCertificate, Valid]
    );
    assert!(net.state(CONFIG_KEY).is_some());
    assert!(matches!(
        net.peer.endorse(&net.doctor.propose(&create_patient(5))),
        Err(medledger_peer::EndorseError::RevokedCertificate)
    ));

    let report = verify_ledger(net.store.as_ref(), &mut |_, _| {})
        .expect("the replay applies the update too");
    assert_eq!(report.valid_transactions, 4);

    // A peer opened again reads the current configuration back from the block that wrote it (the
    // state keeps only its version) and still refuses the revoked certificate.
    let reopened = open_peer(&net.store, &net.peer_member);
    assert_eq!(reopened.channel().config, net.peer.channel().config);
    assert!(matches!(
        reopened.endorse(&net.doctor.propose(&create_patient(6))),
        Err(medledger_peer::EndorseError::RevokedCertificate)
    ));
}

#[test]
fn a_revoked_certificate_named_by_hash_is_refused() {
    let mut net = Network::new();
    let whole = net.transaction(&net.doctor, &create_patient(1));
    assert_eq!(net.submit(vec![whole.entry()]), [Valid]);
    let before = net.transaction_of(net.doctor.propose_by_hash(&create_patient(2)));
    let after = net.transaction_of(net.doctor.propose_by_hash(&create_patient(3)));
    let update = endorsed_update(&net, &net.admin, &revoke(&net, &[serial::DOCTOR]));
    assert_eq!(net.submit(vec![update, before.entry()]), [Valid, Valid]);
    assert_eq!(net.submit(vec![after.entry()]), [RevokedCertificate]);
    assert!(matches!(
        net.peer
            .endorse(&net.doctor.propose_by_hash(&create_patient(4))),
        Err(medledger_peer::EndorseError::RevokedCertificate)
    ));
    let report = verify_ledger(net.store.as_ref(), &mut |_, _| {}).expect("the ledger verifies");
    assert_eq!(report.valid_transactions, 3);
}

#[test]
fn only_the_organizations_administrator_may_update_its_revocation_list() {
    let net = Network::new();
    let update = revoke(&net, &[serial::SECOND_DOCTOR]);
    let endorsed = net.endorse(&propose_update(&net.doctor, &update));
    assert_eq!(endorsed.response.status, ResponseStatus::Refused);
    let other_org = Org::new("Org2");
    let foreign_crl = other_org
        .ca
        .revocation_list(1, NOW_MS / 1000, &[serial::DOCTOR])
        .expect("crl");
    let foreign = ConfigUpdate::AddCrl {
        msp_id: ORG.into(),
        crl: foreign_crl,
    };
    let endorsed = net.endorse(&propose_update(&net.admin, &foreign));
    assert_eq!(
        endorsed.response.status,
        ResponseStatus::Refused,
        "a CRL not signed by the org's CA"
    );
}

#[test]
fn a_configuration_the_rules_do_not_produce_is_refused() {
    let mut net = Network::new();
    let update = revoke(&net, &[serial::DOCTOR]);
    // The endorser claims the update also replaces the endorsement policy.
    let mut lie: ChannelConfig = net.config.clone();
    lie.endorsement_policy = "OR('Org1.doctor')".into();
    let rwset = RwSet {
        reads: vec![KvRead {
            key: CONFIG_KEY.into(),
            version: None,
        }],
        writes: vec![KvWrite {
            key: CONFIG_KEY.into(),
            value: codec::encode(&lie),
        }],
    };
    let entry = forged(&net, propose_update(&net.admin, &update), rwset);
    assert_eq!(net.submit(vec![entry]), [BadConfigUpdate]);
    assert_eq!(net.state(CONFIG_KEY), None);
    // The channel is unchanged: the doctor still writes.
    assert_eq!(
        net.submit(vec![
            net.transaction(&net.doctor, &create_patient(1)).entry()
        ]),
        [Valid]
    );
}

#[test]
fn an_application_transaction_cannot_write_configuration_keys() {
    let mut net = Network::new();
    let proposal = net.doctor.propose(&create_patient(1));
    let rwset = RwSet {
        reads: vec![],
        writes: vec![KvWrite {
            key: CONFIG_KEY.into(),
            value: codec::encode(&net.config),
        }],
    };
    assert_eq!(
        net.submit(vec![forged(&net, proposal, rwset)]),
        [BadConfigUpdate]
    );
    assert_eq!(net.state(CONFIG_KEY), None);
}

#[test]
fn two_updates_endorsed_on_the_same_configuration_conflict() {
    let mut net = Network::new();
    let first = endorsed_update(&net, &net.admin, &revoke(&net, &[serial::DOCTOR]));
    let second = endorsed_update(&net, &net.admin, &revoke(&net, &[serial::SECOND_DOCTOR]));
    assert_eq!(net.submit(vec![first, second]), [Valid, MvccReadConflict]);
    assert_eq!(
        net.submit(vec![
            net.transaction(&net.second_doctor, &create_patient(1))
                .entry()
        ]),
        [Valid]
    );
}

#[test]
fn an_update_endorsed_without_reading_the_configuration_is_refused() {
    // Two updates computed on the same configuration, their endorsements leaving out the read that makes
    // the second conflict: the second would silently undo the first.
    let mut net = Network::new();
    let endorse = |net: &Network, serial: u64, read: bool| {
        let update = revoke(net, &[serial]);
        let config = net.config.clone();
        let mut next = config;
        let ConfigUpdate::AddCrl { crl, .. } = &update;
        next.orgs[0].crls.push(crl.clone());
        let reads = if read {
            vec![KvRead {
                key: CONFIG_KEY.into(),
                version: None,
            }]
        } else {
            vec![]
        };
        let rwset = RwSet {
            reads,
            writes: vec![KvWrite {
                key: CONFIG_KEY.into(),
                value: codec::encode(&next),
            }],
        };
        forged(net, propose_update(&net.admin, &update), rwset)
    };
    let first = endorse(&net, serial::DOCTOR, false);
    let second = endorse(&net, serial::SECOND_DOCTOR, false);
    assert_eq!(
        net.submit(vec![first, second]),
        [BadConfigUpdate, BadConfigUpdate]
    );
    assert_eq!(net.state(CONFIG_KEY), None, "nothing changed");
    // The same write with the read is the update the rules produce: valid, and the second conflicts.
    let first = endorse(&net, serial::DOCTOR, true);
    let second = endorse(&net, serial::SECOND_DOCTOR, true);
    assert_eq!(net.submit(vec![first, second]), [Valid, MvccReadConflict]);
}
