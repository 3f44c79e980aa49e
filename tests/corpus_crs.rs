//! `specula read` on the OWASP CRS regression capture
//! (`../shared/corpus/crs/crs.pcap`), joined with `tests.jsonl` by
//! `X-Request-ID`. Asserts that every request was parsed and attributed;
//! prints the detection rate per category on `detect` cases and the flag rate
//! on `clean` cases (figures for the closing notes; thresholds come with the
//! detection issue).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::*;

/// CRS categories that are about the request (response-phase rules look at
/// what the server sent, which a request-only view cannot see).
const REQUEST_CATEGORIES: &[&str] = &[
    "sqli",
    "xss",
    "rce",
    "php",
    "java",
    "lfi",
    "rfi",
    "generic",
    "session-fixation",
    "multipart",
    "protocol",
    "scanner",
    "method-enforcement",
];

/// The Specula class a CRS category corresponds to, where one does.
fn class_of(category: &str) -> Option<&'static [&'static str]> {
    Some(match category {
        "sqli" => &["sqli"],
        "xss" => &["xss"],
        "rce" | "php" | "java" => &["rce"],
        "lfi" => &["ptrav"],
        "rfi" => &["rfi", "ssrf"],
        "scanner" => &["scanner"],
        "protocol" | "multipart" | "method-enforcement" => &["protocol"],
        _ => return None,
    })
}

#[test]
fn crs_requests_are_all_parsed_and_detection_is_reported() {
    let dir = corpus().join("crs");
    let tests = read_jsonl_file(&dir.join("tests.jsonl"));
    let pcap = dir.join("crs.pcap");
    let records = run_jsonl(&[
        "read",
        "--emit",
        "requests",
        "--no-progress",
        pcap.to_str().unwrap(),
    ]);

    let mut by_id: HashMap<String, BTreeSet<String>> = HashMap::new();
    for r in &records {
        let id = s(r, "request_id");
        let classes = attack_classes(r);
        by_id.entry(id).or_default().extend(classes);
    }

    let mut missing = Vec::new();
    // category -> (detect cases, any hit, class hit, clean cases, clean flagged)
    let mut table: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    for t in &tests {
        let id = s(t, "id");
        let category = s(t, "category");
        let Some(classes) = by_id.get(&id) else {
            missing.push(id);
            continue;
        };
        let row = table.entry(category.clone()).or_default();
        let any = !classes.is_empty();
        let class_hit =
            class_of(&category).is_some_and(|want| want.iter().any(|c| classes.contains(*c)));
        if s(t, "expect") == "detect" {
            row[0] += 1;
            row[1] += u64::from(any);
            row[2] += u64::from(class_hit);
        } else {
            row[3] += 1;
            row[4] += u64::from(any);
        }
    }

    let pct = |a: u64, b: u64| {
        if b == 0 {
            "-".to_string()
        } else {
            format!("{:.1}%", 100.0 * a as f64 / b as f64)
        }
    };
    eprintln!(
        "CRS corpus: {} tests, {} request records",
        tests.len(),
        records.len()
    );
    eprintln!(
        "{:<22} {:>7} {:>9} {:>11} {:>7} {:>9}",
        "category", "detect", "any hit", "class hit", "clean", "flagged"
    );
    let (mut d, mut a, mut c, mut cl, mut f) = (0, 0, 0, 0, 0);
    for (cat, row) in &table {
        eprintln!(
            "{:<22} {:>7} {:>9} {:>11} {:>7} {:>9}",
            cat,
            row[0],
            pct(row[1], row[0]),
            pct(row[2], row[0]),
            row[3],
            pct(row[4], row[3])
        );
        if REQUEST_CATEGORIES.contains(&cat.as_str()) {
            d += row[0];
            a += row[1];
            c += row[2];
            cl += row[3];
            f += row[4];
        }
    }
    eprintln!(
        "{:<22} {:>7} {:>9} {:>11} {:>7} {:>9}",
        "request categories",
        d,
        pct(a, d),
        pct(c, d),
        cl,
        pct(f, cl)
    );

    assert!(
        missing.is_empty(),
        "{} CRS requests were not found in the output, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(
        records.len(),
        tests.len(),
        "one request record per CRS request"
    );
}
