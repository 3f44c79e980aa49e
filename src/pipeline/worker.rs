//! A worker thread: owns a share of the flows and runs
//! reassembly → http → detect → records for them, holding the records of
//! requests on two-sided flows until their response (see `pairing`).

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender};

use crate::capture::Timestamp;
use crate::config::EmitMode;
use crate::detect::{DetectStats, Detector, Hit};
use crate::http::{HttpEvent, HttpLimits, HttpSession, HttpStats};
use crate::metrics::WorkerReport;
use crate::reassembly::{Direction, EndReason, FlowInfo, FlowTable, StreamHandler};
use crate::sink::Record;

use super::batch::SegmentBatch;
use super::mask::Masker;
use super::pairing::{FlowPairing, Pairing};
use super::record::{build_records, ClientIpPolicy};
use super::view::{PipelineView, PUBLISH_EVERY};
use super::{PipelineOptions, WhenFull, WorkerMsg};

/// Records are handed to the sink in groups of about this many.
const RECORD_BATCH: usize = 256;

/// Per-flow state stored in the flow table.
#[derive(Default)]
pub(crate) struct FlowState {
    http: HttpSession,
    pairing: FlowPairing,
}

pub(crate) struct Worker {
    table: FlowTable<FlowState>,
    ctx: Ctx,
    recycle: Sender<SegmentBatch>,
    index: usize,
    rules: Arc<ArcSwap<Detector>>,
    view: Arc<PipelineView>,
}

/// Everything the stream handler needs, apart from the table.
struct Ctx {
    http_limits: HttpLimits,
    http_stats: HttpStats,
    events: Vec<HttpEvent>,
    detector: Arc<Detector>,
    detect_stats: DetectStats,
    hits: Vec<Hit>,
    emit: EmitMode,
    client_ip: ClientIpPolicy,
    masker: Arc<Masker>,
    when_full: WhenFull,
    out: Vec<Record>,
    out_tx: Sender<Vec<Record>>,
    report: WorkerReport,
    pairing: Pairing,
    /// Latest capture time seen (segments and batch ticks).
    now: Timestamp,
}

impl Worker {
    pub fn new(
        opts: &PipelineOptions,
        index: usize,
        rules: Arc<ArcSwap<Detector>>,
        view: Arc<PipelineView>,
        out_tx: Sender<Vec<Record>>,
        recycle: Sender<SegmentBatch>,
    ) -> Worker {
        Worker {
            table: FlowTable::new(opts.reassembly.clone()),
            recycle,
            index,
            rules,
            view,
            ctx: Ctx {
                http_limits: opts.http.clone(),
                http_stats: HttpStats::default(),
                events: Vec::new(),
                detector: Arc::clone(&opts.detector),
                detect_stats: DetectStats::default(),
                hits: Vec::new(),
                emit: opts.emit,
                client_ip: opts.client_ip.clone(),
                masker: Arc::clone(&opts.masker),
                when_full: opts.when_full,
                out: Vec::with_capacity(RECORD_BATCH),
                out_tx,
                report: WorkerReport::default(),
                pairing: Pairing::new(opts.pairing.clone()),
                now: Timestamp(0),
            },
        }
    }

    pub fn run(mut self, rx: Receiver<WorkerMsg>) -> WorkerReport {
        let mut last_publish = Instant::now();
        for msg in rx.iter() {
            match msg {
                WorkerMsg::Batch(mut batch) => {
                    // Rules swapped by a reload apply from the next batch on.
                    let current = self.rules.load();
                    if !Arc::ptr_eq(&current, &self.ctx.detector) {
                        self.ctx.detector = Arc::clone(&current);
                    }
                    for (ts, seg) in batch.iter() {
                        self.ctx.now = self.ctx.now.max(ts);
                        self.ctx.pairing.note_segment(ts, &seg);
                        self.table.process(ts, &seg, &mut self.ctx);
                    }
                    if batch.now > Timestamp(0) {
                        self.ctx.now = self.ctx.now.max(batch.now);
                        self.table.advance_time(batch.now, &mut self.ctx);
                    }
                    let now = self.ctx.now;
                    self.ctx.pairing.expire(now, &mut self.ctx.out);
                    self.ctx.report.peak_flows =
                        self.ctx.report.peak_flows.max(self.table.len() as u64);
                    self.ctx.report.peak_buffered_bytes = self
                        .ctx
                        .report
                        .peak_buffered_bytes
                        .max(self.table.buffered_bytes() as u64);
                    batch.clear();
                    let _ = self.recycle.try_send(batch);
                    self.ctx.flush_records();
                    if last_publish.elapsed() >= PUBLISH_EVERY {
                        last_publish = Instant::now();
                        self.view.publish_worker(self.index, self.report());
                    }
                }
            }
        }
        self.table.end_all(&mut self.ctx);
        self.ctx.pairing.release_all(&mut self.ctx.out);
        self.ctx.flush_records();
        let report = self.report();
        self.view.publish_worker(self.index, report.clone());
        report
    }

