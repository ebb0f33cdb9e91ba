//! Issue 14, CLI conventions: shell completions and man pages generated from the clap definition (and
//! usable: bash loads the script, man renders the page), `--co NAME=VALUE` reaching the GeoTIFF a command
//! writes, `--out -` refused by name where an output cannot go to a pipe and taken as standard output
//! by `export`, options that do not apply warned about, skipped scenes named under `-q`.

use crate::support as common;

use std::process::Command;

use common::{demo_area, jingtu};

#[test]
fn completions_load_in_bash_and_the_man_page_renders() {
    let run = jingtu(["completions", "bash"]);
    run.expect_code(0, "completions bash");
    assert!(run.stdout.contains("_jingtu()") && run.stdout.contains("--scenes"), "{:.300}", run.stdout);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("jingtu.bash");
    std::fs::write(&script, &run.stdout).unwrap();
    // bash sources it and registers the completion for `jingtu`.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p jingtu", script.display()))
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("_jingtu"), "{out:?}");
    for shell in ["zsh", "fish"] {
        jingtu(["completions", shell]).expect_code(0, shell);
    }

    let man = jingtu(["man"]);
    man.expect_code(0, "man");
    assert!(man.stdout.contains(".TH jingtu 1") && man.stdout.contains("scan"), "{:.300}", man.stdout);
    let pages = dir.path().join("man");
    jingtu(["man", "--out", pages.to_str().unwrap()]).expect_code(0, "man --out");
    let scan_page = pages.join("jingtu-scan.1");
    let text = std::fs::read_to_string(&scan_page).unwrap();
    assert!(text.contains("collection") && text.contains("offline"), "the scan page lacks the new options");
    // groff renders it without complaint where man's formatter is installed.
    if let Ok(out) = Command::new("groff").args(["-man", "-Tutf8", "-ww"]).arg(&scan_page).output() {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).trim().is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn creation_options_reach_the_change_raster_and_misuse_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let pair = common::fixture(dir.path(), &jingtu::synth::pair::PairOptions::new(7));
    let raster = dir.path().join("change.tif");
    let flags = dir.path().join("flags.gpkg");
    let run = jingtu([
        "change",
        pair.before.to_str().unwrap(),
        pair.after.to_str().unwrap(),
        "--out",
        flags.to_str().unwrap(),
        "--change-raster",
        raster.to_str().unwrap(),
        "--co",
        "COMPRESS=ZSTD",
        "--co",
        "BLOCKSIZE=256",
    ]);
    assert!(run.code == 0 || run.code == 1, "change with --co: {}", run.stderr);
    let info = common::clients::output_of(Command::new("gdalinfo").arg(&raster));
    assert!(info.contains("COMPRESSION=ZSTD"), "{info}");
    assert!(info.contains("Block=256x256"), "{info}");

    let bad = jingtu([
        "change",
        pair.before.to_str().unwrap(),
        pair.after.to_str().unwrap(),
        "--out",
        dir.path().join("f2.gpkg").to_str().unwrap(),
        "--co",
        "ZSTD",
    ]);
    bad.expect_code(2, "a malformed --co");
    assert!(bad.stderr.contains("--co ZSTD") && bad.stderr.contains("NAME=VALUE"), "{}", bad.stderr);

    let to_pipe = jingtu(["change", pair.before.to_str().unwrap(), pair.after.to_str().unwrap(), "--out", "-"]);
    to_pipe.expect_code(2, "change --out -");
    assert!(to_pipe.stderr.contains("--out -") && !dir.path().join("-").exists(), "{}", to_pipe.stderr);
}

#[test]
fn inapplicable_options_are_warned_and_quiet_still_names_skipped_scenes() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    // One scene's band file gone: skipped, and named even with -q.
    let gone = area.dir.join("scenes").join(area.truth.acquisitions[3].1.to_string()).join("B08.tif");
    std::fs::remove_file(&gone).unwrap();
    let store = dir.path().join("store.gpkg");
    let run = common::scan(&area.plots, &area.stac, &store, &["-q", "--no-report", "--co", "COMPRESS=ZSTD"]);
    run.expect_code(1, "scan with a missing band file");
    assert!(run.stderr.contains(&area.truth.acquisitions[3].0) && run.stderr.contains("B08.tif"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "-q prints nothing on stdout: {}", run.stdout);

    let export = jingtu(["export", "--store", store.to_str().unwrap(), "--out", "-", "--sensor", "landsat-tm"]);
    export.expect_code(0, "export --out -");
    assert!(export.stdout.starts_with("{\"type\":\"Feature\""), "{:.100}", export.stdout);
    assert!(export.stderr.contains("--sensor does not apply to `jingtu export`"), "{}", export.stderr);
    assert!(!std::path::Path::new("-").exists());
}
