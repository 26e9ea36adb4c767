"""vectorbt on the job `tickflow bench backtest` times end to end.

The same sma-cross (fast 10, slow 30, long only) over the same bars, read
from a CSV (`symbol,start,open,close`: start in ns, prices as decimals) the
way a vectorbt user loads them: a buy when the fast SMA crosses above the
slow one, a sell when it crosses below, each filled at the next bar's open
(the signals shifted by one bar, priced at the open), 100 shares, 1 bp fees.
The whole process is timed by the caller; the script prints its own stages
and the round trips as JSON.

    pip install vectorbt==1.2.0
    python3 benches/backtest_vectorbt.py BARS.csv
"""

import json
import sys
import time

started = time.perf_counter()

import pandas as pd  # noqa: E402
import vectorbt as vbt  # noqa: E402


def main():
    imported = time.perf_counter()
    bars = pd.read_csv(sys.argv[1], dtype={"symbol": "string", "start": "int64", "open": "float64", "close": "float64"})
    close = bars.pivot(index="start", columns="symbol", values="close")
    open_ = bars.pivot(index="start", columns="symbol", values="open")
    loaded = time.perf_counter()
    fast = vbt.MA.run(close, 10, short_name="fast")
    slow = vbt.MA.run(close, 30, short_name="slow")
    entries = fast.ma_crossed_above(slow).shift(1, fill_value=False)
    exits = fast.ma_crossed_below(slow).shift(1, fill_value=False)
    portfolio = vbt.Portfolio.from_signals(
        close, entries, exits, price=open_, size=100, fees=0.0001, init_cash=1e12, freq="1min"
    )
    trades = int(portfolio.trades.count().sum())
    total_pnl = float(portfolio.total_profit().sum())
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "import_seconds": imported - started,
                "load_seconds": loaded - imported,
                "run_seconds": finished - loaded,
                "bars": int(close.size),
                "trades": trades,
                "total_pnl": total_pnl,
            }
        )
    )


if __name__ == "__main__":
    main()
