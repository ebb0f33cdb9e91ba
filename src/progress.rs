//! Progress reporting from library code without tying it to a terminal: the CLI plugs in indicatif bars
//! or JSON lines; tests and libraries use `Silent`.

/// Receives progress from long jobs.
pub trait Progress: Send + Sync {
    /// A new stage starts (`reading`, `normalizing`, ...).
    fn stage(&self, name: &str);
    /// A counted task starts: `total` items of `unit` (scenes, plots, tiles).
    fn start(&self, unit: &str, total: u64);
    /// One more item of the current task is done.
    fn advance(&self, item: &str);
    /// The current counted task is over.
    fn finish(&self);
    /// Something worth telling the user that does not stop the job.
    fn warn(&self, message: &str);
}

/// Progress that goes nowhere (warnings still go to the log).
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn stage(&self, _: &str) {}
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: &str) {}
    fn finish(&self) {}
    fn warn(&self, message: &str) {
        log::warn!("{message}");
    }
}
