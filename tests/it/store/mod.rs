//! The GeoPackage store: its lock, its upgrades, and what a SIGKILL leaves of it.

mod lock;
mod slow;
mod upgrade;
