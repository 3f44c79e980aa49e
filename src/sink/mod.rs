//! Sink: where records go.
//!
//! Owns the output record ([`Record`], the only serde type of the data path),
//! the escaping of bytes that are not UTF-8, and the writers: JSON Lines
//! ([`JsonLinesWriter`]) now, ClickHouse later. Receives records from the
//! workers through the pipeline; hands them to storage.

pub mod clickhouse;
mod json;
mod record;
pub mod spool;

pub use json::JsonLinesWriter;
pub use record::{escape_bytes, format_ts, AttackFields, Record, RequestContext};

use std::io;

/// Counters of a sink, all monotonic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkStats {
    pub records_written: u64,
    pub bytes_written: u64,
    pub write_errors: u64,
}

/// Anything records can be written to.
pub trait RecordSink: Send {
    fn write_batch(&mut self, records: &[Record]) -> Result<(), SinkError>;
    /// Flush what is buffered; called at the end and periodically.
    fn flush(&mut self) -> Result<(), SinkError>;
    fn stats(&self) -> SinkStats;
}

/// A sink failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("writing {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The reader of standard output went away (`specula read ... | head`).
    #[error("output closed")]
    Closed,
}
