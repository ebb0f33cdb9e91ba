//! Registry feature attributes (id, name, category, works_allowed, listed_on): never a panic; an accepted
//! plot has a non-empty, trimmed id of valid text without NUL, and a name likewise.
#![no_main]

use jingtu::io::plots::{FeatureAttributes, PlotFields, plot_attributes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Five values separated by 0xFF (never in UTF-8); a missing one is a null field. Bytes that are not
    // UTF-8 arrive as GDAL gives them: decoded lossily, with U+FFFD.
    let mut parts = data
        .split(|b| *b == 0xFF)
        .map(|p| if p == b"\x00null" { None } else { Some(String::from_utf8_lossy(p).into_owned()) });
    let values = FeatureAttributes {
        plot_id: parts.next().flatten(),
        name: parts.next().flatten(),
        category: parts.next().flatten(),
        works_allowed: parts.next().flatten(),
        listed_on: parts.next().flatten(),
    };
    let mut warnings = Vec::new();
    match plot_attributes(7, &values, &PlotFields::default(), &mut warnings) {
        Ok(Some(p)) => {
            assert!(!p.plot_id.is_empty());
            assert_eq!(p.plot_id, p.plot_id.trim());
            for text in std::iter::once(&p.plot_id).chain(p.name.as_ref()) {
                assert!(!text.contains('\0') && !text.contains('\u{FFFD}'), "kept {text:?}");
            }
            if values.listed_on.as_deref().is_some_and(|v| !v.trim().is_empty()) && p.listed_on.is_none() {
                assert!(warnings.iter().any(|w| w.contains("is not a date")), "{warnings:?}");
            }
        }
        Ok(None) => assert!(values.plot_id.as_deref().is_none_or(|v| v.trim().is_empty())),
        Err(problem) => assert!(problem.starts_with("feature 7: ")),
    }
});
