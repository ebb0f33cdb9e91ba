//! The store's slow test (40 kills and their reruns, two minutes on two cores):
//! `cargo test --release --test it ::slow::` runs the slow tests alone, `-- --skip ::slow::` leaves them out.

mod kill_nine;
