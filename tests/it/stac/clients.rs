//! Issue 14, STAC in and out, checked with the clients that read and write STAC: the demo catalogue
//! validates in pystac against the STAC 1.1 core and the eo/raster/projection extension schemas, and
//! odc-stac and stackstac load its items to the same pixel values GDAL reads; an ItemCollection made by
//! rio-stac from the demo's COGs (bands named "b1" with no common name, `scale: 1.0`) scans to the same
//! flags as the demo's own catalogue.

use crate::support as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use gdal::Dataset;
use serde_json::Value;

use common::clients::{output_of, stac_python, stac_schemas};
use common::{demo_area, store_state};

/// Validates the catalogue (pystac's `validate_all` on the documents as written, extension schemas
/// from fixtures/), checks that a broken item fails the same validator (so the pass means something),
/// and loads red and nir of every item with odc-stac and stackstac on the native grid, printing per band
/// the array shape, each item's pixel sum and one pixel.
const CLIENTS_SCRIPT: &str = r##"
import copy, json, sys
import numpy as np
import pystac
from pystac.validation import JsonSchemaSTACValidator, set_validator, validate_all

catalog_path, schemas_dir = sys.argv[1], sys.argv[2]
validator = JsonSchemaSTACValidator()
for ext, ver in [("eo", "v1.1.0"), ("raster", "v1.1.0"), ("projection", "v1.2.0")]:
    with open(f"{schemas_dir}/{ext}/{ver}/schema.json") as f:
        schema = json.load(f)
    uri = f"https://stac-extensions.github.io/{ext}/{ver}/schema.json"
    validator.schema_cache[uri] = schema
    validator.schema_cache[uri + "#"] = schema
set_validator(validator)
with open(catalog_path) as f:
    validate_all(json.load(f), catalog_path)

catalog = pystac.read_file(catalog_path)
items = sorted(catalog.get_items(recursive=True), key=lambda i: i.datetime)
with open(items[0].get_self_href()) as f:
    broken = json.load(f)
broken["properties"]["proj:shape"] = "640x640"
try:
    pystac.validation.validate_dict(broken)
    sys.exit("a broken item passed validation: the validator checks nothing")
except pystac.errors.STACValidationError:
    pass

out = {"items": [i.id for i in items], "odc": {}, "stackstac": {}}
import odc.stac
ds = odc.stac.load(items, bands=["red", "nir"], groupby="id", chunks=None)
for band in ["red", "nir"]:
    arr = ds[band].values
    out["odc"][band] = {"shape": list(arr.shape), "sums": [int(a.astype(np.int64).sum()) for a in arr],
                        "probe": [int(a[10, 20]) for a in arr]}

import stackstac
# stackstac opens asset hrefs as written; relative ones (the catalogue is relocatable, and served over
# HTTP or S3 as it is) are made absolute against each item's self link with pystac, as its users do.
collection = pystac.ItemCollection([i.clone().make_asset_hrefs_absolute() for i in items])
epsg = int(items[0].properties["proj:code"].split(":")[1])
stack = stackstac.stack(collection, assets=["red", "nir"], epsg=epsg, resolution=items[0].properties["gsd"],
                        bounds=tuple(items[0].properties["proj:bbox"]), dtype="uint16",
                        fill_value=np.uint16(0), rescale=False).compute()
for band in ["red", "nir"]:
    arr = stack.sel(band=band).values
    out["stackstac"][band] = {"shape": list(arr.shape), "sums": [int(a.astype(np.int64).sum()) for a in arr],
                              "probe": [int(a[10, 20]) for a in arr]}
print(json.dumps(out))
"##;

