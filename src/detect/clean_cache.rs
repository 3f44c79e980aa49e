//! Per-worker memory of point values that were inspected and found clean.
//!
//! Real traffic repeats most of its header values request after request
//! (User-Agent, Accept*, Referer, Host, session cookies), and inspecting one
//! means every decoding layer, the prefilter and the tokenizers. A point's
//! verdict depends only on its value and on which rules target it (the
//! engine's `applicable` bitset), so a value already found clean under the
//! same rules is clean again: the engine skips it ([`super::DetectStats`]
//! `clean_cache_hits`).
//!
//! Only exact bytes are remembered (no hash stands in for a value, so no
//! collision can hide an attack), only clean verdicts are (an attack is always
//! inspected and reported), and the memory belongs to one compiled rule set:
//! a reload starts empty. The hasher is randomly keyed per cache, so input
//! cannot be crafted to collide buckets. A value is remembered the second
//! time it is found clean (a doorkeeper of hashes, as in TinyLFU), so one-off
//! values cost no allocation. Memory is bounded by two generations
//! of at most half of `DetectLimits::clean_cache_bytes` each: when the current
//! one is full it becomes the old one and the older is dropped, so values in
//! steady use survive (a hit in the old generation moves to the current one).

use hashbrown::HashTable;

/// Longest value remembered; longer ones are rarely repeated exactly.
pub const MAX_CACHED_VALUE: usize = 1024;
/// Bookkeeping charged per entry on top of its bytes: the table slot and
/// control byte at the table's lowest load, and the allocator's rounding.
const ENTRY_OVERHEAD: usize = 64;
/// Slots of the doorkeeper (8 bytes each): a value is remembered only the
/// second time it is found clean, so one-off values (request ids, client
/// addresses, nonces) neither cost an allocation nor push out the values
/// that do repeat.
const DOORKEEPER_SLOTS: usize = 1 << 14;

#[derive(Debug, Default)]
pub struct CleanCache {
    /// The engine whose verdicts these are (`Engine::id`); 0 before use.
    engine: u64,
    /// That engine's `DetectLimits::clean_cache_bytes`.
    cap_bytes: usize,
    hasher: ahash::RandomState,
    current: HashTable<Box<[u8]>>,
    old: HashTable<Box<[u8]>>,
    current_bytes: usize,
    /// Hashes of keys found clean once, by `hash % DOORKEEPER_SLOTS`.
    doorkeeper: Vec<u64>,
    /// The key being looked up: applicable-rule words, then the value.
    key: Vec<u8>,
    /// Its hash.
    hash: u64,
}

impl CleanCache {
    /// Forget everything unless the verdicts are `engine`'s; `cap_bytes` is
    /// that engine's budget (0: nothing is remembered).
    pub fn bind(&mut self, engine: u64, cap_bytes: usize) {
        if self.engine != engine {
            self.cap_bytes = cap_bytes;
            self.current = HashTable::new();
            self.old = HashTable::new();
            self.current_bytes = 0;
            // Zeroed in place: a thread that switches engines often (tests,
            // fuzzing) does not reallocate it each time.
            self.doorkeeper.fill(0);
            self.engine = engine;
        }
    }

    /// Build the key of `value` under the rules in `applicable`; false when
    /// the value is too long to be remembered (then `contains` and `insert`
    /// must not be called for it).
    pub fn prepare(&mut self, applicable: &[u64], value: &[u8]) -> bool {
        if self.cap_bytes == 0 || value.len() > MAX_CACHED_VALUE {
            return false;
        }
        self.key.clear();
        for w in applicable {
            self.key.extend_from_slice(&w.to_le_bytes());
        }
        self.key.extend_from_slice(value);
        self.hash = self.hasher.hash_one(self.key.as_slice());
        true
    }

