//! The canonical codec: borsh. One value has exactly one encoding, so bytes can be hashed and signed.
//!
//! Decoding is for untrusted input: the caller names the largest input it accepts, the whole input must
//! be consumed, and a malformed input is an error, never a panic. Borsh caps the memory it reserves for
//! a length prefix, so a forged length cannot make it allocate more than the input could hold.

use borsh::{BorshDeserialize, BorshSerialize};

/// Bytes that are not the canonical encoding of the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{what}: {len} bytes is over the limit of {max}")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what}: malformed: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("{what}: format version {found} is not supported (expected {expected})")]
    Version {
        what: &'static str,
        found: u8,
        expected: u8,
    },
}

/// The canonical bytes of `value`.
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    // Writing to a Vec cannot fail; borsh only returns an error for a failing writer.
    borsh::to_vec(value).unwrap_or_else(|e| unreachable!("borsh to Vec failed: {e}"))
}

/// Decodes `bytes` as a `T`, refusing inputs longer than `max` bytes and trailing bytes.
pub fn decode<T: BorshDeserialize>(
    what: &'static str,
    bytes: &[u8],
    max: usize,
) -> Result<T, CodecError> {
    if bytes.len() > max {
        return Err(CodecError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    borsh::from_slice(bytes).map_err(|e| CodecError::Malformed {
        what,
        reason: e.to_string(),
    })
}

/// Checks a decoded structure's format version.
pub fn check_version(what: &'static str, found: u8) -> Result<(), CodecError> {
    if found != crate::FORMAT_VERSION {
        return Err(CodecError::Version {
            what,
            found,
            expected: crate::FORMAT_VERSION,
        });
    }
    Ok(())
}
