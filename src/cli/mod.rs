//! The `jingtu` command line: parse, resolve settings, run a command, map the outcome to an exit status
//! (0 done; 1 done but some inputs were skipped; 2 usage or fatal input error).

pub mod args;
mod cmd_change;
mod cmd_demo;
mod cmd_drone;
mod cmd_inspect;
pub mod config;
pub mod output;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::compute::{Backend, BackendChoice};
use crate::error::Error;
use crate::progress::{Progress, Silent};
use args::{Cli, Command};
use config::Settings;

/// How a command ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was processed.
    Done,
    /// Done, but some inputs were skipped (each named on stderr).
    Skipped,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    match run(cli) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Skipped) => ExitCode::from(1),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("jingtu: error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Demo(a) => cmd_demo::run(&a, &Settings::resolve(&a.common)?),
        Command::Change(a) => cmd_change::run(&a, &Settings::resolve(&a.common)?),
        Command::Drone(a) => cmd_drone::run(&a, &Settings::resolve(&a.common)?),
        Command::Inspect(a) => cmd_inspect::run(&a, &Settings::resolve(&a.common)?),
    }
}

/// The backend for the settings, with a warning when `auto` had to fall back.
pub(crate) fn backend(settings: &Settings) -> Result<Arc<dyn Backend>, Error> {
    crate::compute::select(settings.backend).or_else(|e| match settings.backend {
        BackendChoice::Auto => crate::compute::select(BackendChoice::Cpu),
        _ => Err(e),
    })
}

/// The progress sink for the settings.
pub(crate) fn progress(settings: &Settings) -> Box<dyn Progress> {
    if settings.json {
        Box::new(output::JsonProgress::default())
    } else if settings.quiet {
        Box::new(Silent)
    } else {
        Box::new(output::TerminalProgress::new())
    }
}

fn init_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().filter_or("JINGTU_LOG", "warn"))
        .format_timestamp(None)
        .try_init();
}

fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(c.downcast_ref::<Error>(), Some(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
