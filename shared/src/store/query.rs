//! What a read asks for and what it returns: a range of one interval's bars
//! from the batch view, the speed view or both merged (DESIGN.md, contract 6).

use crate::bar::Bar;
use crate::interval::Interval;
use crate::tick::Symbol;
use std::fmt;

/// The view a bar comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// Recomputed exactly from the archive.
    Batch,
    /// Computed live from the stream.
    Speed,
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            View::Batch => "batch",
            View::Speed => "speed",
        })
    }
}

/// Which view(s) a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ViewSelect {
    /// Only the batch view.
    Batch,
    /// Only the speed view.
    Speed,
    /// Batch bars before the boundary, speed bars from it on (DESIGN.md, contract 6).
    #[default]
    Merged,
}

impl std::str::FromStr for ViewSelect {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "batch" => Ok(Self::Batch),
            "speed" => Ok(Self::Speed),
            "merged" => Ok(Self::Merged),
            other => Err(format!("unknown view {other:?}; use batch, speed or merged")),
        }
    }
}

/// A range query over one interval's bars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarQuery {
    /// The interval.
    pub interval: Interval,
    /// One symbol, or all.
    pub symbol: Option<Symbol>,
    /// First bar start included (ns), if any.
    pub from: Option<i64>,
    /// First bar start excluded (ns), if any.
    pub to: Option<i64>,
    /// Which views.
    pub view: ViewSelect,
    /// At most this many bars (the earliest), if set.
    pub limit: Option<usize>,
}

/// A bar and the view it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewBar {
    /// The bar.
    pub bar: Bar,
    /// Its view.
    pub view: View,
}

/// What one snapshot read returns: bars ordered by `(symbol, start)` (by
/// `(symbol, interval)` from [`ViewStore::latest`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bars {
    /// The batch boundary (ns) at the snapshot, if a batch run was ever published.
    pub boundary: Option<i64>,
    /// The bars.
    pub bars: Vec<ViewBar>,
}
