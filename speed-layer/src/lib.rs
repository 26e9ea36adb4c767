//! The event-time core is two plain, deterministic modules with time passed
//! in, no I/O and no timely: `tickflow_shared::watermark` turns per-partition event times
//! into one monotone watermark (bounded out-of-orderness, idle partitions),
//! and [`windows`] keeps the open bars of every (symbol, interval, window),
//! takes trades with one range check each, and on `advance(watermark)` emits
//! provisional and final bars, applies or refuses late trades by one lateness
//! rule, evicts expired windows, and says from which offsets to replay after
//! a restart. Start reading at [`windows`].

pub mod windows;
