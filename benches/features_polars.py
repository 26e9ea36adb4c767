"""The features of `tickflow features` in Polars: the peer of `tickflow bench features`.

Usage: python3 benches/features_polars.py BARS.parquet OUT_DIR

Reads the bars the benchmark prepared (symbol, start, high, low, close,
vwap, volume, trades), computes the issue's columns per symbol with window
expressions, and writes one zstd Parquet file per quarter under
OUT_DIR/interval=1m/year=YYYY/quarter=Q/part-0.parquet, as tickflow does.
RSI and ATR use Polars' `ewm_mean(alpha=1/14, adjust=False)`, Wilder's
smoothing seeded by the first value instead of TA-Lib's plain mean: the
warm-up values differ, the work is the same.
"""

import os
import sys

import polars as pl


def features(bars: pl.LazyFrame, horizons=(1, 5, 20)) -> pl.LazyFrame:
    s = "symbol"
    close, prev = pl.col("close"), pl.col("close").shift(1).over(s)
    ret_1 = (close / prev).log()
    change = close - prev
    tr = pl.max_horizontal(
        pl.col("high") - pl.col("low"), (prev - pl.col("high")).abs(), (prev - pl.col("low")).abs()
    )
    gain = change.clip(lower_bound=0).ewm_mean(alpha=1 / 14, adjust=False, min_samples=14).over(s)
    loss = (-change).clip(lower_bound=0).ewm_mean(alpha=1 / 14, adjust=False, min_samples=14).over(s)
    volume = pl.col("volume")
    columns = [
        pl.col("start").alias("ts"),
        (pl.col("start") + pl.duration(minutes=1)).alias("as_of"),
        ret_1.alias("ret_1"),
        (close / close.shift(5).over(s)).log().alias("ret_5"),
        (close / close.shift(20).over(s)).log().alias("ret_20"),
        ret_1.rolling_std(20).over(s).alias("vol_20"),
        ((pl.col("high") - pl.col("low")) / close).alias("range"),
        (close / pl.col("vwap") - 1).alias("vwap_dev"),
        ((volume - volume.rolling_mean(20)) / volume.rolling_std(20)).over(s).alias("volume_z_20"),
        (100 * gain / (gain + loss)).alias("rsi_14"),
        (close / close.rolling_mean(20).over(s) - 1).alias("sma_ratio_20"),
        (tr.ewm_mean(alpha=1 / 14, adjust=False, min_samples=14).over(s) / close).alias("atr_14_pct"),
    ]
    for h in horizons:
        columns.append((close.shift(-h).over(s) / close).log().alias(f"fwd_ret_{h}"))
        columns.append((pl.col("start").shift(-h).over(s) + pl.duration(minutes=1)).alias(f"fwd_end_{h}"))
    return bars.sort(s, "start").with_columns(columns).select(
        s, "ts", "as_of", "close", "vwap", "volume", "trades",
        *[c.meta.output_name() for c in columns[2:]],
    )


def main() -> None:
    source, out = sys.argv[1], sys.argv[2]
    table = features(pl.scan_parquet(source)).with_columns(
        pl.col("ts").dt.year().alias("year"), pl.col("ts").dt.quarter().alias("quarter")
    ).collect()
    for (year, quarter), part in table.group_by("year", "quarter", maintain_order=True):
        path = os.path.join(out, "interval=1m", f"year={year}", f"quarter={quarter}")
        os.makedirs(path, exist_ok=True)
        part.drop("year", "quarter").write_parquet(os.path.join(path, "part-0.parquet"), compression="zstd")
    print(f"Polars wrote {table.height} rows.")


if __name__ == "__main__":
    main()
