//! The `jingtu` command line: parse, resolve settings, run a command, map the outcome to an exit status
//! (0 done; 1 done but some inputs were skipped; 2 usage or fatal input error).

pub mod args;
mod cmd_change;
mod cmd_demo;
mod cmd_drone;
mod cmd_export;
mod cmd_inspect;
mod cmd_report;
mod cmd_review;
mod cmd_scan;
mod cmd_serve;
mod cmd_token;
pub mod config;
pub mod output;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::compute::Backend;
use crate::error::Error;
use crate::progress::Progress;
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
    quiet_vulkan_loader();
    let (args, gdal_options) = split_gdal_config(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    // After jingtu's own GDAL defaults, so that the user's options win over them.
    crate::io::gdal_env::init();
    for (key, value) in &gdal_options {
        if let Err(e) = gdal::config::set_config_option(key, value) {
            eprintln!("jingtu: error: --config {key} {value}: GDAL refused the option ({e})");
            return ExitCode::from(2);
        }
    }
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

/// The common options of imagery and outputs, which the commands that only work on a store (serving
/// it, recording reviews) have no use for.
const STORE_ONLY: &[&str] = &["bands", "sensor", "backend", "config", "co", "offline", "format", "overwrite"];

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    // The common options a command takes but has no use for: said, not silently accepted.
    let settings = |common: &args::CommonArgs, name: &str, unused: &[&str]| -> anyhow::Result<Settings> {
        warn_inapplicable(common, name, unused);
        if !unused.contains(&"co") {
            crate::export::raster::set_user_options(&common.creation_options)?;
        }
        Ok(Settings::resolve(common)?)
    };
    match cli.command {
        Command::Demo(a) => cmd_demo::run(&a, &settings(&a.common, "demo", &["format", "co"])?),
        Command::Change(a) => {
            refuse_stdout(&a.out)?;
            cmd_change::run(&a, &settings(&a.common, "change", &[])?)
        }
        Command::Scan(a) => {
            if let Some(out) = &a.out {
                refuse_stdout(out)?;
            }
            cmd_scan::run(&a, &settings(&a.common, "scan", &["co"])?)
        }
        Command::Export(mut a) => {
            // `--out -` is standard output, where the feed goes without --out.
            if a.out.as_deref() == Some(std::path::Path::new("-")) {
                a.out = None;
            }
            cmd_export::run(
                &a,
                &settings(&a.common, "export", &["bands", "sensor", "backend", "config", "co", "offline"])?,
            )
        }
        Command::Drone(a) => {
            refuse_stdout(&a.out)?;
            cmd_drone::run(&a, &settings(&a.common, "drone", &[])?)
        }
        Command::Report(a) => cmd_report::run(&a, &settings(&a.common, "report", &["format", "co"])?),
        Command::Inspect(a) => cmd_inspect::run(&a, &settings(&a.common, "inspect", &["format", "overwrite", "co"])?),
        Command::Completions(a) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            // Into a buffer first: clap_complete panics on a closed pipe (`| head`); a write error here
            // is a broken pipe, which ends quietly.
            let mut script = Vec::new();
            clap_complete::generate(a.shell, &mut command, "jingtu", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            Ok(Outcome::Done)
        }
        Command::Man(a) => {
            let command = <Cli as clap::CommandFactory>::command();
            match &a.out {
                Some(dir) => {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                    clap_mangen::generate_to(command, dir).map_err(|e| Error::io(dir, e))?;
                }
                None => {
                    let mut page = Vec::new();
                    clap_mangen::Man::new(command).render(&mut page)?;
                    std::io::Write::write_all(&mut std::io::stdout(), &page)?;
                }
            }
            Ok(Outcome::Done)
        }
        Command::Serve(a) => cmd_serve::run(&a, &settings(&a.common, "serve", STORE_ONLY)?),
        Command::Token(a) => cmd_token::run(&a),
        Command::Review(a) => cmd_review::run(&a, &settings(&a.common, "review", STORE_ONLY)?),
    }
}

/// Flags and change outputs are GeoPackages, Shapefiles, FlatGeobufs (binary, seekable) or GeoJSON
/// written atomically beside their final name: none of that goes to a pipe. `--out -` said so, instead
/// of writing a file named "-".
fn refuse_stdout(out: &std::path::Path) -> Result<(), Error> {
    if out == std::path::Path::new("-") {
        return Err(Error::Usage(
            "--out -: this command's outputs are files written atomically (and most formats cannot stream); give a file name. `jingtu export` writes the changefeed to standard output".into(),
        ));
    }
    Ok(())
}

/// Warns (unless quiet) about each common option given to a command that has no use for it.
fn warn_inapplicable(common: &args::CommonArgs, command: &str, unused: &[&str]) {
    if common.quiet {
        return;
    }
    let given = |name: &str| match name {
        "format" => common.format.is_some(),
        "bands" => common.bands.is_some(),
        "sensor" => common.sensor.is_some(),
        "backend" => common.backend.is_some(),
        "config" => common.config.is_some(),
        "co" => !common.creation_options.is_empty(),
        "offline" => common.offline,
        "overwrite" => common.overwrite,
        _ => false,
    };
    for name in unused.iter().filter(|n| given(n)) {
        eprintln!("jingtu: warning: --{name} does not apply to `jingtu {command}`; ignored");
    }
}

