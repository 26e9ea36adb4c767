//! The domain of tickflow, shared by every layer.
//!
//! A trade ([`Tick`]) carries fixed-point money ([`Price`], [`Size`]: integers
//! of 10^-8) and an event time in nanoseconds. Bars are defined once, by the
//! mergeable accumulator [`BarAcc`]: the speed and batch layers both build bars
//! with it, which is what lets the serving layer put their views side by side.
//!
//! Start with [`bar`], then [`codec`] (how trades are read and written) and
//! [`store`] (where bars are kept: PostgreSQL or SQLite behind one trait).

pub mod bar;
pub mod codec;
pub mod fixed;
pub mod indicators;
pub mod input;
pub mod interval;
pub mod kafka;
pub mod logging;
pub mod render;
pub mod signal;
pub mod store;
pub mod telemetry;
pub mod tick;
pub mod time;
pub mod watermark;
pub mod wire;

pub use bar::{Bar, BarAcc, PackedBarAcc};
pub use fixed::{Price, Size, Volume};
pub use interval::{Interval, IntervalPlan};
pub use tick::{Symbol, Tick};
