//! How tickflow connects to PostgreSQL: every connection is made by
//! [`connect`], with libpq's TLS settings in the store URL and the password
//! from the URL, the environment or a file ([`super::password`]).
//!
//! `sslmode` takes libpq's values and means what libpq documents:
//! `disable` (plain), `prefer` (the default: TLS when the server offers it,
//! certificate not checked), `require` (TLS or fail; the certificate is
//! checked as for `verify-ca` when a CA is given), `verify-ca` (the chain to
//! the CA in `sslrootcert`), `verify-full` (the chain and the host name).
//! `sslrootcert` is a PEM file, by default `~/.postgresql/root.crt`, or
//! `system` for the system's roots (then `verify-full` is the default and
//! the only mode allowed, as in libpq). `sslcert` and `sslkey` name a client
//! certificate and its key. tokio-postgres knows none of these but
//! `sslmode`'s first three values, so they are taken off the URL here.

use super::password;
use super::tls::{self, Check, MakeRustls};
use crate::store::StoreError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{CertificateError, RootCertStore};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::Client;

/// libpq's `sslmode`s, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

const MODES: &str = "disable, prefer, require, verify-ca, verify-full";

impl SslMode {
    fn parse(value: &str) -> Result<Self, StoreError> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => return Err(StoreError::Tls(format!("sslmode={other:?} is not one of {MODES}"))),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// Where the CA certificates come from.
enum Roots {
    /// None given, and no `~/.postgresql/root.crt`.
    None,
    /// A PEM file.
    File(PathBuf),
    /// The system's roots (`sslrootcert=system`).
    System,
}

impl Roots {
    fn describe(&self) -> String {
        match self {
            Self::None => "no CA".into(),
            Self::File(path) => format!("the CA in sslrootcert={}", path.display()),
            Self::System => "the system's CAs (sslrootcert=system)".into(),
        }
    }
}

/// The TLS settings of a store URL.
struct Settings {
    mode: SslMode,
    roots: Roots,
    client_cert: Option<(PathBuf, PathBuf)>,
}

/// Connects to the PostgreSQL database `url` names, with the TLS its
/// `sslmode` asks for, and drives the connection on the current runtime.
///
/// A URL without a password takes it from `TICKFLOW_STORE_PASSWORD` or
/// `TICKFLOW_STORE_PASSWORD_FILE`. Errors say what was wrong and what to
/// change; they never contain the password.
pub async fn connect(url: &str) -> Result<Client, StoreError> {
    let (rest, settings) = split(url)?;
    let mut config: tokio_postgres::Config = rest.parse()?;
    if config.get_password().is_none()
        && let Some(password) = password::from(|name| std::env::var(name).ok())?
    {
        config.password(password);
    }
    config.ssl_mode(match settings.mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    let tls = MakeRustls(Arc::new(client_config(&settings)?));
    let (client, connection) = config.connect(tls).await.map_err(|e| explain(e, &settings, &config))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            // The store connects again when the connection is next used; its caller reports outages.
            tracing::debug!(%error, "PostgreSQL connection closed.");
        }
    });
    Ok(client)
}

/// `url` without the TLS parameters tokio-postgres does not know, and those parameters.
fn split(url: &str) -> Result<(String, Settings), StoreError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut root, mut cert, mut key) = (None, None, None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "sslmode" => mode = Some(SslMode::parse(&decode(value))?),
            "sslrootcert" => root = Some(decode(value)),
            "sslcert" => cert = Some(PathBuf::from(decode(value))),
            "sslkey" => key = Some(PathBuf::from(decode(value))),
            _ => kept.push(pair),
        }
    }
    let system = root.as_deref() == Some("system");
    let mode = mode.unwrap_or(if system { SslMode::VerifyFull } else { SslMode::Prefer });
    if system && mode != SslMode::VerifyFull {
        return Err(StoreError::Tls(format!(
            "sslrootcert=system needs sslmode=verify-full (the default with it), not sslmode={}",
            mode.name()
        )));
    }
    let roots = match root {
        Some(_) if system => Roots::System,
        Some(path) => Roots::File(path.into()),
        None => match default_root() {
            Some(path) if path.exists() => Roots::File(path),
            _ => Roots::None,
        },
    };
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(StoreError::Tls("sslcert and sslkey go together: give both or neither".into())),
    };
    let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((rest, Settings { mode, roots, client_cert }))
}

/// libpq's default CA file, `~/.postgresql/root.crt`.
fn default_root() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".postgresql/root.crt"))
}