    /// Counters so far.
    fn report(&self) -> WorkerReport {
        let mut report = self.ctx.report.clone();
        report.reassembly = self.table.stats().clone();
        report.http = self.ctx.http_stats.clone();
        report.detect = self.ctx.detect_stats.clone();
        report.pairing = self.ctx.pairing.stats();
        report.flows_active = self.table.len() as u64;
        report.buffered_bytes = self.table.buffered_bytes() as u64;
        report
    }
}

impl Ctx {
    fn handle_events(&mut self, flow: &FlowInfo, fp: &mut FlowPairing) {
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            match ev {
                HttpEvent::Request(req) => {
                    self.hits.clear();
                    self.detector
                        .inspect(req, &mut self.detect_stats, &mut self.hits);
                    self.report.requests += 1;
                    if !self.hits.is_empty() {
                        self.report.attack_requests += 1;
                    }
                    for h in &self.hits {
                        self.report.hits_by_class[h.class as usize] += 1;
                    }
                    let dst_port = match req.dir {
                        Direction::ToServer => flow.server.port,
                        Direction::ToClient => flow.client.port,
                    };
                    if self.pairing.should_hold(fp, req.dir, dst_port) {
                        let mut held = self.pairing.take_vec();
                        build_records(
                            flow,
                            req,
                            &self.hits,
                            self.emit,
                            &self.client_ip,
                            &self.masker,
                            &mut held,
                        );
                        self.pairing
                            .hold(fp, req.index, req.ts, self.now, held, &mut self.out);
                    } else {
                        build_records(
                            flow,
                            req,
                            &self.hits,
                            self.emit,
                            &self.client_ip,
                            &self.masker,
                            &mut self.out,
                        );
                        self.pairing.passed(fp, req.index);
                    }
                }
                HttpEvent::Response(resp) => {
                    self.report.responses += 1;
                    self.pairing.on_response(fp, resp, &mut self.out);
                }
            }
            if self.out.len() >= RECORD_BATCH {
                self.flush_records();
            }
        }
        self.events = events;
        self.events.clear();
    }

    fn flush_records(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.out, Vec::with_capacity(RECORD_BATCH));
        let n = batch.len() as u64;
        let sent = match self.when_full {
            WhenFull::Block => self.out_tx.send(batch).is_ok(),
            WhenFull::DropNewest => self.out_tx.try_send(batch).is_ok(),
        };
        if sent {
            self.report.records += n;
        } else {
            self.report.records_dropped += n;
        }
    }
}

impl StreamHandler<FlowState> for Ctx {
    fn on_data(
        &mut self,
        flow: &FlowInfo,
        state: &mut FlowState,
        dir: Direction,
        ts: Timestamp,
        data: &[u8],
    ) {
        self.pairing.touch(flow, &mut state.pairing);
        state.pairing.note_data(dir);
        state.http.on_data(
            &self.http_limits,
            &mut self.http_stats,
            dir,
            ts,
            data,
            &mut self.events,
        );
        if !self.events.is_empty() {
            self.handle_events(flow, &mut state.pairing);
        }
    }

    fn on_gap(&mut self, flow: &FlowInfo, state: &mut FlowState, dir: Direction, len: u64) {
        self.pairing.touch(flow, &mut state.pairing);
        state.http.on_gap(
            &self.http_limits,
            &mut self.http_stats,
            dir,
            len,
            &mut self.events,
        );
        if !self.events.is_empty() {
            self.handle_events(flow, &mut state.pairing);
        }
    }

    fn on_end(&mut self, flow: &FlowInfo, state: &mut FlowState, _reason: EndReason) {
        state
            .http
            .on_end(&self.http_limits, &mut self.http_stats, &mut self.events);
        if !self.events.is_empty() {
            self.handle_events(flow, &mut state.pairing);
        }
        self.pairing
            .end_flow(flow, &mut state.pairing, &mut self.out);
        if self.out.len() >= RECORD_BATCH {
            self.flush_records();
        }
    }
}
