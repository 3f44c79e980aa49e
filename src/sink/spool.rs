//! Crash-safe on-disk spool of batches that could not be delivered yet.
//!
//! Owns one directory. Each batch is one file `<seq>-<rows>-<kind>.batch`,
//! where `seq` is a zero-padded monotonic sequence number (so lexical order
//! is hand-over order), `rows` how many rows the caller said the batch holds
//! (so a batch dropped or gone missing counts its rows without being read),
//! and `kind` names what the payload is (for ClickHouse: the table). The
//! payload is opaque bytes to the spool. Files named `<seq>-<kind>.batch`
//! (spools written before the row count was kept) are read and replayed as
//! before; their rows are unknown until [`Spool::count_unknown_rows`] has
//! counted them with the owner's help (and renamed the file).
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
//!   one, and [`SpoolStats::dropped_batches`] and
//!   [`SpoolStats::dropped_rows`] count it. Dead letters are not counted
//!   against the cap (they are few and need a human).
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

use super::lock::{lock_dir, InUse, LockError, LockedFile};

/// Name of the dead-letter subdirectory.
pub const DEAD_DIR: &str = "dead";
const BATCH_EXT: &str = "batch";
const TMP_EXT: &str = "tmp";
/// The file in the spool directory locked where the directory itself
/// cannot be (see [`super::lock::lock_dir`]).
pub const LOCK_FILE: &str = "spool.lock";

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
    /// Rows of those batches (a batch of unknown rows, see the module doc,
    /// adds none).
    pub dropped_rows: u64,
    pub dead_lettered_batches: u64,
    /// Writes refused by a full disk; each made the policy drop a batch
    /// (counted in `dropped_batches`).
    pub disk_full: u64,
    /// Indexed batches whose file was gone when read or dead-lettered
    /// (removed by hand); forgotten, their rows are lost.
    pub missing_batches: u64,
    /// Rows of those batches (as for `dropped_rows`).
    pub missing_rows: u64,
    /// Dead letters deleted, oldest first, to keep `dead/` within
    /// `max_bytes` (see [`Spool::dead_bytes`]).
    pub dead_pruned_batches: u64,
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
    /// Another process has the spool directory open.
    #[error("spool: {0}")]
    InUse(#[from] InUse),
    /// A batch file at the last sequence number (put there by hand): a
    /// new batch would take a number in use and replace its file.
    #[error("spool {0}: sequence numbers exhausted (a batch file numbered {max}); renumber or move the batches", max = u64::MAX)]
    SeqExhausted(PathBuf),
}

impl SpoolError {
    /// The I/O error behind this one, if it is one.
    fn io(&self) -> Option<&io::Error> {
        match self {
            SpoolError::Io { source, .. } => Some(source),
            SpoolError::BadKind(_) | SpoolError::InUse(_) | SpoolError::SeqExhausted(_) => None,
        }
    }

    /// The file system is full (or the user's quota is).
    pub fn is_disk_full(&self) -> bool {
        // ENOSPC, EDQUOT
        self.io()
            .is_some_and(|e| matches!(e.raw_os_error(), Some(28 | 122)))
    }

    /// The file is not there (removed by hand): retrying cannot help.
    pub fn is_not_found(&self) -> bool {
        self.io()
            .is_some_and(|e| e.kind() == io::ErrorKind::NotFound)
    }

