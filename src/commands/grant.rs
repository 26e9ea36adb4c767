//! `tickflow grant`: let a PostgreSQL role read the store, and nothing else.

use tickflow_shared::store;

/// Arguments of `tickflow grant`.
#[derive(clap::Args)]
pub struct Args {
    /// View store URL, connecting as the role that owns the store: `postgres://owner@host/db`.
    #[arg(long, env = "TICKFLOW_STORE")]
    store: String,
    /// The role (created beforehand by the DBA) that `serve` and `features` log in as.
    #[arg(long)]
    role: String,
}

/// Applies missing migrations, grants the role read access to every table
/// (and to the tables later migrations add), and prints what it granted.
pub fn run(args: Args) -> anyhow::Result<()> {
    let report = super::runtime()?.block_on(store::grant_read(&args.store, &args.role))?;
    println!("store      {}", store::redact(&args.store));
    println!("role       {} may connect to database {}", args.role, report.database);
    println!("schema     {}: usage", report.schema);
    println!("select     {}", report.tables.join(", "));
    println!("later      tables {} creates in {} are readable too", report.owner, report.schema);
    Ok(())
}
