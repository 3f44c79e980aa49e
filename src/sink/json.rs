//! JSON Lines output: one record per line.
//!
//! Records are buffered (256 KiB) and written at least every
//! [`FLUSH_EVERY`] while they arrive, and whenever the sink thread is idle
//! ([`RecordSink::idle`]): a `tail -f` sees them within about a second, and
//! a SIGKILL loses at most that much.
//!
//! A write error (a full disk) does not end the writer. It turns unhealthy
//! with the error, keeps what the destination did not take, and tries that
//! again [`RETRY_FIRST`] later, then after twice as long each time a retry
//! fails, at most [`RETRY_MAX`]: on the next batch or idle call once due, so
//! no thread or timer of its own. Records handed over while it is failing
//! are counted in [`SinkStats::rows_lost`] (so is the rest of the batch the
//! error hit). When a retry goes through it is healthy again, and logs so.
//! [`RecordSink::flush`] (the end of a run) reports the first loss since
//! the previous flush as an error, even when the writer recovered, so a run
//! that lost rows does not end as if it had not.
//!
//! The file never holds a torn line followed by another line. The writer
//! keeps its own buffer and how many of its bytes the destination took:
//! `Write::write` says exactly that when it succeeds, and takes nothing when
//! it fails, so a retry resumes in the middle of the line where the error
//! stopped it, and the torn line is completed, not followed. (That is why
//! no `BufWriter`: when a line does not fit its buffer it goes to the
//! destination with `write_all`, which does not say how much of it was
//! taken before an error.) A line is counted written once its last byte is
//! taken.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::{Record, RecordSink, SinkError, SinkStats};

/// Longest time a record written while others keep coming waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Wait before the first retry after a write error.
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between two retries (the wait doubles from `RETRY_FIRST`).
pub const RETRY_MAX: Duration = Duration::from_secs(30);
/// Bytes of lines gathered before they are handed to the destination.
const BUFFER_BYTES: usize = 256 * 1024;

/// Whether the destination takes what it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Writing,
    /// A write failed: retried at `next_try`, `wait` after the failure; a
    /// retry that fails waits twice as long, at most [`RETRY_MAX`].
    Failing {
        next_try: Instant,
        wait: Duration,
    },
    /// The reader of standard output went away: nothing more can be written.
    Closed,
}

/// Writes records as JSON Lines to any writer (file or standard output).
pub struct JsonLinesWriter {
    out: Box<dyn Write + Send>,
    what: String,
    stats: SinkStats,
    line: Vec<u8>,
    /// Whole lines for the destination; its first `taken` bytes it has.
    pending: Vec<u8>,
    taken: usize,
    /// When lines were last handed over (or the writer made).
    last_flush: Instant,
    state: State,
    /// The first loss since the last `flush`, which reports it.
    loss: Option<String>,
}

impl JsonLinesWriter {
    /// `what` names the destination in errors (a path or "standard output").
    pub fn new(out: Box<dyn Write + Send>, what: impl Into<String>) -> Self {
        JsonLinesWriter {
            out,
            what: what.into(),
            stats: SinkStats::default(),
            line: Vec::with_capacity(1024),
            pending: Vec::with_capacity(BUFFER_BYTES + 4096),
            taken: 0,
            last_flush: Instant::now(),
            state: State::Writing,
            loss: None,
        }
    }

