//! Crash-safe on-disk spool of batches that could not be delivered yet.
//!
//! Owns one directory. Each batch is one file `<seq>-<kind>.batch`, where
//! `seq` is a zero-padded monotonic sequence number (so lexical order is
//! hand-over order) and `kind` names what the payload is (for ClickHouse:
//! the table). The payload is opaque bytes to the spool.
//!
//! Guarantees:
//! - **Crash safety.** [`Spool::push`] writes `<name>.tmp`, fsyncs it, renames
//!   it to `<name>.batch` (atomic on POSIX), then fsyncs the directory. Only
//!   after all four steps does it return `Ok`: from then on the batch survives
//!   a crash or power loss. A crash in between leaves either nothing or a
//!   `.tmp` file, which [`Spool::open`] deletes (that batch was never handed
//!   over, so its owner still had it).
//! - **Order.** [`Spool::oldest`] returns batches in sequence order; the
//!   sequence continues after the highest number found on disk at open.
//! - **Removal only on success.** A batch leaves the spool only through
//!   [`Spool::remove`] (the caller delivered it) or [`Spool::dead_letter`]
//!   (moved, with a `.reason` file, to the `dead/` subdirectory), or when
//!   its file is gone from disk (removed by hand): [`Spool::forget_missing`]
//!   drops it from the index and counts it in
//!   [`SpoolStats::missing_batches`], so one missing file cannot block the
//!   batches behind it.
//! - **Bounded.** The bytes of live batches never exceed `max_bytes`; when a
//!   push would, the [`SpoolFull`] policy drops the oldest batches or the new
//!   one, and [`SpoolStats::dropped_batches`] counts it. Dead letters are not
//!   counted against the cap (they are few and need a human).
//!
//! Hands on: payloads back to the caller for replay.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Name of the dead-letter subdirectory.
pub const DEAD_DIR: &str = "dead";
const BATCH_EXT: &str = "batch";
const TMP_EXT: &str = "tmp";

/// What to do when a new batch does not fit under `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpoolFull {
    /// Delete the oldest batches until the new one fits (keep recent data).
    #[default]
    DropOldest,
    /// Refuse the new batch (keep the history that is already there).
    DropNewest,
}

/// Counters of a spool, all monotonic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStats {
    pub pushed_batches: u64,
    pub pushed_bytes: u64,
    pub removed_batches: u64,
    /// Batches deleted or refused because the spool was full.
    pub dropped_batches: u64,
    pub dropped_bytes: u64,
    pub dead_lettered_batches: u64,
    /// Writes refused by a full disk; each made the policy drop a batch
    /// (counted in `dropped_batches`).
    pub disk_full: u64,
    /// Indexed batches whose file was gone when read or dead-lettered
    /// (removed by hand); forgotten, their rows are lost.
    pub missing_batches: u64,
}

/// A spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool kind {0:?}: only a-z, 0-9 and _ are allowed")]
    BadKind(String),
}

impl SpoolError {
    /// The file system is full (or the user's quota is).
    pub fn is_disk_full(&self) -> bool {
        match self {
            SpoolError::Io { source, .. } => {
                matches!(source.raw_os_error(), Some(28 | 122)) // ENOSPC, EDQUOT
            }
            SpoolError::BadKind(_) => false,
        }
    }

    /// The file is not there (removed by hand): retrying cannot help.
    pub fn is_not_found(&self) -> bool {
        match self {
            SpoolError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            SpoolError::BadKind(_) => false,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One spooled batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    pub seq: u64,
    pub kind: String,
    pub bytes: u64,
}

/// What [`Spool::push`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Durable on disk; `dropped_oldest` older batches were deleted to make room.
    Stored { seq: u64, dropped_oldest: u64 },
    /// Not stored: the spool is full and the policy is [`SpoolFull::DropNewest`],
    /// or the batch alone is larger than `max_bytes`.
    Dropped,
}

/// What [`Spool::dead_letter`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterOutcome {
    /// Moved to `dead/` with its reason.
    Moved,
    /// Its file was already gone: forgotten and counted in
    /// [`SpoolStats::missing_batches`].
    Missing,
}

