//! HTTPS: the server's certificate and key, read once at start into a
//! rustls configuration.
//!
//! Both files are PEM, as every certificate authority, cert-manager and
//! `openssl` write them: the certificate file holds the server's certificate
//! followed by its intermediates, the key file one private key (PKCS #8,
//! PKCS #1 or SEC1). Whatever is wrong with either (missing, unreadable, not
//! PEM, a key that is not the certificate's) stops the server at start with
//! the path and the reason; nothing of the key's content is ever shown.
//! Only HTTP/1.1 is offered (ALPN `http/1.1`): the limits of `run` are the
//! HTTP/1 server's.

use crate::ServeError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto};

/// A server certificate chain and key, checked and ready to accept TLS.
#[derive(Clone)]
pub struct TlsConfig {
    cert: PathBuf,
    config: Arc<ServerConfig>,
}

impl TlsConfig {
    /// Reads the PEM certificate chain at `cert` and the PEM private key at
    /// `key`, and checks that they belong together.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, ServeError> {
        let fail = |path: &Path, reason: String| ServeError::Tls { path: path.to_owned(), reason };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| fail(cert, unreadable(e, "a PEM certificate chain")))?;
        if chain.is_empty() {
            let reason = "holds no `BEGIN CERTIFICATE` section; give the server's certificate (then its intermediates)";
            return Err(fail(cert, reason.into()));
        }
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| fail(key, unreadable(e, "an unencrypted PEM private key (PKCS #8, PKCS #1 or SEC1)")))?;
        let provider = Arc::new(crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(cert, format!("no TLS version available ({e})")))?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| {
                let reason =
                    format!("does not fit the certificate {} ({e}); give the key it was made with", cert.display());
                fail(key, reason)
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { cert: cert.to_owned(), config: Arc::new(config) })
    }

    /// The acceptor that runs the handshake on a new connection.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }

    /// The certificate file, for the log.
    pub(crate) fn cert(&self) -> &Path {
        &self.cert
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").field("cert", &self.cert).finish_non_exhaustive()
    }
}

/// Why a PEM file could not be read, and what to do: `wanted` is what it must hold.
fn unreadable(error: pem::Error, wanted: &str) -> String {
    match error {
        pem::Error::Io(error) => format!("cannot read it ({error}); check the path and that this user may read it"),
        error => format!("is not {wanted} ({error}); give {wanted}"),
    }
}
