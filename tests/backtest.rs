//! `tickflow backtest` end to end on the real trades: the archive and the
//! store give byte-identical files, every fill is the next bar's open, the
//! `[strategy]` table of the config file, errors, and the report in a browser.

use crate::support::browser::Driver;
use crate::support::{bar_rows, shared_data, tickflow, tickflow_output};
use std::collections::HashMap;
use std::path::Path;

const FILES: [&str; 6] = ["signals.csv", "fills.csv", "trades.csv", "equity.csv", "summary.json", "report.html"];

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn archive_and_store_give_identical_files_and_fills_at_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = shared_data().join("real");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    tickflow(&["batch", "--archive", path(&real), "--store", &store, "--intervals", "1m"]);
    let (a, b) = (dir.path().join("archive"), dir.path().join("store"));
    let run = |source: &[&str], out: &Path| {
        let mut args = vec!["backtest"];
        args.extend_from_slice(source);
        args.extend(["--interval", "1m", "--strategy", "sma-cross", "--quantity", "100", "--out", path(out)]);
        tickflow(&args)
    };
    let printed = run(&["--archive", path(&real)], &a);
    run(&["--store", &store], &b);
    for name in FILES {
        assert!(read(&a, name) == read(&b, name), "{name} differs between --archive and --store");
    }
    assert!(printed.contains("on 4564 1m bars of 4 symbols"), "{printed}");
    for figure in ["trades", "total_pnl", "sharpe", "max_drawdown", "win_rate", "exposure"] {
        assert!(printed.lines().any(|l| l.starts_with(figure)), "{figure} missing from the table:\n{printed}");
    }

    let signals = read(&a, "signals.csv");
    let fills = read(&a, "fills.csv");
    assert_eq!(signals.lines().next(), Some("strategy,symbol,interval,start,side,close,reason"));
    assert_eq!(fills.lines().next(), Some("strategy,symbol,side,time,price,quantity,fee"));
    assert_eq!(
        read(&a, "trades.csv").lines().next(),
        Some("symbol,entry_time,entry_price,exit_time,exit_price,quantity,pnl")
    );
    assert_eq!(read(&a, "equity.csv").lines().next(), Some("time,equity,drawdown"));

    // The oracle: the store's bars as `tickflow bars` prints them. Each
    // signal fills at its symbol's next bar's open, or not at all on its
    // last bar; no other fill exists.
    let bars = bar_rows(&store, "1m", "batch");
    let mut next: HashMap<(String, String), (String, String)> = HashMap::new();
    let mut starts = std::collections::BTreeSet::new();
    for pair in bars.windows(2) {
        let (this, after): (Vec<&str>, Vec<&str>) = (pair[0].split(',').collect(), pair[1].split(',').collect());
        if this[0] == after[0] {
            next.insert((this[0].to_owned(), this[2].to_owned()), (after[2].to_owned(), after[3].to_owned()));
        }
    }
    for row in &bars {
        starts.insert(row.split(',').nth(2).expect("start").to_owned());
    }
    let mut expected: Vec<String> = signals
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let (time, open) = next.get(&(f[1].to_owned(), f[3].to_owned()))?;
            Some(format!("{},{},{},{time},{open},100", f[0], f[1], f[4]))
        })
        .collect();
    let mut actual: Vec<String> =
        fills.lines().skip(1).map(|l| l.rsplit_once(',').expect("fee").0.to_owned()).collect();
    expected.sort();
    actual.sort();
    assert!(!actual.is_empty());
    assert_eq!(actual, expected, "fills are the signals' next bars' opens");
    // One equity row per distinct bar close time.
    assert_eq!(read(&a, "equity.csv").lines().count() - 1, starts.len());
    let summary: serde_json::Value = serde_json::from_str(&read(&a, "summary.json")).expect("JSON");
    for key in ["trades", "total_pnl", "total_return", "cagr", "sharpe", "sortino", "max_drawdown"] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    for key in ["max_drawdown_duration", "win_rate", "profit_factor", "exposure", "annualisation"] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["trades"].as_u64(), Some(read(&a, "trades.csv").lines().count() as u64 - 1));

    // The [strategy] table sets the parameters; a --param flag wins over it one by one.
    let config = dir.path().join("tickflow.toml");
    std::fs::write(&config, "[strategy]\nname = \"sma-cross\"\nfast = 5\nslow = 40\n").expect("config");
    let out = dir.path().join("config");
    tickflow(&["backtest", "--config", path(&config), "--store", &store, "--param", "slow=20", "--out", path(&out)]);
    let summary: serde_json::Value = serde_json::from_str(&read(&out, "summary.json")).expect("JSON");
    assert_eq!(summary["params"], serde_json::json!({"fast": 5, "slow": 20}));
    assert_eq!(summary["strategy"], "sma-cross");
}

