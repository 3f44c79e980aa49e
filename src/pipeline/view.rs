//! A live view of a running pipeline, for `/metrics` and `/healthz`.
//!
//! Every thread publishes its own counters here from time to time (workers
//! and capture threads about twice a second, the sink after each batch), so
//! reading a snapshot never stops the data path: each slot has its own
//! short-held lock and nobody waits on a reader for long.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::metrics::{CaptureCounters, DispatchStats, PipelineReport, WorkerReport};
use crate::sink::SinkStats;

use super::sink_queue::ByteBudget;
use super::WorkerMsg;

/// How often a worker or capture thread publishes its counters.
pub(super) const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// A capture source (one interface) as last published.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    pub name: String,
    pub capture: CaptureCounters,
    pub dispatch: DispatchStats,
    /// False once the capture thread ended.
    pub running: bool,
    /// Why the capture ended, if it failed.
    pub error: Option<String>,
    pub last_published: Instant,
}

/// See the module doc.
pub struct PipelineView {
    workers: Vec<Mutex<WorkerReport>>,
    queues: Vec<Receiver<WorkerMsg>>,
    queue_capacity: usize,
    /// Bytes of records waiting for the sink thread.
    sink_queue: Option<Arc<ByteBudget>>,
    sink: Mutex<SinkStats>,
    sources: Mutex<Vec<SourceStatus>>,
    rule_reloads_ok: AtomicU64,
    rule_reloads_failed: AtomicU64,
    rules_loaded: AtomicU64,
    started: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking publisher leaves counters that are still worth reading.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PipelineView {
    pub(super) fn new(
        queues: Vec<Receiver<WorkerMsg>>,
        queue_capacity: usize,
        sink_queue: Option<Arc<ByteBudget>>,
    ) -> PipelineView {
        PipelineView {
            workers: queues
                .iter()
                .map(|_| Mutex::new(WorkerReport::default()))
                .collect(),
            queues,
            queue_capacity,
            sink_queue,
            sink: Mutex::new(SinkStats::default()),
            sources: Mutex::new(Vec::new()),
            rule_reloads_ok: AtomicU64::new(0),
            rule_reloads_failed: AtomicU64::new(0),
            rules_loaded: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    pub(super) fn publish_worker(&self, idx: usize, report: WorkerReport) {
        if let Some(slot) = self.workers.get(idx) {
            *lock(slot) = report;
        }
    }

    pub(super) fn publish_sink(&self, stats: SinkStats) {
        *lock(&self.sink) = stats;
    }

    /// A capture thread announces itself; returns its slot.
    pub fn register_source(&self, name: &str) -> usize {
        let mut s = lock(&self.sources);
        s.push(SourceStatus {
            name: name.to_string(),
            capture: CaptureCounters::default(),
            dispatch: DispatchStats::default(),
            running: true,
            error: None,
            last_published: Instant::now(),
        });
        s.len() - 1
    }

    pub fn publish_source(&self, idx: usize, capture: &CaptureCounters, dispatch: &DispatchStats) {
        if let Some(s) = lock(&self.sources).get_mut(idx) {
            s.capture = capture.clone();
            s.dispatch = dispatch.clone();
            s.last_published = Instant::now();
        }
    }

    pub fn source_ended(&self, idx: usize, error: Option<String>) {
        if let Some(s) = lock(&self.sources).get_mut(idx) {
            s.running = false;
            s.error = error;
        }
    }

    /// The sink's counters as last published (the sink thread publishes
    /// them once more when it ends, whatever the outcome).
    pub fn sink_stats(&self) -> SinkStats {
        lock(&self.sink).clone()
    }

    pub fn sources(&self) -> Vec<SourceStatus> {
        lock(&self.sources).clone()
    }

    /// Count a rule reload; `rules` is the new rule count when it worked.
    pub fn rule_reload(&self, rules: Option<usize>) {
        match rules {
            Some(n) => {
                self.rule_reloads_ok.fetch_add(1, Ordering::Relaxed);
                self.rules_loaded.store(n as u64, Ordering::Relaxed);
            }
            None => {
                self.rule_reloads_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn set_rules_loaded(&self, n: usize) {
        self.rules_loaded.store(n as u64, Ordering::Relaxed);
    }

    /// Every counter as last published.
    pub fn snapshot(&self) -> PipelineReport {
        let mut r = PipelineReport::default();
        for s in lock(&self.sources).iter() {
            r.capture.add(&s.capture);
            r.dispatch.add(&s.dispatch);
        }
        for w in &self.workers {
            r.add_worker(&lock(w));
        }
        r.sink = lock(&self.sink).clone();
        r
    }

    /// Prometheus text: the counters of [`snapshot`](Self::snapshot) plus
    /// gauges (queues, flows, buffered bytes, rules, uptime).
    pub fn prometheus(&self) -> String {
        let report = self.snapshot();
        let mut s = report.prometheus();
        let mut gauge = |name: &str, help: &str, rows: Vec<(Option<String>, u64)>| {
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} gauge");
            for (label, v) in rows {
                match label {
                    Some(l) => {
                        let _ = writeln!(s, "{name}{{{l}}} {v}");
                    }
                    None => {
                        let _ = writeln!(s, "{name} {v}");
                    }
                }
            }
        };
        gauge(
            "specula_pipeline_queue_batches",
            "Batches waiting in each worker queue.",
            self.queues
                .iter()
                .enumerate()
                .map(|(i, q)| (Some(format!("worker=\"{i}\"")), q.len() as u64))
                .collect(),
        );
        gauge(
            "specula_pipeline_queue_capacity_batches",
            "Capacity of each worker queue.",
            vec![(None, self.queue_capacity as u64)],
        );
        if let Some(b) = &self.sink_queue {
            gauge(
                "specula_pipeline_sink_queue_bytes",
                "Bytes of records waiting for the sink thread.",
                vec![(None, b.used() as u64)],
            );
            gauge(
                "specula_pipeline_sink_queue_capacity_bytes",
                "Most bytes of records the sink queue holds ([pipeline] sink_queue_max_bytes).",
                vec![(None, b.max() as u64)],
            );
        }
        gauge(
            "specula_reassembly_flows_active",
            "TCP flows tracked now.",
            vec![(None, report.workers.iter().map(|w| w.flows_active).sum())],
        );
        gauge(
            "specula_reassembly_buffered_bytes",
            "Out-of-order bytes buffered now.",
            vec![(None, report.workers.iter().map(|w| w.buffered_bytes).sum())],
        );
        gauge(
            "specula_http_buffered_bytes",
            "Bytes held now by the HTTP parsers (heads, kept bodies).",
            vec![(
                None,
                report.workers.iter().map(|w| w.http.buffered_bytes).sum(),
            )],
        );
        gauge(
            "specula_pairing_held_records",
            "Records waiting for their response now.",
            vec![(
                None,
                report.workers.iter().map(|w| w.pairing.held_records).sum(),
            )],
        );
        gauge(
            "specula_pairing_held_bytes",
            "Bytes of the records waiting for their response now.",
            vec![(
                None,
                report.workers.iter().map(|w| w.pairing.held_bytes).sum(),
            )],
        );
        gauge(
            "specula_detect_rules",
            "Rules in the detector now.",
            vec![(None, self.rules_loaded.load(Ordering::Relaxed))],
        );
        gauge(
            "specula_uptime_seconds",
            "Seconds since the pipeline started.",
            vec![(None, self.started.elapsed().as_secs())],
        );
        let sources = self.sources();
        gauge(
            "specula_capture_up",
            "1 while the capture of an interface runs.",
            sources
                .iter()
                .map(|src| {
                    (
                        Some(format!("interface=\"{}\"", prom_escape(&src.name))),
                        u64::from(src.running),
                    )
                })
                .collect(),
        );
        for (name, label, v) in report.gauges() {
            let mut extra = String::new();
            if let Some((k, l)) = label {
                extra = format!("{k}=\"{l}\"");
            }
            gauge(
                name,
                "Sink gauge.",
                vec![((!extra.is_empty()).then_some(extra), v)],
            );
        }
        let _ = writeln!(s, "# TYPE specula_detect_rule_reloads_total counter");
        let _ = writeln!(
            s,
            "specula_detect_rule_reloads_total{{result=\"ok\"}} {}",
            self.rule_reloads_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "specula_detect_rule_reloads_total{{result=\"failed\"}} {}",
            self.rule_reloads_failed.load(Ordering::Relaxed)
        );
        s
    }

    /// Whether capture and sink are healthy, and a JSON body saying why.
    /// Capture is healthy when every source runs and published recently; the
    /// sink when its last delivery worked (or nothing was tried yet).
    pub fn health(&self) -> (bool, String) {
        let sources = self.sources();
        let stale = Duration::from_secs(10);
        let capture_ok = !sources.is_empty()
            && sources
                .iter()
                .all(|s| s.running && s.last_published.elapsed() < stale);
        let sink = lock(&self.sink).clone();
        let sink_ok = sink.healthy;
        let srcs: Vec<serde_json::Value> = sources
            .iter()
            .map(|s| {
                serde_json::json!({
                    "interface": s.name,
                    "running": s.running,
                    "error": s.error,
                    "seconds_since_update": s.last_published.elapsed().as_secs(),
                    "kernel_dropped": s.capture.kernel_dropped,
                })
            })
            .collect();
        let body = serde_json::json!({
            "status": if capture_ok && sink_ok { "ok" } else { "unhealthy" },
            "capture": { "healthy": capture_ok, "sources": srcs },
            "sink": { "healthy": sink_ok, "last_error": sink.last_error },
        });
        (capture_ok && sink_ok, body.to_string())
    }
}

/// Escape a Prometheus label value.
fn prom_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sink queue's bytes and cap are on `/metrics`.
    #[test]
    fn sink_queue_bytes_are_a_gauge() {
        let budget = Arc::new(ByteBudget::new(4096));
        let view = PipelineView::new(Vec::new(), 1, Some(Arc::clone(&budget)));
        let text = view.prometheus();
        assert!(
            text.contains("# TYPE specula_pipeline_sink_queue_bytes gauge\nspecula_pipeline_sink_queue_bytes 0\n"),
            "{text}"
        );
        assert!(text.contains("specula_pipeline_sink_queue_capacity_bytes 4096\n"));
    }
}
