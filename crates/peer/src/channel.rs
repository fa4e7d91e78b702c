//! The channel as the peer sees it: the configuration from the genesis block, and what is derived from it
//! once (the MSP, the parsed endorsement policy, the orderers' keys) so that validation does not redo it.

use medledger_crypto::keys::PublicKey;
use medledger_crypto::msp::{Identity, IdentityError, Msp};
use medledger_crypto::policy::Policy;
use medledger_store::{Store, StoreError};
use medledger_types::{
    Block, ChannelConfig, ConfigUpdate, Hash, IdentityRef, Role, Signer, ValidationCode, codec,
    limits,
};

/// The genesis block or its configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("the genesis block must hold exactly one entry, found {0}")]
    EntryCount(usize),
    #[error("channel configuration: {0}")]
    Config(String),
    #[error("endorsement policy: {0}")]
    Policy(String),
    #[error("orderer certificate {index}: {reason}")]
    Orderer { index: usize, reason: String },
}

/// Why a configuration update is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigUpdateError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
}

/// Why a signer's [`IdentityRef`] does not resolve to a current member.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Named by a hash that is not in the ledger's certificate table.
    #[error("no certificate with hash {0} is on the ledger")]
    UnknownHash(Hash),
    /// The certificate is not a current member's.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The certificate table could not be read.
    #[error("the certificate table: {0}")]
    Store(#[from] StoreError),
}

impl ResolveError {
    /// The validation code a transaction gets for it (`None` for a store failure: the block cannot be
    /// judged).
    pub fn code(&self) -> Option<ValidationCode> {
        match self {
            ResolveError::UnknownHash(_) => Some(ValidationCode::UnknownCertificateHash),
            ResolveError::Identity(IdentityError::Revoked { .. }) => {
                Some(ValidationCode::RevokedCertificate)
            }
            ResolveError::Identity(IdentityError::Unknown(_)) => {
                Some(ValidationCode::UnknownCertificate)
            }
            ResolveError::Store(_) => None,
        }
    }
}

/// The channel configuration and everything derived from it.
#[derive(Debug)]
pub struct ChannelState {
    pub config: ChannelConfig,
    pub msp: Msp,
    pub policy: Policy,
    /// Each allowed orderer's certificate hash (what a block's signature names) and public key.
    pub orderers: Vec<(Hash, PublicKey)>,
}

impl ChannelState {
    /// Reads the configuration from the genesis block. Orderer certificates are judged at the block's time.
    pub fn from_genesis(genesis: &Block) -> Result<ChannelState, ChannelError> {
        let [entry] = genesis.data.entries.as_slice() else {
            return Err(ChannelError::EntryCount(genesis.data.entries.len()));
        };
        let config: ChannelConfig = codec::decode("channel config", entry, limits::BLOCK_BYTES_MAX)
            .map_err(|e| ChannelError::Config(e.to_string()))?;
        codec::check_version("channel config", config.format_version)
            .map_err(|e| ChannelError::Config(e.to_string()))?;
        ChannelState::new(config, genesis.header.timestamp_ms)
    }

    pub fn new(config: ChannelConfig, at_ms: i64) -> Result<ChannelState, ChannelError> {
        let msp = Msp::from_config(&config).map_err(|e| ChannelError::Config(e.to_string()))?;
        let policy = Policy::parse(&config.endorsement_policy)
            .map_err(|e| ChannelError::Policy(e.to_string()))?;
        let mut orderers = Vec::with_capacity(config.orderers.len());
        for (index, der) in config.orderers.iter().enumerate() {
            let identity = msp
                .validate(der, at_ms)
                .map_err(|e| ChannelError::Orderer {
                    index,
                    reason: e.to_string(),
                })?;
            if identity.signer.role != Role::Orderer {
                return Err(ChannelError::Orderer {
                    index,
                    reason: format!("role is {}, not orderer", identity.signer.role),
                });
            }
            orderers.push((identity.signer.certificate_hash, identity.public_key));
        }
        if orderers.is_empty() {
            return Err(ChannelError::Config(
                "no orderer is allowed to sign blocks".into(),
            ));
        }
        Ok(ChannelState {
            config,
            msp,
            policy,
            orderers,
        })
    }

    /// The public key of the orderer whose certificate hashes to `hash`, if it is one of the channel's
    /// orderers.
    pub fn orderer_key(&self, hash: &Hash) -> Option<&PublicKey> {
        self.orderers
            .iter()
            .find(|(cert, _)| cert == hash)
            .map(|(_, key)| key)
    }

    /// Who `identity` is at `at_ms`: a certificate carried whole is judged as it is; one named by hash is
    /// read from `store`'s certificate table (committed blocks only, so every peer and every replay
    /// resolves it alike) and then judged the same way — chain, role, validity window, CRLs, through
    /// the MSP's cache.
    pub fn resolve_identity(
        &self,
        store: &dyn Store,
        identity: &IdentityRef,
        at_ms: i64,
    ) -> Result<Identity, ResolveError> {
        match identity {
            IdentityRef::Certificate(der) => Ok(self.msp.validate(der, at_ms)?),
            IdentityRef::Known(hash) => {
                let der = store
                    .certificate(hash)?
                    .ok_or(ResolveError::UnknownHash(*hash))?;
                Ok(self.msp.validate(&der, at_ms)?)
            }
        }
    }

    /// The configuration that `args[0]` (a [`ConfigUpdate`] named by `function`) produces when `creator`
    /// proposes it. A pure function of the current configuration and the request, so the validator can
    /// recompute what the endorser wrote instead of trusting it.
    pub fn apply_update(
        &self,
        creator: &Signer,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<ChannelConfig, ConfigUpdateError> {
        let [arg] = args else {
            return Err(ConfigUpdateError::Invalid(format!(
                "expected one argument, got {}",
                args.len()
            )));
        };
        let update: ConfigUpdate =
            codec::decode("configuration update", arg, limits::PROPOSAL_BYTES_MAX)
                .map_err(|e| ConfigUpdateError::Invalid(e.to_string()))?;
        if update.function() != function {
            return Err(ConfigUpdateError::Invalid(format!(
                "function {function:?} does not match the update ({})",
                update.function()
            )));
        }
        match update {
            ConfigUpdate::AddCrl { msp_id, crl } => {
                if creator.role != Role::Admin || creator.org != msp_id {
                    return Err(ConfigUpdateError::Forbidden(format!(
                        "only an administrator of {msp_id} may change its revocation list"
                    )));
                }
                let msp = self
                    .msp
                    .with_crl(&msp_id, &crl)
                    .map_err(|e| ConfigUpdateError::Invalid(e.to_string()))?;
                let mut config = self.config.clone();
                config.orgs = msp.org_configs();
                Ok(config)
            }
        }
    }
}
