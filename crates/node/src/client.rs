//! The client side of a transaction: a person's (or tool's) identity signs proposals, and endorsed
//! responses become an envelope for ordering. The gateway will do this for each logged-in person.

use medledger_crypto::keys::{self, SigningKey};
use medledger_peer::Endorsed;
use medledger_types::{
    Envelope, FORMAT_VERSION, IdentityRef, Proposal, SignedProposal, TxId, codec, limits,
};

use crate::NodeError;
use crate::files;

/// A signing identity: an Ed25519 key and the certificate the organization CA issued for it.
pub struct Identity {
    pub key: SigningKey,
    pub certificate: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("certificate_bytes", &self.certificate.len())
            .finish()
    }
}

impl Identity {
    /// Loads an identity written by `init` (certificate DER and key seed).
    pub fn load(paths: &(std::path::PathBuf, std::path::PathBuf)) -> Result<Identity, NodeError> {
        let certificate = files::read_file(&paths.0, limits::CERTIFICATE_BYTES_MAX)?;
        let key = files::read_key(&paths.1)?;
        Ok(Identity { key, certificate })
    }

    pub fn save(&self, paths: &(std::path::PathBuf, std::path::PathBuf)) -> Result<(), NodeError> {
        files::write_file(&paths.0, &self.certificate)?;
        files::write_key(&paths.1, &self.key)
    }

    /// Builds and signs a proposal naming its creator as `creator` (this identity's certificate, whole
    /// or by hash: [`medledger_peer::Peer::identity_ref`]); the nonce makes every call a distinct
    /// transaction.
    pub fn propose(
        &self,
        creator: IdentityRef,
        channel: &str,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
        timestamp_ms: i64,
    ) -> (TxId, SignedProposal) {
        let proposal = Proposal {
            format_version: FORMAT_VERSION,
            channel: channel.to_owned(),
            contract: contract.to_owned(),
            function: function.to_owned(),
            args,
            creator,
            nonce: keys::random_bytes(),
            timestamp_ms,
        };
        let bytes = codec::encode(&proposal);
        let signature = self.key.sign(&bytes);
        (
            medledger_crypto::tx_id(&bytes),
            SignedProposal {
                proposal: bytes,
                signature,
            },
        )
    }
}

/// Wraps a signed proposal and its endorsements into an envelope. All endorsers must have signed the same
/// response: peers that disagree mean non-deterministic state or a lying peer, and ordering it would only
/// produce an invalid transaction.
pub fn assemble_envelope(
    proposal: SignedProposal,
    endorsed: &[Endorsed],
) -> Result<Envelope, NodeError> {
    let first = endorsed
        .first()
        .ok_or_else(|| NodeError::Endorsement("no endorsements".into()))?;
    if endorsed
        .iter()
        .any(|e| e.response_payload != first.response_payload)
    {
        return Err(NodeError::Endorsement(
            "the endorsing peers returned different results".into(),
        ));
    }
    Ok(Envelope {
        format_version: FORMAT_VERSION,
        proposal,
        response_payload: first.response_payload.clone(),
        endorsements: endorsed.iter().map(|e| e.endorsement.clone()).collect(),
    })
}
