//! The listener's TLS settings from PEM files: a certificate chain (leaf first) and its
//! private key. Everything that would make a handshake fail later is caught here, at
//! start-up, with the file it is about: unreadable files, no certificate, no key, a key that
//! is not the certificate's, a certificate outside its validity period.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Which of the two files an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Cert,
    Key,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        file: TlsFile,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },
    #[error("{path}: {detail}")]
    Invalid {
        file: TlsFile,
        path: PathBuf,
        detail: String,
    },
    #[error("the certificate in {path} expired at {not_after}; make a new one")]
    Expired { path: PathBuf, not_after: String },
    #[error("the certificate in {path} is not valid before {not_before}")]
    NotYetValid { path: PathBuf, not_before: String },
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
}

impl TlsError {
    /// The file the error is about (the certificate for a mismatch).
    pub fn file(&self) -> TlsFile {
        match self {
            TlsError::Read { file, .. } | TlsError::Invalid { file, .. } => *file,
            TlsError::NoKey { .. } => TlsFile::Key,
            TlsError::NoCertificate { .. }
            | TlsError::Expired { .. }
            | TlsError::NotYetValid { .. }
            | TlsError::KeyMismatch { .. } => TlsFile::Cert,
        }
    }
}

/// A rustls server configuration (ring, TLS 1.2 and 1.3, HTTP/1.1 by ALPN) for `cert` and
/// `key`.
pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let read = |file, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            file,
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(TlsFile::Cert, cert)?;
    let key_pem = read(TlsFile::Key, key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            file: TlsFile::Cert,
            path: cert.to_owned(),
            detail: format!("not a PEM certificate chain: {e}"),
        })?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate {
            path: cert.to_owned(),
        });
    };
    check_validity(leaf, cert)?;
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: key.to_owned(),
        },
        e => TlsError::Invalid {
            file: TlsFile::Key,
            path: key.to_owned(),
            detail: format!("not a PEM private key: {e}"),
        },
    })?;
    let provider = Arc::new(crypto_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid {
            file: TlsFile::Cert,
            path: cert.to_owned(),
            detail: e.to_string(),
        })?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            },
            e => TlsError::Invalid {
                file: TlsFile::Key,
                path: key.to_owned(),
                detail: format!("unusable private key: {e}"),
            },
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// rustls's ring provider: TLS 1.2 and 1.3 with ECDHE (X25519, P-256, P-384), AES-GCM and
/// ChaCha20-Poly1305.
///
/// rustls 0.23.48 deprecated it because it has no post-quantum key exchange, which only its
/// aws-lc-rs provider offers. aws-lc-rs means compiling AWS-LC's C sources into every build
/// (minutes on a 2-core CI machine, and a C toolchain); for a LAN service with classical
/// ECDHE that trade is not worth it yet. Revisit when ring gains ML-KEM.
#[allow(deprecated)]
pub fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn check_validity(leaf: &CertificateDer<'_>, path: &Path) -> Result<(), TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf).map_err(|e| TlsError::Invalid {
        file: TlsFile::Cert,
        path: path.to_owned(),
        detail: format!("not an X.509 certificate: {e}"),
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let validity = parsed.validity();
    if validity.not_after.timestamp() < now {
        return Err(TlsError::Expired {
            path: path.to_owned(),
            not_after: validity.not_after.to_string(),
        });
    }
    if validity.not_before.timestamp() > now {
        return Err(TlsError::NotYetValid {
            path: path.to_owned(),
            not_before: validity.not_before.to_string(),
        });
    }
    Ok(())
}