    /// What sits at a batch's name is not a batch the spool wrote: a
    /// symlink (`O_NOFOLLOW` fails with ELOOP), a FIFO or a directory put
    /// there after `open`, or a file grown past the cap. Reading it again
    /// will not help; see [`Spool::read`].
    pub fn is_not_a_batch(&self) -> bool {
        self.io().is_some_and(|e| {
            e.kind() == io::ErrorKind::InvalidData
                || e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32)
        })
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
    /// Rows the batch holds; `None` for a file of the old naming whose rows
    /// were not counted yet (see the module doc).
    pub rows: Option<u64>,
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
/// one spool directory, enforced by a lock on the directory (or on
/// [`LOCK_FILE`] in it) held while the spool is open.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// Holds the directory's lock (released when the spool is dropped, or
    /// by the kernel when the process dies).
    _lock: LockedFile,
    max_bytes: u64,
    when_full: SpoolFull,
    /// `None` once the last number is taken: `saturating_add` would hand
    /// it out again and a push would replace that batch (review round 32b).
    next_seq: Option<u64>,
    used_bytes: u64,
    entries: BTreeMap<u64, SpoolEntry>,
    /// Dead letters by number: their file stem and the bytes of their
    /// `.batch` and `.reason` files. `dead/` is bounded like the spool
    /// itself: a server that rejects every batch (a schema gone wrong)
    /// would otherwise fill the disk with them.
    dead: BTreeMap<u64, (String, u64)>,
    dead_bytes: u64,
    stats: SpoolStats,
    /// The batch being replayed (see [`Spool::replaying`]).
    in_flight: Option<u64>,
    /// Tests: the error every `read` fails with (an EIO cannot be made
    /// on demand, and root reads whatever the permissions say).
    #[cfg(test)]
    pub(crate) read_fault: Option<io::ErrorKind>,
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`, deletes leftover
    /// temporary files of an interrupted push, and indexes the batches.
    /// Fails with [`SpoolError::InUse`] when another process has it open.
    pub fn open(dir: &Path, max_bytes: u64, when_full: SpoolFull) -> Result<Spool, SpoolError> {
        private_dir(dir)?;
        // Before anything is read, created or deleted: the other sensor's
        // `.tmp` files are pushes in progress, not leftovers.
        let lock = lock_dir(dir, LOCK_FILE, "this spool directory").map_err(|e| match e {
            LockError::InUse(e) => SpoolError::InUse(e),
            LockError::Failed { path, source } => SpoolError::Io { path, source },
        })?;
        let dead = dir.join(DEAD_DIR);
        // Root may open the spool before handing it over: its `dead` must
        // not lead elsewhere (review round 16).
        // `private_dir` would change the mode of what a link points at.
        crate::privilege::refuse_symlink(&dead).map_err(io_err(&dead))?;
        private_dir(&dead)?;
        let mut entries = BTreeMap::new();
        let mut used_bytes = 0u64;
        let mut max_seq = None::<u64>;
        let mut renumber = Vec::new();
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
            let Some((seq, kind, rows)) = parse_name(&path) else {
                continue;
            };
            // Its number stays taken whatever it is, so no push renames
            // over it.
            max_seq = Some(max_seq.map_or(seq, |m: u64| m.max(seq)));
            // The spool writes regular files only: a symlink (to
            // /dev/zero, to a root-only file), a FIFO or a directory at a
            // batch name is not a batch, and reading it would never end,
            // block, or fail for ever (review round 32b). `file_type` does
            // not follow a link.
            if !item.file_type().map_err(io_err(&path))?.is_file() {
                tracing::warn!(path = %path.display(), "spool: not a regular file; not replayed");
                continue;
            }
            let bytes = item.metadata().map_err(io_err(&path))?.len();
            let entry = SpoolEntry {
                seq,
                kind,
                bytes,
                rows,
            };
            if entries.contains_key(&seq) {
                // Two files, one number (a spool copied into another by
                // hand): renumbered below, after every number on disk.
                renumber.push(entry);
                continue;
            }
            used_bytes = used_bytes.saturating_add(bytes);
            entries.insert(seq, entry);
        }
        // Dead letters also reserve their numbers so names never collide.
        let mut dead_letters = BTreeMap::new();
        let mut dead_bytes = 0u64;
        for item in fs::read_dir(&dead).map_err(io_err(&dead))? {
            let item = item.map_err(io_err(&dead))?;
            let path = item.path();
            if let Some((seq, ..)) = parse_name(&path) {
                max_seq = Some(max_seq.map_or(seq, |m: u64| m.max(seq)));
                let stem = path.file_stem().and_then(|s| s.to_str());
                if let (Some(stem), true) = (stem, item.file_type().is_ok_and(|t| t.is_file())) {
                    let bytes = item.metadata().map_or(0, |m| m.len());
                    let slot = dead_letters
                        .entry(seq)
                        .or_insert_with(|| (stem.to_string(), 0u64));
                    slot.1 = slot.1.saturating_add(bytes);
                    dead_bytes = dead_bytes.saturating_add(bytes);
                }
            }
        }
        let mut next_seq = max_seq.map_or(Some(0), |m| m.checked_add(1));
        if !renumber.is_empty() {
            for old in renumber {
                let from = batch_path(dir, &old);
                let Some(seq) = next_seq else {
                    tracing::warn!(path = %from.display(), "spool: a second batch with one number, and no number left; not replayed");
                    continue;
                };
                let new = SpoolEntry { seq, ..old };
                let to = batch_path(dir, &new);
                if let Err(e) = fs::rename(&from, &to) {
                    tracing::warn!(path = %from.display(), error = %e, "spool: cannot renumber a second batch with one number; not replayed");
                    continue;
                }
                next_seq = seq.checked_add(1);
                used_bytes = used_bytes.saturating_add(new.bytes);
                entries.insert(seq, new);
            }
            sync_dir(dir)?;
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            _lock: lock,
            max_bytes,
            when_full,
            next_seq,
            used_bytes,
            entries,
            dead: dead_letters,
            dead_bytes,
            stats: SpoolStats::default(),
            in_flight: None,
            #[cfg(test)]
            read_fault: None,
        })
    }

    /// Marks the batch whose replay is in flight (or none). `DropOldest`
    /// passes it over: dropped under a replay that then succeeds, its rows
    /// would be counted lost although the server has them, and a replay
    /// that fails for good would count them lost twice.
    pub fn replaying(&mut self, seq: Option<u64>) {
        self.in_flight = seq;
    }

    /// The oldest batch `DropOldest` may drop: not the one in flight.
    fn oldest_droppable(&self) -> Option<SpoolEntry> {
        self.entries
            .values()
            .find(|e| Some(e.seq) != self.in_flight)
            .cloned()
    }

    /// Bytes of the batch in flight, which `DropOldest` cannot free.
    fn in_flight_bytes(&self) -> u64 {
        self.in_flight
            .and_then(|seq| self.entries.get(&seq))
            .map_or(0, |e| e.bytes)
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

    /// Bytes in `dead/` (batches and reasons), at most `max_bytes` after
    /// each dead letter: the oldest are deleted first, and counted in
    /// [`SpoolStats::dead_pruned_batches`]. The newest always stays.
    pub fn dead_bytes(&self) -> u64 {
        self.dead_bytes
    }

    /// Indexes a dead letter just written, then deletes the oldest while
    /// `dead/` is over the cap.
    fn add_dead(&mut self, seq: u64, stem: String, bytes: u64) {
        self.dead_bytes = self.dead_bytes.saturating_add(bytes);
        self.dead.insert(seq, (stem, bytes));
        let dead_dir = self.dir.join(DEAD_DIR);
        while self.dead_bytes > self.max_bytes && self.dead.len() > 1 {
            let Some((_, (stem, bytes))) = self.dead.pop_first() else {
                break;
            };
            for ext in [BATCH_EXT, "reason"] {
                let path = dead_dir.join(format!("{stem}.{ext}"));
                if let Err(e) = fs::remove_file(&path) {
                    if e.kind() != io::ErrorKind::NotFound {
                        tracing::warn!(path = %path.display(), error = %e, "spool: cannot delete an old dead letter");
                    }
                }
            }
            self.dead_bytes = self.dead_bytes.saturating_sub(bytes);
            self.stats.dead_pruned_batches += 1;
        }
    }

    /// Stores a batch of `rows` rows durably (see the module doc for the
    /// order of steps).
    pub fn push(
        &mut self,
        kind: &str,
        rows: u64,
        payload: &[u8],
    ) -> Result<PushOutcome, SpoolError> {
        check_kind(kind)?;
        let size = payload.len() as u64;
        if size > self.max_bytes {
            self.count_drop(size, Some(rows));
            return Ok(PushOutcome::Dropped);
        }
        let mut dropped_oldest = 0;
        while self.used_bytes.saturating_add(size) > self.max_bytes {
            match self.when_full {
                SpoolFull::DropNewest => {
                    self.count_drop(size, Some(rows));
                    return Ok(PushOutcome::Dropped);
                }
                SpoolFull::DropOldest => {
                    // The batch in flight stays: if the new one cannot fit
                    // beside it, deleting the others would lose them too.
                    if self.in_flight_bytes().saturating_add(size) > self.max_bytes {
                        self.count_drop(size, Some(rows));
                        return Ok(PushOutcome::Dropped);
                    }
                    let Some(oldest) = self.oldest_droppable() else {
                        // Only the batch in flight is left: this one goes.
                        self.count_drop(size, Some(rows));
                        return Ok(PushOutcome::Dropped);
                    };
                    self.delete(&oldest)?;
                    self.count_drop(oldest.bytes, oldest.rows);
                    dropped_oldest += 1;
                }
            }
        }
        let seq = self.take_seq()?;
        let name = file_name(seq, kind, Some(rows));
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
                        SpoolFull::DropOldest => self.oldest_droppable(),
                        SpoolFull::DropNewest => None,
                    };
                    let Some(oldest) = oldest else {
                        self.count_drop(size, Some(rows));
                        return Ok(PushOutcome::Dropped);
                    };
                    self.delete(&oldest)?;
                    self.count_drop(oldest.bytes, oldest.rows);
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
                rows: Some(rows),
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
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.path_of(entry);
        #[cfg(test)]
        if let Some(kind) = self.read_fault {
            return Err(io_err(&path)(io::Error::from(kind)));
        }
        // Not through a link, not blocking on a FIFO, not to the end of
        // /dev/zero: a name swapped after `open` indexed it (review round 32b).
        let f = OpenOptions::new()
            .read(true)
            .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
            .open(&path)
            .map_err(io_err(&path))?;
        if !f.metadata().map_err(io_err(&path))?.is_file() {
            return Err(io_err(&path)(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file",
            )));
        }
        // A batch is at most `max_bytes` (larger ones are refused by
        // `push`); the indexed size may be more after the cap was lowered.
        let limit = self.max_bytes.max(entry.bytes);
        let mut payload = Vec::new();
        f.take(limit.saturating_add(1))
            .read_to_end(&mut payload)
            .map_err(io_err(&path))?;
        if payload.len() as u64 > limit {
            return Err(io_err(&path)(io::Error::new(
                io::ErrorKind::InvalidData,
                "batch file grew past the spool's cap",
            )));
        }
        Ok(payload)
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
        let name = file_name(entry.seq, &entry.kind, entry.rows);
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
        let bytes = entry.bytes.saturating_add(reason.len() as u64);
        self.forget(entry);
        self.stats.dead_lettered_batches += 1;
        self.add_dead(entry.seq, name, bytes);
        Ok(DeadLetterOutcome::Moved)
    }

    /// Drops a batch whose file is gone (see [`SpoolError::is_not_found`])
    /// from the index, so the batches behind it can be replayed.
    pub fn forget_missing(&mut self, entry: &SpoolEntry) {
        if let Some(e) = self.entries.get(&entry.seq) {
            let rows = e.rows.unwrap_or(0);
            self.forget(entry);
            self.stats.missing_batches += 1;
            self.stats.missing_rows = self.stats.missing_rows.saturating_add(rows);
        }
    }

    /// Writes a batch of `rows` rows that was never spooled straight to
    /// `dead/` with its reason.
    pub fn dead_letter_payload(
        &mut self,
        kind: &str,
        rows: u64,
        payload: &[u8],
        reason: &str,
    ) -> Result<u64, SpoolError> {
        check_kind(kind)?;
        let seq = self.take_seq()?;
        let name = file_name(seq, kind, Some(rows));
        let dead = self.dir.join(DEAD_DIR);
        write_synced(&dead.join(format!("{name}.reason")), reason.as_bytes())?;
        write_synced(&dead.join(format!("{name}.{BATCH_EXT}")), payload)?;
        sync_dir(&dead)?;
        self.stats.dead_lettered_batches += 1;
        let bytes = (payload.len() as u64).saturating_add(reason.len() as u64);
        self.add_dead(seq, name, bytes);
        Ok(seq)
    }

    /// Counts the rows of batches whose file name does not say (spooled
    /// before the count was kept) with `rows_of(kind, payload)`, and renames
    /// each file to the current naming, so a later drop or loss counts its
    /// rows and this happens once. Reads every such file: meant for the
    /// start, after an upgrade. A file that cannot be read or renamed keeps
    /// unknown rows (it is still replayed); returns how many were counted.
    pub fn count_unknown_rows(&mut self, rows_of: impl Fn(&str, &[u8]) -> u64) -> usize {
        let unknown: Vec<SpoolEntry> = self
            .entries
            .values()
            .filter(|e| e.rows.is_none())
            .cloned()
            .collect();
        let mut counted = 0;
        for old in unknown {
            let Ok(payload) = self.read(&old) else {
                continue;
            };
            let new = SpoolEntry {
                rows: Some(rows_of(&old.kind, &payload)),
                ..old.clone()
            };
            if let Err(e) = fs::rename(self.path_of(&old), self.path_of(&new)) {
                tracing::warn!(seq = old.seq, error = %e, "spool: cannot rename a batch to record its rows");
                continue;
            }
            self.entries.insert(new.seq, new);
            counted += 1;
        }
        if counted > 0 {
            // A rename lost in a crash leaves the old name: counted again next time.
            if let Err(e) = sync_dir(&self.dir) {
                tracing::warn!(error = %e, "spool: directory not synced after renames");
            }
        }
        counted
    }

    /// The next sequence number, never one handed out before.
    fn take_seq(&mut self) -> Result<u64, SpoolError> {
        let seq = self
            .next_seq
            .ok_or_else(|| SpoolError::SeqExhausted(self.dir.clone()))?;
        self.next_seq = seq.checked_add(1);
        Ok(seq)
    }

    fn path_of(&self, entry: &SpoolEntry) -> PathBuf {
        batch_path(&self.dir, entry)
    }

    fn delete(&mut self, entry: &SpoolEntry) -> Result<(), SpoolError> {
        // Already gone (removed by hand): the index must follow.
        remove_if_present(&self.path_of(entry))?;
        sync_dir(&self.dir)?;
        self.forget(entry);
        Ok(())
    }

    fn forget(&mut self, entry: &SpoolEntry) {
        if let Some(e) = self.entries.remove(&entry.seq) {
            self.used_bytes = self.used_bytes.saturating_sub(e.bytes);
        }
    }

    fn count_drop(&mut self, bytes: u64, rows: Option<u64>) {
        self.stats.dropped_batches += 1;
        self.stats.dropped_bytes = self.stats.dropped_bytes.saturating_add(bytes);
        self.stats.dropped_rows = self.stats.dropped_rows.saturating_add(rows.unwrap_or(0));
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

/// 20 digits hold every u64, so lexical order is numeric order. `None`
/// rows: the old naming, without the count.
fn file_name(seq: u64, kind: &str, rows: Option<u64>) -> String {
    match rows {
        Some(rows) => format!("{seq:020}-{rows}-{kind}"),
        None => format!("{seq:020}-{kind}"),
    }
}

/// `(seq, kind, rows)` of `<seq>-<rows>-<kind>.*`, or of the old
/// `<seq>-<kind>.*` with rows `None` (a kind never holds a `-`).
/// Where the file of `entry` sits in the spool directory `dir`.
fn batch_path(dir: &Path, entry: &SpoolEntry) -> PathBuf {
    dir.join(format!(
        "{}.{BATCH_EXT}",
        file_name(entry.seq, &entry.kind, entry.rows)
    ))
}

fn parse_name(path: &Path) -> Option<(u64, String, Option<u64>)> {
    let stem = path.file_stem()?.to_str()?;
    let (seq, rest) = stem.split_once('-')?;
    let (rows, kind) = match rest.split_once('-') {
        Some((rows, kind)) => (Some(digits(rows)?), kind),
        None => (None, rest),
    };
    if seq.len() != 20 || check_kind(kind).is_err() {
        return None;
    }
    Some((digits(seq)?, kind.to_string(), rows))
}

/// A decimal number of ASCII digits only (`parse` alone would take a `+`).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Spooled batches are attack rows (client addresses, request lines, body
/// excerpts; secrets in clear when masking is off): their folders and files
/// are not for other users, whatever the umask (review round 15). The group
/// may read (the unit's `StateDirectoryMode=0750`).
const DIR_MODE: u32 = 0o750;
const FILE_MODE: u32 = 0o640;

/// Creates `dir` (and its parents) with [`DIR_MODE`], and takes other users'
/// rights off an existing one.
fn private_dir(dir: &Path) -> Result<(), SpoolError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_err(dir))?;
    let mode = fs::metadata(dir).map_err(io_err(dir))?.permissions().mode();
    if mode & 0o007 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode & !0o007)).map_err(io_err(dir))?;
    }
    Ok(())
}

/// Writes a new file at `path`, replacing what is there (the `.reason` of
/// a dead letter cut short by a crash). Never through a symlink: the
/// service user owns these folders, and the first replay may run as root
/// before privileges are dropped (review round 25c). The name is unlinked
/// first, then created with `O_EXCL`, which never follows a link planted
/// in between either.
fn write_synced(path: &Path, payload: &[u8]) -> Result<(), SpoolError> {
    use std::os::unix::fs::OpenOptionsExt;
    remove_if_present(path)?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(payload).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Unlinks `path`; a name already gone is not an error.
fn remove_if_present(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
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
            .join(format!("{}.{BATCH_EXT}", file_name(0, "attacks", Some(1))));
        fs::create_dir(&blocker).unwrap();
        fs::write(blocker.join("x"), b"x").unwrap();
        assert!(s.push("attacks", 1, b"first").is_err());
        let names: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.ends_with(&format!(".{TMP_EXT}"))),
            "{names:?}"
        );
        assert_eq!((s.len(), s.used_bytes()), (0, 0));
        assert!(s.push("attacks", 1, b"second").is_ok());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn push_then_replay_in_order_and_remove() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        for i in 0..5u8 {
            let out = s.push("attacks", 1, &[i; 10]).unwrap();
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
            s.push("attacks", 1, b"one").unwrap();
            s.push("requests_1m", 1, b"two").unwrap();
        }
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        let kinds: Vec<_> = s.entries().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["attacks", "requests_1m"]);
        assert_eq!(
            s.push("attacks", 1, b"three").unwrap(),
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
            s.push("attacks", 1, b"x").unwrap(),
            PushOutcome::Stored { seq: 0, .. }
        ));
        // Only the final name exists after a push: no temp left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != DEAD_DIR && n != LOCK_FILE)
            .collect();
        assert_eq!(names, ["00000000000000000000-1-attacks.batch"]);
    }

    /// Two sensors on one spool would replay each other's batches and
    /// delete each other's pushes in progress: the second is refused, and
    /// nothing of the first one's spool is touched by the attempt.
    #[test]
    fn a_spool_open_in_another_process_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut first = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        first.push("attacks", 1, b"kept").unwrap();
        // A push of the first sensor in progress.
        let in_progress = d
            .path()
            .join(format!("00000000000000000001-1-attacks.{TMP_EXT}"));
        fs::write(&in_progress, b"half").unwrap();
        // flock locks belong to the open file, so a second open in this
        // process conflicts as another process's would.
        let err = Spool::open(d.path(), 1 << 20, SpoolFull::DropOldest).unwrap_err();
        assert!(matches!(err, SpoolError::InUse(_)), "{err}");
        assert!(
            err.to_string().contains("in use by another process"),
            "{err}"
        );
        assert!(in_progress.exists());
        assert_eq!(first.len(), 1);
        // Released with the spool (and by the kernel on any exit).
        drop(first);
        let again = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        assert_eq!(again.len(), 1);
        assert!(!in_progress.exists());
    }

    /// The batch whose replay is in flight is passed over by `DropOldest`:
    /// the next oldest goes, and when only it is left, the new batch.
    #[test]
    fn drop_oldest_passes_over_the_batch_in_flight() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 20, SpoolFull::DropOldest);
        s.push("a", 1, &[0; 10]).unwrap();
        s.push("a", 1, &[1; 10]).unwrap();
        s.replaying(Some(0));
        assert_eq!(
            s.push("a", 1, &[2; 10]).unwrap(),
            PushOutcome::Stored {
                seq: 2,
                dropped_oldest: 1
            }
        );
        let seqs: Vec<u64> = s.entries().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [0, 2]);
        let mut alone = spool(&d.path().join("alone"), 15, SpoolFull::DropOldest);
        alone.push("a", 1, &[0; 10]).unwrap();
        alone.replaying(Some(0));
        assert_eq!(alone.push("a", 1, &[1; 10]).unwrap(), PushOutcome::Dropped);
        assert_eq!(alone.oldest().unwrap().seq, 0);
        alone.replaying(None);
        assert!(matches!(
            alone.push("a", 1, &[1; 10]).unwrap(),
            PushOutcome::Stored {
                dropped_oldest: 1,
                ..
            }
        ));
    }

    /// Review round 20. `DropOldest` while a replay is in flight: the
    /// batch being replayed stays (it may be in ClickHouse a moment later),
    /// so a new batch that cannot fit beside it cannot fit at all. `push`
    /// deleted the other batches one by one first, found only the batch in
    /// flight left, and then dropped the new one too: every batch between
    /// them was lost for nothing (a spool whose cap is a few batches, or
    /// one lowered below what is on disk, loses all it holds behind the
    /// replay to one large batch). The policy's promise is to drop the
    /// oldest *so that the new one fits*; when it cannot fit, only it goes,
    /// as when it is larger than the whole cap. Severity: Low (rows lost
    /// and counted, with the spool full).
    #[test]
    fn review20b_drop_oldest_deletes_nothing_for_a_batch_that_cannot_fit_beside_the_replay() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 20, SpoolFull::DropOldest);
        s.push("a", 1, &[0; 10]).unwrap();
        s.push("a", 2, &[1; 5]).unwrap();
        s.replaying(Some(0));
        // 10 bytes in flight + 15 new > 20, whatever else is deleted.
        assert_eq!(s.push("a", 3, &[2; 15]).unwrap(), PushOutcome::Dropped);
        let seqs: Vec<u64> = s.entries().iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            [0, 1],
            "batch 1 was deleted for a batch that was dropped anyway"
        );
        assert_eq!(s.used_bytes(), 15);
        assert_eq!(s.stats().dropped_batches, 1);
        assert_eq!(s.stats().dropped_rows, 3);
    }

    #[test]
    fn cap_drop_oldest_at_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 30, SpoolFull::DropOldest);
        s.push("a", 1, &[0; 10]).unwrap();
        s.push("a", 1, &[1; 10]).unwrap();
        // Exactly at the limit: fits.
        assert!(matches!(
            s.push("a", 1, &[2; 10]).unwrap(),
            PushOutcome::Stored {
                dropped_oldest: 0,
                ..
            }
        ));
        assert_eq!(s.used_bytes(), 30);
        // One byte over: the oldest goes.
        assert_eq!(
            s.push("a", 1, &[3; 1]).unwrap(),
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
        s.push("a", 1, &[0; 10]).unwrap();
        s.push("a", 1, &[1; 10]).unwrap();
        assert_eq!(s.push("a", 1, &[2; 1]).unwrap(), PushOutcome::Dropped);
        assert_eq!(s.len(), 2);
        assert_eq!(s.oldest().unwrap().seq, 0);
        assert_eq!(s.stats().dropped_batches, 1);
        // Larger than the whole cap: dropped whatever the policy.
        let mut s2 = spool(
            tempfile::tempdir().unwrap().path(),
            5,
            SpoolFull::DropOldest,
        );
        assert_eq!(s2.push("a", 1, &[0; 6]).unwrap(), PushOutcome::Dropped);
    }

    #[test]
    fn dead_letter_moves_the_batch_with_its_reason() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        s.push("attacks", 1, b"bad").unwrap();
        let e = s.oldest().unwrap();
        assert_eq!(
            s.dead_letter(&e, "Code: 53. Type mismatch").unwrap(),
            DeadLetterOutcome::Moved
        );
        assert!(s.is_empty());
        let dead = d.path().join(DEAD_DIR);
        assert_eq!(
            fs::read(dead.join("00000000000000000000-1-attacks.batch")).unwrap(),
            b"bad"
        );
        assert_eq!(
            fs::read_to_string(dead.join("00000000000000000000-1-attacks.reason")).unwrap(),
            "Code: 53. Type mismatch"
        );
        let seq = s.dead_letter_payload("attacks", 1, b"p", "why").unwrap();
        assert_eq!(seq, 1);
        // Reopen: dead letters are not replayed, and their numbers stay taken.
        drop(s);
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        assert!(s.is_empty());
        assert!(matches!(
            s.push("attacks", 1, b"x").unwrap(),
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
            s.push("attacks", 1, &[i; 4]).unwrap();
        }
        fs::remove_file(d.path().join("00000000000000000000-1-attacks.batch")).unwrap();
        let e = s.oldest().unwrap();
        assert_eq!(s.dead_letter(&e, "x").unwrap(), DeadLetterOutcome::Missing);
        assert_eq!((s.len(), s.used_bytes()), (2, 8));
        assert_eq!(s.oldest().unwrap().seq, 1);
        assert_eq!(s.stats().missing_batches, 1);
        assert_eq!(s.stats().dead_lettered_batches, 0);
        // No reason file left without its batch.
        assert_eq!(fs::read_dir(d.path().join(DEAD_DIR)).unwrap().count(), 0);

        fs::remove_file(d.path().join("00000000000000000001-1-attacks.batch")).unwrap();
        let e = s.oldest().unwrap();
        let err = s.read(&e).unwrap_err();
        assert!(err.is_not_found(), "{err}");
        s.forget_missing(&e);
        s.forget_missing(&e); // already forgotten: counted once
        assert_eq!(s.stats().missing_batches, 2);
        assert_eq!(s.oldest().unwrap().seq, 2);
        assert_eq!(s.read(&s.oldest().unwrap()).unwrap(), [2; 4]);
    }

    /// Issue 8: a batch dropped at the cap (oldest or newest), refused as
    /// larger than the cap, or removed by hand counts its rows, not only
    /// itself, so the sink's rows-lost total is complete.
    #[test]
    fn rows_of_dropped_and_missing_batches_are_counted() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 20, SpoolFull::DropOldest);
        s.push("a", 5, &[0; 10]).unwrap();
        s.push("a", 7, &[1; 10]).unwrap();
        // Drops the oldest (5 rows) to fit.
        s.push("a", 11, &[2; 10]).unwrap();
        assert_eq!(s.stats().dropped_rows, 5);
        // Larger than the whole cap: refused, whatever the policy.
        assert_eq!(s.push("a", 13, &[3; 21]).unwrap(), PushOutcome::Dropped);
        assert_eq!((s.stats().dropped_batches, s.stats().dropped_rows), (2, 18));
        let e = s.oldest().unwrap();
        assert_eq!(e.rows, Some(7));
        fs::remove_file(s.path_of(&e)).unwrap();
        s.forget_missing(&e);
        assert_eq!((s.stats().missing_batches, s.stats().missing_rows), (1, 7));

        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 20, SpoolFull::DropNewest);
        s.push("a", 5, &[0; 20]).unwrap();
        assert_eq!(s.push("a", 3, &[1; 1]).unwrap(), PushOutcome::Dropped);
        assert_eq!(s.stats().dropped_rows, 3);
        // The count survives a restart: it is in the file name.
        drop(s);
        let s = spool(d.path(), 20, SpoolFull::DropNewest);
        assert_eq!(s.oldest().unwrap().rows, Some(5));
    }

    /// Files of the old naming (`<seq>-<kind>.batch`, no row count) are
    /// still indexed, replayed and dropped; their rows count once the owner
    /// has counted them, which renames the files so it happens once.
    #[test]
    fn old_file_names_are_replayed_and_their_rows_counted_once() {
        let d = tempfile::tempdir().unwrap();
        fs::write(
            d.path().join("00000000000000000003-attacks.batch"),
            b"{}\n{}\n",
        )
        .unwrap();
        fs::write(d.path().join("00000000000000000004-attacks.batch"), b"{}\n").unwrap();
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        let old = s.entries();
        assert_eq!(old.len(), 2);
        assert!(old.iter().all(|e| e.rows.is_none()));
        assert_eq!(s.read(&old[0]).unwrap(), b"{}\n{}\n");
        let lines = |_: &str, p: &[u8]| p.iter().filter(|b| **b == b'\n').count() as u64;
        assert_eq!(s.count_unknown_rows(lines), 2);
        assert_eq!(s.count_unknown_rows(lines), 0, "once");
        let rows: Vec<_> = s.entries().iter().map(|e| e.rows).collect();
        assert_eq!(rows, [Some(2), Some(1)]);
        assert_eq!(s.read(&s.oldest().unwrap()).unwrap(), b"{}\n{}\n");
        // Renamed on disk: a reopened spool knows the rows, and the
        // sequence goes on after them.
        drop(s);
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        assert_eq!(s.oldest().unwrap().rows, Some(2));
        assert!(d
            .path()
            .join("00000000000000000003-2-attacks.batch")
            .exists());
        assert!(matches!(
            s.push("attacks", 1, b"{}\n").unwrap(),
            PushOutcome::Stored { seq: 5, .. }
        ));
        // An old file that was never counted is still dropped at the cap
        // (its rows unknown: none added).
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("00000000000000000000-attacks.batch"), [0; 10]).unwrap();
        let mut s = spool(d.path(), 10, SpoolFull::DropOldest);
        assert!(matches!(
            s.push("attacks", 4, &[1; 10]).unwrap(),
            PushOutcome::Stored {
                dropped_oldest: 1,
                ..
            }
        ));
        assert_eq!((s.stats().dropped_batches, s.stats().dropped_rows), (1, 0));
    }

    #[test]
    fn names_parse_in_both_forms_and_nothing_else() {
        let p = |n: &str| parse_name(Path::new(n));
        assert_eq!(
            p("00000000000000000001-12-attacks.batch"),
            Some((1, "attacks".into(), Some(12)))
        );
        assert_eq!(
            p("00000000000000000001-requests_1m.batch"),
            Some((1, "requests_1m".into(), None))
        );
        for bad in [
            "00000000000000000001-+12-attacks.batch",
            "00000000000000000001--attacks.batch",
            "00000000000000000001-1-2-attacks.batch",
            "1-attacks.batch",
            "00000000000000000001-x-attacks.batch",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_kinds_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut s = spool(d.path(), 100, SpoolFull::DropOldest);
        assert!(matches!(
            s.push("../x", 1, b""),
            Err(SpoolError::BadKind(_))
        ));
        assert!(matches!(s.push("", 1, b""), Err(SpoolError::BadKind(_))));
        assert!(matches!(s.push("a-b", 1, b""), Err(SpoolError::BadKind(_))));
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
            let mut pushed_rows = 0;
            for (i, n) in sizes.iter().enumerate() {
                let payload = vec![u8::try_from(i).unwrap(); *n];
                let rows = i as u64 + 1;
                pushed_rows += rows;
                if let PushOutcome::Stored { seq, .. } = s.push("a", rows, &payload).unwrap() {
                    stored.push((seq, payload));
                }
                proptest::prop_assert!(s.used_bytes() <= cap);
            }
            // Every row is either still spooled or counted as dropped.
            let kept: u64 = s.entries().iter().filter_map(|e| e.rows).sum();
            proptest::prop_assert_eq!(kept + s.stats().dropped_rows, pushed_rows);
            // What is left is a suffix of what was stored, in order.
            let left = s.entries();
            let tail = &stored[stored.len() - left.len()..];
            for (e, (seq, payload)) in left.iter().zip(tail) {
                proptest::prop_assert_eq!(e.seq, *seq);
                proptest::prop_assert_eq!(&s.read(e).unwrap(), payload);
            }
        }
    }

    /// Review round 15: spooled batches are attack rows (client addresses,
    /// request lines, headers, body excerpts; with `[masking] enabled =
    /// false` the secrets in clear), yet the spool directory and its files
    /// are created with the process umask: 0755 / 0644 under the usual 022
    /// (`specula live` started as root with `--user`, or any start outside
    /// the systemd unit's `UMask=0027`), readable by every local user.
    #[test]
    fn review15_spool_files_are_not_readable_by_other_users() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("spool");
        let mut s = spool(&dir, 1 << 20, SpoolFull::DropOldest);
        let out = s
            .push("attacks", 1, b"{\"client_ip\":\"192.0.2.1\"}\n")
            .unwrap();
        let PushOutcome::Stored { seq, .. } = out else {
            panic!("{out:?}")
        };
        let file = dir.join(format!(
            "{}.{BATCH_EXT}",
            file_name(seq, "attacks", Some(1))
        ));
        for p in [&dir, &dir.join(DEAD_DIR), &file] {
            let mode = fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o007,
                0,
                "{} is open to other users (mode {:o})",
                p.display(),
                mode & 0o777
            );
        }
    }

    /// Review round 25c. Defect: `ClickHouseSink::start` spawns the
    /// inserter, which counts old batches and replays the spool at once,
    /// while `cli` drops root only after `start` returns (`hand_over`, then
    /// `drop_to`): with `specula live` started as root and a service user,
    /// the first replay runs as root. A batch it cannot decode is
    /// dead-lettered, and `dead_letter` writes `dead/<name>.reason` with
    /// `open(O_CREAT|O_TRUNC)`, which follows a symlink. The service user
    /// (what a parser bug runs as) owns `spool/` and `dead/`: it writes an
    /// undecodable batch and plants its reason as `-> /etc/shadow`; at the
    /// next start root truncates that file and writes the error message in
    /// it (every password gone: logins fail). The kernel follows the link
    /// unless asked not to (`O_NOFOLLOW`, or `O_CREAT|O_EXCL`, which never
    /// follows one: namei `do_last`/`open_last_lookups`), as systemd-tmpfiles
    /// does since CVE-2017-18078 and as `privilege::hand_over` does here.
    /// Not the known `refuse_symlink`/`Spool::open` race: the link is
    /// planted before the start and no timing is needed inside the spool.
    /// Severity: Medium (root writes a file chosen by the unprivileged
    /// service user; needs a start as root outside the shipped unit, like
    /// review round 16).
    #[test]
    fn review25c_dead_letter_reason_is_not_written_through_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        // Stands for /etc/shadow.
        let shadow = d.path().join("shadow");
        fs::write(&shadow, b"root:$6$salt$hash:19000::::::\n").unwrap();
        let dir = d.path().join("spool");
        let mut s = spool(&dir, 1 << 20, SpoolFull::DropOldest);
        s.push("attacks", 1, b"not a row\n").unwrap();
        let e = s.oldest().unwrap();
        let reason = dir
            .join(DEAD_DIR)
            .join(format!("{}.reason", file_name(e.seq, &e.kind, e.rows)));
        std::os::unix::fs::symlink(&shadow, &reason).unwrap();
        let moved = s.dead_letter(&e, "undecodable spool row");
        assert_eq!(
            fs::read(&shadow).unwrap(),
            b"root:$6$salt$hash:19000::::::\n",
            "the dead letter's reason was written through a planted symlink"
        );
        // The planted link blocks nothing: the batch leaves the spool.
        assert_eq!(moved.unwrap(), DeadLetterOutcome::Moved);
        assert!(s.is_empty());
        assert!(!fs::symlink_metadata(&reason).unwrap().is_symlink());
        assert_eq!(fs::read(&reason).unwrap(), b"undecodable spool row");
    }

    /// Review round 16. Defect: `Spool::open` runs as root when `specula
    /// live` is started as root with a service user (README: "`live` started
    /// as root refuses a spool directory that is a symlink (the service user
    /// owns the folder it sits in)"), and `cli` checks only the spool
    /// directory itself for a symlink. Inside it, `dead` is created and its
    /// mode tightened with `private_dir`, which follows a symlink
    /// (`fs::metadata`, `fs::set_permissions`). The service user (what a
    /// parser bug runs as) plants `spool/dead -> /` (or `/etc`, `/usr`); at
    /// the next start root strips the "other" bits from that directory:
    /// mode 0755 becomes 0750 and every non-root service and user of the
    /// host loses access to it (logins, name lookups, daemons break).
    /// systemd-tmpfiles refuses to adjust through such a link
    /// (CVE-2017-18078, CVE-2018-6954 fixes: it opens with O_NOFOLLOW and
    /// works through the descriptor), as `privilege::hand_over` already does
    /// for the chown. Severity: Medium (root action on an arbitrary
    /// directory chosen by the unprivileged service user; needs a start as
    /// root outside the shipped unit).
    #[test]
    fn review16_open_does_not_chmod_through_a_symlinked_dead_dir() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        // Stands for /etc: readable by everyone.
        let etc = d.path().join("etc");
        fs::create_dir(&etc).unwrap();
        fs::set_permissions(&etc, fs::Permissions::from_mode(0o755)).unwrap();
        // The service user's spool, its `dead` replaced by a link.
        let dir = d.path().join("spool");
        fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(&etc, dir.join(DEAD_DIR)).unwrap();
        // Refusing to open is fine; changing what the link points at is not.
        let _ = Spool::open(&dir, 1 << 20, SpoolFull::DropOldest);
        let mode = fs::metadata(&etc).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o755,
            "the directory behind a symlinked dead/ was chmodded to {mode:o}"
        );
    }

    /// `dead/` stays within the spool's cap: a server that rejects every
    /// batch for good (a schema gone wrong) filled the disk with dead
    /// letters, and a full disk then made pushes drop live batches (review
    /// round 32b's suspicion). The oldest go first, counted; the newest
    /// always stays; the bytes found at open count too.
    #[test]
    fn dead_letters_are_pruned_oldest_first_within_the_cap() {
        let d = tempfile::tempdir().unwrap();
        let reason = "Code: 27. Cannot parse input";
        let one = 100 + reason.len() as u64;
        {
            let mut s = spool(d.path(), 3 * one, SpoolFull::DropOldest);
            for i in 0..5u8 {
                s.dead_letter_payload("attacks", 1, &[b'a' + i; 100], reason)
                    .unwrap();
                assert!(s.dead_bytes() <= 3 * one, "{}", s.dead_bytes());
            }
            assert_eq!(s.stats().dead_pruned_batches, 2);
            assert_eq!(s.dead_bytes(), 3 * one);
        }
        let dead = d.path().join(DEAD_DIR);
        let mut names: Vec<String> = fs::read_dir(&dead)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 6, "{names:?}");
        assert!(names[0].starts_with(&format!("{:020}-", 2)), "{names:?}");
        // Reopened with a smaller cap: what is on disk counts, the next
        // dead letter prunes down to it.
        let mut s = spool(d.path(), one, SpoolFull::DropOldest);
        assert_eq!(s.dead_bytes(), 3 * one);
        s.dead_letter_payload("attacks", 1, &[b'z'; 100], reason)
            .unwrap();
        assert_eq!((s.dead_bytes(), s.stats().dead_pruned_batches), (one, 3));
        assert_eq!(fs::read_dir(&dead).unwrap().count(), 2);
    }

    /// Review round 32b. Defect: the sequence continues after the highest
    /// number on disk with `saturating_add(1)`, so a file at the last number
    /// (`18446744073709551615-…`, from a hand edit or a copy of another
    /// spool; 20 digits parse as a u64) makes every later push take that
    /// same number: the index entry of the batch already there is replaced
    /// (its bytes stay counted, never freed) and, with the same row count,
    /// `rename` replaces its file. Every push after it overwrites the one
    /// before: all but the last batch are lost, none counted. A kernel
    /// `rename(2)` onto an existing name replaces it silently; the spool
    /// must never hand out a number it already holds. Severity: Medium
    /// (silent, uncounted loss of every spooled batch; needs a file in the
    /// spool directory).
    #[test]
    fn review32b_the_last_sequence_number_is_never_handed_out_twice() {
        let d = tempfile::tempdir().unwrap();
        let last = d.path().join(format!(
            "{}.{BATCH_EXT}",
            file_name(u64::MAX, "attacks", Some(1))
        ));
        fs::write(&last, b"kept\n").unwrap();
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        // Refusing (an error the sink counts as a loss) is fine; taking a
        // number already in use is not.
        for payload in [b"one\n", b"two\n"] {
            if let Ok(PushOutcome::Stored { seq, .. }) = s.push("attacks", 1, payload) {
                assert_ne!(seq, u64::MAX, "a sequence number handed out twice");
            }
        }
        assert_eq!(
            fs::read(&last).unwrap(),
            b"kept\n",
            "the spooled batch was overwritten"
        );
        let live: u64 = s.entries().iter().map(|e| e.bytes).sum();
        assert_eq!(
            s.used_bytes(),
            live,
            "bytes counted for a batch no longer indexed"
        );
        // Nor do dead letters overwrite each other at the last number.
        let a = s.dead_letter_payload("attacks", 1, b"x", "why").ok();
        let b = s.dead_letter_payload("attacks", 1, b"y", "why").ok();
        assert!(a != Some(u64::MAX) && b != Some(u64::MAX), "{a:?} {b:?}");
    }

    /// Review round 32b. Defect: `Spool::open` indexes any `.batch` name
    /// (`DirEntry::metadata` is an `lstat`), and `read` and the start's
    /// `count_unknown_rows` open it with `fs::read`, which follows a symlink
    /// and reads to EOF. A `.batch` that is a symlink to `/dev/zero` (or a
    /// FIFO) makes the first replay read without end (the inserter grows
    /// until the OOM killer ends the sensor, at every start, or blocks
    /// forever on the FIFO); one to a root-only file is read by root (the
    /// first replay runs before the privilege drop, review round 25c); a
    /// directory (EISDIR) is "retried later" for ever and holds every batch
    /// behind it. The kernel opens a link's target unless told
    /// `O_NOFOLLOW`, and `open` of a FIFO blocks without `O_NONBLOCK`.
    /// The spool only writes regular files: anything else at a batch name
    /// is not a batch. Severity: Medium (a crash loop or a replay that never
    /// drains; needs a file planted in the spool directory).
    #[test]
    fn review32b_only_regular_files_are_replayed() {
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("shadow");
        fs::write(&secret, b"root:$6$salt$hash\n").unwrap();
        let dir = d.path().join("spool");
        fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(
            &secret,
            dir.join(format!("{}.{BATCH_EXT}", file_name(0, "attacks", Some(1)))),
        )
        .unwrap();
        // Stands for `-> /dev/zero`, which the start would read to the end
        // (old naming: `count_unknown_rows` reads it at once).
        std::os::unix::fs::symlink(
            &secret,
            dir.join(format!("{}.{BATCH_EXT}", file_name(1, "attacks", None))),
        )
        .unwrap();
        fs::create_dir(dir.join(format!("{}.{BATCH_EXT}", file_name(2, "attacks", Some(1)))))
            .unwrap();
        let mut s = spool(&dir, 1 << 20, SpoolFull::DropOldest);
        // What the start does: must not read through the link.
        assert_eq!(s.count_unknown_rows(|_, p| p.len() as u64), 0);
        for e in s.entries() {
            if let Ok(p) = s.read(&e) {
                assert_ne!(p, b"root:$6$salt$hash\n", "read through a symlink");
            }
        }
        // A real batch pushed now is the next one replayed, and its number
        // does not collide with the names already taken.
        let PushOutcome::Stored { seq, .. } = s.push("attacks", 1, b"real\n").unwrap() else {
            panic!("not stored")
        };
        assert!(seq > 2);
        assert_eq!(s.oldest().map(|e| e.seq), Some(seq), "{:?}", s.entries());
        assert_eq!(s.read(&s.oldest().unwrap()).unwrap(), b"real\n");
    }

    /// Review round 32b. Defect: two batch files with one sequence number
    /// (a spool copied or restored into another by hand; the old and the
    /// new naming of one batch) are both counted in `used_bytes` at open,
    /// but the index keeps only the last one read: the other is never
    /// replayed, never counted lost, and its bytes stay counted against
    /// the cap for ever (the spool, once drained, still "holds" them).
    /// Severity: Low (hand-made state; silent loss of one batch).
    #[test]
    fn review32b_two_files_with_one_sequence_number_are_both_replayed() {
        let d = tempfile::tempdir().unwrap();
        fs::write(
            d.path()
                .join(format!("{}.{BATCH_EXT}", file_name(5, "attacks", Some(1)))),
            b"a\n",
        )
        .unwrap();
        fs::write(
            d.path().join(format!(
                "{}.{BATCH_EXT}",
                file_name(5, "requests_1m", Some(2))
            )),
            b"bb\nbb\n",
        )
        .unwrap();
        let mut s = spool(d.path(), 1 << 20, SpoolFull::DropOldest);
        let mut replayed = Vec::new();
        while let Some(e) = s.oldest() {
            replayed.push(s.read(&e).unwrap());
            s.remove(&e).unwrap();
        }
        replayed.sort();
        assert_eq!(replayed, [b"a\n".to_vec(), b"bb\nbb\n".to_vec()]);
        assert_eq!(s.used_bytes(), 0, "bytes of a batch never indexed");
    }
}
