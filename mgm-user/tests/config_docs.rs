//! The configuration keys the documentation names are those the parser reads: mgmd.toml(5)
//! (`dist/mgmd.toml.5`) describes every key of every table and no other, and the README's
//! example file uses no key the parser would refuse.
use mgm_user::config::Config;
use std::{collections::BTreeSet, path::Path};

const CRATE: &str = env!("CARGO_MANIFEST_DIR");

/// The tables of the file, as the man page's sections name them, each with a line that
/// opens it in a file.
const TABLES: [(&str, &str); 7] = [
    ("[daemon]", "[daemon]"),
    ("[[interface]]", "[[interface]]\nname = \"eth0\""),
    ("[[route]]", "[[route]]"),
    ("[proxy]", "[proxy]"),
    ("[[join]]", "[[join]]"),
    ("[mirror]", "[mirror]"),
    ("[metrics]", "[metrics]"),
];

/// The keys the parser reads in the table `opening` starts: those its refusal of an unknown
/// key lists ("unknown field `x`, expected one of `a`, `b`").
fn parser_keys(opening: &str) -> BTreeSet<String> {
    let text = format!("{opening}\nno_such_key_here = 1\n");
    let error = Config::parse(&text, "t").expect_err("an unknown key is refused");
    let (_, expected) = error
        .message
        .split_once("expected")
        .unwrap_or_else(|| panic!("{opening}: no key list in {:?}", error.message));
    let keys: BTreeSet<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(!keys.is_empty(), "{opening}: no key in {:?}", error.message);
    keys
}

/// The keys the man page describes per section: `.TP` then `.B KEY`.
fn man_page_keys() -> Vec<(String, BTreeSet<String>)> {
    let page = std::fs::read_to_string(Path::new(CRATE).join("dist/mgmd.toml.5")).expect("page");
    let mut sections: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut term = false;
    for line in page.lines() {
        if let Some(title) = line.strip_prefix(".SH ") {
            sections.push((title.trim_matches('"').to_owned(), BTreeSet::new()));
        } else if term {
            if let (Some(key), Some((_, keys))) = (line.strip_prefix(".B "), sections.last_mut()) {
                keys.insert(key.trim().to_owned());
            }
        }
        term = line == ".TP";
    }
    sections
}

#[test]
fn the_man_page_describes_every_key_the_parser_reads_and_no_other() {
    let page = man_page_keys();
    for (table, opening) in TABLES {
        let described = page
            .iter()
            .find(|(title, _)| title == table)
            .map(|(_, keys)| keys.clone())
            .unwrap_or_else(|| panic!("mgmd.toml.5 has no section {table}"));
        assert_eq!(
            described,
            parser_keys(opening),
            "mgmd.toml.5's {table} keys (left) against the parser's (right)"
        );
    }
    let top: BTreeSet<String> = parser_keys("")
        .into_iter()
        .map(|t| match t.as_str() {
            "interface" | "route" | "join" => format!("[[{t}]]"),
            _ => format!("[{t}]"),
        })
        .collect();
    let documented: BTreeSet<String> = TABLES.iter().map(|(t, _)| t.to_string()).collect();
    assert_eq!(top, documented, "the file's tables");
}

#[test]
fn the_readme_example_file_uses_only_keys_the_parser_reads() {
    let readme = std::fs::read_to_string(Path::new(CRATE).join("../README.md")).expect("README");
    let block = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's configuration example");
    let mut table = ("", "");
    let mut unknown = Vec::new();
    let mut seen = 0;
    for line in block.lines() {
        // Commented-out tables and keys are examples too.
        let line = line.trim_start_matches("# ").trim();
        if line.starts_with('[') {
            table = TABLES
                .into_iter()
                .find(|(t, _)| line.starts_with(t))
                .unwrap_or(("", ""));
            continue;
        }
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        let key = key.trim();
        if key.contains(' ') || key.starts_with('#') {
            continue;
        }
        seen += 1;
        if !parser_keys(table.1).contains(key) {
            unknown.push(format!("{} {key}", table.0));
        }
    }
    assert!(seen > 30, "only {seen} keys found: is the scan broken?");
    assert!(unknown.is_empty(), "keys the parser refuses: {unknown:?}");
}
