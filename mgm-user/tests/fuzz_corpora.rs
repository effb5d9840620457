//! The cargo-fuzz targets as ordinary tests: every committed corpus input of
//! `mgm-user/fuzz/corpus/<target>/` goes through the target's checks, then a few hundred seeded
//! mutations of it (byte changes, truncations, insertions). The `api` target reaches mgmd's request
//! handler (cargo feature `testkit`, which this package's tests enable). This is CI's bounded smoke
//! of the fuzzers; the deep run is `cargo +nightly fuzz run <target>` in `mgm-user/fuzz`.
#[path = "../fuzz/src/lib.rs"]
mod checks;

use proptest::{
    prelude::RngExt as _,
    test_runner::{RngAlgorithm, TestRng},
};
use std::path::Path;

/// Mutations tried per corpus input.
const MUTATIONS: usize = 300;

/// Mutations tried per `api` input: each run builds a router core (most of the time goes to
/// allocating its monitor backlog), so fewer keep the replay within seconds.
const API_MUTATIONS: usize = 64;

/// One random change of `input`: set a byte, flip a bit, truncate, or insert a byte.
fn mutate(rng: &mut TestRng, input: &mut Vec<u8>) {
    let byte: u8 = rng.random();
    match (rng.random_range(0..4), input.len()) {
        (_, 0) | (3, _) => {
            let at = rng.random_range(0..=input.len());
            input.insert(at, byte);
        }
        (0, len) => input[rng.random_range(0..len)] = byte,
        (1, len) => input[rng.random_range(0..len)] ^= 1 << (byte % 8),
        (_, len) => input.truncate(rng.random_range(0..len)),
    }
}

/// Runs `check` on every input of the target's corpus and on `mutations` mutations of each.
fn replay(target: &str, check: fn(&[u8]), mutations: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no corpus", dir.display());
    let mut rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    for file in files {
        let input = std::fs::read(&file).expect("corpus input");
        run(check, &file, &input);
        let mut mutated = input.clone();
        for i in 0..mutations {
            if i % 8 == 0 {
                mutated.clone_from(&input);
            }
            mutate(&mut rng, &mut mutated);
            run(check, &file, &mutated);
        }
    }
}

/// Runs `check` on `input`, naming the corpus file and the input if it panics.
fn run(check: fn(&[u8]), file: &Path, input: &[u8]) {
    if std::panic::catch_unwind(|| check(input)).is_err() {
        panic!("{} (mutated to {input:02x?}) fails", file.display());
    }
}

#[test]
fn punt_frame_corpus() {
    replay("punt_frame", checks::punt_frame, MUTATIONS);
}

#[test]
fn igmp_corpus() {
    replay("igmp", checks::igmp, MUTATIONS);
}

/// Every input, as one request and as a connection's stream, through mgmd's request handler
/// over the in-memory backend and I/O (`daemon::testkit`).
#[test]
fn api_corpus() {
    replay("api", checks::api, API_MUTATIONS);
}

#[test]
fn config_corpus() {
    replay("config", checks::config, MUTATIONS);
}
