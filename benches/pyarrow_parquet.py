"""Rewrites a CSV trade archive as Parquet the way pyarrow writes it by default.

Usage: python3 benches/pyarrow_parquet.py CSV_ARCHIVE OUT_DIR

For `tickflow bench batch --format pyarrow`: the most common shape of a
user's Parquet, `pq.write_table` with its defaults (snappy, 1M-row groups)
on what `pyarrow.csv` infers from tickflow's CSV: `timestamp` INT64 epoch
milliseconds, `symbol` STRING, `price` DOUBLE, `volume` INT64. Day
partitions (`date=YYYY-MM-DD/`) and their `_SEALED` markers are kept.
"""

import os
import sys

import pyarrow.csv as csv
import pyarrow.parquet as pq


def main() -> None:
    source, out = sys.argv[1], sys.argv[2]
    written = 0
    for root, _dirs, files in os.walk(source):
        target = os.path.join(out, os.path.relpath(root, source))
        for name in sorted(files):
            os.makedirs(target, exist_ok=True)
            if name == "_SEALED":
                open(os.path.join(target, name), "wb").close()
            elif name.endswith(".csv"):
                table = csv.read_csv(os.path.join(root, name))
                pq.write_table(table, os.path.join(target, name[: -len(".csv")] + ".parquet"))
                written += table.num_rows
    if written == 0:
        sys.exit(f"no .csv trade files under {source}")
    print(f"pyarrow: {written} trades into {out}")


if __name__ == "__main__":
    main()
