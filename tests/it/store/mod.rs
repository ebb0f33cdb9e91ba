//! The GeoPackage store: its lock, its upgrades, and what a SIGKILL leaves of it.

mod kill_nine;
mod lock;
mod upgrade;