/// A percent-encoded URL value, decoded.
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The rustls settings for `settings`: which certificates are checked, and the client certificate.
fn client_config(settings: &Settings) -> Result<rustls::ClientConfig, StoreError> {
    let verify = match settings.mode {
        SslMode::Disable | SslMode::Prefer => None,
        SslMode::Require => match settings.roots {
            Roots::None => None,
            _ => Some(SslMode::VerifyCa),
        },
        mode => Some(mode),
    };
    let check = match verify {
        None => Check::Nothing,
        Some(mode) => {
            let roots = roots(&settings.roots, mode)?;
            if mode == SslMode::VerifyFull { Check::Full(roots) } else { Check::Chain(roots) }
        }
    };
    let client_cert = match &settings.client_cert {
        None => None,
        Some((cert, key)) => {
            let chain =
                CertificateDer::pem_file_iter(cert).and_then(|certs| certs.collect::<Result<Vec<_>, _>>()).map_err(
                    |e| StoreError::Tls(format!("sslcert={}: {e}; give a PEM certificate file", cert.display())),
                )?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| StoreError::Tls(format!("sslkey={}: {e}; give a PEM private key file", key.display())))?;
            Some((chain, key))
        }
    };
    tls::client_config(check, client_cert).map_err(|e| StoreError::Tls(format!("cannot set TLS up: {e}")))
}

/// The CA certificates `roots` names, for `mode`.
fn roots(roots: &Roots, mode: SslMode) -> Result<RootCertStore, StoreError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::None => {
            return Err(StoreError::Tls(format!(
                "sslmode={} checks the server's certificate against a CA, but none is given: add \
                 sslrootcert=PATH (a PEM file; the default ~/.postgresql/root.crt does not exist) or \
                 sslrootcert=system to the store URL",
                mode.name()
            )));
        }
        Roots::File(path) => {
            let unreadable = |e: &dyn std::fmt::Display| {
                StoreError::Tls(format!("sslrootcert={}: {e}; give the PEM file of the server's CA", path.display()))
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                store.add(cert.map_err(|e| unreadable(&e))?).map_err(|e| unreadable(&e))?;
            }
            if store.is_empty() {
                return Err(unreadable(&"no certificate in the file"));
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(StoreError::Tls(
                    "sslrootcert=system: the system has no CA certificates (install ca-certificates), \
                     or give sslrootcert=PATH"
                        .into(),
                ));
            }
        }
    }
    Ok(store)
}

/// A connection error, said in terms of the URL's TLS settings where TLS was the problem.
fn explain(error: tokio_postgres::Error, settings: &Settings, config: &tokio_postgres::Config) -> StoreError {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "the server".into(),
    };
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if cause.to_string() == "server does not support TLS" {
            return StoreError::Tls(format!(
                "{host} does not support SSL, and sslmode={} requires it: turn ssl on in the server's \
                 postgresql.conf, or use sslmode=prefer or disable where plain connections are acceptable",
                settings.mode.name()
            ));
        }
        let rustls_error = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(rustls_error) = rustls_error {
            return StoreError::Tls(tls_problem(rustls_error, settings, &host));
        }
        source = cause.source();
    }
    StoreError::Postgres(error)
}

fn tls_problem(error: &rustls::Error, settings: &Settings, host: &str) -> String {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => format!(
            "the server's certificate is not valid for the host name {host} (sslmode=verify-full checks it): \
             connect by a name the certificate carries, or use sslmode=verify-ca to check only the chain"
        ),
        rustls::Error::InvalidCertificate(problem) => format!(
            "the server's certificate does not verify against {} ({problem:?}): point sslrootcert at the \
             PEM file of the CA that signed the server's certificate",
            settings.roots.describe()
        ),
        other => format!("the TLS handshake with {host} failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_parameters_are_taken_off_the_url() {
        let (rest, settings) =
            split("postgres://u@h/db?sslmode=verify-ca&application_name=x&sslrootcert=%2Fetc%2Fca.pem").expect("split");
        assert_eq!(rest, "postgres://u@h/db?application_name=x");
        assert_eq!(settings.mode, SslMode::VerifyCa);
        assert!(matches!(settings.roots, Roots::File(ref path) if path == std::path::Path::new("/etc/ca.pem")));
        let (rest, settings) = split("postgres://u@h/db?sslrootcert=system").expect("system");
        assert_eq!((rest.as_str(), settings.mode), ("postgres://u@h/db", SslMode::VerifyFull));
    }

    #[test]
    fn wrong_settings_say_what_is_allowed() {
        let error = |url: &str| split(url).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error("postgres://h/db?sslmode=verify").contains(MODES));
        assert!(error("postgres://h/db?sslrootcert=system&sslmode=require").contains("verify-full"));
        assert!(error("postgres://h/db?sslcert=/c.pem").contains("sslkey"));
        let missing = roots(&Roots::File("/nonexistent/ca.pem".into()), SslMode::VerifyFull).err();
        let missing = missing.map(|e| e.to_string()).unwrap_or_default();
        assert!(missing.contains("sslrootcert=/nonexistent/ca.pem") && missing.contains("PEM"), "{missing}");
        let none = roots(&Roots::None, SslMode::VerifyCa).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(none.contains("add sslrootcert=PATH"), "{none}");
    }
}
