//! The build before `run`, `demo` and `lab`, kept out of the program's way: cargo replays the
//! eBPF build's warnings (about 60 lines, from mgm-user's build script) on every build, even
//! when nothing is rebuilt. So the build's output is shown whole only when it fails; otherwise
//! a line per crate compiled, as it happens, and one line saying how much was left out.
use anyhow::{bail, Context as _, Result};
use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
};

/// Runs `cargo build` with `args` as described in the module's documentation.
pub fn cargo_build(args: &[&str]) -> Result<()> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.arg("build").args(args).stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let stderr = child.stderr.take().context("cargo's stderr")?;
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading cargo's output")?;
        if compiled(&line).is_some() {
            eprintln!("{line}");
        }
        lines.push(line);
    }
    let ok = child.wait().context("waiting for cargo")?.success();
    if let Some(report) = report(&lines, ok) {
        eprintln!("{report}");
    }
    if !ok {
        bail!("{cmd:?} failed");
    }
    Ok(())
}

/// The crate a line of cargo's output says it is compiling.
fn compiled(line: &str) -> Option<&str> {
    line.trim_start().strip_prefix("Compiling ")
}

/// What to print once the build is over: everything if it failed; if it compiled something,
/// one line on what was left out; nothing if nothing was rebuilt.
fn report(lines: &[String], ok: bool) -> Option<String> {
    if !ok {
        return Some(lines.join("\n"));
    }
    let compiled = lines.iter().filter(|l| compiled(l).is_some()).count();
    if compiled == 0 {
        return None;
    }
    let hidden = lines.len() - compiled;
    Some(format!(
        "built ({hidden} more lines of build output not shown; `cargo build` shows them)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn the_build_output_shows_only_on_failure_or_briefly_after_a_rebuild() {
        let warnings = "warning: mgm-user@0.1.0: warning: unused variable\n".repeat(60);
        let fresh = lines(&format!(
            "{warnings}    Finished `release` profile [optimized] target(s) in 0.31s"
        ));
        assert_eq!(report(&fresh, true), None, "nothing rebuilt: silence");
        let rebuilt = lines(&format!(
            "   Compiling mgm-user v0.1.0 (/w/mgm-user)\n{warnings}    Finished `release` profile"
        ));
        let brief = report(&rebuilt, true).expect("a line after a rebuild");
        assert_eq!(brief.lines().count(), 1, "{brief}");
        assert!(brief.contains("61 more lines"), "{brief}");
        let failed = lines(&format!("{warnings}error[E0425]: cannot find value `x`"));
        let all = report(&failed, false).expect("everything on failure");
        assert_eq!(all.lines().count(), 61);
        assert!(all.ends_with("cannot find value `x`"));
    }
}
