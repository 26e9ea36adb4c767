//! Issue 21: PostgreSQL over TLS with libpq's `sslmode`s, on rustls, against
//! a real server with `ssl = on` and certificates made here: a CA, a server
//! certificate for 127.0.0.1 only, and a CA that signed nothing.

use crate::support::postgres::Cluster;
use crate::support::{tickflow, tickflow_output};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use std::path::{Path, PathBuf};
use tickflow_shared::store::testing::bar;
use tickflow_shared::store::{self, Access, BarQuery, BatchPublish, DaySummary, ViewSelect};
use tickflow_shared::time::NANOS_PER_DAY;

/// A CA: its certificate in PEM and what signs with it.
fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert.pem(), Issuer::new(params, key))
}

/// A server with `ssl = on`, its certificate (for the IP address 127.0.0.1,
/// no host name) signed by the CA written to `ca.pem` in its directory.
struct TlsServer {
    cluster: Cluster,
    ca: PathBuf,
    other_ca: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl TlsServer {
    fn start() -> Self {
        let server = Self::new(&["ssl = on"]);
        server.cluster.start("");
        server
    }

    /// The server, not started yet; `conf` lines for its postgresql.conf.
    fn new(conf: &[&str]) -> Self {
        let cluster = Cluster::new(conf);
        let (ca_pem, issuer) = new_ca("tickflow test CA");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("server params");
        params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        // The server's defaults: server.crt and server.key in its data directory.
        let data = cluster.data();
        write(&cluster, &data.join("server.crt"), &cert.pem());
        write(&cluster, &data.join("server.key"), &key.serialize_pem());
        let ca = cluster.dir.join("ca.pem");
        std::fs::write(&ca, ca_pem).expect("write ca.pem");
        let other_ca = cluster.dir.join("other-ca.pem");
        std::fs::write(&other_ca, new_ca("another CA").0).expect("write other-ca.pem");
        Self { cluster, ca, other_ca, issuer }
    }

    /// A client certificate for `user` signed by the CA, and its key: PEM files.
    fn client_cert(&self, user: &str) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(rcgen::DnType::CommonName, user);
        let key = KeyPair::generate().expect("client key");
        let cert = params.signed_by(&key, &self.issuer).expect("client certificate");
        let (cert_path, key_path) = (self.cluster.dir.join("client.crt"), self.cluster.dir.join("client.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write client.crt");
        std::fs::write(&key_path, key.serialize_pem()).expect("write client.key");
        (cert_path, key_path)
    }

    /// The URL of its `postgres` database on `host`, with `params`.
    fn url(&self, host: &str, params: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{params}", self.cluster.port)
    }
}

fn write(cluster: &Cluster, path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    cluster.chown(path);
}

/// Whether the connection `url` opens is encrypted, as the server sees it.
async fn encrypted(url: &str) -> bool {
    let client = store::connect_postgres(url).await.unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.expect("ssl");
    row.get(0)
}

/// Why connecting to `url` failed, with every cause, as `tickflow` prints it.
async fn refused(url: &str) -> String {
    let error = store::connect_postgres(url).await.err().unwrap_or_else(|| panic!("{url} connected"));
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    println!("{url}: {text}");
    text
}

#[tokio::test]
async fn postgres_tls_verify_full_opens_migrates_and_round_trips_a_bar() {
    let server = TlsServer::start();
    let url = server.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={}", server.ca.display()));
    let migrate = tickflow(&["migrate", "--store", &url]);
    assert!(migrate.contains("migration(s) applied now"), "{migrate}");

    let store = store::open(&url, Access::Write).await.expect("open over verify-full");
    let day = 19_000;
    let published = bar("AAPL", "1m", day * NANOS_PER_DAY, 100);
    let publish = BatchPublish {
        started_at: 1,
        days: vec![DaySummary { day, trades: 1 }],
        bars: Box::new(vec![published.clone()].into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    };
    store.publish_batch(publish).await.expect("publish");
    let query = BarQuery {
        interval: "1m".parse().expect("interval"),
        symbol: None,
        from: None,
        to: None,
        view: ViewSelect::Merged,
        limit: None,
    };
    let read = store.bars(&query).await.expect("read").bars;
    assert_eq!(read.iter().map(|b| &b.bar).collect::<Vec<_>>(), vec![&published]);
    assert!(encrypted(&url).await);
}

#[tokio::test]
async fn postgres_tls_wrong_ca_and_wrong_host_fail_clearly() {
    let server = TlsServer::start();
    let wrong_ca = format!("sslmode=verify-full&sslrootcert={}", server.other_ca.display());
    let error = refused(&server.url("127.0.0.1", &wrong_ca)).await;
    assert!(error.contains("does not verify") && error.contains("sslrootcert="), "{error}");

    // The certificate names 127.0.0.1, not localhost.
    let ca = server.ca.display();
    let error = refused(&server.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"))).await;
    assert!(error.contains("not valid for the host name localhost") && error.contains("verify-ca"), "{error}");
    assert!(encrypted(&server.url("localhost", &format!("sslmode=verify-ca&sslrootcert={ca}"))).await);
    // libpq's rule: require with a CA checks the chain as verify-ca does.
    let error =
        refused(&server.url("localhost", &format!("sslmode=require&sslrootcert={}", server.other_ca.display()))).await;
    assert!(error.contains("does not verify"), "{error}");

    let output = tickflow_output(&["migrate", "--store", &server.url("127.0.0.1", &wrong_ca)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("does not verify"), "{stderr}");
    let error = refused(&server.url("127.0.0.1", "sslmode=verify")).await;
    assert!(error.contains("disable, prefer, require, verify-ca, verify-full"), "{error}");
}

#[tokio::test]
async fn postgres_tls_modes_against_servers_with_and_without_ssl() {
    let server = TlsServer::start();
    assert!(encrypted(&server.url("127.0.0.1", "sslmode=require")).await, "require: encrypted, not verified");
    assert!(encrypted(&server.url("127.0.0.1", "sslmode=prefer")).await);
    assert!(encrypted(&server.url("127.0.0.1", "")).await, "prefer is the default");
    assert!(!encrypted(&server.url("127.0.0.1", "sslmode=disable")).await);

    let plain = Cluster::new(&[]);
    plain.start("");
    let url = |mode: &str| format!("{}?sslmode={mode}", plain.url());
    assert!(!encrypted(&url("prefer")).await, "prefer falls back to plain");
    assert!(!encrypted(&url("disable")).await);
    let error = refused(&url("require")).await;
    assert!(error.contains("does not support SSL"), "{error}");
}

/// `sslcert` and `sslkey`: a server that takes only client certificates
/// (`hostssl … cert`) lets in the user its certificate names, and nobody
/// without one.
#[tokio::test]
async fn postgres_tls_client_certificate_authenticates() {
    let server = TlsServer::new(&["ssl = on", "ssl_ca_file = 'root.crt'"]);
    let data = server.cluster.data();
    let ca = std::fs::read_to_string(&server.ca).expect("read ca.pem");
    write(&server.cluster, &data.join("root.crt"), &ca);
    write(&server.cluster, &data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 cert\n");
    server.cluster.start("");
    let (cert, key) = server.client_cert("postgres");
    let verify = format!("sslmode=verify-full&sslrootcert={}", server.ca.display());
    let with_cert = format!("{verify}&sslcert={}&sslkey={}", cert.display(), key.display());
    assert!(encrypted(&server.url("127.0.0.1", &with_cert)).await);
    let error = refused(&server.url("127.0.0.1", &verify)).await;
    assert!(error.contains("certificate"), "no client certificate, no entry: {error}");
}

/// SCRAM over TLS binds the password exchange to the server's certificate
/// (SCRAM-SHA-256-PLUS, `tls-server-end-point`): `channel_binding=require`
/// succeeds with the right password, and a wrong one is refused.
#[tokio::test]
async fn postgres_tls_scram_uses_channel_binding() {
    let server = TlsServer::new(&["ssl = on", "password_encryption = 'scram-sha-256'"]);
    let hba =
        "local all all trust\nhostssl all postgres 127.0.0.1/32 trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n";
    write(&server.cluster, &server.cluster.data().join("pg_hba.conf"), hba);
    server.cluster.start("");
    let admin = store::connect_postgres(&server.url("127.0.0.1", "sslmode=require")).await.expect("connect");
    admin.batch_execute("CREATE ROLE scram_user LOGIN PASSWORD 's3cret-binding'").await.expect("CREATE ROLE");
    let url = format!(
        "postgres://scram_user:s3cret-binding@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}&channel_binding=require",
        server.cluster.port,
        server.ca.display()
    );
    assert!(encrypted(&url).await);
    let wrong = url.replace("s3cret-binding", "wrong");
    let error = refused(&wrong).await;
    assert!(error.contains("password authentication failed") && !error.contains("wrong@"), "{error}");
}
