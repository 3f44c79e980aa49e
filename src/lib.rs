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
