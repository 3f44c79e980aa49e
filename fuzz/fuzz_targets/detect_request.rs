//! A whole request (raw HTTP/1 bytes, parsed by `http`) through the
//! detection engine with the built-in rules, under the default and under
//! tight limits. Work is bounded and every cap that bites is counted: at
//! most `max_hits_per_request` hits, at most `max_points` points inspected
//! (plus the query, each header and the body whole once the budget is spent),
//! each rule evaluated at most once per decoding layer of a point, matched
//! text at most `MAX_MATCHED_BYTES`, one hit per (rule, location).
//! Differential: the default detector with its shortcuts, the clean-value
//! cache (each request inspected three times so the skip path runs) and the
//! inert-value skip, reports exactly the hits of one with both off.
//!
//! Deterministic: every input starts from empty scratch buffers and caches
//! of its own, so its coverage does not depend on the inputs run before it
//! (with a cache kept across inputs, the same corpus loaded in another
//! order reached other edges, and coverage never settled).
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::detect::{DetectLimits, DetectStats, Detector, Hit, RuleSet, Scratch, MAX_MATCHED_BYTES};
use specula::http::{HttpEvent, HttpLimits, HttpSession, HttpStats};
use specula::reassembly::{Direction, Stamp};
use std::collections::HashSet;
use std::sync::OnceLock;

fn tight() -> DetectLimits {
    DetectLimits { max_points: 8, max_point_bytes: 64, max_decode_depth: 1, max_hits_per_request: 2, max_inflated_body_bytes: 4096, max_inflate_ratio: 10, ..DetectLimits::default() }
}

fn detectors() -> &'static [(Detector, DetectLimits, usize); 2] {
    static D: OnceLock<[(Detector, DetectLimits, usize); 2]> = OnceLock::new();
    D.get_or_init(|| {
        let rules = RuleSet::builtin();
        let n = rules.len();
        let def = DetectLimits::default();
        [(Detector::new(&rules, def.clone()), def, n), (Detector::new(&rules, tight()), tight(), n)]
    })
}

fn without_cache() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| Detector::new(&RuleSet::builtin(), DetectLimits { clean_cache_bytes: 0, skip_inert_values: false, ..DetectLimits::default() }))
}

fn hit_keys(hits: &[Hit]) -> Vec<(String, String, Vec<u8>)> {
    hits.iter().map(|h| (h.rule_id.to_string(), h.location.clone(), h.matched.clone())).collect()
}

fuzz_target!(|data: &[u8]| {
    let limits = HttpLimits { max_header_bytes: 8192, max_headers: 64, max_body_inspect_bytes: 16384, ..HttpLimits::default() };
    let mut hstats = HttpStats::default();
    let mut s = HttpSession::default();
    let mut events = Vec::new();
    s.on_data(&limits, &mut hstats, Direction::ToServer, Stamp::default(), data, &mut events);
    s.on_end(&limits, &mut hstats, &mut events);
    // Per input, not per thread: see the module doc.
    let (mut cold, mut warm) = (Scratch::default(), Scratch::default());
    let mut per_detector = [Scratch::default(), Scratch::default()];
    for ev in &events {
        let HttpEvent::Request(req) = ev else { continue };
        let mut want = Vec::new();
        without_cache().inspect_with(req, &mut cold, &mut DetectStats::default(), &mut want);
        for round in 0..3 {
            let mut got = Vec::new();
            detectors()[0].0.inspect_with(req, &mut warm, &mut DetectStats::default(), &mut got);
            assert_eq!(hit_keys(&got), hit_keys(&want), "a detection shortcut changed the hits (round {round})");
        }
        for ((det, lim, rules), scratch) in detectors().iter().zip(&mut per_detector) {
            let mut st = DetectStats::default();
            let mut hits: Vec<Hit> = Vec::new();
            det.inspect_with(req, scratch, &mut st, &mut hits);
            assert_eq!(st.requests, 1);
            assert!(hits.len() <= lim.max_hits_per_request, "hit cap exceeded");
            assert!(st.hit_limit_hits <= 1);
            if st.hit_limit_hits == 1 {
                assert_eq!(hits.len(), lim.max_hits_per_request, "hit cap counted but not reached");
            }
            // Past the budget the query, each header line and the body are
            // still inspected whole (one point each, two when cut).
            let over_budget = 2 * (2 + 2 * req.headers.len());
            assert!(st.points as usize <= lim.max_points + over_budget, "point cap exceeded");
            assert!(st.point_limit_hits <= 1);
            // Layers per point: as extracted, 3 per decoding round, NUL removal.
            let layers = (2 + 3 * lim.max_decode_depth) as u64;
            assert!(st.regex_evaluations <= st.points * layers * *rules as u64, "unbounded evaluations");
            let mut seen = HashSet::new();
            for h in &hits {
                assert!(h.matched.len() <= MAX_MATCHED_BYTES);
                assert!(seen.insert((h.rule_id.clone(), h.location.clone())), "duplicate hit {h:?}");
            }
        }
    }
});
