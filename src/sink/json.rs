//! JSON Lines output: one record per line.
//!
//! Records are buffered (256 KiB) and flushed at least every
//! [`FLUSH_EVERY`] while they arrive, and whenever the sink thread is idle
//! ([`RecordSink::idle`]): a `tail -f` sees them within about a second, and
//! a SIGKILL loses at most that much. The first write error ends the
//! writer: it reports itself unhealthy with the error, and every record it
//! is handed afterwards is counted in [`SinkStats::rows_lost`].

use std::io::{self, BufWriter, Write};
use std::time::{Duration, Instant};

use super::{Record, RecordSink, SinkError, SinkStats};

/// Longest time a record written while others keep coming waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Writes records as JSON Lines to any writer (file or standard output).
pub struct JsonLinesWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    what: String,
    stats: SinkStats,
    line: Vec<u8>,
    /// When the buffer was last flushed (or the writer made).
    last_flush: Instant,
    /// Records are in the buffer that were not flushed yet.
    unflushed: bool,
    /// A write or flush failed: the buffer's state is unknown, so nothing
    /// more is written.
    failed: bool,
}

impl JsonLinesWriter {
    /// `what` names the destination in errors (a path or "standard output").
    pub fn new(out: Box<dyn Write + Send>, what: impl Into<String>) -> Self {
        JsonLinesWriter {
            out: BufWriter::with_capacity(256 * 1024, out),
            what: what.into(),
            stats: SinkStats::default(),
            line: Vec::with_capacity(1024),
            last_flush: Instant::now(),
            unflushed: false,
            failed: false,
        }
    }

    /// Records the failure in the stats (health, last error, counters) and
    /// returns it as a sink error.
    fn fail(&mut self, e: io::Error) -> SinkError {
        self.failed = true;
        self.stats.write_errors += 1;
        self.stats.healthy = false;
        let err = if e.kind() == io::ErrorKind::BrokenPipe {
            SinkError::Closed
        } else {
            SinkError::Io {
                what: self.what.clone(),
                source: e,
            }
        };
        self.stats.last_error = Some(err.to_string());
        err
    }

    /// The error of a call after the writer failed.
    fn refused(&self) -> SinkError {
        SinkError::Io {
            what: self.what.clone(),
            source: io::Error::other("an earlier write failed"),
        }
    }

    /// Counts records handed over after (or at) the failure.
    fn count_lost(&mut self, records: usize) {
        self.stats.batches_lost += 1;
        self.stats.rows_lost += records as u64;
    }

    fn flush_buffer(&mut self) -> Result<(), SinkError> {
        self.last_flush = Instant::now();
        self.unflushed = false;
        self.out.flush().map_err(|e| self.fail(e))
    }
}

impl RecordSink for JsonLinesWriter {
    fn write_batch(&mut self, records: &[Record]) -> Result<(), SinkError> {
        if self.failed {
            self.count_lost(records.len());
            return Err(self.refused());
        }
        for (i, r) in records.iter().enumerate() {
            self.line.clear();
            // Serialising a Record (strings, numbers, bools) cannot fail.
            if serde_json::to_writer(&mut self.line, r).is_err() {
                self.stats.write_errors += 1;
                continue;
            }
            self.line.push(b'\n');
            if let Err(e) = self.out.write_all(&self.line) {
                let err = self.fail(e);
                self.count_lost(records.len() - i);
                return Err(err);
            }
            self.unflushed = true;
            self.stats.records_written += 1;
            self.stats.bytes_written += self.line.len() as u64;
        }
        if self.unflushed && self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush_buffer()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.failed {
            return Err(self.refused());
        }
        self.flush_buffer()
    }

    fn idle(&mut self) -> Result<(), SinkError> {
        if self.unflushed && !self.failed {
            self.flush_buffer()?;
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

    /// A write error makes the writer unhealthy with the error,
    /// and every record it could not take is counted as lost.
    #[test]
    fn a_write_error_is_reported_and_later_records_counted_lost() {
        let mut w = JsonLinesWriter::new(Box::new(DiskFull), "out.jsonl");
        assert!(w.stats().healthy);
        let batch: Vec<Record> = (0..2000).map(record).collect(); // > 256 KiB of lines
        assert!(w.write_batch(&batch).is_err());
        let s = w.stats();
        assert!(!s.healthy);
        let msg = s.last_error.unwrap_or_default();
        assert!(
            msg.contains("out.jsonl") && msg.contains("No space left"),
            "{msg}"
        );
        assert_eq!(s.write_errors, 1);
        let lost = s.rows_lost;
        assert_eq!(lost + s.records_written, 2000);
        assert_eq!(s.batches_lost, 1);
        // Later batches are refused and counted, not written.
        assert!(w.write_batch(&batch[..10]).is_err());
        let s = w.stats();
        assert_eq!(s.rows_lost, lost + 10);
        assert_eq!(s.batches_lost, 2);
        assert!(w.flush().is_err());
        assert!(w.idle().is_ok());
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
