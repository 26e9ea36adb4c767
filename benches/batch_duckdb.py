"""The batch job in DuckDB: the peer of `tickflow bench batch --vs-duckdb`.

Usage: python3 benches/batch_duckdb.py ARCHIVE_DIR DB_FILE INTERVALS

Reads every trade file under ARCHIVE_DIR (day partitions of CSV, or of
Parquet as tickflow or pyarrow writes it), computes the bars of INTERVALS
(comma-separated, like `1s,1m,5m,15m,1h,1d`) the way a DuckDB user would:
the finest interval from the trades, every coarser one rolled up from it,
and persists them into one table `bars` of a new DuckDB file DB_FILE, with
the columns tickflow stores (OHLC, volume, VWAP, trade count, first and
last trade time). Prices and volumes are DECIMAL(18,8), as exact as
tickflow's fixed point; the open and close of a bar are the first and last
trade by timestamp (DuckDB breaks ties within a millisecond arbitrarily,
tickflow by arrival: the work is the same). Prints one line with the bar
count; the harness times the whole process.
"""

import glob
import os
import sys

import duckdb

SECONDS = {"1s": 1, "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}


def trades(con: duckdb.DuckDBPyConnection, archive: str) -> str:
    """A view `trades(ts_ns, symbol, price, volume)` over the archive's files."""
    csv = glob.glob(os.path.join(archive, "**", "*.csv"), recursive=True)
    if csv:
        con.execute(
            f"""CREATE VIEW trades AS SELECT "timestamp" * 1000000 AS ts_ns, symbol, price, volume
                FROM read_csv({csv!r}, header = true, columns = {{
                    'timestamp': 'BIGINT', 'symbol': 'VARCHAR',
                    'price': 'DECIMAL(18,8)', 'volume': 'DECIMAL(18,8)'}})"""
        )
        return "csv"
    files = glob.glob(os.path.join(archive, "**", "*.parquet"), recursive=True)
    if not files:
        sys.exit(f"no .csv or .parquet files under {archive}")
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet({files[:1]!r})").fetchall()}
    ts = "epoch_ns(\"timestamp\")" if types["timestamp"].startswith("TIMESTAMP") else '"timestamp" * 1000000'
    con.execute(
        f"""CREATE VIEW trades AS SELECT {ts} AS ts_ns, symbol::VARCHAR AS symbol,
                price::DECIMAL(18,8) AS price, volume::DECIMAL(18,8) AS volume
            FROM read_parquet({files!r})"""
    )
    return "parquet"


def main() -> None:
    archive, db, intervals = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    unknown = [i for i in intervals if i not in SECONDS]
    if unknown:
        sys.exit(f"unknown interval(s) {unknown}: use {', '.join(SECONDS)}")
    intervals.sort(key=SECONDS.get)
    if os.path.exists(db):
        os.remove(db)
    con = duckdb.connect(db)
    trades(con, archive)
    finest = intervals[0]
    step = SECONDS[finest] * 1_000_000_000
    con.execute(
        f"""CREATE TEMP TABLE base AS SELECT symbol, ts_ns // {step} * {step} AS start,
                arg_min(price, ts_ns) AS open, max(price) AS high, min(price) AS low,
                arg_max(price, ts_ns) AS close, sum(volume) AS volume,
                sum(price::DECIMAL(38,8) * volume) AS notional, count(*) AS trades,
                min(ts_ns) AS first_ts, max(ts_ns) AS last_ts
            FROM trades GROUP BY ALL"""
    )
    con.execute(
        """CREATE TABLE bars (symbol VARCHAR, "interval" VARCHAR, start BIGINT,
               open DECIMAL(18,8), high DECIMAL(18,8), low DECIMAL(18,8), close DECIMAL(18,8),
               volume DECIMAL(38,8), vwap DECIMAL(18,8), trades BIGINT, first_ts BIGINT, last_ts BIGINT)"""
    )
    for interval in intervals:
        step = SECONDS[interval] * 1_000_000_000
        con.execute(
            f"""INSERT INTO bars SELECT symbol, '{interval}', start // {step} * {step},
                    arg_min(open, first_ts), max(high), min(low), arg_max(close, last_ts), sum(volume),
                    (sum(notional) / sum(volume))::DECIMAL(18,8), sum(trades), min(first_ts), max(last_ts)
                FROM base GROUP BY symbol, start // {step} * {step}"""
        )
    (count,) = con.execute("SELECT count(*) FROM bars").fetchone()
    con.close()
    print(f"duckdb: {count} bars of {','.join(intervals)} into {db}")


if __name__ == "__main__":
    main()
