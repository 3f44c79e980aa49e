//! JSON Lines output: one record per line.

use std::io::{self, BufWriter, Write};

use super::{Record, RecordSink, SinkError, SinkStats};

/// Writes records as JSON Lines to any writer (file or standard output).
pub struct JsonLinesWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    what: String,
    stats: SinkStats,
    line: Vec<u8>,
}

impl JsonLinesWriter {
    /// `what` names the destination in errors (a path or "standard output").
    pub fn new(out: Box<dyn Write + Send>, what: impl Into<String>) -> Self {
        JsonLinesWriter {
            out: BufWriter::with_capacity(256 * 1024, out),
            what: what.into(),
            stats: SinkStats::default(),
            line: Vec::with_capacity(1024),
        }
    }

    fn io_err(&self, e: io::Error) -> SinkError {
        if e.kind() == io::ErrorKind::BrokenPipe {
            SinkError::Closed
        } else {
            SinkError::Io {
                what: self.what.clone(),
                source: e,
            }
        }
    }
}

impl RecordSink for JsonLinesWriter {
    fn write_batch(&mut self, records: &[Record]) -> Result<(), SinkError> {
        for r in records {
            self.line.clear();
            // Serialising a Record (strings, numbers, bools) cannot fail.
            if serde_json::to_writer(&mut self.line, r).is_err() {
                self.stats.write_errors += 1;
                continue;
            }
            self.line.push(b'\n');
            if let Err(e) = self.out.write_all(&self.line) {
                self.stats.write_errors += 1;
                return Err(self.io_err(e));
            }
            self.stats.records_written += 1;
            self.stats.bytes_written += self.line.len() as u64;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|e| self.io_err(e))
    }

    fn stats(&self) -> SinkStats {
        self.stats.clone()
    }
}
