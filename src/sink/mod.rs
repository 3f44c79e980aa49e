//! Sink: where records go.
//!
//! Owns the output record ([`Record`], the only serde type of the data path),
//! the escaping of bytes that are not UTF-8, and the writers: JSON Lines
//! ([`JsonLinesWriter`]) and ClickHouse ([`clickhouse::ClickHouseSink`],
//! with its crash-safe [`spool`]); every sink reports [`SinkStats`]. One
//! sensor writes a given output or spool ([`lock`]).
//! Receives records from the workers through the pipeline; hands them to
//! storage.

pub mod clickhouse;
mod json;
pub mod lock;
mod record;
pub mod spool;

pub use json::JsonLinesWriter;
pub use record::{escape_bytes, format_ts, AttackFields, Record, RequestContext};

use std::io;

/// What a sink reports while it runs: counters (monotonic), gauges and
/// health. [`RecordSink::stats`] is called after every batch for the live
/// metrics and `/healthz`, so sinks keep these in atomics or plain fields and
/// a snapshot costs a few loads (and one short lock for `last_error`).
///
/// Rows a sink could not deliver at once are either spooled (and replayed
/// later), dead-lettered (rejected for good, kept on disk) or lost; a JSON
/// Lines writer has no spool: after a write error it is unhealthy and the
/// records it is handed count in `batches_lost` and `rows_lost` until a
/// retry (at a bounded backoff) succeeds. Records the sink thread drains
/// and discards after a sink failed for good count there too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkStats {
    /// Rows stored (ClickHouse: attack rows the server acknowledged).
    pub records_written: u64,
    /// Approximate uncompressed bytes of those rows.
    pub bytes_written: u64,
    /// Failed writes or insert attempts (each retry that fails counts).
    pub write_errors: u64,
    /// Insert attempts repeated after a retriable failure.
    pub insert_retries: u64,
    /// Batches written to the spool because the destination was failing.
    pub batches_spooled: u64,
    /// Spooled batches delivered later and removed from the spool.
    pub batches_replayed: u64,
    /// Batches the destination rejected for good, kept in the dead-letter area.
    pub batches_dead_lettered: u64,
    /// Batches deleted or refused because the spool was full (rows lost).
    pub spool_dropped_batches: u64,
    /// Spooled batches whose file was gone from disk when replayed (removed
    /// by hand); also counted in `batches_lost`.
    pub spool_missing_batches: u64,
    /// Batches neither delivered nor spooled (no spool, or spool I/O
    /// failed), or spooled and then missing from disk.
    pub batches_lost: u64,
    /// Rows of those lost batches and of the batches dropped from a full
    /// spool: every row the sink was handed and will never deliver.
    pub rows_lost: u64,
    /// Gauge: batches waiting in the spool now.
    pub spool_batches: u64,
    /// Gauge: bytes of those batches on disk now.
    pub spool_bytes: u64,
    /// Gauge: bytes of rejected batches kept in the spool's `dead/` (within
    /// the spool's cap, the oldest deleted first).
    pub dead_letter_bytes: u64,
    /// Dead letters deleted to keep `dead/` within the cap.
    pub dead_letters_pruned: u64,
    /// False while the destination is failing (inserts fail, batches go to
    /// the spool or are lost); true again after the next successful write.
    pub healthy: bool,
    /// Message of the most recent failure; never contains credentials.
    /// Kept after recovery (`healthy` says whether it still holds), so an
    /// operator can see what happened.
    pub last_error: Option<String>,
}

impl Default for SinkStats {
    /// A sink that has not failed yet: healthy, all counters zero.
    fn default() -> Self {
        SinkStats {
            records_written: 0,
            bytes_written: 0,
            write_errors: 0,
            insert_retries: 0,
            batches_spooled: 0,
            batches_replayed: 0,
            batches_dead_lettered: 0,
            spool_dropped_batches: 0,
            spool_missing_batches: 0,
            batches_lost: 0,
            rows_lost: 0,
            spool_batches: 0,
            spool_bytes: 0,
            dead_letter_bytes: 0,
            dead_letters_pruned: 0,
            healthy: true,
            last_error: None,
        }
    }
}

/// Anything records can be written to.
pub trait RecordSink: Send {
    fn write_batch(&mut self, records: &[Record]) -> Result<(), SinkError>;
    /// Flush what is buffered; called at the end.
    fn flush(&mut self) -> Result<(), SinkError>;
    /// Called by the sink thread when no records came for a while: a sink
    /// that buffers makes what it holds visible. Cheaper than `flush`,
    /// which for ClickHouse cuts a batch and replays the spool.
    fn idle(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
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