/// The demo's items in date order, each with its file.
fn demo_items(catalog: &Path) -> Vec<(PathBuf, Value)> {
    let cat: Value = serde_json::from_str(&std::fs::read_to_string(catalog).unwrap()).unwrap();
    let mut items: Vec<(PathBuf, Value)> = cat["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "item")
        .map(|l| {
            let file = catalog.parent().unwrap().join(l["href"].as_str().unwrap());
            let item = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            (file, item)
        })
        .collect();
    items.sort_by(|a, b| a.1["properties"]["datetime"].as_str().cmp(&b.1["properties"]["datetime"].as_str()));
    items
}

/// Shape, pixel sum and the pixel at row 10, column 20 of band 1 of `path`, as GDAL reads them.
fn gdal_view(path: &Path) -> ((usize, usize), i64, i64) {
    let ds = Dataset::open(path).unwrap();
    let band = ds.rasterband(1).unwrap();
    let (w, h) = band.size();
    let buf = band.read_as::<u16>((0, 0), (w, h), (w, h), None).unwrap();
    let data = buf.data();
    ((h, w), data.iter().map(|v| i64::from(*v)).sum(), i64::from(data[10 * w + 20]))
}

#[test]
fn the_demo_catalog_is_valid_stac_and_loads_in_odc_stac_and_stackstac() {
    let Some(python) = stac_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let items = demo_items(&area.stac);
    assert_eq!(items.len(), area.truth.acquisitions.len());
    for (file, item) in &items {
        // WGS84 longitude/latitude (near Taizhou, Jiangsu, in UTM zone 51N), not UTM metres, and the
        // geometry present.
        let bbox: Vec<f64> = item["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(
            (120.0..126.0).contains(&bbox[0]) && (30.0..35.0).contains(&bbox[1]),
            "{}: bbox {bbox:?}",
            file.display()
        );
        assert_eq!(item["geometry"]["type"], "Polygon", "{}", file.display());
        let ring = item["geometry"]["coordinates"][0].as_array().unwrap();
        assert!(common::clients::signed_area2(ring) > 0.0, "{}: ring not counter-clockwise", file.display());
        assert_eq!(item["properties"]["proj:code"], "EPSG:32651");
        let self_link = item["links"].as_array().unwrap().iter().find(|l| l["rel"] == "self").unwrap();
        assert_eq!(Path::new(self_link["href"].as_str().unwrap()), std::path::absolute(file).unwrap());
    }
    let text = output_of(
        Command::new(&python).current_dir(dir.path()).args(["-c", CLIENTS_SCRIPT]).arg(&area.stac).arg(stac_schemas()),
    );
    let seen: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let ids: Vec<&str> = items.iter().map(|(_, i)| i["id"].as_str().unwrap()).collect();
    assert_eq!(seen["items"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>(), ids);
    for (key, stem) in [("red", "B04"), ("nir", "B08")] {
        let gdal: Vec<_> = items
            .iter()
            .map(|(file, item)| {
                let href = item["assets"][key]["href"].as_str().unwrap();
                assert!(href.ends_with(&format!("/{stem}.tif")), "{href}");
                gdal_view(&file.parent().unwrap().join(href))
            })
            .collect();
        for client in ["odc", "stackstac"] {
            let v = &seen[client][key];
            let shape: Vec<usize> =
                v["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            assert_eq!(shape, vec![items.len(), gdal[0].0.0, gdal[0].0.1], "{client} {key}: shape");
            let sums: Vec<i64> = v["sums"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
            let probes: Vec<i64> = v["probe"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
            assert_eq!(
                sums,
                gdal.iter().map(|g| g.1).collect::<Vec<_>>(),
                "{client} {key}: pixel sums differ from GDAL's"
            );
            assert_eq!(probes, gdal.iter().map(|g| g.2).collect::<Vec<_>>(), "{client} {key}: pixel (10, 20) differs");
        }
    }
    println!("pystac validates {} items; odc-stac and stackstac read GDAL's pixels", items.len());
}

/// Makes an ItemCollection of the demo's scenes with rio-stac, as a user would from the COGs alone: one
/// `create_stac_item` per band file (asset keyed by its band, the file's own metadata: bands named "b1"
/// without common names, `raster:bands` with `scale: 1.0` and statistics), merged per acquisition.
const RIO_STAC_SCRIPT: &str = r#"
import json, sys, datetime
import pystac
from rio_stac import create_stac_item

out_path, scenes = sys.argv[1], json.loads(sys.argv[2])
items = []
for scene in scenes:
    when = datetime.datetime.fromisoformat(scene["datetime"].replace("Z", "+00:00"))
    item = None
    for key, path in scene["assets"]:
        one = create_stac_item(path, input_datetime=when, id=scene["id"], asset_name=key, asset_roles=["data"],
                               asset_media_type=pystac.MediaType.COG, with_proj=True, with_raster=True, with_eo=True)
        if item is None:
            item = one
        else:
            item.add_asset(key, one.assets[key])
    items.append(item)
pystac.ItemCollection(items).save_object(dest_href=out_path)
"#;

#[test]
fn a_rio_stac_item_collection_scans_to_the_same_flags_as_the_demo_catalog() {
    let Some(python) = stac_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let scenes: Vec<Value> = demo_items(&area.stac)
        .iter()
        .map(|(file, item)| {
            let assets: Vec<(String, String)> = ["blue", "green", "red", "nir", "swir16", "swir22", "scl"]
                .iter()
                .map(|k| {
                    let p = file.parent().unwrap().join(item["assets"][*k]["href"].as_str().unwrap());
                    (k.to_string(), std::path::absolute(p).unwrap().display().to_string())
                })
                .collect();
            serde_json::json!({"id": item["id"], "datetime": item["properties"]["datetime"], "assets": assets})
        })
        .collect();
    let collection = dir.path().join("rio-stac.json");
    output_of(
        Command::new(&python)
            .args(["-c", RIO_STAC_SCRIPT])
            .arg(&collection)
            .arg(serde_json::to_string(&scenes).unwrap()),
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&collection).unwrap()).unwrap();
    let red = &written["features"][0]["assets"]["red"];
    // What made the issue's rio-stac catalogue fail: no common names, a scale of 1 on UInt16 counts.
    assert!(red["eo:bands"][0].get("common_name").is_none(), "{red}");
    assert_eq!(red["raster:bands"][0]["scale"], 1.0, "{red}");

    let (ours, theirs) = (dir.path().join("demo.gpkg"), dir.path().join("rio-stac.gpkg"));
    common::scan(&area.plots, &area.stac, &ours, &["-q", "--no-report"]).expect_code(0, "scan of the demo catalogue");
    let run = common::scan(&area.plots, &collection, &theirs, &["--no-report"]);
    run.expect_code(0, "scan of the rio-stac ItemCollection");
    let tables = ["flags", "flag_history", "plot_state", "plot_summary"];
    let keep =
        |s: Vec<(String, Vec<String>)>| s.into_iter().filter(|(t, _)| tables.contains(&t.as_str())).collect::<Vec<_>>();
    let (a, b) = (keep(store_state(&ours)), keep(store_state(&theirs)));
    assert!(!a[0].1.is_empty(), "the demo scan raised no flags");
    for ((t, ra), (_, rb)) in a.iter().zip(&b) {
        assert_eq!(ra, rb, "table {t} differs between the demo catalogue and rio-stac's");
    }
    println!("rio-stac ItemCollection: {} flags, as the demo catalogue's", a[0].1.len());
}
