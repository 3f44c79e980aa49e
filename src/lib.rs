//! Specula: a passive HTTP attack sensor.
//!
//! The modules follow the data flow:
//! `capture → decode → reassembly → http → detect → sink`, wired together by
//! [`pipeline`] and configured by [`config`]. See `ARCHITECTURE.md`.

pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod detect;
pub mod http;
pub mod metrics;
pub mod mirror_target;
pub mod pipeline;
pub mod privilege;
pub mod reassembly;
pub mod sink;
pub mod synth;

/// The hasher state of the tables keyed by what traffic controls (flows,
/// fragments, values found clean): randomly keyed, so that no input can be
/// crafted to pile its keys into one bucket. Under `cfg(fuzzing)` (set by
/// `cargo fuzz`) the key is fixed instead, so that a fuzz input takes the
/// same paths on every run and coverage depends on the input alone.
pub(crate) fn table_hasher() -> ahash::RandomState {
    #[cfg(fuzzing)]
    return ahash::RandomState::with_seeds(1, 2, 3, 4);
    #[cfg(not(fuzzing))]
    ahash::RandomState::new()
}
