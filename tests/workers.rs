//! The output is the same set of records whatever the number of workers.

mod common;

use common::*;

fn sorted_lines(args: &[&str]) -> Vec<String> {
    let out = run(args);
    assert!(
        out.status.success(),
        "specula {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn same_records_with_1_2_and_5_workers() {
    let crs = corpus().join("crs/crs.pcap");
    let sample = repo().join("testdata/sample-mirror.pcap");
    for file in [crs, sample] {
        let f = file.to_str().unwrap();
        for emit in ["requests", "attacks"] {
            let one = sorted_lines(&["read", "--no-progress", "--emit", emit, "--workers", "1", f]);
            assert!(!one.is_empty(), "{f} gave no {emit} records");
            for n in ["2", "5"] {
                let many =
                    sorted_lines(&["read", "--no-progress", "--emit", emit, "--workers", n, f]);
                assert_eq!(one.len(), many.len(), "{f} --emit {emit}: 1 worker vs {n}");
                assert!(
                    one == many,
                    "{f} --emit {emit}: records differ between 1 and {n} workers"
                );
            }
        }
    }
}
