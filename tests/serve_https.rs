//! `tickflow serve --tls-cert --tls-key`: HTTPS with a certificate authority
//! and a server certificate made here (rcgen), a client that trusts only
//! that authority, plain HTTP refused (400) on the TLS port, a slow handshake cut
//! off, and certificate or key files that cannot work refused at start
//! with their path and the reason.

use crate::support::process::{Service, http_get};
use crate::support::tickflow_output;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tickflow_shared::store::{Access, SqliteStore};

/// A certificate authority: its PEM certificate and what signs with it.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).expect("a CA certificate").pem();
        Self { pem, issuer: Issuer::new(params, key) }
    }

    /// Writes a certificate for localhost and 127.0.0.1 and its key into
    /// `dir`, named after `name`; returns their paths.
    fn server_files(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("a server key");
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("params");
        let cert = params.signed_by(&key, &self.issuer).expect("a server certificate");
        let (cert_path, key_path) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&cert_path, cert.pem()).expect("write the certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("write the key");
        (cert_path, key_path)
    }
}

fn client(authority: &Authority) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(authority.pem.as_bytes()).expect("the CA as reqwest reads it");
    reqwest::Client::builder().tls_certs_only([ca]).build().expect("a client")
}

fn path(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_https_with_a_certificate_made_here() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("open");
    let merged = crate::serve::fixture(&store).await;
    drop(store);
    let authority = Authority::new("tickflow test CA");
    let (cert, key) = authority.server_files(dir.path(), "server");
    let args = [
        "serve",
        "--store",
        &format!("sqlite://{}", dir.path().join("views.db").display()),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &path(&cert),
        "--tls-key",
        &path(&key),
        "--header-read-timeout",
        "1s",
    ];
    let mut serve = Service::tickflow("serve", &args.map(str::to_owned), &[]);
    let addr: SocketAddr = serve.wait_for_log("the API's address", |log| {
        let line = log.lines().find(|l| l.contains("Serving the API."))?;
        assert!(line.contains("scheme=https"), "{line}");
        line.split("address=").nth(1)?.split_whitespace().next()?.parse().ok()
    });

    let trusting = client(&authority);
    for host in ["localhost", "127.0.0.1"] {
        let base = format!("https://{host}:{}", addr.port());
        let health = trusting.get(format!("{base}/healthz")).send().await.expect("HTTPS /healthz");
        assert_eq!(health.status(), 200);
        let both_days = "from=2013-10-07T13:30:00Z&to=2013-10-08T13:33:00Z";
        let bars = trusting
            .get(format!("{base}/api/v1/bars?symbol=AAPL&interval=1m&{both_days}"))
            .send()
            .await
            .expect("HTTPS /bars");
        assert_eq!(bars.status(), 200);
        let body = bars.text().await.expect("a body");
        assert_eq!(body, crate::serve::bars_body("AAPL", "2013-10-08T00:00:00Z", &merged));
    }

    // A client that trusts another authority refuses the server.
    let stranger = client(&Authority::new("another CA"));
    let refused = stranger.get(format!("https://localhost:{}/healthz", addr.port())).send().await;
    assert!(refused.is_err(), "a client trusting another CA connected: {refused:?}");

    // Plain HTTP on the TLS port is refused, saying to use HTTPS.
    let plain = tokio::task::spawn_blocking(move || http_get(addr, "/healthz")).await.expect("plain GET");
    let (status, body) = plain.expect("an answer to plain HTTP");
    assert!(status == 400 && body.contains("use an https:// URL"), "plain HTTP on the TLS port: {status} {body}");

    // A client that never finishes its handshake is cut off (--header-read-timeout 1s).
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::io::AsyncReadExt::read_to_end(&mut silent, &mut rest).await
    })
    .await;
    assert!(closed.is_ok(), "a silent client kept its TLS connection");
    println!("serve cut off a silent TLS client after {:?}", started.elapsed());

    assert_eq!(
        trusting.get(format!("https://localhost:{}/healthz", addr.port())).send().await.map(|r| r.status()).ok(),
        Some(reqwest::StatusCode::OK)
    );
    assert!(serve.terminate().success(), "{}", serve.log());
}

#[test]
fn serve_refuses_tls_files_that_cannot_work_with_the_path_and_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    drop(SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("create the store"));
    let authority = Authority::new("tickflow test CA");
    let (cert, key) = authority.server_files(dir.path(), "server");
    let (_, other_key) = authority.server_files(dir.path(), "other");
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let cases = [
        (&missing, &key, path(&missing), "cannot read it"),
        (&garbage, &key, path(&garbage), "holds no `BEGIN CERTIFICATE`"),
        (&cert, &missing, path(&missing), "cannot read it"),
        (&cert, &garbage, path(&garbage), "is not an unencrypted PEM private key"),
        (&cert, &other_key, path(&other_key), "does not fit the certificate"),
    ];
    for (cert, key, named, reason) in cases {
        let args = ["serve", "--store", &store, "--listen", "127.0.0.1:0", "--tls-cert", &path(cert), "--tls-key"];
        let output = tickflow_output(&[&args[..], &[&path(key)]].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{cert:?} {key:?} were accepted");
        assert!(stderr.contains(&named) && stderr.contains(reason), "{cert:?} {key:?}: {stderr}");
        assert!(!stderr.contains("PRIVATE KEY"), "the key's content was shown: {stderr}");
    }
    let output = tickflow_output(&["serve", "--store", &store, "--tls-cert", &path(&cert)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("--tls-key"), "--tls-cert alone: {stderr}");
}
