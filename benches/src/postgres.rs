//! A throwaway PostgreSQL cluster for a benchmark: `initdb` in a temporary
//! directory, `pg_ctl start` on a free loopback port (as the `postgres` OS
//! user when running as root), stopped and removed on drop.

use crate::BenchError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_root: bool,
    /// Its admin URL (database `postgres`).
    pub url: String,
}

impl Cluster {
    /// Creates and starts a cluster.
    pub fn start() -> Result<Self, BenchError> {
        Self::start_with("")
    }

    /// Creates and starts a cluster with extra `postgres` options (like
    /// ` -c shared_preload_libraries=timescaledb`).
    pub fn start_with(extra: &str) -> Result<Self, BenchError> {
        let bin = pg_bin().ok_or_else(|| {
            BenchError::Prepare("no PostgreSQL binaries (apt-get install postgresql), or pass --store".into())
        })?;
        let as_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let dir = tempfile::tempdir()?;
        if as_root {
            run(Command::new("chown").arg("postgres:postgres").arg(dir.path()), "chown")?;
        }
        let port = crate::free_port()?;
        let this = Self { url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), dir, bin, as_root };
        let data = this.dir.path().join("data");
        run(this.pg("initdb").arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]), "initdb")?;
        let options =
            format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{extra}", this.dir.path().display());
        let log = this.dir.path().join("log");
        run(this.pg("pg_ctl").arg("-D").arg(&data).arg("-l").arg(log).args(["-o", &options, "-w", "start"]), "pg_ctl")?;
        Ok(this)
    }

    fn pg(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.pg("pg_ctl").arg("-D").arg(data).args(["-m", "immediate", "stop"]).output();
    }
}

/// Creates database `tickflow_bench_{name}` on the server of `admin` and returns its URL.
pub async fn create_database(admin: &str, name: &str) -> Result<String, BenchError> {
    let client =
        tickflow_shared::store::connect_postgres(admin).await.map_err(|e| BenchError::Prepare(e.to_string()))?;
    let database = format!("tickflow_bench_{name}");
    client
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .await
        .map_err(|e| BenchError::Prepare(format!("{e:?}")))?;
    let server = admin.rsplit_once('/').map_or(admin, |(server, _database)| server);
    Ok(format!("{server}/{database}"))
}

/// The directory of `initdb` and `pg_ctl`: the one on `PATH`, else the
/// newest under `/usr/lib/postgresql`.
pub fn pg_bin() -> Option<PathBuf> {
    if let Ok(out) = Command::new("sh").args(["-c", "command -v initdb"]).output()
        && out.status.success()
    {
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        return path.parent().map(Path::to_path_buf);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn run(command: &mut Command, what: &str) -> Result<(), BenchError> {
    let output = command.output().map_err(|e| BenchError::Prepare(format!("{what} cannot start: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BenchError::Prepare(format!("{what} failed: {}", String::from_utf8_lossy(&output.stderr))))
    }
}
