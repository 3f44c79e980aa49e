//! Metrics: counters of every stage, their aggregation across workers, and
//! their rendering (the end-of-run summary; Prometheus names).
//!
//! Names follow `specula_<stage>_<noun>_<unit>_total`; labels are bounded
//! (reasons and classes, never addresses or URIs).

pub mod http;

use std::fmt::Write as _;
use std::time::Duration;

use crate::decode::{DefragStats, SkipReason};
use crate::detect::{AttackClass, DetectStats};
use crate::http::HttpStats;
use crate::reassembly::ReassemblyStats;
use crate::sink::SinkStats;

/// One counter: Prometheus name, optional `(label, value)`, count.
pub type Counter = (&'static str, Option<(&'static str, &'static str)>, u64);

/// One counter as a Prometheus sample line, `name{key="label"} value`.
pub fn sample_line(name: &str, label: Option<(&'static str, &'static str)>, value: u64) -> String {
    match label {
        Some((k, l)) => format!("{name}{{{k}=\"{l}\"}} {value}"),
        None => format!("{name} {value}"),
    }
}

/// Capture-side counters (the capture thread).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureCounters {
    pub files: u64,
    pub files_failed: u64,
    pub files_damaged: u64,
    pub frames: u64,
    pub bytes: u64,
    pub filtered_out: u64,
    /// Frames the BPF filter could not be applied to (kept, not filtered).
    pub filter_errors: u64,
    /// Live capture: packets the kernel saw for us, and those it or the
    /// interface dropped (libpcap's statistics).
    pub kernel_received: u64,
    pub kernel_dropped: u64,
    pub interface_dropped: u64,
    pub tcp_segments: u64,
    /// UDP tunnel listeners: datagrams dropped because their VNI is not in
    /// the configured VNI filter.
    pub vni_filtered: u64,
    /// UDP tunnel listeners: datagrams dropped because their outer source
    /// is not in the listener's allow-list (`[capture] tunnel_sources`).
    pub source_filtered: u64,
    /// Frames that gave no TCP segment, by [`SkipReason`] (index = position in `SkipReason::ALL`).
    pub skipped: [u64; SkipReason::ALL.len()],
    /// IP defragmentation (the capture thread's `Decoder`).
    pub defrag: DefragStats,
}

impl CaptureCounters {
    /// Add another source's counters (several interfaces, several files).
    pub fn add(&mut self, o: &CaptureCounters) {
        self.files += o.files;
        self.files_failed += o.files_failed;
        self.files_damaged += o.files_damaged;
        self.frames += o.frames;
        self.bytes += o.bytes;
        self.filtered_out += o.filtered_out;
        self.filter_errors += o.filter_errors;
        self.kernel_received += o.kernel_received;
        self.kernel_dropped += o.kernel_dropped;
        self.interface_dropped += o.interface_dropped;
        self.tcp_segments += o.tcp_segments;
        self.vni_filtered += o.vni_filtered;
        self.source_filtered += o.source_filtered;
        for (a, b) in self.skipped.iter_mut().zip(o.skipped.iter()) {
            *a += b;
        }
        self.defrag.add(&o.defrag);
    }

    pub fn skip(&mut self, reason: SkipReason) {
        if let Some(i) = SkipReason::ALL.iter().position(|r| *r == reason) {
            if let Some(c) = self.skipped.get_mut(i) {
                *c += 1;
            }
        }
    }
}

/// Capture thread → worker dispatch counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchStats {
    pub batches_sent: u64,
    pub queue_full_waits: u64,
    /// Times a worker queue used up `live`'s wait budget
    /// (`[pipeline] full_queue_wait_ms`): from then on its batches are
    /// dropped without waiting until it has drained to half.
    pub queue_overloads: u64,
    pub dropped_batches: u64,
    pub dropped_segments: u64,
}

impl DispatchStats {
    pub fn add(&mut self, o: &DispatchStats) {
        self.batches_sent += o.batches_sent;
        self.queue_full_waits += o.queue_full_waits;
        self.queue_overloads += o.queue_overloads;
        self.dropped_batches += o.dropped_batches;
        self.dropped_segments += o.dropped_segments;
    }
}

