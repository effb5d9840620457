//! Every citation of the behavioural specification in the sources resolves in
//! `docs/mgm-spec.md`: "spec §N" (and the sections listed after it), any "§N" in the MGM core
//! and its tests, and every decision "A-NN" of the register (§11).
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

const CRATE: &str = env!("CARGO_MANIFEST_DIR");

/// The section numbers ("6.4", "11") and decision ids ("A-05") the document defines.
fn defined() -> (BTreeSet<String>, BTreeSet<String>) {
    let spec = std::fs::read_to_string(Path::new(CRATE).join("docs/mgm-spec.md")).expect("spec");
    let mut sections = BTreeSet::new();
    let mut decisions = BTreeSet::new();
    for line in spec.lines() {
        if let Some(title) = line.strip_prefix('#') {
            let number: String = title
                .trim_start_matches('#')
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let number = number.trim_end_matches('.');
            if !number.is_empty() {
                sections.insert(number.to_owned());
            }
        }
        if let Some(row) = line.strip_prefix("| A-") {
            let id: String = row.chars().take_while(char::is_ascii_digit).collect();
            decisions.insert(format!("A-{id}"));
        }
    }
    (sections, decisions)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The section number starting at `text` ("6.4" of "6.4, §6.5"), if any.
fn number_at(text: &str) -> Option<String> {
    let number: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let number = number.trim_end_matches('.');
    (!number.is_empty()).then(|| number.to_owned())
}

/// The sections a line cites from the spec: everything after "spec §" on the line, or every
/// "§" of the line when `all` (files that cite nothing else).
fn cited_sections(line: &str, all: bool) -> Vec<String> {
    let from = if all {
        Some(0)
    } else {
        line.find("spec §").or_else(|| line.find("spec.md §"))
    };
    let Some(from) = from else {
        return Vec::new();
    };
    line[from..]
        .split('§')
        .skip(1)
        .filter_map(number_at)
        .collect()
}

fn cited_decisions(line: &str) -> Vec<String> {
    line.match_indices("A-")
        .filter(|(at, _)| {
            !line[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric())
        })
        .filter_map(|(at, _)| {
            let digits: String = line[at + 2..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            (digits.len() == 2).then(|| format!("A-{digits}"))
        })
        .collect()
}

#[test]
fn every_spec_citation_in_the_sources_resolves_in_docs_mgm_spec() {
    let (sections, decisions) = defined();
    assert!(sections.contains("6.11") && decisions.contains("A-56"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "examples", "benches", "core/src"] {
        rust_files(&Path::new(CRATE).join(dir), &mut files);
    }
    let mut unresolved = Vec::new();
    let mut cited = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source");
        let relative = file.strip_prefix(CRATE).expect("in crate");
        // The MGM core and its tests cite no other document with "§".
        let all = relative.starts_with("core/src/mgm") || relative.starts_with("tests/mgm_core");
        for (n, line) in text.lines().enumerate() {
            for section in cited_sections(line, all) {
                cited += 1;
                if !sections.contains(&section) {
                    unresolved.push(format!("{}:{}: §{section}", relative.display(), n + 1));
                }
            }
            for decision in cited_decisions(line) {
                cited += 1;
                if !decisions.contains(&decision) {
                    unresolved.push(format!("{}:{}: {decision}", relative.display(), n + 1));
                }
            }
        }
    }
    assert!(
        cited > 100,
        "only {cited} citations found: is the scan broken?"
    );
    assert!(unresolved.is_empty(), "unresolved: {unresolved:#?}");
}
