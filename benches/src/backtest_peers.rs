//! The Python peers of `tickflow bench backtest`, on the same bars: the
//! NumPy loop that computes only the crossings, and vectorbt end to end.

use crate::BenchError;
use crate::child::{Finished, run_to_end};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use tickflow_strategy::backtest::CompactBars;

/// Runs `benches/backtest_numpy.py` on the same closes: its loop's seconds
/// and crossings, or `None` (said on stderr) without python3 and NumPy.
pub(crate) fn numpy(
    data_dir: &Path,
    bars: &CompactBars,
    symbols: usize,
    per_symbol: usize,
) -> Result<Option<(f64, u64)>, BenchError> {
    std::fs::create_dir_all(data_dir)?;
    let input = data_dir.join(format!("backtest-closes-{symbols}x{per_symbol}.f64"));
    let bytes: Vec<u8> = bars.bars().iter().flat_map(|b| b.close.to_f64().to_le_bytes()).collect();
    std::fs::write(&input, bytes)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("backtest_numpy.py");
    let output =
        Command::new("python3").arg(&script).arg(&input).args([symbols.to_string(), per_symbol.to_string()]).output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            eprintln!("numpy loop skipped: {}", String::from_utf8_lossy(&output.stderr).trim());
            return Ok(None);
        }
        Err(error) => {
            eprintln!("numpy loop skipped: python3 cannot run ({error})");
            return Ok(None);
        }
    };
    let answer: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| BenchError::Run(format!("{}: {e}", script.display())))?;
    Ok(answer["seconds"].as_f64().zip(answer["crossings"].as_u64()))
}

/// What vectorbt did with the same bars, end to end as one process.
pub(crate) struct Vectorbt {
    /// The whole process: start, imports, the CSV load, JIT and run.
    pub finished: Finished,
    /// Its own stages, as it printed them.
    pub report: serde_json::Value,
}

/// Runs `benches/backtest_vectorbt.py` on the bars written as a CSV file
/// (made once, cached in `data_dir`), or `None` (said on stderr) without
/// python3 and vectorbt.
pub(crate) fn vectorbt(data_dir: &Path, bars: &CompactBars) -> Result<Option<Vectorbt>, BenchError> {
    let input = data_dir.join(format!("backtest-bars-{}.csv", bars.len()));
    if !input.exists() {
        eprintln!("Writing the bars to {} for vectorbt (not timed) ...", input.display());
        let partial = input.with_extension("csv.partial");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        writeln!(out, "symbol,start,open,close")?;
        for run in bars.runs() {
            for bar in &bars.bars()[run.range.clone()] {
                writeln!(out, "{},{},{},{}", run.symbol, bar.start, bar.open, bar.close)?;
            }
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, &input)?;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("backtest_vectorbt.py");
    let finished = match run_to_end(Command::new("python3").arg(&script).arg(&input)) {
        Ok(finished) => finished,
        Err(error) => {
            eprintln!("vectorbt skipped (pip install vectorbt==1.2.0): {error}");
            return Ok(None);
        }
    };
    let report =
        serde_json::from_str(&finished.stdout).map_err(|e| BenchError::Run(format!("{}: {e}", script.display())))?;
    Ok(Some(Vectorbt { finished, report }))
}
