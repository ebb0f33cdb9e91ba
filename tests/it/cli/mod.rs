//! The command line as a user meets it: conventions, messages, `inspect`, backend choice, `drone`.

mod backends;
mod conventions;
mod drone;
mod input_messages;
mod inspect_real;
