//! ClickHouse sink (in progress).
