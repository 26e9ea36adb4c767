//! Answers of `/bars` kept while the store has not changed under them.
//!
//! The stream poller reads the store's generation each `poll_interval`:
//! the version of the last batch publish and the head of the speed view's
//! change sequence. An answer is kept with the generation read before its
//! snapshot, and served again while that generation holds: for a range
//! wholly before the boundary only the batch version matters, otherwise
//! both. An answer is therefore a consistent snapshot (it was one when
//! read) at most one poll interval older than the latest commit; with the
//! generation unknown (at start, or while the store fails) nothing is kept.

use crate::encoding::Body;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tickflow_shared::store::{ReadStore, StoreError};
use tickflow_shared::{Interval, Symbol};

/// What a `/bars` answer depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Generation {
    batch: i64,
    speed: i64,
}

/// A `/bars` query, as its parameters say (a range open at one end or
/// both, with the limit it is read with).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub symbol: Symbol,
    pub interval: Interval,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: Option<usize>,
}

struct Entry {
    generation: Generation,
    /// The range reaches the boundary, so speed commits change it.
    speed: bool,
    body: Arc<Body>,
}

/// The kept answers and the store's generation.
pub(crate) struct Cache {
    capacity: usize,
    generation: Mutex<Option<Generation>>,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Cache {
    /// Keeps at most `capacity` answers (none for 0).
    pub fn new(capacity: usize) -> Self {
        Self { capacity, generation: Mutex::new(None), entries: Mutex::new(HashMap::new()) }
    }

    /// Reads the store's generation; forgets it (keeping nothing) if the store fails.
    pub async fn refresh(&self, store: &dyn ReadStore) {
        if self.capacity == 0 {
            return;
        }
        let read = async {
            let batch = store.batch_runs(1).await?.first().map_or(0, |run| run.version);
            Ok::<_, StoreError>(Generation { batch, speed: store.speed_status().await?.change_seq })
        };
        let generation = read.await.ok();
        *lock(&self.generation) = generation;
    }

    /// The generation to read under, if known.
    pub fn generation(&self) -> Option<Generation> {
        if self.capacity == 0 { None } else { *lock(&self.generation) }
    }

    /// A kept answer to `key` that `now` still holds.
    pub fn get(&self, key: &Key, now: Generation) -> Option<Arc<Body>> {
        let entries = lock(&self.entries);
        let entry = entries.get(key)?;
        let valid = entry.generation.batch == now.batch && (!entry.speed || entry.generation.speed == now.speed);
        valid.then(|| Arc::clone(&entry.body))
    }

    /// Keeps an answer read under `generation` whose snapshot had `boundary`.
    pub fn put(&self, key: Key, generation: Generation, boundary: Option<i64>, body: Arc<Body>) {
        let speed = boundary.is_none_or(|boundary| key.to.is_none_or(|to| to > boundary));
        let mut entries = lock(&self.entries);
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.generation == generation);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, Entry { generation, speed, body });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing is left half-done under these locks: a poisoned one is still whole.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(to: i64) -> Key {
        Key {
            symbol: Symbol::new("AAPL").expect("symbol"),
            interval: "1m".parse().expect("1m"),
            from: Some(0),
            to: Some(to),
            limit: None,
        }
    }

    #[test]
    fn an_answer_holds_while_what_it_read_is_unchanged() {
        let cache = Cache::new(2);
        let now = Generation { batch: 3, speed: 10 };
        let (before, across) = (key(100), key(200));
        let (batch_only, both_views) = (Arc::new(Body::new("batch only")), Arc::new(Body::new("both views")));
        cache.put(before.clone(), now, Some(100), Arc::clone(&batch_only));
        cache.put(across.clone(), now, Some(100), Arc::clone(&both_views));
        let kept = |key: &Key, at: Generation| cache.get(key, at).map(|body| Arc::as_ptr(&body));
        assert_eq!(kept(&across, now), Some(Arc::as_ptr(&both_views)));
        let speed_moved = Generation { batch: 3, speed: 11 };
        assert_eq!(kept(&before, speed_moved), Some(Arc::as_ptr(&batch_only)));
        assert_eq!(kept(&across, speed_moved), None);
        assert_eq!(kept(&before, Generation { batch: 4, speed: 10 }), None);
        // Full: answers of older generations go first.
        cache.put(key(300), speed_moved, Some(100), Arc::default());
        assert_eq!(kept(&before, now), None);
        assert!(cache.get(&key(300), speed_moved).is_some());
        assert_eq!(Cache::new(0).generation(), None);
    }
}