#[test]
fn bad_strategies_and_sources_fail_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let cases: [(&[&str], &str); 4] = [
        (&["--strategy", "turtle"], "unknown strategy \"turtle\"; the strategies are sma-cross"),
        (&["--strategy", "rsi", "--param", "oversold"], "is not name=value"),
        (&["--strategy", "macd", "--param", "fast=30"], "parameter fast=\"30\" must be below slow (26)"),
        (&["--strategy", "sma-cross", "--store", "sqlite:///nonexistent/views.db"], "nonexistent"),
    ];
    for (args, message) in cases {
        let mut all = vec!["backtest", "--out", path(&out)];
        if !args.contains(&"--store") {
            all.extend(["--archive", "/nonexistent"]);
        }
        all.extend_from_slice(args);
        let output = tickflow_output(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(message), "{all:?}: {stderr}");
    }
    let help = tickflow(&["backtest", "--help"]);
    assert!(help.contains("slow*sum_fast > fast*sum_slow"), "the rules are in --help:\n{help}");
}

#[tokio::test]
async fn the_report_opens_in_a_browser_with_its_charts_and_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let day = shared_data().join("real/trades-2013-10-08.csv.zst");
    let out = dir.path().join("report");
    tickflow(&["backtest", "--archive", path(&day), "--strategy", "ema-cross", "--out", path(&out)]);
    let trades = read(&out, "trades.csv").lines().count() - 1;
    let driver = Driver::start().await;
    let session = driver.session().await;
    session.window(1280, 1800).await;
    session.navigate(&format!("file://{}", out.join("report.html").display())).await;
    let page = session
        .execute(
            "return {
                equity: document.querySelectorAll('#equity-chart polyline').length,
                drawdown: document.querySelectorAll('#drawdown-chart polygon').length,
                points: document.querySelector('#equity-chart polyline').getAttribute('points').trim().split(' ').length,
                summary: document.querySelectorAll('#summary tr').length,
                trades: document.querySelectorAll('#trades tr').length,
                width: document.querySelector('#equity-chart').getBoundingClientRect().width,
                resources: performance.getEntriesByType('resource').length,
            };",
        )
        .await;
    assert_eq!(page["equity"], 1, "{page}");
    assert_eq!(page["drawdown"], 1, "{page}");
    assert!(page["points"].as_u64().is_some_and(|n| n > 100), "the equity curve has its points: {page}");
    assert!(page["summary"].as_u64().is_some_and(|n| n > 10), "{page}");
    assert_eq!(page["trades"].as_u64(), Some(trades as u64 + 1), "every round trip and the header: {page}");
    assert!(page["width"].as_f64().is_some_and(|w| w > 900.0), "{page}");
    assert_eq!(page["resources"], 0, "self-contained: nothing loaded: {page}");
    let png = session.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = crate::support::browser::screenshot_path("backtest-report.png");
    std::fs::create_dir_all(path.parent().expect("target")).expect("target dir");
    std::fs::write(&path, png).expect("screenshot written");
    let errors: Vec<_> = session.console().await.into_iter().filter(|(level, _)| level == "SEVERE").collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    session.close().await;
}
