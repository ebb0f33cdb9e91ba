//! The `--config` TOML file: never a panic; an accepted file has only finite numbers, and parses again
//! to the same settings after a round trip through TOML.
#![no_main]

use jingtu::cli::config::ConfigFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = ConfigFile::parse(text) else { return };
    // What was accepted serializes, and reads back as accepted.
    let again = toml::to_string(&config).expect("an accepted config serializes");
    let back = ConfigFile::parse(&again).unwrap_or_else(|e| panic!("re-reading {again:?}: {e}"));
    assert_eq!(toml::to_string(&back).unwrap(), again);
});
