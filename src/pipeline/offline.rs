//! The capture thread of `specula read`: files → filter → decode → dispatch.
//! [`run`] wraps it with the pipeline's start and finish, for the CLI and
//! for benchmarks, examples and tests that want a whole offline run.

use std::path::{Path, PathBuf};

use crate::capture::{CaptureError, FileReader, FrameFilter};
use crate::decode::Decoder;
use crate::metrics::{CaptureCounters, PipelineReport};
use crate::sink::{RecordSink, SinkError, SinkStats};

use super::{Pipeline, PipelineOptions};

/// How one input file went.
#[derive(Debug)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub frames: u64,
    /// Why reading stopped early (open failure or damage), if it did.
    pub error: Option<CaptureError>,
}

/// Progress callback: (bytes read of this file, file length if known).
pub type Progress<'a> = &'a mut dyn FnMut(&Path, u64, Option<u64>);

/// What a whole offline run hands back.
#[derive(Debug)]
pub struct OfflineRun {
    /// One per input file, in order.
    pub outcomes: Vec<FileOutcome>,
    /// Every counter of the run, the capture thread's included.
    pub report: PipelineReport,
    /// How the sink ended.
    pub sink: Result<SinkStats, SinkError>,
}

/// Start a pipeline with `opts` and `sink`, read `paths` into it, then drain
/// and stop it: `specula read` without its command line. Fails only when
/// the pipeline's threads cannot be started.
pub fn run(
    paths: &[PathBuf],
    filter: Option<&mut FrameFilter>,
    decoder: &mut Decoder,
    opts: PipelineOptions,
    sink: Box<dyn RecordSink>,
    progress: Progress<'_>,
) -> std::io::Result<OfflineRun> {
    let mut pipeline = Pipeline::start(opts, sink)?;
    let mut counters = CaptureCounters::default();
    let outcomes = read_files(
        paths,
        filter,
        decoder,
        &mut pipeline,
        &mut counters,
        progress,
    );
    let (mut report, sink) = pipeline.finish();
    report.capture = counters;
    Ok(OfflineRun {
        outcomes,
        report,
        sink,
    })
}

/// Read every file in order into `pipeline`. Never stops at a bad file:
/// each gets its [`FileOutcome`].
pub fn read_files(
    paths: &[PathBuf],
    mut filter: Option<&mut FrameFilter>,
    decoder: &mut Decoder,
    pipeline: &mut Pipeline,
    counters: &mut CaptureCounters,
    progress: Progress<'_>,
) -> Vec<FileOutcome> {
    let mut outcomes = Vec::with_capacity(paths.len());
    for path in paths {
        counters.files += 1;
        let mut reader = match FileReader::open(path) {
            Ok(r) => r,
            Err(e) => {
                counters.files_failed += 1;
                outcomes.push(FileOutcome {
                    path: path.clone(),
                    frames: 0,
                    error: Some(e),
                });
                continue;
            }
        };
        let mut frames = 0u64;
        let mut error = None;
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    counters.files_damaged += 1;
                    error = Some(e);
                    break;
                }
            };
            frames += 1;
            counters.frames += 1;
            counters.bytes += u64::from(frame.orig_len).max(frame.data.len() as u64);
            if let Some(f) = filter.as_deref_mut() {
                match f.matches(&frame) {
                    Ok(true) => {}
                    Ok(false) => {
                        counters.filtered_out += 1;
                        continue;
                    }
                    Err(_) => {
                        // A link type the filter cannot compile for: keep the frame
                        // (losing traffic silently is worse than analysing extra).
                        counters.filter_errors += 1;
                    }
                }
            }
            match decoder.decode(frame.ts, frame.linktype, frame.data) {
                Ok((seg, _)) => {
                    counters.tcp_segments += 1;
                    pipeline.push(frame.ts, &seg);
                }
                Err(reason) => counters.skip(reason),
            }
            if frames % 1024 == 0 {
                // Fragments also expire as new ones arrive; this catches
                // datagrams left behind once fragments stop coming.
                decoder.expire(frame.ts);
            }
            if frames % 65_536 == 0 {
                progress(path, reader.bytes_read(), reader.file_len());
            }
        }
        progress(path, reader.bytes_read(), reader.file_len());
        outcomes.push(FileOutcome {
            path: path.clone(),
            frames,
            error,
        });
    }
    decoder.finish();
    counters.defrag = decoder.stats().clone();
    outcomes
}
