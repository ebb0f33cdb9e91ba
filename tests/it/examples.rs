//! The library API and the logic of the examples (`examples/change_two_files.rs`,
//! `examples/scan_registry.rs`, which CI also runs): flags in memory, and writing them gives the files
//! the command line writes.

use jingtu::FlagKind;
use jingtu::jobs::api::{change_two_files, count_by_kind, scan_registry};
use jingtu::store::Store;

use crate::support::jingtu;

#[test]
fn change_two_files_finds_the_fixture_changes_and_writes_what_the_cli_writes() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = change_two_files(None, &dir.path().join("pair")).expect("the change runs");
    let kinds = count_by_kind(&outcome.flags);
    assert!(kinds.contains_key(FlagKind::Construction.name()), "{kinds:?}");
    assert_eq!(outcome.summary.flags, outcome.flags.len());
    assert_eq!(outcome.codes.dim(), (outcome.grid.height, outcome.grid.width));
    assert!(!outcome.grid.crs_wkt.is_empty());
    let lib = outcome.write(dir.path().join("lib.geojson")).unwrap();
    let lib_raster = outcome.write_change_raster(dir.path().join("lib.tif"), false).unwrap();
    assert!(outcome.write(&lib).is_err(), "an existing output is refused without overwrite");

    let mut tifs: Vec<_> = std::fs::read_dir(dir.path().join("pair"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("s2-"))
        .collect();
    tifs.sort(); // named by date: before, then after
    let (cli, cli_raster) = (dir.path().join("cli.geojson"), dir.path().join("cli.tif"));
    jingtu([
        "change".as_ref(),
        tifs[0].as_os_str(),
        tifs[1].as_os_str(),
        "--out".as_ref(),
        cli.as_os_str(),
        "--change-raster".as_ref(),
        cli_raster.as_os_str(),
    ])
    .expect_code(0, "jingtu change on the fixture pair");
    assert_eq!(std::fs::read(&lib).unwrap(), std::fs::read(&cli).unwrap(), "flags differ from the CLI's");
    assert_eq!(std::fs::read(&lib_raster).unwrap(), std::fs::read(&cli_raster).unwrap(), "change raster differs");
}

#[test]
fn scan_registry_hands_back_the_flags_the_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = scan_registry(None, dir.path()).expect("the scan runs");
    assert!(outcome.summary.scenes_new > 0);
    assert!(!outcome.flags.is_empty(), "the synthetic area has events");
    let stored = Store::open(Some(&dir.path().join("store.gpkg"))).unwrap().flags().unwrap();
    let mut stored: Vec<_> = stored.into_iter().map(|(_, f)| f).collect();
    stored.sort_by(|a, b| a.flag_id.cmp(&b.flag_id));
    assert_eq!(outcome.flags.len(), stored.len());
    for (a, b) in outcome.flags.iter().zip(&stored) {
        assert_eq!((&a.flag_id, a.kind, a.status), (&b.flag_id, b.kind, b.status));
    }
    let path = outcome.write(dir.path().join("flags.gpkg")).unwrap();
    assert_eq!(crate::support::read_flags(&path).len(), outcome.flags.len());
}