    /// Whether the prepared key was found clean before.
    pub fn contains(&mut self) -> bool {
        let key = self.key.as_slice();
        if self.current.find(self.hash, |k| **k == *key).is_some() {
            return true;
        }
        if self.old.find(self.hash, |k| **k == *key).is_some() {
            // Still in use: keep it through the next rotation.
            self.remember();
            return true;
        }
        false
    }

    /// The prepared key was found clean: remember it if it was seen before.
    pub fn insert(&mut self) {
        if self.doorkeeper.is_empty() {
            self.doorkeeper = vec![0; DOORKEEPER_SLOTS];
        }
        let slot = (self.hash % DOORKEEPER_SLOTS as u64) as usize;
        match self.doorkeeper.get_mut(slot) {
            Some(seen) if *seen == self.hash => self.remember(),
            Some(seen) => *seen = self.hash,
            None => {}
        }
    }

    fn remember(&mut self) {
        let cost = self.key.len() + ENTRY_OVERHEAD;
        let half = self.cap_bytes / 2;
        if cost > half {
            return;
        }
        if self.current_bytes + cost > half {
            self.old = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        let key = self.key.as_slice();
        if self.current.find(self.hash, |k| **k == *key).is_none() {
            let hasher = &self.hasher;
            self.current
                .insert_unique(self.hash, key.into(), |k| hasher.hash_one(&**k));
            self.current_bytes += cost;
        }
    }

    /// Bytes held in both generations (keys plus a fixed per-entry
    /// overhead), without the fixed doorkeeper.
    #[cfg(test)]
    pub fn held_bytes(&self) -> usize {
        let old: usize = self.old.iter().map(|k| k.len() + ENTRY_OVERHEAD).sum();
        self.current_bytes + old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_clean_only_under_the_same_rules_and_engine() {
        let cap = 1 << 20;
        let mut c = CleanCache::default();
        c.bind(1, cap);
        assert!(c.prepare(&[0b101], b"Mozilla/5.0"));
        assert!(!c.contains());
        c.insert();
        // Remembered only once it is found clean a second time.
        assert!(c.prepare(&[0b101], b"Mozilla/5.0"));
        assert!(!c.contains());
        c.insert();
        assert!(c.prepare(&[0b101], b"Mozilla/5.0"));
        assert!(c.contains());
        // Other rules target the point: not known.
        assert!(c.prepare(&[0b111], b"Mozilla/5.0"));
        assert!(!c.contains());
        // A prefix or extension of the value: not known.
        assert!(c.prepare(&[0b101], b"Mozilla/5."));
        assert!(!c.contains());
        assert!(c.prepare(&[0b101], b"Mozilla/5.0 "));
        assert!(!c.contains());
        // Another rule set: forgotten.
        c.bind(2, cap);
        assert!(c.prepare(&[0b101], b"Mozilla/5.0"));
        assert!(!c.contains());
    }

    #[test]
    fn memory_stays_under_the_cap_and_values_in_use_survive() {
        let cap = 16 * 1024;
        let mut c = CleanCache::default();
        c.bind(1, cap);
        let hot = b"text/html,application/xhtml+xml";
        assert!(c.prepare(&[1], hot));
        c.insert();
        c.insert();
        for i in 0..10_000u32 {
            let v = format!("unique-value-{i:08}");
            assert!(c.prepare(&[1], v.as_bytes()));
            if !c.contains() {
                c.insert();
                c.insert();
            }
            assert!(c.held_bytes() <= cap, "{} > {cap}", c.held_bytes());
            if i % 50 == 0 {
                assert!(c.prepare(&[1], hot));
                assert!(c.contains(), "hot value lost at {i}");
            }
        }
    }

    #[test]
    fn long_values_and_a_zero_cap_are_never_cached() {
        let mut c = CleanCache::default();
        c.bind(1, 1 << 20);
        assert!(!c.prepare(&[1], &[b'a'; MAX_CACHED_VALUE + 1]));
        c.bind(2, 0);
        assert!(!c.prepare(&[1], b"short"));
    }
}
