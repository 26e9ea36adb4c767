//! Issue 22: TimescaleDB for real. The bar tables of a new store become
//! hypertables with only tickflow's indexes; a server that has the
//! extension installed but not preloaded, or a user who may not create it,
//! gets a working store on plain tables; and `tickflow migrate` converts
//! such a store once the extension can be had, every bar unchanged.

use crate::support::{postgres, tickflow, tickflow_output};
use std::sync::Arc;
use tickflow_shared::store::testing::bar;
use tickflow_shared::store::{
    Access, BarQuery, BatchPublish, DaySummary, ReadStore, SpeedBar, SpeedCommit, Store, ViewSelect,
};
use tickflow_shared::time::NANOS_PER_DAY;

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// The hypertables of the database at `url` and, for each, its indexes.
async fn hypertables(url: &str) -> Vec<(String, Vec<String>)> {
    let client = client(url).await;
    let rows = client
        .query(
            "SELECT h.hypertable_name::text,
                    ARRAY(SELECT indexname::text FROM pg_indexes WHERE tablename = h.hypertable_name ORDER BY 1)
             FROM timescaledb_information.hypertables AS h ORDER BY 1",
            &[],
        )
        .await
        .unwrap_or_default();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// Two days of batch bars and a day of speed bars after them.
async fn fill(store: &dyn Store) {
    let day = 19_000;
    let bars: Vec<_> = (0..2)
        .flat_map(|d| (0..30).map(move |m| bar("AAPL", "1m", (day + d) * NANOS_PER_DAY + m * 60_000_000_000, 100 + m)))
        .collect();
    let publish = BatchPublish {
        started_at: 1,
        days: vec![DaySummary { day, trades: 1 }, DaySummary { day: day + 1, trades: 1 }],
        bars: Box::new(bars.into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    };
    store.publish_batch(publish).await.expect("publish");
    let speed = (0..30)
        .map(|m| SpeedBar {
            bar: bar("AAPL", "1m", (day + 2) * NANOS_PER_DAY + m * 60_000_000_000, 7),
            is_final: m < 5,
        })
        .collect();
    store.commit_speed(&mut SpeedCommit { bars: speed, ..SpeedCommit::default() }).await.expect("commit");
}

async fn every_bar(store: &dyn ReadStore) -> Vec<tickflow_shared::store::ViewBar> {
    let query = BarQuery {
        interval: "1m".parse().expect("interval"),
        symbol: None,
        from: None,
        to: None,
        view: ViewSelect::Merged,
        limit: None,
    };
    let mut bars = store.bars(&query).await.expect("read").bars;
    let mut speed = store.bars(&BarQuery { view: ViewSelect::Speed, ..query }).await.expect("read").bars;
    bars.append(&mut speed);
    bars
}

#[tokio::test]
async fn timescale_new_store_has_hypertables_with_only_our_indexes() {
    let url = postgres::database();
    let store = tickflow_shared::store::open(&url, Access::Write).await.expect("open");
    fill(&*store).await;
    let tables = hypertables(&url).await;
    println!("hypertables of a new store: {tables:?}");
    assert_eq!(
        tables,
        vec![
            ("batch_bars".into(), vec!["batch_bars_interval_start".into(), "batch_bars_pkey".into()]),
            ("speed_bars".into(), vec!["speed_bars_changes".into(), "speed_bars_pkey".into()]),
        ]
    );
    let migrate = tickflow(&["migrate", "--store", &url]);
    assert!(migrate.contains("hypertable batch_bars: 2 chunk(s)"), "{migrate}");
    assert!(migrate.contains("hypertable speed_bars: 1 chunk(s)"), "{migrate}");
    assert!(migrate.contains("0 migration(s) applied now"), "{migrate}");
}

#[tokio::test]
async fn timescale_installed_not_preloaded_gives_plain_tables_that_work() {
    let url = postgres::plain_database();
    let output = tickflow_output(&["migrate", "--store", &url]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("timescale  not in use: TimescaleDB is installed but not preloaded"), "{stdout}");
    assert!(stderr.contains("shared_preload_libraries"), "one warning says how to enable it: {stderr}");
    assert_eq!(stderr.matches("WARN").count(), 1, "{stderr}");
    let store = tickflow_shared::store::open(&url, Access::Write).await.expect("open on plain tables");
    fill(&*store).await;
    // Merged: two batch days and the speed day after them; then the speed view.
    assert_eq!(every_bar(&*store).await.len(), 2 * 30 + 30 + 30);
    assert!(hypertables(&url).await.is_empty());
}

/// A user who may not create the extension gets plain tables; once a
/// superuser runs `tickflow migrate`, they are hypertables and every bar
/// reads back unchanged.
#[tokio::test]
async fn timescale_migrate_converts_a_plain_store_later() {
    let admin = postgres::database();
    let owner = format!("tickflow_owner_{}", std::process::id());
    {
        let client = client(&admin).await;
        client
            .batch_execute(&format!("CREATE ROLE {owner} LOGIN; GRANT ALL ON SCHEMA public TO {owner}"))
            .await
            .expect("role");
    }
    let as_owner = admin.replacen("postgres@", &format!("{owner}@"), 1);
    let store: Arc<dyn Store> = tickflow_shared::store::open(&as_owner, Access::Write).await.expect("open as owner");
    fill(&*store).await;
    assert!(hypertables(&admin).await.is_empty(), "the owner could not create the extension");
    let before = every_bar(&*store).await;

    let migrate = tickflow(&["migrate", "--store", &admin]);
    assert!(migrate.contains("created the extension now"), "{migrate}");
    assert!(migrate.contains("converted  batch_bars") && migrate.contains("converted  speed_bars"), "{migrate}");
    let tables = hypertables(&admin).await;
    assert_eq!(tables.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["batch_bars", "speed_bars"]);
    let reader = tickflow_shared::store::open(&as_owner, Access::Read).await.expect("read as owner");
    assert_eq!(every_bar(&*reader).await, before);
    let again = tickflow(&["migrate", "--store", &admin]);
    assert!(!again.contains("converted"), "{again}");
}
