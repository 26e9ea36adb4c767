"""The hand-vectorized NumPy loop that `tickflow bench backtest` compares with.

It computes only the crossings of sma-cross (fast 10, slow 30) per symbol:
rolling means by cumulative sums, then where the fast mean moves from <= to
> the slow one and from >= to <. No positions, fills, fees or equity: the
lower bound of what a Python backtest does. Reads the closes as float64
(symbols x bars, little-endian) and prints the loop's seconds as JSON.

    python3 benches/backtest_numpy.py CLOSES.f64 SYMBOLS BARS
"""

import json
import sys
import time

import numpy as np


def crossings(close, fast=10, slow=30):
    csum = np.concatenate(([0.0], np.cumsum(close)))
    sma_fast = (csum[fast:] - csum[:-fast]) / fast
    sma_slow = (csum[slow:] - csum[:-slow]) / slow
    diff = sma_fast[slow - fast:] - sma_slow
    above = diff > 0
    below = diff < 0
    up = above[1:] & ~above[:-1]
    down = below[1:] & ~below[:-1]
    return int(up.sum() + down.sum())


def main():
    path, symbols, bars = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    closes = np.fromfile(path, dtype="<f8").reshape(symbols, bars)
    started = time.perf_counter()
    total = 0
    for s in range(symbols):
        total += crossings(closes[s])
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "crossings": total, "bars_per_second": symbols * bars / seconds}))


if __name__ == "__main__":
    main()
