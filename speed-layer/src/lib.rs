//! The event-time core is plain, deterministic code with time passed in, no
//! I/O and no timely: [`watermark`] turns per-partition event times into one
//! monotone watermark (bounded out-of-orderness, idle partitions).

pub mod watermark;