/// What one worker reports when it ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    pub reassembly: ReassemblyStats,
    pub http: HttpStats,
    pub detect: DetectStats,
    /// Request/response pairing (two-sided captures).
    pub pairing: crate::pipeline::PairingStats,
    pub requests: u64,
    pub responses: u64,
    pub attack_requests: u64,
    /// Requests whose source, not a trusted proxy, sent `X-Real-IP` /
    /// `X-Forwarded-For` (recorded in `client_ip_claimed`, not believed).
    pub client_ip_claims_untrusted: u64,
    pub hits_by_class: [u64; AttackClass::ALL.len()],
    pub records: u64,
    pub records_dropped: u64,
    /// `live`: times the sink's queue was full and this worker waited.
    pub sink_queue_full_waits: u64,
    /// `live`: times the sink's queue stayed full through the wait budget.
    pub sink_queue_overloads: u64,
    pub peak_flows: u64,
    pub peak_buffered_bytes: u64,
    /// Flows tracked and out-of-order bytes buffered when the report was taken.
    pub flows_active: u64,
    pub buffered_bytes: u64,
}

/// Everything a run counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineReport {
    pub capture: CaptureCounters,
    pub dispatch: DispatchStats,
    pub workers: Vec<WorkerReport>,
    pub worker_panics: u64,
    pub sink: SinkStats,
}

impl PipelineReport {
    pub fn add_worker(&mut self, w: &WorkerReport) {
        self.workers.push(w.clone());
    }

    fn sum(&self, f: impl Fn(&WorkerReport) -> u64) -> u64 {
        self.workers.iter().map(f).sum()
    }

    pub fn requests(&self) -> u64 {
        self.sum(|w| w.requests)
    }

    pub fn hits(&self, class: AttackClass) -> u64 {
        self.sum(|w| w.hits_by_class.get(class as usize).copied().unwrap_or(0))
    }

    pub fn total_hits(&self) -> u64 {
        AttackClass::ALL.iter().map(|c| self.hits(*c)).sum()
    }

