//! Issue 18: the commands that only read (`bars`, `serve`) never create a
//! store. On a missing SQLite file or an empty PostgreSQL database they exit
//! non-zero with an error that names the URL and the commands that create a
//! store, and leave nothing behind.

use crate::support::{postgres, tickflow_output};

/// Runs every reading command against `url`; each must fail and say why.
fn every_reader_refuses(url: &str) {
    let readers: [&[&str]; 2] =
        [&["bars", "--interval", "1m"], &["serve", "--listen", "127.0.0.1:0", "--poll-interval", "1s"]];
    for args in readers {
        let mut args = args.to_vec();
        args.extend(["--store", url]);
        let output = tickflow_output(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded: {stderr}");
        assert!(stderr.contains(url), "{args:?} does not name the store: {stderr}");
        assert!(
            stderr.contains("tickflow batch, speed or demo"),
            "{args:?} does not say what creates a store: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?} printed {:?}", String::from_utf8_lossy(&output.stdout));
    }
}

#[test]
fn readers_of_a_missing_sqlite_file_create_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("sub/typo.db").display());
    every_reader_refuses(&url);
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read the directory").collect();
    assert!(left.is_empty(), "the readers left {left:?} behind");
}

#[test]
fn readers_of_an_empty_postgres_database_create_nothing() {
    let url = postgres::database();
    every_reader_refuses(&url);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let tables: i64 = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        let row = client
            .query_one("SELECT COUNT(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace", &[])
            .await
            .expect("count");
        row.get(0)
    });
    assert_eq!(tables, 0, "the readers created relations");
}
