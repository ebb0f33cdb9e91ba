//! STAC Item / ItemCollection parsing: never a panic; every scene it accepts has the bands a scan needs,
//! on regular files, with finite, non-zero scales.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use jingtu::io::scenes::{REQUIRED_ROLES, SceneList, stac::parse_document};
use libfuzzer_sys::fuzz_target;

/// A catalogue folder holding empty files under the names the demo's items use, so hrefs can resolve.
fn catalog() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("jingtu-fuzz-stac-{}", std::process::id()));
        let scene = dir.join("scenes/S2_20240105");
        std::fs::create_dir_all(&scene).unwrap();
        for name in ["B02", "B03", "B04", "B08", "B11", "B12", "SCL", "QA_PIXEL", "blue", "red", "nir", "green"] {
            std::fs::write(scene.join(format!("{name}.tif")), b"").unwrap();
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = catalog().join("items.json");
    for only in [true, false] {
        let mut list = SceneList::default();
        if parse_document(text, &file, only, &mut list).is_err() {
            continue;
        }
        for scene in &list.scenes {
            for role in REQUIRED_ROLES {
                assert!(scene.band(role).is_some(), "scene {} accepted without {role}", scene.id);
            }
            for (_, band) in &scene.bands {
                assert!(band.path.is_file(), "scene {} accepted with {}", scene.id, band.path.display());
                assert!(band.index >= 1);
                assert!(band.scale.is_none_or(|s| s.is_finite() && s != 0.0));
                assert!(band.offset.is_none_or(f64::is_finite));
            }
        }
    }
});
