//! Sink: output records.