    /// Every counter as `(prometheus name, optional label, value)`.
    pub fn counters(&self) -> Vec<Counter> {
        let c = &self.capture;
        let mut v = vec![
            ("specula_capture_files_total", None, c.files),
            ("specula_capture_files_failed_total", None, c.files_failed),
            ("specula_capture_files_damaged_total", None, c.files_damaged),
            ("specula_capture_packets_total", None, c.frames),
            ("specula_capture_bytes_total", None, c.bytes),
            (
                "specula_capture_filtered_packets_total",
                None,
                c.filtered_out,
            ),
            ("specula_capture_filter_errors_total", None, c.filter_errors),
            (
                "specula_capture_kernel_received_packets_total",
                None,
                c.kernel_received,
            ),
            (
                "specula_capture_dropped_packets_total",
                Some(("reason", "kernel")),
                c.kernel_dropped,
            ),
            (
                "specula_capture_dropped_packets_total",
                Some(("reason", "interface")),
                c.interface_dropped,
            ),
            ("specula_decode_tcp_segments_total", None, c.tcp_segments),
            (
                "specula_capture_vni_filtered_packets_total",
                None,
                c.vni_filtered,
            ),
            (
                "specula_capture_source_filtered_packets_total",
                None,
                c.source_filtered,
            ),
        ];
        for (i, r) in SkipReason::ALL.iter().enumerate() {
            v.push((
                "specula_decode_skipped_packets_total",
                Some(("reason", r.as_str())),
                c.skipped.get(i).copied().unwrap_or(0),
            ));
        }
        let f = &c.defrag;
        v.push(("specula_decode_defrag_fragments_total", None, f.fragments));
        v.push(("specula_decode_defrag_datagrams_total", None, f.reassembled));
        v.push(("specula_decode_defrag_overlaps_total", None, f.overlaps));
        v.push((
            "specula_decode_defrag_overlap_different_data_total",
            None,
            f.overlaps_different,
        ));
        for (reason, n) in [
            ("timed_out", f.timed_out),
            ("memcap", f.dropped_memcap),
            ("max_datagrams", f.dropped_max_datagrams),
            ("max_fragments", f.dropped_max_fragments),
            ("too_big", f.dropped_too_big),
            ("overlap", f.dropped_overlap),
        ] {
            v.push((
                "specula_decode_defrag_dropped_datagrams_total",
                Some(("reason", reason)),
                n,
            ));
        }
        for (reason, n) in [("tiny", f.dropped_tiny), ("malformed", f.dropped_malformed)] {
            v.push((
                "specula_decode_defrag_dropped_fragments_total",
                Some(("reason", reason)),
                n,
            ));
        }
        let d = &self.dispatch;
        v.push(("specula_pipeline_batches_total", None, d.batches_sent));
        v.push((
            "specula_pipeline_queue_full_waits_total",
            None,
            d.queue_full_waits,
        ));
        v.push((
            "specula_pipeline_queue_overloads_total",
            None,
            d.queue_overloads,
        ));
        v.push((
            "specula_pipeline_dropped_segments_total",
            Some(("reason", "queue_full")),
            d.dropped_segments,
        ));
        macro_rules! r {
            ($name:literal, $f:ident) => {
                v.push(($name, None, self.sum(|w| w.reassembly.$f)))
            };
        }
        r!("specula_reassembly_segments_total", segments);
        r!("specula_reassembly_flows_total", flows_created);
        r!("specula_reassembly_flows_ended_total", flows_ended);
        r!("specula_reassembly_flows_evicted_total", flows_evicted);
        r!(
            "specula_reassembly_flows_evicted_memcap_total",
            flows_evicted_memcap
        );
        r!("specula_reassembly_flows_timed_out_total", flows_timed_out);
        r!(
            "specula_reassembly_midstream_pickups_total",
            midstream_pickups
        );
        r!(
            "specula_reassembly_retransmitted_segments_total",
            retransmitted_segments
        );
        r!(
            "specula_reassembly_out_of_order_segments_total",
            out_of_order_segments
        );
        r!(
            "specula_reassembly_overlap_segments_total",
            overlap_segments
        );
        r!(
            "specula_reassembly_overlap_different_data_total",
            overlap_different_data
        );
        r!("specula_reassembly_urgent_pointers_total", urgent_pointers);
        r!("specula_reassembly_gaps_total", gaps);
        r!("specula_reassembly_gap_bytes_total", gap_bytes);
        r!(
            "specula_reassembly_per_flow_cap_hits_total",
            per_flow_cap_hits
        );
        r!("specula_reassembly_memcap_hits_total", memcap_hits);
        r!(
            "specula_reassembly_ignored_segments_total",
            ignored_segments
        );
        r!(
            "specula_reassembly_data_after_rst_segments_total",
            data_after_rst
        );
        r!("specula_reassembly_rst_resumed_flows_total", rst_resumed);
        r!("specula_reassembly_fin_resumed_flows_total", fin_resumed);
        r!("specula_reassembly_isn_corrected_total", isn_corrected);
        r!(
            "specula_reassembly_midstream_start_corrected_total",
            midstream_start_corrected
        );
        r!(
            "specula_reassembly_midstream_stash_full_total",
            midstream_stash_full
        );
        r!(
            "specula_reassembly_midstream_reread_both_total",
            midstream_reread_both
        );
        r!(
            "specula_reassembly_midstream_reread_unavailable_total",
            midstream_reread_unavailable
        );
        r!(
            "specula_reassembly_late_data_in_gap_segments_total",
            late_data_in_gap
        );
        macro_rules! h {
            ($name:literal, $f:ident) => {
                v.push(($name, None, self.sum(|w| w.http.$f)))
            };
        }
        h!("specula_http_requests_total", requests);
        h!("specula_http_responses_total", responses);
        h!(
            "specula_http_incomplete_requests_total",
            incomplete_requests
        );
        h!("specula_http_header_limit_hits_total", header_limit_hits);
        h!(
            "specula_http_header_count_limit_hits_total",
            header_count_limit_hits
        );
        h!("specula_http_body_skipped_bytes_total", body_bytes_skipped);
        h!(
            "specula_http_resync_skipped_bytes_total",
            resync_bytes_skipped
        );
        h!("specula_http_gaps_total", gaps);
        h!("specula_http_non_http_bytes_total", non_http_bytes);
        h!("specula_http_tx_queue_overflows_total", tx_queue_overflows);
        v.push((
            "specula_http_client_ip_claims_untrusted_total",
            None,
            self.sum(|w| w.client_ip_claims_untrusted),
        ));
        macro_rules! t {
            ($name:literal, $f:ident) => {
                v.push(($name, None, self.sum(|w| w.detect.$f)))
            };
        }
        t!("specula_detect_requests_total", requests);
        t!("specula_detect_points_total", points);
        t!("specula_detect_regex_evaluations_total", regex_evaluations);
        t!("specula_detect_point_limit_hits_total", point_limit_hits);
        t!(
            "specula_detect_point_bytes_truncated_total",
            point_bytes_truncated
        );
        t!("specula_detect_decode_depth_hits_total", decode_depth_hits);
        t!("specula_detect_hit_limit_hits_total", hit_limit_hits);
        t!("specula_detect_clean_cache_hits_total", clean_cache_hits);
        t!("specula_detect_clean_header_hits_total", clean_header_hits);
        t!("specula_detect_inert_points_total", inert_points);
        t!("specula_detect_body_parse_errors_total", body_parse_errors);
        t!("specula_detect_body_depth_hits_total", body_depth_hits);
        t!(
            "specula_detect_body_inflate_bombs_total",
            body_inflate_bombs
        );
        t!(
            "specula_detect_body_inflate_errors_total",
            body_inflate_errors
        );
        t!("specula_detect_base64_decoded_total", base64_decoded);
        t!("specula_detect_hits_excluded_total", hits_excluded);
        for class in AttackClass::ALL {
            v.push((
                "specula_detect_hits_total",
                Some(("class", class.as_str())),
                self.hits(class),
            ));
        }
        v.push((
            "specula_pairing_paired_requests_total",
            None,
            self.sum(|w| w.pairing.paired),
        ));
        for (reason, n) in [
            ("timeout", self.sum(|w| w.pairing.released_timeout)),
            ("flow_end", self.sum(|w| w.pairing.released_flow_end)),
            ("over_cap", self.sum(|w| w.pairing.released_over_cap)),
            ("unanswered", self.sum(|w| w.pairing.released_unanswered)),
        ] {
            v.push((
                "specula_pairing_unpaired_requests_total",
                Some(("reason", reason)),
                n,
            ));
        }
        v.push((
            "specula_pairing_hints_dropped_total",
            None,
            self.sum(|w| w.pairing.hints_dropped),
        ));
        v.push((
            "specula_pipeline_records_total",
            None,
            self.sum(|w| w.records),
        ));
        v.push((
            "specula_pipeline_dropped_records_total",
            Some(("reason", "queue_full")),
            self.sum(|w| w.records_dropped),
        ));
        v.push((
            "specula_pipeline_sink_queue_full_waits_total",
            None,
            self.sum(|w| w.sink_queue_full_waits),
        ));
        v.push((
            "specula_pipeline_sink_queue_overloads_total",
            None,
            self.sum(|w| w.sink_queue_overloads),
        ));
        v.push((
            "specula_pipeline_worker_panics_total",
            None,
            self.worker_panics,
        ));
        v.push((
            "specula_sink_records_total",
            None,
            self.sink.records_written,
        ));
        v.push(("specula_sink_bytes_total", None, self.sink.bytes_written));
        let k = &self.sink;
        v.extend([
            ("specula_sink_write_errors_total", None, k.write_errors),
            ("specula_sink_insert_retries_total", None, k.insert_retries),
            (
                "specula_sink_spooled_batches_total",
                None,
                k.batches_spooled,
            ),
            (
                "specula_sink_replayed_batches_total",
                None,
                k.batches_replayed,
            ),
            (
                "specula_sink_dead_lettered_batches_total",
                None,
                k.batches_dead_lettered,
            ),
            (
                "specula_sink_spool_dropped_batches_total",
                None,
                k.spool_dropped_batches,
            ),
            (
                "specula_sink_spool_missing_batches_total",
                None,
                k.spool_missing_batches,
            ),
            (
                "specula_sink_dead_letters_pruned_total",
                None,
                k.dead_letters_pruned,
            ),
            ("specula_sink_lost_batches_total", None, k.batches_lost),
            ("specula_sink_lost_rows_total", None, k.rows_lost),
        ]);
        v
    }