/// The spool of one directory. Not shared between processes: one sensor,
/// one spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    when_full: SpoolFull,
    next_seq: u64,
    used_bytes: u64,
    entries: BTreeMap<u64, SpoolEntry>,
    stats: SpoolStats,
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`, deletes leftover
    /// temporary files of an interrupted push, and indexes the batches.
    pub fn open(dir: &Path, max_bytes: u64, when_full: SpoolFull) -> Result<Spool, SpoolError> {
        let dead = dir.join(DEAD_DIR);
        fs::create_dir_all(&dead).map_err(io_err(&dead))?;
        let mut entries = BTreeMap::new();
        let mut used_bytes = 0u64;
        let mut max_seq = None::<u64>;
        for item in fs::read_dir(dir).map_err(io_err(dir))? {
            let item = item.map_err(io_err(dir))?;
            let path = item.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == TMP_EXT {
                // Never renamed: the push did not complete, the batch was not handed over.
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            if ext != BATCH_EXT {
                continue;
            }
            let Some((seq, kind)) = parse_name(&path) else {
                continue;
            };
            let bytes = item.metadata().map_err(io_err(&path))?.len();
            used_bytes = used_bytes.saturating_add(bytes);
            max_seq = Some(max_seq.map_or(seq, |m: u64| m.max(seq)));
            entries.insert(seq, SpoolEntry { seq, kind, bytes });
        }
        // Dead letters also reserve their numbers so names never collide.
        for item in fs::read_dir(&dead).map_err(io_err(&dead))? {
            let item = item.map_err(io_err(&dead))?;
            if let Some((seq, _)) = parse_name(&item.path()) {
                max_seq = Some(max_seq.map_or(seq, |m: u64| m.max(seq)));
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            when_full,
            next_seq: max_seq.map_or(0, |m| m.saturating_add(1)),
            used_bytes,
            entries,
            stats: SpoolStats::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of live (not dead-lettered) batches.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of live batches on disk.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    pub fn stats(&self) -> &SpoolStats {
        &self.stats
    }

    /// Stores a batch durably (see the module doc for the order of steps).
    pub fn push(&mut self, kind: &str, payload: &[u8]) -> Result<PushOutcome, SpoolError> {
        check_kind(kind)?;
        let size = payload.len() as u64;
        if size > self.max_bytes {
            self.count_drop(size);
            return Ok(PushOutcome::Dropped);
        }
        let mut dropped_oldest = 0;
        while self.used_bytes.saturating_add(size) > self.max_bytes {
            match self.when_full {
                SpoolFull::DropNewest => {
                    self.count_drop(size);
                    return Ok(PushOutcome::Dropped);
                }
                SpoolFull::DropOldest => {
                    let Some(oldest) = self.oldest() else { break };
                    self.delete(&oldest)?;
                    self.count_drop(oldest.bytes);
                    dropped_oldest += 1;
                }
            }
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        let name = file_name(seq, kind);
        let tmp = self.dir.join(format!("{name}.{TMP_EXT}"));
        let fin = self.dir.join(format!("{name}.{BATCH_EXT}"));
        // The disk may fill before the byte cap does (other files, a small
        // partition): then the same policy applies as at the cap.
        loop {
            match write_synced(&tmp, payload) {
                Ok(()) => break,
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    if !e.is_disk_full() {
                        return Err(e);
                    }
                    self.stats.disk_full += 1;
                    tracing::warn!(
                        spool = %self.dir.display(),
                        policy = ?self.when_full,
                        "spool disk full: dropping a batch ({e})"
                    );
                    let oldest = match self.when_full {
                        SpoolFull::DropOldest => self.oldest(),
                        SpoolFull::DropNewest => None,
                    };
                    let Some(oldest) = oldest else {
                        self.count_drop(size);
                        return Ok(PushOutcome::Dropped);
                    };
                    self.delete(&oldest)?;
                    self.count_drop(oldest.bytes);
                    dropped_oldest += 1;
                }
            }
        }
        if let Err(e) = fs::rename(&tmp, &fin) {
            // Not left behind until the next start, uncounted.
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&fin)(e));
        }
        // The file is in place: index it whatever the directory sync says,
        // so it counts against the cap and is replayed in order (it would
        // be replayed after a restart anyway, so reporting it lost would
        // be wrong).
        let synced = sync_dir(&self.dir);
        self.used_bytes = self.used_bytes.saturating_add(size);
        self.entries.insert(
            seq,
            SpoolEntry {
                seq,
                kind: kind.to_string(),
                bytes: size,
            },
        );
        self.stats.pushed_batches += 1;
        self.stats.pushed_bytes = self.stats.pushed_bytes.saturating_add(size);
        if let Err(e) = synced {
            tracing::warn!(error = %e, "spool: directory not synced; the batch is indexed and will be replayed");
        }
        Ok(PushOutcome::Stored {
            seq,
            dropped_oldest,
        })
    }

    /// The batch to replay first, if any.
    pub fn oldest(&self) -> Option<SpoolEntry> {
        self.entries.values().next().cloned()
    }

    /// All live batches in replay order.
    pub fn entries(&self) -> Vec<SpoolEntry> {
        self.entries.values().cloned().collect()
    }

    /// The payload of a batch.
    pub fn read(&self, entry: &SpoolEntry) -> Result<Vec<u8>, SpoolError> {
        let path = self.path_of(entry);
        fs::read(&path).map_err(io_err(&path))
    }

    /// Deletes a delivered batch.
    pub fn remove(&mut self, entry: &SpoolEntry) -> Result<(), SpoolError> {
        self.delete(entry)?;
        self.stats.removed_batches += 1;
        Ok(())
    }

    /// Moves a batch that can never be delivered to `dead/`, next to a
    /// `<name>.reason` file holding `reason` (the server's message).
    pub fn dead_letter(
        &mut self,
        entry: &SpoolEntry,
        reason: &str,
    ) -> Result<DeadLetterOutcome, SpoolError> {
        let name = file_name(entry.seq, &entry.kind);
        let dead = self.dir.join(DEAD_DIR);
        let reason_path = dead.join(format!("{name}.reason"));
        write_synced(&reason_path, reason.as_bytes())?;
        let to = dead.join(format!("{name}.{BATCH_EXT}"));
        match fs::rename(self.path_of(entry), &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Removed by hand: a reason without its batch would only
                // mislead whoever reads `dead/`.
                let _ = fs::remove_file(&reason_path);
                self.forget_missing(entry);
                return Ok(DeadLetterOutcome::Missing);
            }
            Err(e) => return Err(io_err(&to)(e)),
        }
        sync_dir(&dead)?;
        sync_dir(&self.dir)?;
        self.forget(entry);
        self.stats.dead_lettered_batches += 1;
        Ok(DeadLetterOutcome::Moved)
    }

    /// Drops a batch whose file is gone (see [`SpoolError::is_not_found`])
    /// from the index, so the batches behind it can be replayed.
    pub fn forget_missing(&mut self, entry: &SpoolEntry) {
        if self.entries.contains_key(&entry.seq) {
            self.forget(entry);
            self.stats.missing_batches += 1;
        }
    }

    /// Writes a batch that was never spooled straight to `dead/` with its reason.
    pub fn dead_letter_payload(
        &mut self,
        kind: &str,
        payload: &[u8],
        reason: &str,
    ) -> Result<u64, SpoolError> {
        check_kind(kind)?;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        let name = file_name(seq, kind);
        let dead = self.dir.join(DEAD_DIR);
        write_synced(&dead.join(format!("{name}.reason")), reason.as_bytes())?;
        write_synced(&dead.join(format!("{name}.{BATCH_EXT}")), payload)?;
        sync_dir(&dead)?;
        self.stats.dead_lettered_batches += 1;
        Ok(seq)
    }

    fn path_of(&self, entry: &SpoolEntry) -> PathBuf {
        self.dir
            .join(format!("{}.{BATCH_EXT}", file_name(entry.seq, &entry.kind)))
    }

    fn delete(&mut self, entry: &SpoolEntry) -> Result<(), SpoolError> {
        let path = self.path_of(entry);
        match fs::remove_file(&path) {
            Ok(()) => {}
            // Already gone (removed by hand): the index must follow.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        sync_dir(&self.dir)?;
        self.forget(entry);
        Ok(())
    }

    fn forget(&mut self, entry: &SpoolEntry) {
        if let Some(e) = self.entries.remove(&entry.seq) {
            self.used_bytes = self.used_bytes.saturating_sub(e.bytes);
        }
    }

    fn count_drop(&mut self, bytes: u64) {
        self.stats.dropped_batches += 1;
        self.stats.dropped_bytes = self.stats.dropped_bytes.saturating_add(bytes);
    }
}

fn check_kind(kind: &str) -> Result<(), SpoolError> {
    let ok = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SpoolError::BadKind(kind.to_string()))
    }
}

/// 20 digits hold every u64, so lexical order is numeric order.
fn file_name(seq: u64, kind: &str) -> String {
    format!("{seq:020}-{kind}")
}

fn parse_name(path: &Path) -> Option<(u64, String)> {
    let stem = path.file_stem()?.to_str()?;
    let (seq, kind) = stem.split_once('-')?;
    if seq.len() != 20 || check_kind(kind).is_err() {
        return None;
    }
    Some((seq.parse().ok()?, kind.to_string()))
}

fn write_synced(path: &Path, payload: &[u8]) -> Result<(), SpoolError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(payload).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Makes a rename or unlink in `dir` durable (the directory entry itself).
fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool(dir: &Path, max: u64, full: SpoolFull) -> Spool {
        Spool::open(dir, max, full).unwrap()
    }

    /// A batch whose rename fails leaves no temporary file behind, and the
    /// spool goes on with the next one.
    #[test]
    fn a_failed_rename_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        // A non-empty directory where the first batch's file should go.
        let blocker = d
            .path()
            .join(format!("{}.{BATCH_EXT}", file_name(0, "attacks")));
        fs::create_dir(&blocker).unwrap();
        fs::write(blocker.join("x"), b"x").unwrap();
        assert!(s.push("attacks", b"first").is_err());
        let names: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.ends_with(&format!(".{TMP_EXT}"))),
            "{names:?}"
        );
        assert_eq!((s.len(), s.used_bytes()), (0, 0));
        assert!(s.push("attacks", b"second").is_ok());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn push_then_replay_in_order_and_remove() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        for i in 0..5u8 {
            let out = s.push("attacks", &[i; 10]).unwrap();
            assert_eq!(
                out,
                PushOutcome::Stored {
                    seq: u64::from(i),
                    dropped_oldest: 0
                }
            );
        }
        assert_eq!(s.len(), 5);
        assert_eq!(s.used_bytes(), 50);
        for i in 0..5u8 {
            let e = s.oldest().unwrap();
            assert_eq!(e.seq, u64::from(i));
            assert_eq!(s.read(&e).unwrap(), vec![i; 10]);
            s.remove(&e).unwrap();
        }
        assert!(s.is_empty());
        assert_eq!(s.used_bytes(), 0);
        assert_eq!(s.stats().removed_batches, 5);
    }

    #[test]
    fn reopen_keeps_batches_and_continues_the_sequence() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
            s.push("attacks", b"one").unwrap();
            s.push("requests_1m", b"two").unwrap();
        }
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        let kinds: Vec<_> = s.entries().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["attacks", "requests_1m"]);
        assert_eq!(
            s.push("attacks", b"three").unwrap(),
            PushOutcome::Stored {
                seq: 2,
                dropped_oldest: 0
            }
        );
    }

    #[test]
    fn a_crash_before_rename_leaves_no_batch() {
        // Simulate a crash after the temp file was written but before the
        // rename: the batch was not handed over and must not be replayed.
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("00000000000000000007-attacks.tmp"), b"half").unwrap();
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        assert!(s.is_empty());
        assert!(!d.path().join("00000000000000000007-attacks.tmp").exists());
        // A torn temp file does not reserve its number, a batch file does.
        assert!(matches!(
            s.push("attacks", b"x").unwrap(),
            PushOutcome::Stored { seq: 0, .. }
        ));
        // Only the final name exists after a push: no temp left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != DEAD_DIR)
            .collect();
        assert_eq!(names, ["00000000000000000000-attacks.batch"]);
    }

    #[test]
    fn cap_drop_oldest_at_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 30, SpoolFull::DropOldest);
        s.push("a", &[0; 10]).unwrap();
        s.push("a", &[1; 10]).unwrap();
        // Exactly at the limit: fits.
        assert!(matches!(
            s.push("a", &[2; 10]).unwrap(),
            PushOutcome::Stored {
                dropped_oldest: 0,
                ..
            }
        ));
        assert_eq!(s.used_bytes(), 30);
        // One byte over: the oldest goes.
        assert_eq!(
            s.push("a", &[3; 1]).unwrap(),
            PushOutcome::Stored {
                seq: 3,
                dropped_oldest: 1
            }
        );
        assert_eq!(s.oldest().unwrap().seq, 1);
        assert_eq!(s.used_bytes(), 21);
        assert_eq!(s.stats().dropped_batches, 1);
        assert_eq!(s.stats().dropped_bytes, 10);
    }

    #[test]
    fn cap_drop_newest_keeps_history() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 20, SpoolFull::DropNewest);
        s.push("a", &[0; 10]).unwrap();
        s.push("a", &[1; 10]).unwrap();
        assert_eq!(s.push("a", &[2; 1]).unwrap(), PushOutcome::Dropped);
        assert_eq!(s.len(), 2);
        assert_eq!(s.oldest().unwrap().seq, 0);
        assert_eq!(s.stats().dropped_batches, 1);
        // Larger than the whole cap: dropped whatever the policy.
        let mut s2 = spool(
            tempfile::tempdir().unwrap().path(),
            5,
            SpoolFull::DropOldest,
        );
        assert_eq!(s2.push("a", &[0; 6]).unwrap(), PushOutcome::Dropped);
    }

    #[test]
    fn dead_letter_moves_the_batch_with_its_reason() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        s.push("attacks", b"bad").unwrap();
        let e = s.oldest().unwrap();
        assert_eq!(
            s.dead_letter(&e, "Code: 53. Type mismatch").unwrap(),
            DeadLetterOutcome::Moved
        );
        assert!(s.is_empty());
        let dead = d.path().join(DEAD_DIR);
        assert_eq!(
            fs::read(dead.join("00000000000000000000-attacks.batch")).unwrap(),
            b"bad"
        );
        assert_eq!(
            fs::read_to_string(dead.join("00000000000000000000-attacks.reason")).unwrap(),
            "Code: 53. Type mismatch"
        );
        let seq = s.dead_letter_payload("attacks", b"p", "why").unwrap();
        assert_eq!(seq, 1);
        // Reopen: dead letters are not replayed, and their numbers stay taken.
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        assert!(s.is_empty());
        assert!(matches!(
            s.push("attacks", b"x").unwrap(),
            PushOutcome::Stored { seq: 2, .. }
        ));
    }

    /// A batch file removed by hand is forgotten (and counted)
    /// when read or dead-lettered, so the batches behind it come next.
    #[test]
    fn a_batch_removed_by_hand_is_forgotten() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        for i in 0..3u8 {
            s.push("attacks", &[i; 4]).unwrap();
        }
        fs::remove_file(d.path().join("00000000000000000000-attacks.batch")).unwrap();
        let e = s.oldest().unwrap();
        assert_eq!(s.dead_letter(&e, "x").unwrap(), DeadLetterOutcome::Missing);
        assert_eq!((s.len(), s.used_bytes()), (2, 8));
        assert_eq!(s.oldest().unwrap().seq, 1);
        assert_eq!(s.stats().missing_batches, 1);
        assert_eq!(s.stats().dead_lettered_batches, 0);
        // No reason file left without its batch.
        assert_eq!(fs::read_dir(d.path().join(DEAD_DIR)).unwrap().count(), 0);

        fs::remove_file(d.path().join("00000000000000000001-attacks.batch")).unwrap();
        let e = s.oldest().unwrap();
        let err = s.read(&e).unwrap_err();
        assert!(err.is_not_found(), "{err}");
        s.forget_missing(&e);
        s.forget_missing(&e); // already forgotten: counted once
        assert_eq!(s.stats().missing_batches, 2);
        assert_eq!(s.oldest().unwrap().seq, 2);
        assert_eq!(s.read(&s.oldest().unwrap()).unwrap(), [2; 4]);
    }

    #[test]
    fn bad_kinds_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 100, SpoolFull::DropOldest);
        assert!(matches!(s.push("../x", b""), Err(SpoolError::BadKind(_))));
        assert!(matches!(s.push("", b""), Err(SpoolError::BadKind(_))));
        assert!(matches!(s.push("a-b", b""), Err(SpoolError::BadKind(_))));
    }

    proptest::proptest! {
        #[test]
        fn replay_order_is_push_order_under_any_cap(
            sizes in proptest::collection::vec(0usize..40, 1..30),
            cap in 1u64..200,
        ) {
            let d = tempfile::tempdir().unwrap();
            let mut s = spool(d.path(), cap, SpoolFull::DropOldest);
            let mut stored = Vec::new();
            for (i, n) in sizes.iter().enumerate() {
                let payload = vec![u8::try_from(i).unwrap(); *n];
                if let PushOutcome::Stored { seq, .. } = s.push("a", &payload).unwrap() {
                    stored.push((seq, payload));
                }
                proptest::prop_assert!(s.used_bytes() <= cap);
            }
            // What is left is a suffix of what was stored, in order.
            let left = s.entries();
            let tail = &stored[stored.len() - left.len()..];
            for (e, (seq, payload)) in left.iter().zip(tail) {
                proptest::prop_assert_eq!(e.seq, *seq);
                proptest::prop_assert_eq!(&s.read(e).unwrap(), payload);
            }
        }
    }
}
