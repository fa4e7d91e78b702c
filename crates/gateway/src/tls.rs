//! TLS for the main address: a certificate chain and its private key from PEM files, served by rustls
//! on the ring provider (TLS 1.3 and 1.2 with rustls' safe defaults; HTTP/1.1 by ALPN).
//!
//! The files are the operator's: a hospital's CA or a public one issues the certificate; the node only
//! reads them at start, size-checked, and refuses a key that does not match the certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The largest PEM file read: a chain of a few certificates or one key is a few KiB.
pub const PEM_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// The protocol offered by ALPN: the gateway speaks HTTP/1.1 only.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is over {PEM_FILE_BYTES_MAX} bytes: not a PEM certificate or key")]
    TooLarge { path: PathBuf },
    #[error("{what} is not valid PEM: {source}")]
    Pem {
        what: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{what} holds no certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { what: String },
    #[error("{what} holds no private key (expected PKCS#8, PKCS#1 or SEC1 PEM)")]
    NoKey { what: String },
    /// rustls refused the pair (for example a key that does not match the certificate).
    #[error("the certificate and key cannot be served: {0}")]
    Refused(#[from] rustls::Error),
}

/// A server TLS configuration, ready for [`crate::serve_with`]; cheap to clone.
#[derive(Clone)]
pub struct TlsConfig(pub(crate) Arc<rustls::ServerConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig(..)")
    }
}

impl TlsConfig {
    /// From a PEM certificate chain file (the server's certificate first) and a PEM private key file.
    pub fn from_pem_files(certificate: &Path, key: &Path) -> Result<TlsConfig, TlsError> {
        let certificate_pem = read_pem_file(certificate)?;
        let key_pem = read_pem_file(key)?;
        TlsConfig::from_pem_named(
            &certificate_pem,
            &certificate.display().to_string(),
            &key_pem,
            &key.display().to_string(),
        )
    }

    /// From a PEM certificate chain and a PEM private key in memory.
    pub fn from_pem(certificate_pem: &[u8], key_pem: &[u8]) -> Result<TlsConfig, TlsError> {
        TlsConfig::from_pem_named(
            certificate_pem,
            "the certificate",
            key_pem,
            "the private key",
        )
    }

    fn from_pem_named(
        certificate_pem: &[u8],
        certificate_name: &str,
        key_pem: &[u8],
        key_name: &str,
    ) -> Result<TlsConfig, TlsError> {
        let chain = CertificateDer::pem_slice_iter(certificate_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::Pem {
                what: certificate_name.to_owned(),
                source,
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                what: certificate_name.to_owned(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| match source {
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
                what: key_name.to_owned(),
            },
            source => TlsError::Pem {
                what: key_name.to_owned(),
                source,
            },
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(TlsConfig(Arc::new(config)))
    }
}

fn read_pem_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_error = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let length = std::fs::metadata(path).map_err(read_error)?.len();
    if length > PEM_FILE_BYTES_MAX {
        return Err(TlsError::TooLarge {
            path: path.to_owned(),
        });
    }
    std::fs::read(path).map_err(read_error)
}
