//! The signal bot's tables (migration 7), in both engines' SQL.

// The signal bot's tables (contract 8). A signal is keyed by strategy,
// symbol, interval and bar start, and numbered in one sequence held by
// `bot_status`, whose row lock orders the numbers of concurrent bots by
// commit order (as `speed_status` does for bars). Readers ask for one
// symbol's signals over a time range, the stream and the outbox for those
// after a number.
pub(super) const PG_7: &str = r#"
CREATE TABLE bot_signals (
    strategy TEXT COLLATE "C" NOT NULL,
    symbol TEXT COLLATE "C" NOT NULL,
    "interval" TEXT NOT NULL,
    start TIMESTAMPTZ NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    close NUMERIC(20,8) NOT NULL,
    "values" JSONB NOT NULL,
    reason TEXT NOT NULL,
    seq BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (strategy, symbol, "interval", start)
);
CREATE INDEX bot_signals_symbol_start ON bot_signals (symbol, start);
CREATE INDEX bot_signals_seq ON bot_signals (seq);

CREATE TABLE bot_fills (
    strategy TEXT COLLATE "C" NOT NULL,
    symbol TEXT COLLATE "C" NOT NULL,
    time TIMESTAMPTZ NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    price NUMERIC(20,8) NOT NULL,
    quantity NUMERIC(20,8) NOT NULL,
    fee NUMERIC(38,8) NOT NULL,
    PRIMARY KEY (strategy, symbol, time)
);

CREATE TABLE bot_positions (
    strategy TEXT COLLATE "C" NOT NULL,
    symbol TEXT COLLATE "C" NOT NULL,
    quantity NUMERIC(20,8) NOT NULL,
    entry_price NUMERIC(20,8) NOT NULL,
    last_price NUMERIC(20,8) NOT NULL,
    realized_pnl NUMERIC(38,8) NOT NULL,
    fees NUMERIC(38,8) NOT NULL,
    time TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (strategy, symbol)
);

CREATE TABLE bot_progress (
    strategy TEXT COLLATE "C" NOT NULL,
    "interval" TEXT NOT NULL,
    symbol TEXT COLLATE "C" NOT NULL,
    last_start TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (strategy, "interval", symbol)
);

CREATE TABLE bot_outbox (
    strategy TEXT COLLATE "C" NOT NULL,
    topic TEXT NOT NULL,
    published_seq BIGINT NOT NULL,
    PRIMARY KEY (strategy, topic)
);

CREATE TABLE bot_status (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    signal_seq BIGINT NOT NULL
);
INSERT INTO bot_status (id, signal_seq) VALUES (1, 0);
"#;

pub(super) const SQLITE_7: &str = r#"
CREATE TABLE bot_signals (
    strategy TEXT NOT NULL,
    symbol TEXT NOT NULL,
    "interval" TEXT NOT NULL,
    start INTEGER NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    close INTEGER NOT NULL,
    "values" TEXT NOT NULL,
    reason TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (strategy, symbol, "interval", start)
) WITHOUT ROWID;
CREATE INDEX bot_signals_symbol_start ON bot_signals (symbol, start);
CREATE INDEX bot_signals_seq ON bot_signals (seq);

CREATE TABLE bot_fills (
    strategy TEXT NOT NULL,
    symbol TEXT NOT NULL,
    time INTEGER NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    price INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    fee INTEGER NOT NULL,
    PRIMARY KEY (strategy, symbol, time)
) WITHOUT ROWID;

CREATE TABLE bot_positions (
    strategy TEXT NOT NULL,
    symbol TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    entry_price INTEGER NOT NULL,
    last_price INTEGER NOT NULL,
    realized_pnl INTEGER NOT NULL,
    fees INTEGER NOT NULL,
    time INTEGER NOT NULL,
    PRIMARY KEY (strategy, symbol)
) WITHOUT ROWID;

CREATE TABLE bot_progress (
    strategy TEXT NOT NULL,
    "interval" TEXT NOT NULL,
    symbol TEXT NOT NULL,
    last_start INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (strategy, "interval", symbol)
) WITHOUT ROWID;

CREATE TABLE bot_outbox (
    strategy TEXT NOT NULL,
    topic TEXT NOT NULL,
    published_seq INTEGER NOT NULL,
    PRIMARY KEY (strategy, topic)
) WITHOUT ROWID;

CREATE TABLE bot_status (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    signal_seq INTEGER NOT NULL
);
INSERT INTO bot_status (id, signal_seq) VALUES (1, 0);
"#;
