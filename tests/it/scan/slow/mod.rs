//! The scan's slow tests (a minute or more each on two cores): `cargo test --release --test it ::slow::`
//! runs them alone, `-- --skip ::slow::` leaves them out.

mod large_registry;
mod real_changsha;
