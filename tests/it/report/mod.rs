//! `jingtu report`: the command, its chips, and the page in a real browser.

mod browser;
mod chips;
mod cli;
