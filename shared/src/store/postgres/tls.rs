//! TLS for PostgreSQL connections on rustls: the connector tokio-postgres
//! asks for, and the certificate checks of libpq's `sslmode`s.
//!
//! `verify-full` is rustls' own WebPKI verification (chain and host name);
//! `verify-ca` is the same verification with a host-name mismatch forgiven;
//! `require` and `prefer` without a CA encrypt but accept any certificate,
//! still checking that the server holds its key. Which one a connection gets
//! is decided in [`super::connect`]. The stream offers `tls-server-end-point`
//! channel binding, so SCRAM authentication cannot be relayed by a man in
//! the middle.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// How much of the server's certificate is checked.
pub(crate) enum Check {
    /// Nothing: encryption only (`prefer`, or `require` without a CA).
    Nothing,
    /// The chain up to one of these roots, not the host name (`verify-ca`).
    Chain(RootCertStore),
    /// The chain and the host name (`verify-full`).
    Full(RootCertStore),
}

/// The client's TLS settings for `check`, with the client certificate
/// chain and key when the URL names them.
pub(crate) fn client_config(
    check: Check,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(AnyCertificate(provider.clone())),
        Check::Chain(roots) => Arc::new(ChainOnly(webpki(roots, &provider)?)),
        Check::Full(roots) => webpki(roots, &provider)?,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match client_cert {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key),
        None => Ok(builder.with_no_client_auth()),
    }
}

fn webpki(roots: RootCertStore, provider: &Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))
}

/// `verify-ca`: the WebPKI checks, except that the certificate need not name the host.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // WebPKI checks the chain first: a name error means the chain verified.
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require` without a CA: any certificate, but the server must prove it
/// holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What tokio-postgres asks for a TLS connection to a host.
#[derive(Clone)]
pub(crate) struct MakeRustls(pub Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Rustls<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, io::Error> {
        // A Unix socket has no host name; TLS is never asked for on one.
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("host {host:?} is not a name a certificate can carry: {e}"));
        Ok(RustlsConnect { config: self.0.clone(), name })
    }
}

/// A TLS handshake with one host.
pub(crate) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: Result<ServerName<'static>, String>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Rustls<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Rustls<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = self.name.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let stream = tokio_rustls::TlsConnector::from(self.config).connect(name, stream).await?;
            Ok(Rustls(stream))
        })
    }
}

/// A connection to PostgreSQL over rustls.
pub(crate) struct Rustls<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Rustls<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Rustls<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Rustls<S> {
    /// `tls-server-end-point` (RFC 5929): the hash of the server's
    /// certificate, so SCRAM-SHA-256-PLUS ties the password exchange to this
    /// TLS session and a man in the middle cannot relay it, even where the
    /// certificate is not verified.
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        match session.peer_certificates().and_then(|chain| chain.first()).and_then(|cert| end_point(cert)) {
            Some(hash) => ChannelBinding::tls_server_end_point(hash),
            None => ChannelBinding::none(),
        }
    }
}

/// The `tls-server-end-point` hash of a certificate: SHA-256, or the hash of
/// its signature algorithm when that is stronger (RFC 5929, 4.1); none for
/// algorithms that name no single hash (Ed25519, RSA-PSS).
fn end_point(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    use sha2::Digest;
    const SHA384: [&[u8]; 2] =
        [&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03], &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c]];
    const SHA512: [&[u8]; 2] =
        [&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04], &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d]];
    const SHA256_OR_WEAKER: [&[u8]; 5] = [
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02], // ecdsa-with-SHA256
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b], // sha256WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],       // ecdsa-with-SHA1
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05], // sha1WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04], // md5WithRSAEncryption
    ];
    let algorithm = signature_algorithm(cert.as_ref())?;
    if SHA384.contains(&algorithm) {
        Some(sha2::Sha384::digest(cert).to_vec())
    } else if SHA512.contains(&algorithm) {
        Some(sha2::Sha512::digest(cert).to_vec())
    } else if SHA256_OR_WEAKER.contains(&algorithm) {
        Some(sha2::Sha256::digest(cert).to_vec())
    } else {
        None
    }
}

/// The OID of a DER certificate's `signatureAlgorithm`: the second element
/// of `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }`.
fn signature_algorithm(der: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = element(der, 0x30)?;
    let (_, rest) = element(certificate, 0x30)?;
    let (algorithm, _) = element(rest, 0x30)?;
    element(algorithm, 0x06).map(|(oid, _)| oid)
}

/// The contents of the DER element with tag `tag` at the start of `der`, and what follows it.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = der.split_first()?;
    let (&length, rest) = rest.split_first()?;
    if first != tag {
        return None;
    }
    let (length, rest) = match length {
        0..=0x7f => (usize::from(length), rest),
        0x81..=0x84 => {
            let (bytes, rest) = rest.split_at_checked(usize::from(length - 0x80))?;
            (bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b)), rest)
        }
        _ => return None,
    };
    let (contents, rest) = rest.split_at_checked(length)?;
    Some((contents, rest))
}
