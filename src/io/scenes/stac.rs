//! STAC Items and ItemCollections on local disk.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::Value;

use super::{MaskKind, Scene, SceneBand, SceneList};
use crate::error::{Error, Result};
use crate::io::sensor::role_from_description;
use crate::raster::BandRole;

/// Reads every Item in the given JSON files (each an Item or an ItemCollection).
pub fn discover_items(files: &[PathBuf]) -> Result<SceneList> {
    let mut list = SceneList::default();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        parse_document(&text, file, files.len() == 1, &mut list)?;
    }
    Ok(list)
}

/// Adds the Items of one STAC JSON document (`text`, read from `file`) to `list`: usable ones as scenes,
/// the others to `list.skipped` with the reason. A document that is not an Item or ItemCollection is an
/// error when it is the only one (`only`), else skipped. Asset hrefs resolve against `file`'s folder and
/// must name existing regular files.
pub fn parse_document(text: &str, file: &Path, only: bool, list: &mut SceneList) -> Result<()> {
    let json: Value = serde_json::from_str(text)
        .map_err(|e| Error::input(file, format!("not valid JSON ({e}); expected a STAC Item or ItemCollection")))?;
    let items: Vec<&Value> = match json.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {
            json.get("features").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
        }
        Some("Feature") => vec![&json],
        _ => {
            if only {
                return Err(Error::input(
                    file,
                    "not a STAC Item or ItemCollection (no \"type\": \"Feature\"/\"FeatureCollection\")",
                ));
            }
            list.skipped.push(format!("{}: not a STAC Item or ItemCollection", file.display()));
            return Ok(());
        }
    };
    let base = file.parent().unwrap_or(Path::new("."));
    for item in items {
        match parse_item(item, base, file) {
            Ok(scene) => list.scenes.push(scene),
            Err(problem) => list.skipped.push(problem),
        }
    }
    Ok(())
}

fn parse_item(item: &Value, base: &Path, file: &Path) -> std::result::Result<Scene, String> {
    let id = item.get("id").and_then(Value::as_str).unwrap_or("(no id)").to_string();
    let where_ = format!("{}: item {id}", file.display());
    let props = item.get("properties").ok_or_else(|| format!("{where_}: no properties"))?;
    let datetime = props
        .get("datetime")
        .and_then(Value::as_str)
        .or_else(|| props.get("start_datetime").and_then(Value::as_str))
        .ok_or_else(|| format!("{where_}: no properties.datetime"))?;
    let date = NaiveDate::parse_from_str(datetime.get(..10).unwrap_or(datetime), "%Y-%m-%d")
        .map_err(|_| format!("{where_}: datetime '{datetime}' is not ISO 8601"))?;
    let assets = item.get("assets").and_then(Value::as_object).ok_or_else(|| format!("{where_}: no assets"))?;
    let mut bands: Vec<(BandRole, SceneBand)> = Vec::new();
    let mut mask = None;
    let mut keys: Vec<&String> = assets.keys().collect();
    keys.sort();
    for key in keys {
        let asset = &assets[key];
        let roles: Vec<&str> = asset
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if roles.iter().any(|r| matches!(*r, "thumbnail" | "overview" | "metadata")) {
            continue;
        }
        let Some(href) = asset.get("href").and_then(Value::as_str) else { continue };
        let lower = key.to_ascii_lowercase();
        let mask_kind = match lower.as_str() {
            "scl" => Some(MaskKind::SentinelScl),
            "qa_pixel" => Some(MaskKind::LandsatQaPixel),
            _ => None,
        };
        let eo = asset.get("eo:bands").and_then(Value::as_array);
        let raster = asset.get("raster:bands").and_then(Value::as_array);
        let is_image = asset
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(|t| t.contains("tiff") || t.contains("jp2") || t.contains("image"));
        if !is_image {
            continue;
        }
        let roles_in_asset: Vec<(usize, BandRole)> = match eo {
            Some(list) if !list.is_empty() => list
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    let name = b
                        .get("common_name")
                        .and_then(Value::as_str)
                        .or_else(|| b.get("name").and_then(Value::as_str))?;
                    role_from_description(name, None).map(|r| (i + 1, r))
                })
                .collect(),
            _ => role_from_description(key, None).map(|r| vec![(1, r)]).unwrap_or_default(),
        };
        if mask_kind.is_none() && roles_in_asset.is_empty() {
            continue;
        }
        let path = resolve_href(href, base);
        if !path.exists() {
            return Err(format!("{where_} asset {key}: {} does not exist", path.display()));
        }
        // Hashing a device or a FIFO never returns: only regular files are read.
        if !path.is_file() {
            return Err(format!(
                "{where_} asset {key}: {} is not a regular file (a device, FIFO or folder); only regular files are read",
                path.display()
            ));
        }
        if let Some(kind) = mask_kind {
            mask = Some((kind, SceneBand { path, index: 1, scale: None, offset: None }));
            continue;
        }
        for (index, role) in roles_in_asset {
            let rb = raster.and_then(|r| r.get(index - 1));
            let number = |field: &str| -> std::result::Result<Option<f64>, String> {
                match rb.and_then(|b| b.get(field)) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => match v.as_f64() {
                        Some(x) if x.is_finite() => Ok(Some(x)),
                        _ => Err(format!(
                            "{where_} asset {key}: raster:bands[{}].{field} is {v}, not a finite number",
                            index - 1
                        )),
                    },
                }
            };
            // A scale of "abc" was ignored and one of 0 zeroed every value, both silently: the flags
            // of such a scene are wrong, so the scene is skipped, named.
            let scale = number("scale")?;
            let offset = number("offset")?;
            if scale == Some(0.0) {
                return Err(format!(
                    "{where_} asset {key}: raster:bands[{}].scale is 0, which erases every value",
                    index - 1
                ));
            }
            if !bands.iter().any(|(r, _)| *r == role) {
                bands.push((role, SceneBand { path: path.clone(), index, scale, offset }));
            }
        }
    }
    for role in super::REQUIRED_ROLES {
        if !bands.iter().any(|(r, _)| *r == role) {
            return Err(format!("{where_}: no {role} band among its assets"));
        }
    }
    bands.sort_by_key(|(r, _)| *r);
    let cloud_cover = props.get("eo:cloud_cover").and_then(Value::as_f64);
    Ok(Scene { id, date, source: file.to_path_buf(), bands, mask, cloud_cover })
}

