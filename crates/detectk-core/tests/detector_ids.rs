//! Detector IDs against Python's own algorithm on generated params: odd floats
//! (1e16, 5e-324, -0.0, 0.1 + 0.2), 64-bit integers, Unicode and control characters,
//! nested values, and values equal to a default under Python's `==` (`3` vs `3.0`,
//! `True` vs `1`).
//!
//! `tests/data/detector_ids_generated.jsonl` was written by
//! `python3 tests/data/generate_detector_ids.py 7 600`, which computes each ID with
//! `json.dumps(params, sort_keys=True, ensure_ascii=False)` and `hashlib.sha256` exactly as
//! Python detectk does. Set `DETECTK_ID_VECTORS` to check another generated file.

use detectk_core::detector_id;
use serde_json::Value;

#[test]
fn ids_match_pythons_algorithm_on_generated_params() {
    let path = std::env::var("DETECTK_ID_VECTORS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/detector_ids_generated.jsonl"
        )
        .to_string()
    });
    let text = std::fs::read_to_string(&path).expect("vector file");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("a JSON line");
        let kind = case["type"].as_str().unwrap();
        let got = detector_id(kind, &case["params"]);
        if got != case["id"].as_str().unwrap() {
            mismatches.push(format!("{got} != {line}"));
        }
        checked += 1;
    }
    assert!(checked >= 500, "only {checked} cases");
    assert!(
        mismatches.is_empty(),
        "{} of {checked} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
