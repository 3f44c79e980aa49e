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
//!
//! The engine keeps two: one of point values under their applicable rules,
//! and one of whole header lines (name and value), whose entries also hold how
//! many points the line yields, so that a line known clean is not even split
//! into points and the point budget is charged as if it had been.

use std::hash::{BuildHasher, Hasher};

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

/// A remembered key and the small number its owner keeps with it (the
/// points a header line yields; 0 for point values).
#[derive(Debug)]
struct Entry {
    key: Box<[u8]>,
    /// The key's hash as it was looked up (lines and values hash
    /// differently), reused when the table grows.
    hash: u64,
    tag: u8,
}

/// Whether `key` is the line key (name length, name, value) of `name: value`.
fn line_key_eq(key: &[u8], name: &[u8], value: &[u8]) -> bool {
    let Some((len, rest)) = key.split_first_chunk::<4>() else {
        return false;
    };
    u32::from_le_bytes(*len) as usize == name.len()
        && rest.len() == name.len() + value.len()
        && rest.get(..name.len()) == Some(name)
        && rest.get(name.len()..) == Some(value)
}

#[derive(Debug, Default)]
pub struct CleanCache {
    /// The engine whose verdicts these are (`Engine::id`); 0 before use.
    engine: u64,
    /// That engine's `DetectLimits::clean_cache_bytes`.
    cap_bytes: usize,
    hasher: ahash::RandomState,
    current: HashTable<Entry>,
    old: HashTable<Entry>,
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
            self.hasher = crate::table_hasher();
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
        self.prepare_read(applicable, false, value)
    }

    /// [`Self::prepare`] for a value whose decoding layers read `+` as a
    /// space (form-encoded points) when `plus` is set: the same bytes read
    /// that way can have another verdict, so they have another key.
    pub fn prepare_read(&mut self, applicable: &[u64], plus: bool, value: &[u8]) -> bool {
        if self.cap_bytes == 0 || value.len() > MAX_CACHED_VALUE {
            return false;
        }
        self.key.clear();
        for w in applicable {
            self.key.extend_from_slice(&w.to_le_bytes());
        }
        self.key.push(u8::from(plus));
        self.key.extend_from_slice(value);
        self.hash = self.hasher.hash_one(self.key.as_slice());
        true
    }

    /// The hash of the header line `name: value`, or None when the line is
    /// too long to be remembered (or nothing is). Lines are hashed in parts,
    /// so no key is copied for a line that is looked up and not found.
    pub fn line_hash(&self, name: &[u8], value: &[u8]) -> Option<u64> {
        let name_len = u32::try_from(name.len()).ok()?;
        if self.cap_bytes == 0 || name.len() + value.len() > MAX_CACHED_VALUE {
            return None;
        }
        let mut h = self.hasher.build_hasher();
        h.write_u32(name_len);
        h.write(name);
        h.write(value);
        Some(h.finish())
    }

    /// The point count the line `name: value` (hashed by [`Self::line_hash`])
    /// was remembered with, if it was found clean before.
    pub fn lookup_line(&mut self, hash: u64, name: &[u8], value: &[u8]) -> Option<u8> {
        let (tag, in_old) = self.find(hash, |k| line_key_eq(k, name, value))?;
        if in_old {
            self.set_line_key(hash, name, value);
            self.remember(tag);
        }
        Some(tag)
    }

    /// The line `name: value` (hashed by [`Self::line_hash`]) was found
    /// clean, yielding `points` points: remember it if it was seen before.
    pub fn insert_line(&mut self, hash: u64, name: &[u8], value: &[u8], points: u8) {
        self.set_line_key(hash, name, value);
        self.insert_tagged(points);
    }

    fn set_line_key(&mut self, hash: u64, name: &[u8], value: &[u8]) {
        self.key.clear();
        self.key
            .extend_from_slice(&(name.len() as u32).to_le_bytes());
        self.key.extend_from_slice(name);
        self.key.extend_from_slice(value);
        self.hash = hash;
    }

    /// Whether the prepared key was found clean before.
    pub fn contains(&mut self) -> bool {
        let key = self.key.as_slice();
        match self.find(self.hash, |k| k == key) {
            Some((tag, true)) => {
                self.remember(tag);
                true
            }
            found => found.is_some(),
        }
    }

    /// The tag of the entry `is_key` picks under `hash`, and whether it was
    /// in the old generation: still in use, so the caller moves it to the
    /// current one (with the key prepared) to keep it through the next
    /// rotation.
    fn find(&self, hash: u64, is_key: impl Fn(&[u8]) -> bool) -> Option<(u8, bool)> {
        if let Some(e) = self.current.find(hash, |e| is_key(&e.key)) {
            return Some((e.tag, false));
        }
        self.old
            .find(hash, |e| is_key(&e.key))
            .map(|e| (e.tag, true))
    }

    /// The prepared key was found clean: remember it if it was seen before.
    pub fn insert(&mut self) {
        self.insert_tagged(0);
    }

    /// As [`Self::insert`], keeping `tag` with the key.
    fn insert_tagged(&mut self, tag: u8) {
        if self.doorkeeper.is_empty() {
            self.doorkeeper = vec![0; DOORKEEPER_SLOTS];
        }
        let slot = (self.hash % DOORKEEPER_SLOTS as u64) as usize;
        match self.doorkeeper.get_mut(slot) {
            Some(seen) if *seen == self.hash => self.remember(tag),
            Some(seen) => *seen = self.hash,
            None => {}
        }
    }

    fn remember(&mut self, tag: u8) {
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
        if self.current.find(self.hash, |e| *e.key == *key).is_none() {
            let entry = Entry {
                key: key.into(),
                hash: self.hash,
                tag,
            };
            self.current.insert_unique(self.hash, entry, |e| e.hash);
            self.current_bytes += cost;
        }
    }

    /// Bytes held in both generations (keys plus a fixed per-entry
    /// overhead), without the fixed doorkeeper.
    #[cfg(test)]
    pub fn held_bytes(&self) -> usize {
        let old: usize = self.old.iter().map(|e| e.key.len() + ENTRY_OVERHEAD).sum();
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
    fn a_line_is_known_only_with_the_same_name_and_value() {
        let mut c = CleanCache::default();
        c.bind(1, 1 << 20);
        let line = |c: &CleanCache, n: &[u8], v: &[u8]| c.line_hash(n, v).unwrap_or_default();
        let h = line(&c, b"Accept", b"text/html");
        assert_eq!(c.lookup_line(h, b"Accept", b"text/html"), None);
        c.insert_line(h, b"Accept", b"text/html", 2);
        assert_eq!(c.lookup_line(h, b"Accept", b"text/html"), None);
        c.insert_line(h, b"Accept", b"text/html", 2);
        assert_eq!(c.lookup_line(h, b"Accept", b"text/html"), Some(2));
        // The same bytes split elsewhere, or another value or name: unknown,
        // even when asked under the remembered hash.
        for (n, v) in [
            (&b"Accep"[..], &b"ttext/html"[..]),
            (b"Acceptt", b"ext/html"),
            (b"Accept", b"text/htm"),
            (b"accept", b"text/html"),
        ] {
            assert_eq!(c.lookup_line(h, n, v), None, "{n:?} {v:?}");
            assert_eq!(c.lookup_line(line(&c, n, v), n, v), None, "{n:?} {v:?}");
        }
        // Too long, or nothing remembered: no hash, so never looked up.
        assert_eq!(c.line_hash(b"X", &[b'a'; MAX_CACHED_VALUE]), None);
        c.bind(2, 0);
        assert_eq!(c.line_hash(b"Accept", b"text/html"), None);
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
