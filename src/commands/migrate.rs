//! `tickflow migrate`: bring a store's schema up to date and report its state.

use tickflow_shared::store;

/// Arguments of `tickflow migrate`.
#[derive(clap::Args)]
pub struct Args {
    /// View store URL: `sqlite://path/to/file.db` or `postgres://user@host/db`.
    #[arg(long, env = "TICKFLOW_STORE")]
    store: String,
}

/// Runs the migrations (creating the store if it is missing), converts the
/// time tables to hypertables where TimescaleDB is now available, and
/// prints what it did and the store's state.
pub fn run(args: Args) -> anyhow::Result<()> {
    let report = super::runtime()?.block_on(store::migrate(&args.store))?;
    println!("store      {}", store::redact(&args.store));
    println!("engine     {}", report.engine);
    println!("schema     version {} ({} migration(s) applied now)", report.schema_version, report.applied);
    let Some(timescale) = report.timescale else {
        println!("timescale  not applicable (SQLite)");
        return Ok(());
    };
    match (&timescale.timescaledb, &timescale.unavailable) {
        (Some(version), _) if timescale.created => println!("timescale  {version}: created the extension now"),
        (Some(version), _) => println!("timescale  {version}"),
        (None, Some(why)) => println!("timescale  not in use: {why}"),
        (None, None) => println!("timescale  not in use"),
    }
    for table in &timescale.converted {
        println!("converted  {table} into a hypertable (daily chunks), moving its rows");
    }
    for (table, chunks) in &timescale.hypertables {
        println!("hypertable {table}: {chunks} chunk(s)");
    }
    Ok(())
}