    /// Hands the pending lines to the destination and flushes it. On an
    /// error, what was taken is counted and the rest stays pending.
    fn drain(&mut self) -> io::Result<()> {
        self.last_flush = Instant::now();
        while let Some(rest) = self.pending.get(self.taken..).filter(|r| !r.is_empty()) {
            let n = match self.out.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n.min(rest.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let done = rest.get(..n).unwrap_or_default();
            // A line counts once its end is taken: serde_json escapes
            // control characters, so a newline only ever ends a line.
            self.stats.records_written += newlines(done);
            self.stats.bytes_written += n as u64;
            self.taken += n;
        }
        self.pending.clear();
        self.taken = 0;
        self.out.flush()
    }

    /// Records a failure (health, last error, counters, the retry time).
    /// Only a closed standard output is an error for the caller: anything
    /// else is retried.
    fn fail(&mut self, e: io::Error) -> Result<(), SinkError> {
        self.stats.write_errors += 1;
        self.stats.healthy = false;
        if e.kind() == io::ErrorKind::BrokenPipe {
            self.state = State::Closed;
            self.stats.last_error = Some(SinkError::Closed.to_string());
            self.lose_pending();
            return Err(SinkError::Closed);
        }
        let now = Instant::now();
        let wait = match self.state {
            State::Failing { wait, .. } => {
                tracing::debug!(output = %self.what, error = %e, "output still failing");
                (wait * 2).min(RETRY_MAX)
            }
            State::Writing | State::Closed => {
                tracing::warn!(
                    output = %self.what,
                    error = %e,
                    "output write failed: records are counted lost until a retry succeeds"
                );
                RETRY_FIRST
            }
        };
        self.state = State::Failing {
            next_try: now.checked_add(wait).unwrap_or(now),
            wait,
        };
        self.loss.get_or_insert_with(|| e.to_string());
        self.stats.last_error = Some(
            SinkError::Io {
                what: self.what.clone(),
                source: e,
            }
            .to_string(),
        );
        Ok(())
    }

    /// While failing and due: tries the pending lines again. True when the
    /// writer is writing (again).
    fn retry_if_due(&mut self) -> Result<bool, SinkError> {
        match self.state {
            State::Writing => Ok(true),
            State::Closed => Err(SinkError::Closed),
            State::Failing { next_try, .. } if Instant::now() < next_try => Ok(false),
            State::Failing { .. } => self.retry(),
        }
    }

    fn retry(&mut self) -> Result<bool, SinkError> {
        match self.drain() {
            Ok(()) => {
                self.state = State::Writing;
                // `last_error` stays: what happened, for the operator.
                self.stats.healthy = true;
                tracing::info!(
                    output = %self.what,
                    rows_lost = self.stats.rows_lost,
                    "output writable again"
                );
                Ok(true)
            }
            Err(e) => self.fail(e).map(|()| false),
        }
    }

    /// Counts records handed over while failing (or hit by the failure).
    fn count_lost(&mut self, records: u64) {
        if records > 0 {
            self.stats.batches_lost += 1;
            self.stats.rows_lost += records;
        }
    }

    /// Gives up the lines the destination did not take.
    fn lose_pending(&mut self) {
        let lost = newlines(self.pending.get(self.taken..).unwrap_or_default());
        self.count_lost(lost);
        self.pending.clear();
        self.taken = 0;
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    // Lines are hundreds of bytes: a vectorised search beats a byte loop
    // (which made this a quarter of the sink thread's instructions).
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

impl RecordSink for JsonLinesWriter {
    fn write_batch(&mut self, records: &[Record]) -> Result<(), SinkError> {
        let writing = match self.retry_if_due() {
            Ok(w) => w,
            Err(e) => {
                self.count_lost(records.len() as u64);
                return Err(e);
            }
        };
        if !writing {
            self.count_lost(records.len() as u64);
            return Ok(());
        }
        for (i, r) in records.iter().enumerate() {
            self.line.clear();
            // Serialising a Record (strings, numbers, bools) cannot fail.
            if serde_json::to_writer(&mut self.line, r).is_err() {
                self.stats.write_errors += 1;
                continue;
            }
            self.line.push(b'\n');
            self.pending.extend_from_slice(&self.line);
            if self.pending.len() >= BUFFER_BYTES {
                if let Err(e) = self.drain() {
                    // This record's line stays pending, the rest is lost.
                    self.count_lost((records.len() - i - 1) as u64);
                    return self.fail(e);
                }
            }
        }
        if !self.pending.is_empty() && self.last_flush.elapsed() >= FLUSH_EVERY {
            if let Err(e) = self.drain() {
                return self.fail(e);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        match self.state {
            State::Closed => return Err(SinkError::Closed),
            // The end of the run: one last try, due or not.
            State::Failing { .. } => {
                self.retry()?;
            }
            State::Writing => {
                if let Err(e) = self.drain() {
                    self.fail(e)?;
                }
            }
        }
        if !matches!(self.state, State::Writing) {
            self.lose_pending();
        }
        match self.loss.take() {
            None => Ok(()),
            Some(first) => Err(SinkError::Io {
                what: self.what.clone(),
                source: io::Error::other(format!(
                    "{} records lost, the first after: {first}",
                    self.stats.rows_lost
                )),
            }),
        }
    }

    fn idle(&mut self) -> Result<(), SinkError> {
        if self.retry_if_due()? && !self.pending.is_empty() {
            if let Err(e) = self.drain() {
                return self.fail(e);
            }
        }
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        self.stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn record(i: u32) -> Record {
        crate::sink::clickhouse::row::tests::record(i, true)
    }

    /// A destination whose disk is full.
    struct DiskFull;

    impl Write for DiskFull {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28)) // ENOSPC
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A destination that shows what reached it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn lines(&self) -> usize {
            self.0
                .lock()
                .unwrap()
                .iter()
                .filter(|b| **b == b'\n')
                .count()
        }
    }

    /// A write error makes the writer unhealthy with the error, the
    /// records it could not take are counted as lost, and the end of the
    /// run reports the loss.
    #[test]
    fn a_write_error_is_reported_and_later_records_counted_lost() {
        let mut w = JsonLinesWriter::new(Box::new(DiskFull), "out.jsonl");
        assert!(w.stats().healthy);
        // More than 256 KiB of lines: the buffer is handed over and fails.
        let batch: Vec<Record> = (0..2000).map(record).collect();
        // Not an error for the sink thread: it keeps handing records over,
        // so that a retry can succeed.
        assert!(w.write_batch(&batch).is_ok());
        let s = w.stats();
        assert!(!s.healthy);
        let msg = s.last_error.unwrap_or_default();
        assert!(
            msg.contains("out.jsonl") && msg.contains("No space left"),
            "{msg}"
        );
        assert_eq!(s.write_errors, 1);
        assert_eq!(s.records_written, 0);
        assert_eq!(s.batches_lost, 1);
        let lost = s.rows_lost;
        assert!(
            lost > 0 && lost < 2000,
            "the lines held for the retry are not lost yet"
        );
        // Later batches are counted, not written (the retry is not due).
        assert!(w.write_batch(&batch[..10]).is_ok());
        let s = w.stats();
        assert_eq!(s.rows_lost, lost + 10);
        assert_eq!(s.batches_lost, 2);
        assert!(w.idle().is_ok());
        // The end: the last try fails, the held lines are lost too, and
        // the loss is the run's error.
        let e = w.flush().unwrap_err().to_string();
        assert!(
            e.contains("out.jsonl") && e.contains("No space left"),
            "{e}"
        );
        let s = w.stats();
        assert_eq!(s.rows_lost + s.records_written, 2010);
        assert_eq!(s.write_errors, 2);
    }

    /// Takes `short` bytes of the first write (a line torn in the middle),
    /// then fails `fails` writes as a full disk does, then takes everything.
    struct Flaky {
        out: Shared,
        short: Option<usize>,
        fails: usize,
    }

    impl Write for Flaky {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if let Some(n) = self.short.take() {
                return self.out.write(&b[..n.min(b.len())]);
            }
            if self.fails > 0 {
                self.fails -= 1;
                return Err(io::Error::from_raw_os_error(28));
            }
            self.out.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl JsonLinesWriter {
        /// Makes the scheduled retry due now; the wait it was given.
        fn retry_now(&mut self) -> Duration {
            match &mut self.state {
                State::Failing { next_try, wait } => {
                    *next_try = Instant::now();
                    *wait
                }
                other => panic!("not failing: {other:?}"),
            }
        }
    }

    /// Issue 8: the writer recovers from a full disk. Retries come at a
    /// bounded backoff, records handed over between them are counted lost,
    /// a successful retry makes it healthy again, and the output is valid
    /// JSON Lines although the error tore a line in the middle.
    #[test]
    fn a_failed_writer_retries_and_recovers_with_whole_lines() {
        let out = Shared::default();
        let flaky = Flaky {
            out: out.clone(),
            short: Some(100),
            fails: 2,
        };
        let mut w = JsonLinesWriter::new(Box::new(flaky), "out.jsonl");
        let batch: Vec<Record> = (0..2000).map(record).collect(); // > 256 KiB of lines
        w.write_batch(&batch).unwrap();
        let s = w.stats();
        assert!(!s.healthy && s.last_error.is_some());
        assert_eq!((s.write_errors, s.records_written), (1, 0));
        assert_eq!(out.0.lock().unwrap().len(), 100, "a torn line");
        let held = 2000 - s.rows_lost;
        // Not due yet: counted lost, no write tried.
        w.write_batch(&batch[..10]).unwrap();
        assert_eq!(w.stats().write_errors, 1);
        assert_eq!(w.stats().rows_lost, 2000 - held + 10);
        // Due: the retry (from the idle hook) fails; the wait doubles.
        assert_eq!(w.retry_now(), RETRY_FIRST);
        w.idle().unwrap();
        let s = w.stats();
        assert!(!s.healthy);
        assert_eq!(s.write_errors, 2);
        // Due again: this one goes through, with the next batch.
        assert_eq!(w.retry_now(), RETRY_FIRST * 2);
        w.write_batch(&batch[..5]).unwrap();
        let s = w.stats();
        assert!(s.healthy, "{s:?}");
        assert!(s.last_error.is_some(), "kept after recovery: {s:?}");
        assert_eq!(s.records_written, held);
        // The end of the run: everything written, the loss reported.
        let e = w.flush().unwrap_err().to_string();
        assert!(
            e.contains("records lost") && e.contains("No space left"),
            "{e}"
        );
        assert!(w.flush().is_ok(), "reported once");
        let s = w.stats();
        assert_eq!(s.records_written, held + 5);
        assert_eq!(s.records_written + s.rows_lost, 2015);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, s.records_written);
        for l in &lines {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
        assert_eq!(s.bytes_written, text.len() as u64);
    }

    /// The wait between retries doubles from `RETRY_FIRST` up to
    /// `RETRY_MAX` and stays there.
    #[test]
    fn retries_back_off_to_a_cap() {
        let mut w = JsonLinesWriter::new(Box::new(DiskFull), "out.jsonl");
        let batch: Vec<Record> = (0..2000).map(record).collect();
        w.write_batch(&batch).unwrap();
        let mut waits = Vec::new();
        for _ in 0..8 {
            waits.push(w.retry_now().as_secs());
            w.idle().unwrap();
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(w.stats().write_errors, 9);
    }

    /// A reader of standard output that went away is not retried.
    #[test]
    fn a_closed_output_is_final() {
        struct Gone;
        impl Write for Gone {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = JsonLinesWriter::new(Box::new(Gone), "standard output");
        let batch: Vec<Record> = (0..2000).map(record).collect();
        assert!(matches!(w.write_batch(&batch), Err(SinkError::Closed)));
        assert!(matches!(w.write_batch(&batch[..1]), Err(SinkError::Closed)));
        assert!(matches!(w.flush(), Err(SinkError::Closed)));
        let s = w.stats();
        assert_eq!((s.records_written, s.rows_lost), (0, 2001));
    }

    /// Buffered records reach the destination when the sink is
    /// idle, and while records keep coming once `FLUSH_EVERY` has passed.
    #[test]
    fn records_are_flushed_when_idle_and_at_least_every_second() {
        let out = Shared::default();
        let mut w = JsonLinesWriter::new(Box::new(out.clone()), "out.jsonl");
        w.write_batch(&[record(1)]).unwrap();
        assert_eq!(out.lines(), 0, "buffered");
        w.idle().unwrap();
        assert_eq!(out.lines(), 1);
        w.write_batch(&[record(2)]).unwrap();
        assert_eq!(out.lines(), 1, "flushed less than a second ago");
        w.last_flush = Instant::now()
            .checked_sub(FLUSH_EVERY + Duration::from_millis(1))
            .unwrap();
        w.write_batch(&[record(3)]).unwrap();
        assert_eq!(out.lines(), 3, "due: flushed without waiting for idle");
        assert!(w.stats().healthy);
        assert_eq!(w.stats().rows_lost, 0);
    }
}
