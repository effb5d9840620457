//! Manual pages and shell completions generated from the programs' own command lines, so
//! that the package's documentation never drifts from `--help`.
use clap::CommandFactory;
use std::process::ExitCode;

/// Prints `name`'s manual page (section `section`), or its completion script for `shell`.
pub fn print<C: CommandFactory>(
    name: &'static str,
    section: u8,
    shell: Option<clap_complete::Shell>,
) -> ExitCode {
    let mut command = C::command().name(name);
    let mut out = std::io::stdout();
    let written = match shell {
        Some(shell) => {
            clap_complete::generate(shell, &mut command, name, &mut out);
            Ok(())
        }
        None => clap_mangen::Man::new(command)
            .section(section.to_string())
            .render(&mut out),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
