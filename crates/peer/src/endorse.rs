//! Endorsement and evaluation: running a signed proposal through the contract against committed state.
//!
//! Both check the proposal first (it decodes, names this channel and contract, its creator's certificate
//! is valid now and its signature verifies), then simulate. Endorsement signs the resulting
//! [`ProposalResponsePayload`]; evaluation signs nothing and writes nothing — it is how queries run.
//! A contract refusal is not an error here: it is a response with status `Refused`, which the gateway
//! reports to the person and does not submit for ordering.

use medledger_contract::runtime::{Invocation, Simulator};
use medledger_crypto::msp::IdentityError;
use medledger_types::{
    CONFIG_CONTRACT, CONFIG_KEY, Endorsement, FORMAT_VERSION, KvRead, KvWrite, Proposal,
    ProposalResponsePayload, Response, ResponseStatus, RwSet, SignedProposal, TxId, codec, limits,
};

use crate::Peer;
use crate::channel::ResolveError;
use crate::validate::StoreState;

/// A proposal the peer would not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndorseError {
    #[error("malformed proposal: {0}")]
    Malformed(String),
    #[error(
        "the proposal is for channel {channel:?} and contract {contract:?}, which this peer does not serve"
    )]
    WrongChannel { channel: String, contract: String },
    #[error("the creator's certificate is not valid: {0}")]
    UnknownCertificate(String),
    #[error("the creator's certificate is revoked")]
    RevokedCertificate,
    #[error("the proposal's signature does not verify")]
    BadSignature,
    #[error("the peer could not read its state: {0}")]
    State(String),
    /// The proposal is dated further from the peer's clock than the channel's window: it would be
    /// invalid in any block cut now.
    #[error(
        "the proposal is dated {proposal_ms} ms since the epoch, more than {window_ms} ms from this peer's clock ({now_ms}); check the client's clock"
    )]
    OutsideTimeWindow {
        proposal_ms: i64,
        now_ms: i64,
        window_ms: u64,
    },
}

/// An endorsed proposal: what the gateway puts in the envelope.
#[derive(Debug, Clone)]
pub struct Endorsed {
    pub tx_id: TxId,
    pub response: Response,
    /// Canonical bytes of the [`ProposalResponsePayload`] the endorsement signs.
    pub response_payload: Vec<u8>,
    pub endorsement: Endorsement,
}

/// The answer to a query.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub tx_id: TxId,
    pub response: Response,
}

impl Peer {
    /// Simulates the proposal and signs the result. See the module doc.
    pub fn endorse(&self, signed: &SignedProposal) -> Result<Endorsed, EndorseError> {
        let (tx_id, rwset, response) = self.simulate(signed)?;
        let payload = ProposalResponsePayload {
            format_version: FORMAT_VERSION,
            tx_id,
            rwset,
            response: response.clone(),
        };
        let response_payload = codec::encode(&payload);
        let signature = self.identity.key.sign(&response_payload);
        self.verified
            .made(&response_payload, &signature, &self.own_key);
        Ok(Endorsed {
            tx_id,
            response,
            response_payload,
            endorsement: Endorsement {
                endorser: self.identity_ref(&self.identity.certificate),
                signature,
            },
        })
    }

    /// Runs a query: simulates the proposal and returns the contract's response; nothing is signed or written.
    pub fn evaluate(&self, signed: &SignedProposal) -> Result<Evaluated, EndorseError> {
        let (tx_id, _rwset, response) = self.simulate(signed)?;
        Ok(Evaluated { tx_id, response })
    }