/// Takes GDAL's `--config KEY VALUE` (and `--config KEY=VALUE`) out of the command line, leaving
/// jingtu's `--config FILE.toml` to clap. A GDAL option is told from a settings file by its name: an
/// upper-case identifier (`AWS_S3_ENDPOINT`, `GDAL_HTTP_MAX_RETRY`, `CPL_DEBUG`) that is not an existing
/// file; a settings file is a path (it has an extension, a folder, or exists).
fn split_gdal_config(args: Vec<std::ffi::OsString>) -> (Vec<std::ffi::OsString>, Vec<(String, String)>) {
    let mut kept = Vec::with_capacity(args.len());
    let mut options = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--" {
            kept.extend(args[i..].iter().cloned());
            break;
        }
        if args[i] == "--config" {
            if let Some(key) = args.get(i + 1).and_then(|k| k.to_str()) {
                if let Some((k, v)) = key.split_once('=').filter(|(k, _)| is_gdal_option_name(k)) {
                    options.push((k.to_string(), v.to_string()));
                    i += 2;
                    continue;
                }
                if is_gdal_option_name(key) && !std::path::Path::new(key).exists() {
                    if let Some(value) = args.get(i + 2).and_then(|v| v.to_str()) {
                        options.push((key.to_string(), value.to_string()));
                        i += 3;
                        continue;
                    }
                }
            }
        }
        kept.push(args[i].clone());
        i += 1;
    }
    (kept, options)
}

/// GDAL configuration option names are upper-case identifiers with an underscore (`GDAL_CACHEMAX`,
/// `AWS_REGION`, `CPL_DEBUG`); no settings file is named like that.
fn is_gdal_option_name(s: &str) -> bool {
    s.contains('_')
        && s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The backend for the settings (`compute::select`).
pub(crate) fn backend(settings: &Settings) -> Result<Arc<dyn Backend>, Error> {
    crate::compute::select(settings.backend)
}

/// The progress sink for the settings.
pub(crate) fn progress(settings: &Settings) -> Box<dyn Progress> {
    if settings.json {
        Box::new(output::JsonProgress::default())
    } else if settings.quiet {
        Box::new(output::Quiet)
    } else {
        Box::new(output::TerminalProgress::new())
    }
}

/// Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set" on every instance creation when
/// the variable is missing, as it is in services, containers and CI; that would break the one-line error
/// rule. Give them a private runtime folder when there is none. Called first thing in `main`, before any
/// thread exists, which is what makes setting the environment sound.
fn quiet_vulkan_loader() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let valid = std::env::var_os("XDG_RUNTIME_DIR").map(std::path::PathBuf::from).is_some_and(|p| p.is_dir());
    if valid {
        return;
    }
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("jingtu-runtime-{uid}"));
    if std::fs::create_dir_all(&dir).is_ok()
        && std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).is_ok()
    {
        // SAFETY: no other thread exists yet (see above).
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

fn init_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().filter_or("JINGTU_LOG", "warn"))
        .format_timestamp(None)
        .try_init();
}

/// The error and its causes on one line. A cause whose text the message already holds is left out:
/// `Error::Io` prints its OS error and also returns it as its source, which gave "No such file or
/// directory (os error 2): No such file or directory (os error 2)".
fn one_line(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        let part = part.trim();
        if part.is_empty() || text.contains(part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(part);
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(c.downcast_ref::<Error>(), Some(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdal_config_pairs_are_told_from_a_settings_file() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        let (kept, options) = split_gdal_config(args(&[
            "jingtu",
            "scan",
            "--config",
            "AWS_S3_ENDPOINT",
            "127.0.0.1:9000",
            "--config",
            "settings.toml",
            "--config",
            "GDAL_HTTP_MAX_RETRY=5",
        ]));
        assert_eq!(kept, args(&["jingtu", "scan", "--config", "settings.toml"]));
        assert_eq!(
            options,
            vec![
                ("AWS_S3_ENDPOINT".to_string(), "127.0.0.1:9000".to_string()),
                ("GDAL_HTTP_MAX_RETRY".to_string(), "5".to_string())
            ]
        );
        assert!(
            !is_gdal_option_name("config.toml") && !is_gdal_option_name("SETTINGS") && is_gdal_option_name("CPL_DEBUG")
        );
    }

    #[test]
    fn an_os_error_is_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let os = std::io::Error::from_raw_os_error(2);
        for source in [io, os] {
            let said = source.to_string();
            let e = anyhow::Error::from(Error::io("/no/such/plots.gpkg", source));
            let line = one_line(&e);
            assert_eq!(line.matches(said.as_str()).count(), 1, "{line}");
            assert!(line.starts_with("/no/such/plots.gpkg: "), "{line}");
        }
        // Context that adds something is kept.
        let e =
            anyhow::Error::from(Error::io("a.tif", std::io::Error::from_raw_os_error(13))).context("reading scenes");
        assert_eq!(one_line(&e), format!("reading scenes: a.tif: {}", std::io::Error::from_raw_os_error(13)));
    }
}