    /// The sink's gauges (current values, `# TYPE ... gauge`): spool
    /// occupancy and health (1 healthy, 0 failing).
    pub fn gauges(&self) -> Vec<Counter> {
        let k = &self.sink;
        vec![
            ("specula_sink_spool_batches", None, k.spool_batches),
            ("specula_sink_spool_bytes", None, k.spool_bytes),
            ("specula_sink_dead_letter_bytes", None, k.dead_letter_bytes),
            ("specula_sink_healthy", None, u64::from(k.healthy)),
        ]
    }

    /// Prometheus text exposition of [`counters`](Self::counters).
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        let mut last = "";
        for (name, label, value) in self.counters() {
            if name != last {
                let _ = writeln!(s, "# TYPE {name} counter");
                last = name;
            }
            let _ = writeln!(s, "{}", sample_line(name, label, value));
        }
        s
    }

    /// The human summary printed at the end of `read`.
    pub fn summary(&self, elapsed: Duration) -> String {
        let c = &self.capture;
        let secs = elapsed.as_secs_f64().max(1e-9);
        let flows = self.sum(|w| w.reassembly.flows_created);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "specula: {} file(s), {} packets, {} bytes, {} TCP segments, {} flows, {} requests, {} attack hits on {} requests",
            c.files,
            c.frames,
            c.bytes,
            c.tcp_segments,
            flows,
            self.requests(),
            self.total_hits(),
            self.sum(|w| w.attack_requests),
        );
        let by_class: Vec<String> = AttackClass::ALL
            .iter()
            .filter(|k| self.hits(**k) > 0)
            .map(|k| format!("{} {}", k.as_str(), self.hits(*k)))
            .collect();
        if !by_class.is_empty() {
            let _ = writeln!(s, "  attacks by class: {}", by_class.join(", "));
        }
        let drops: Vec<String> = self
            .counters()
            .into_iter()
            .filter(|(name, _, v)| {
                *v > 0
                    && (name.contains("skipped")
                        || name.contains("dropped")
                        || name.contains("gap")
                        || name.contains("evicted")
                        || name.contains("cap_hits")
                        || name.contains("limit_hits")
                        || name.contains("truncated")
                        || name.contains("overlap_different")
                        || name.contains("failed")
                        || name.contains("damaged")
                        || name.contains("errors")
                        || name.contains("overflows")
                        || name.contains("overloads")
                        || name.contains("panics")
                        || name.contains("untrusted")
                        || name.starts_with("specula_sink_")
                            && (name.contains("spooled")
                                || name.contains("missing")
                                || name.contains("dead_lettered")
                                || name.contains("lost")
                                || name.contains("retries")))
            })
            .map(|(name, label, v)| {
                let short = name
                    .trim_start_matches("specula_")
                    .trim_end_matches("_total");
                match label {
                    Some((_, l)) => format!("{short}{{{l}}}={v}"),
                    None => format!("{short}={v}"),
                }
            })
            .collect();
        let _ = writeln!(
            s,
            "  drops and anomalies: {}",
            if drops.is_empty() {
                "none".to_string()
            } else {
                drops.join(", ")
            }
        );
        let k = &self.sink;
        if !k.healthy || k.spool_batches > 0 {
            let _ = writeln!(
                s,
                "  sink: {}, {} batches ({} bytes) wait in the spool{}",
                if k.healthy { "healthy" } else { "failing" },
                k.spool_batches,
                k.spool_bytes,
                k.last_error
                    .as_deref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default(),
            );
        }
        let _ = writeln!(
            s,
            "  elapsed {:.3} s, {:.1} Mbit/s, {:.0} packets/s, {:.0} requests/s, peak {} flows, {} records written",
            secs,
            c.bytes as f64 * 8.0 / secs / 1e6,
            c.frames as f64 / secs,
            self.requests() as f64 / secs,
            self.workers.iter().map(|w| w.peak_flows).sum::<u64>(),
            self.sink.records_written,
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_and_labels() {
        let mut r = PipelineReport::default();
        r.capture.frames = 7;
        r.capture.skip(SkipReason::NotTcp);
        let mut w = WorkerReport::default();
        w.hits_by_class[AttackClass::Xss as usize] = 2;
        r.add_worker(&w);
        r.add_worker(&w);
        let text = r.prometheus();
        assert!(text.contains("specula_capture_packets_total 7\n"), "{text}");
        assert!(text.contains("specula_decode_skipped_packets_total{reason=\"not_tcp\"} 1\n"));
        assert!(text.contains("specula_detect_hits_total{class=\"xss\"} 4\n"));
        assert_eq!(r.total_hits(), 4);
        let s = r.summary(Duration::from_secs(1));
        assert!(s.contains("xss 4"), "{s}");
        assert!(s.contains("decode_skipped_packets{not_tcp}=1"), "{s}");
    }

    #[test]
    fn untrusted_client_ip_claims_are_exported_and_shown() {
        let mut r = PipelineReport::default();
        let s = r.summary(Duration::from_secs(1));
        assert!(!s.contains("untrusted"), "{s}");
        let w = WorkerReport {
            client_ip_claims_untrusted: 3,
            ..WorkerReport::default()
        };
        r.add_worker(&w);
        r.add_worker(&w);
        let text = r.prometheus();
        assert!(
            text.contains("specula_http_client_ip_claims_untrusted_total 6\n"),
            "{text}"
        );
        let s = r.summary(Duration::from_secs(1));
        assert!(s.contains("http_client_ip_claims_untrusted=6"), "{s}");
    }

    #[test]
    fn defrag_counters_are_exported_and_summed() {
        let mut a = CaptureCounters::default();
        a.defrag.fragments = 5;
        a.defrag.timed_out = 1;
        a.defrag.overlaps_different = 2;
        let mut r = PipelineReport::default();
        r.capture.add(&a);
        r.capture.add(&a);
        let text = r.prometheus();
        assert!(
            text.contains("specula_decode_defrag_fragments_total 10\n"),
            "{text}"
        );
        assert!(text
            .contains("specula_decode_defrag_dropped_datagrams_total{reason=\"timed_out\"} 2\n"));
        assert!(text.contains("specula_decode_defrag_overlap_different_data_total 4\n"));
        let s = r.summary(Duration::from_secs(1));
        assert!(
            s.contains("decode_defrag_dropped_datagrams{timed_out}=2"),
            "{s}"
        );
    }

    #[test]
    fn sink_counters_gauges_and_health_are_shown() {
        let mut r = PipelineReport::default();
        let s = r.summary(Duration::from_secs(1));
        assert!(s.contains("drops and anomalies: none"), "{s}");
        assert!(
            !s.contains("sink:"),
            "a healthy empty sink says nothing: {s}"
        );
        assert!(r.gauges().contains(&("specula_sink_healthy", None, 1)));
        r.sink.batches_spooled = 3;
        r.sink.batches_replayed = 1;
        r.sink.rows_lost = 7;
        r.sink.spool_missing_batches = 2;
        r.sink.insert_retries = 4;
        r.sink.spool_batches = 2;
        r.sink.spool_bytes = 4096;
        r.sink.healthy = false;
        r.sink.last_error = Some("Connection refused".into());
        let c = r.counters();
        assert!(c.contains(&("specula_sink_spooled_batches_total", None, 3)));
        assert!(c.contains(&("specula_sink_replayed_batches_total", None, 1)));
        assert!(c.contains(&("specula_sink_lost_rows_total", None, 7)));
        assert!(c.contains(&("specula_sink_spool_missing_batches_total", None, 2)));
        assert!(r
            .prometheus()
            .contains("specula_sink_spool_missing_batches_total 2\n"));
        let g = r.gauges();
        assert!(g.contains(&("specula_sink_spool_batches", None, 2)));
        assert!(g.contains(&("specula_sink_spool_bytes", None, 4096)));
        assert!(g.contains(&("specula_sink_healthy", None, 0)));
        assert!(
            g.iter().all(|(name, _, _)| !name.ends_with("_total")),
            "gauges are not totals"
        );
        let s = r.summary(Duration::from_secs(1));
        for part in [
            "sink_spooled_batches=3",
            "sink_lost_rows=7",
            "sink_spool_missing_batches=2",
            "sink_insert_retries=4",
        ] {
            assert!(s.contains(part), "{part} missing: {s}");
        }
        assert!(!s.contains("replayed"), "a replay is not an anomaly: {s}");
        assert!(
            s.contains("sink: failing, 2 batches (4096 bytes) wait in the spool, last error: Connection refused"),
            "{s}"
        );
    }
}
