//! What the terminal shows: indicatif progress on stderr for people, JSON lines on stdout for machines.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::progress::Progress;

/// Progress bars and a spinner on stderr; hidden when stderr is not a terminal.
pub struct TerminalProgress {
    bar: Mutex<ProgressBar>,
}

impl TerminalProgress {
    /// A spinner that becomes a bar for counted tasks.
    pub fn new() -> Self {
        let bar = ProgressBar::new_spinner();
        if !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        TerminalProgress { bar: Mutex::new(bar) }
    }
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for TerminalProgress {
    fn stage(&self, name: &str) {
        let bar = self.bar.lock().expect("progress lock");
        bar.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("template"));
        bar.set_message(name.to_string());
    }

    fn start(&self, unit: &str, total: u64) {
        let bar = self.bar.lock().expect("progress lock");
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {{bar:30}} {{pos}}/{{len}} {unit} {{msg}} [{{elapsed}}<{{eta}}]"
            ))
            .expect("template"),
        );
        bar.set_length(total);
        bar.set_position(0);
    }

    fn advance(&self, item: &str) {
        let bar = self.bar.lock().expect("progress lock");
        bar.set_message(item.to_string());
        bar.inc(1);
    }

    fn finish(&self) {
        let bar = self.bar.lock().expect("progress lock");
        bar.set_message(String::new());
    }

    fn warn(&self, message: &str) {
        let bar = self.bar.lock().expect("progress lock");
        bar.suspend(|| eprintln!("jingtu: warning: {message}"));
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        if let Ok(bar) = self.bar.lock() {
            bar.finish_and_clear();
        }
    }
}

/// One JSON object per line on stdout: `{"event":"stage",...}`, `{"event":"progress",...}`, and the
/// summary the command prints last.
#[derive(Default)]
pub struct JsonProgress {
    state: Mutex<(String, u64, u64)>,
}

impl JsonProgress {
    fn emit(value: serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }
}

impl Progress for JsonProgress {
    fn stage(&self, name: &str) {
        Self::emit(serde_json::json!({"event": "stage", "stage": name}));
    }

    fn start(&self, unit: &str, total: u64) {
        *self.state.lock().expect("progress lock") = (unit.to_string(), 0, total);
        Self::emit(serde_json::json!({"event": "start", "unit": unit, "total": total}));
    }

    fn advance(&self, item: &str) {
        let mut s = self.state.lock().expect("progress lock");
        s.1 += 1;
        Self::emit(serde_json::json!({"event": "progress", "unit": s.0, "done": s.1, "total": s.2, "item": item}));
    }

    fn finish(&self) {}

    fn warn(&self, message: &str) {
        eprintln!("jingtu: warning: {message}");
        Self::emit(serde_json::json!({"event": "warning", "message": message}));
    }
}

/// Progress for `--quiet`: nothing at all, warnings included (errors still reach stderr).
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str) {}
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: &str) {}
    fn finish(&self) {}
    fn warn(&self, _: &str) {}
}

/// Prints a command's summary: pretty text for people, one JSON line with `--json`.
pub fn print_summary<T: Serialize>(json: bool, quiet: bool, summary: &T, text: impl FnOnce() -> String) {
    if json {
        let mut value = serde_json::to_value(summary).unwrap_or(serde_json::Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.insert("event".into(), "summary".into());
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
    } else if !quiet {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{}", text());
    }
}