    fn simulate(&self, signed: &SignedProposal) -> Result<(TxId, RwSet, Response), EndorseError> {
        let proposal: Proposal =
            codec::decode("proposal", &signed.proposal, limits::PROPOSAL_BYTES_MAX)
                .map_err(|e| EndorseError::Malformed(e.to_string()))?;
        codec::check_version("proposal", proposal.format_version)
            .map_err(|e| EndorseError::Malformed(e.to_string()))?;
        if proposal.args.len() > limits::PROPOSAL_ARGS_COUNT_MAX {
            return Err(EndorseError::Malformed(format!(
                "{} arguments is over the limit of {}",
                proposal.args.len(),
                limits::PROPOSAL_ARGS_COUNT_MAX
            )));
        }
        let channel = self.channel();
        let is_config = proposal.contract == CONFIG_CONTRACT;
        if proposal.channel != channel.config.channel
            || (!is_config && proposal.contract != channel.config.contract)
        {
            return Err(EndorseError::WrongChannel {
                channel: proposal.channel,
                contract: proposal.contract,
            });
        }
        let now_ms = (self.clock)();
        let window_ms = channel.config.proposal_window_ms;
        if !crate::validate::within_window(proposal.timestamp_ms, now_ms, window_ms) {
            return Err(EndorseError::OutsideTimeWindow {
                proposal_ms: proposal.timestamp_ms,
                now_ms,
                window_ms,
            });
        }
        let creator = channel
            .resolve_identity(self.store.as_ref(), &proposal.creator, (self.clock)())
            .map_err(|e| match e {
                ResolveError::Identity(IdentityError::Revoked { .. }) => {
                    EndorseError::RevokedCertificate
                }
                ResolveError::Store(e) => EndorseError::State(e.to_string()),
                other => EndorseError::UnknownCertificate(other.to_string()),
            })?;
        self.verified
            .verify(&signed.proposal, &signed.signature, &creator.public_key)
            .map_err(|_| EndorseError::BadSignature)?;
        let tx_id = medledger_crypto::tx_id(&signed.proposal);
        if is_config {
            return self.simulate_config(&channel, tx_id, &creator.signer, &proposal);
        }
        let state = StoreState(self.store.as_ref());
        let mut simulator = Simulator::new(&state);
        let invocation = Invocation {
            tx_id,
            signer: &creator.signer,
            function: &proposal.function,
            args: &proposal.args,
            timestamp_ms: proposal.timestamp_ms,
        };
        let response = match self.contract.invoke(&mut simulator, &invocation) {
            Ok(payload) => Response {
                status: ResponseStatus::Ok,
                payload,
            },
            Err(refusal) if refusal.is_state_failure() => {
                return Err(EndorseError::State(refusal.to_string()));
            }
            Err(refusal) => Response {
                status: ResponseStatus::Refused,
                payload: codec::encode(&refusal),
            },
        };
        let rwset = match response.status {
            ResponseStatus::Ok => simulator.into_rwset(),
            // A refused proposal changes nothing, whatever it wrote before refusing.
            ResponseStatus::Refused => RwSet::default(),
        };
        Ok((tx_id, rwset, response))
    }

    /// A configuration update: computed by the channel's rules, read and written under [`CONFIG_KEY`] so that
    /// two concurrent updates conflict at validation.
    fn simulate_config(
        &self,
        channel: &crate::ChannelState,
        tx_id: TxId,
        creator: &medledger_types::Signer,
        proposal: &Proposal,
    ) -> Result<(TxId, RwSet, Response), EndorseError> {
        use crate::channel::ConfigUpdateError;
        use medledger_contract::ContractError;
        match channel.apply_update(creator, &proposal.function, &proposal.args) {
            Ok(config) => {
                let current = self
                    .store
                    .version(CONFIG_KEY)
                    .map_err(|e| EndorseError::State(e.to_string()))?;
                let rwset = RwSet {
                    reads: vec![KvRead {
                        key: CONFIG_KEY.into(),
                        version: current,
                    }],
                    writes: vec![KvWrite {
                        key: CONFIG_KEY.into(),
                        value: codec::encode(&config),
                    }],
                };
                Ok((
                    tx_id,
                    rwset,
                    Response {
                        status: ResponseStatus::Ok,
                        payload: Vec::new(),
                    },
                ))
            }
            Err(e) => {
                let refusal = match e {
                    ConfigUpdateError::Forbidden(_) => ContractError::Forbidden {
                        role: creator.role,
                        action: "update the channel configuration".into(),
                    },
                    ConfigUpdateError::Invalid(reason) => ContractError::BadRequest(reason),
                };
                let response = Response {
                    status: ResponseStatus::Refused,
                    payload: codec::encode(&refusal),
                };
                Ok((tx_id, RwSet::default(), response))
            }
        }
    }
}