/// A local path for an asset href: relative hrefs resolve against the JSON file's folder.
fn resolve_href(href: &str, base: &Path) -> PathBuf {
    let stripped = href.strip_prefix("file://").unwrap_or(href);
    let p = PathBuf::from(stripped);
    if p.is_absolute() { p } else { base.join(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn items_resolve_relative_hrefs_and_common_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("s1")).unwrap();
        for f in ["b.tif", "g.tif", "r.tif", "n.tif", "SCL.tif"] {
            std::fs::write(dir.path().join("s1").join(f), b"x").unwrap();
        }
        let json = r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"S2B_20260304",
          "properties":{"datetime":"2026-03-04T02:51:09Z","eo:cloud_cover":12.5},
          "assets":{
            "B02":{"href":"s1/b.tif","type":"image/tiff; application=geotiff","eo:bands":[{"name":"B02","common_name":"blue"}],"raster:bands":[{"scale":0.0001,"offset":-0.1}]},
            "green":{"href":"./s1/g.tif","type":"image/tiff"},
            "red":{"href":"s1/r.tif"},
            "nir08":{"href":"s1/n.tif"},
            "scl":{"href":"s1/SCL.tif"},
            "thumbnail":{"href":"s1/missing.jpg","roles":["thumbnail"]}}}]}"#;
        let file = write(dir.path(), "items.json", json);
        let list = discover_items(&[file]).unwrap();
        assert!(list.skipped.is_empty(), "{:?}", list.skipped);
        let s = &list.scenes[0];
        assert_eq!(s.date, NaiveDate::from_ymd_opt(2026, 3, 4).unwrap());
        assert_eq!(s.band(BandRole::Blue).unwrap().scale, Some(0.0001));
        assert_eq!(s.band(BandRole::Nir).unwrap().path, dir.path().join("s1/n.tif"));
        assert_eq!(s.mask.as_ref().unwrap().0, MaskKind::SentinelScl);
        assert!(!s.has_swir());
    }

    #[test]
    fn a_missing_asset_file_names_the_item_and_asset() {
        let dir = tempfile::tempdir().unwrap();
        let json = r#"{"type":"Feature","id":"scene-7","properties":{"datetime":"2026-05-01T00:00:00Z"},
          "assets":{"blue":{"href":"nope/blue.tif"}}}"#;
        let file = write(dir.path(), "item.json", json);
        let list = discover_items(&[file]).unwrap();
        assert!(list.scenes.is_empty());
        assert!(list.skipped[0].contains("item scene-7 asset blue"), "{}", list.skipped[0]);
        assert!(list.skipped[0].contains("does not exist"));
    }
}
