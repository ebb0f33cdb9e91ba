//! STAC Items, ItemCollections and static Catalogs/Collections, local or remote (`http(s)://`,
//! `s3://`, GDAL network paths), as common tools write them: rio-stac, pystac, stactools, Earth Search.
//!
//! Bands are matched per asset by `common_name` (`eo:bands`, or STAC 1.1 `bands` with
//! `eo:common_name`), then by `name` with the usual Sentinel-2 and Landsat band names, then by the
//! asset key; `raster:bands` (or STAC 1.1 `raster:scale`/`raster:offset`) scale and offset are kept, and
//! a scale that would make reflectance implausible skips the scene with the reason.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::Value;

use super::{MaskKind, Scene, SceneBand, SceneList};
use crate::error::{Error, Result};
use crate::io::sensor::role_from_description;
use crate::io::vsi;
use crate::raster::BandRole;

/// The physical range of surface reflectance after scaling (with room for the offset of Sentinel-2's
/// processing baseline 04.00 and for specular highlights); a catalogue whose scale puts a band's
/// statistics outside it is wrong about the scale.
pub const REFLECTANCE_RANGE: (f64, f64) = (-0.1, 1.6);

/// How many Catalog/Collection levels are followed below the document given (a cycle of links stops
/// at the first repeat anyway).
const MAX_DEPTH: usize = 8;

/// Reads every Item in the given JSON files or remote hrefs (each an Item, an ItemCollection, or a
/// Catalog or Collection whose `item` and `child` links are followed).
pub fn discover_items(files: &[PathBuf]) -> Result<SceneList> {
    let mut list = SceneList::default();
    let mut seen = HashSet::new();
    for file in files {
        read_document(file, files.len() == 1, 0, &mut seen, &mut list)?;
    }
    Ok(list)
}

/// The text of a local file or a remote document (read through GDAL's network file systems).
fn read_text(file: &Path) -> Result<String> {
    if vsi::is_network_path(file) {
        let bytes = vsi::read(file)?;
        String::from_utf8(bytes).map_err(|_| Error::input(file, "not UTF-8 text; expected STAC JSON"))
    } else {
        std::fs::read_to_string(file).map_err(|e| Error::io(file, e))
    }
}

fn read_document(
    file: &Path,
    only: bool,
    depth: usize,
    seen: &mut HashSet<PathBuf>,
    list: &mut SceneList,
) -> Result<()> {
    if !seen.insert(file.to_path_buf()) {
        return Ok(());
    }
    let text = match read_text(file) {
        Ok(t) => t,
        Err(e) if !only => {
            list.skipped.push(e.to_string());
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let links = parse_document(&text, file, only, list)?;
    for (rel, href) in links {
        if depth >= MAX_DEPTH {
            list.skipped.push(format!(
                "{}: {rel} link {href} not followed: more than {MAX_DEPTH} levels of catalogues",
                file.display()
            ));
            continue;
        }
        let target = resolve_href(&href, file);
        if rel == "item" || rel == "child" {
            read_document(&target, false, depth + 1, seen, list)?;
        }
    }
    Ok(())
}

/// Adds the Items of one STAC JSON document (`text`, read from `file`) to `list`: usable ones as scenes,
/// the others to `list.skipped` with the reason. A document that is not an Item, ItemCollection,
/// Catalog or Collection is an error when it is the only one (`only`), else skipped. Asset hrefs
/// resolve against `file`'s folder; local ones must name existing regular files. Returns the `item` and
/// `child` links of a Catalog or Collection, for the caller to follow.
pub fn parse_document(text: &str, file: &Path, only: bool, list: &mut SceneList) -> Result<Vec<(String, String)>> {
    let json: Value = serde_json::from_str(text).map_err(|e| {
        Error::input(file, format!("not valid JSON ({e}); expected a STAC Item, ItemCollection or Catalog"))
    })?;
    let items: Vec<&Value> = match json.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {
            json.get("features").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
        }
        Some("Feature") => vec![&json],
        Some("Catalog") | Some("Collection") => {
            let links = json
                .get("links")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|l| {
                            let rel = l.get("rel").and_then(Value::as_str)?;
                            let href = l.get("href").and_then(Value::as_str)?;
                            (rel == "item" || rel == "child").then(|| (rel.to_string(), href.to_string()))
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            if links.is_empty() {
                list.skipped.push(format!("{}: a STAC Catalog/Collection without item or child links", file.display()));
            }
            return Ok(links);
        }
        _ => {
            if only {
                return Err(Error::input(
                    file,
                    "not a STAC Item, ItemCollection or Catalog (no \"type\": \"Feature\"/\"FeatureCollection\"/\"Catalog\"/\"Collection\")",
                ));
            }
            list.skipped.push(format!("{}: not a STAC Item, ItemCollection or Catalog", file.display()));
            return Ok(Vec::new());
        }
    };
    for item in items {
        match parse_item(item, file) {
            Ok(scene) => list.scenes.push(scene),
            Err(problem) => list.skipped.push(problem),
        }
    }
    Ok(Vec::new())
}

/// How sure a band's role is: a standard `common_name` beats an alias (`nir08` for Sentinel-2's B8A),
/// which beats a band `name`, which beats the asset key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Evidence {
    CommonName,
    CommonNameAlias,
    Name,
    AssetKey,
}

/// The bands of an asset: `eo:bands`, else STAC 1.1 `bands`.
fn asset_bands(asset: &Value) -> Vec<&Value> {
    for field in ["eo:bands", "bands"] {
        if let Some(list) = asset.get(field).and_then(Value::as_array) {
            if !list.is_empty() {
                return list.iter().collect();
            }
        }
    }
    Vec::new()
}

/// The role of one band of an asset, and how sure it is.
fn band_role(band: &Value, platform: &str) -> Option<(BandRole, Evidence)> {
    let text = |k: &str| band.get(k).and_then(Value::as_str);
    if let Some(common) = text("common_name").or_else(|| text("eo:common_name")) {
        if let Some(role) = BandRole::parse(common) {
            let standard = matches!(common, "blue" | "green" | "red" | "nir" | "swir16" | "swir22");
            return Some((role, if standard { Evidence::CommonName } else { Evidence::CommonNameAlias }));
        }
    }
    // rio-stac names bands by position ("b1", "b2": rasterio's default), which is not Sentinel-2's
    // "B1" (coastal); the file's own band description, which it copies to `description`, may name it.
    let by_name = |n: &str| landsat_band(n, platform).or_else(|| role_from_description(n, None));
    let name = text("name").filter(|n| !is_positional_name(n));
    name.and_then(by_name).or_else(|| text("description").and_then(|d| by_name(d.trim()))).map(|r| (r, Evidence::Name))
}

/// "b1", "b2", ... as rasterio and rio-stac name bands that have no name (lower-case, no leading zero;
/// Sentinel-2's own names are "B01"...).
fn is_positional_name(name: &str) -> bool {
    name.strip_prefix('b')
        .is_some_and(|d| !d.is_empty() && !d.starts_with('0') && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Landsat Collection 2 band names (`SR_B4`, `B4`, `sr_b4`): the same number is another band on
/// Landsat 8/9 (OLI) than on Landsat 4, 5 and 7 (TM, ETM+), so the item's `platform` decides.
fn landsat_band(name: &str, platform: &str) -> Option<BandRole> {
    let platform = platform.to_ascii_lowercase();
    if !platform.contains("landsat") {
        return None;
    }
    let upper = name.to_ascii_uppercase();
    let n: u32 = upper.strip_prefix("SR_B").or_else(|| upper.strip_prefix('B'))?.parse().ok()?;
    let oli = platform.contains('8') || platform.contains('9');
    Some(match (oli, n) {
        (true, 1) => BandRole::Coastal,
        (true, 2) | (false, 1) => BandRole::Blue,
        (true, 3) | (false, 2) => BandRole::Green,
        (true, 4) | (false, 3) => BandRole::Red,
        (true, 5) | (false, 4) => BandRole::Nir,
        (true, 6) | (false, 5) => BandRole::Swir1,
        (true, 7) | (false, 7) => BandRole::Swir2,
        _ => return None,
    })
}

/// A number of a band's scaling: `raster:bands[i].field`, else STAC 1.1 `bands[i]."raster:field"`
/// (or plain `field`).
fn band_number(
    asset: &Value,
    i: usize,
    field: &str,
    where_: &str,
    key: &str,
) -> std::result::Result<Option<f64>, String> {
    let candidates =
        [("raster:bands", field.to_string()), ("bands", format!("raster:{field}")), ("bands", field.to_string())];
    for (list, name) in candidates {
        match asset.get(list).and_then(Value::as_array).and_then(|a| a.get(i)).and_then(|b| b.get(&name)) {
            None | Some(Value::Null) => continue,
            Some(v) => {
                return match v.as_f64() {
                    Some(x) if x.is_finite() => Ok(Some(x)),
                    _ => Err(format!("{where_} asset {key}: {list}[{i}].{name} is {v}, not a finite number")),
                };
            }
        }
    }
    Ok(None)
}

/// The statistics a catalogue gives for band `i` (rio-stac writes them): (minimum, maximum, mean).
fn band_statistics(asset: &Value, i: usize) -> Option<(Option<f64>, Option<f64>, Option<f64>)> {
    let stats = ["raster:bands", "bands"].iter().find_map(|l| {
        asset.get(*l).and_then(Value::as_array).and_then(|a| a.get(i)).and_then(|b| b.get("statistics"))
    })?;
    let n = |k: &str| stats.get(k).and_then(Value::as_f64);
    Some((n("minimum"), n("maximum"), n("mean")))
}

fn is_integer_type(asset: &Value, i: usize) -> bool {
    ["raster:bands", "bands"]
        .iter()
        .find_map(|l| {
            asset
                .get(*l)
                .and_then(Value::as_array)
                .and_then(|a| a.get(i))
                .and_then(|b| b.get("data_type"))
                .and_then(Value::as_str)
        })
        .is_some_and(|t| t.starts_with("int") || t.starts_with("uint"))
}

struct Candidate {
    role: BandRole,
    evidence: Evidence,
    /// Cloud-Optimized GeoTIFFs before JPEG 2000 copies of the same band (Earth Search lists both).
    not_cog: bool,
    key: String,
    band: SceneBand,
    statistics: Option<(Option<f64>, Option<f64>, Option<f64>)>,
}

fn parse_item(item: &Value, file: &Path) -> std::result::Result<Scene, String> {
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
    let platform = props.get("platform").and_then(Value::as_str).unwrap_or("");
    let assets = item.get("assets").and_then(Value::as_object).ok_or_else(|| format!("{where_}: no assets"))?;
    let mut candidates: Vec<Candidate> = Vec::new();
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
        // "visual" is Earth Search's true-colour composite: its bands have common names too, but it is
        // 8-bit, stretched, and not reflectance.
        if roles.iter().any(|r| matches!(*r, "thumbnail" | "overview" | "metadata" | "visual")) {
            continue;
        }
        let Some(href) = asset.get("href").and_then(Value::as_str) else { continue };
        let lower = key.to_ascii_lowercase();
        let mask_kind = match lower.as_str() {
            "scl" => Some(MaskKind::SentinelScl),
            "qa_pixel" => Some(MaskKind::LandsatQaPixel),
            _ => None,
        };
        let media = asset.get("type").and_then(Value::as_str);
        let is_image = media.is_none_or(|t| t.contains("tiff") || t.contains("jp2") || t.contains("image"));
        if !is_image {
            continue;
        }
        let not_cog = media.is_some_and(|t| t.contains("jp2"));
        // Per band of the asset: its role from the band's own description, else (single-band assets)
        // from the asset key; rio-stac names bands "b1" with no common name, under a key like "red".
        let bands = asset_bands(asset);
        let mut roles_in_asset: Vec<(usize, BandRole, Evidence)> =
            bands.iter().enumerate().filter_map(|(i, b)| band_role(b, platform).map(|(r, e)| (i + 1, r, e))).collect();
        if roles_in_asset.is_empty() && bands.len() <= 1 {
            let by_key = landsat_band(key, platform).or_else(|| role_from_description(key, None));
            roles_in_asset = by_key.map(|r| vec![(1, r, Evidence::AssetKey)]).unwrap_or_default();
        }
        if mask_kind.is_none() && roles_in_asset.is_empty() {
            continue;
        }
        let path = resolve_href(href, file);
        check_asset(&path, &where_, key)?;
        if let Some(kind) = mask_kind {
            mask = Some((kind, SceneBand { path, index: 1, scale: None, offset: None }));
            continue;
        }
        for (index, role, evidence) in roles_in_asset {
            // A scale of "abc" was ignored and one of 0 zeroed every value, both silently: the flags
            // of such a scene are wrong, so the scene is skipped, named.
            let mut scale = band_number(asset, index - 1, "scale", &where_, key)?;
            let mut offset = band_number(asset, index - 1, "offset", &where_, key)?;
            if scale == Some(0.0) {
                return Err(format!(
                    "{where_} asset {key}: raster:bands[{}].scale is 0, which erases every value",
                    index - 1
                ));
            }
            // rio-stac (and rasterio) write the file's own scale, 1 and 0 when the file has none: on
            // integer counts that states nothing, and taking it as reflectance would read 10000 for
            // 1.0. The file and the sensor profile decide then, as for a catalogue that says nothing.
            if scale.unwrap_or(1.0) == 1.0 && offset.unwrap_or(0.0) == 0.0 && is_integer_type(asset, index - 1) {
                scale = None;
                offset = None;
            }
            let statistics = band_statistics(asset, index - 1);
            candidates.push(Candidate {
                role,
                evidence,
                not_cog,
                key: key.clone(),
                band: SceneBand { path: path.clone(), index, scale, offset },
                statistics,
            });
        }
    }
    let mut bands: Vec<(BandRole, SceneBand)> = Vec::new();
    candidates.sort_by(|a, b| (a.role, a.evidence, a.not_cog, &a.key).cmp(&(b.role, b.evidence, b.not_cog, &b.key)));
    for c in candidates {
        if bands.iter().any(|(r, _)| *r == c.role) {
            continue;
        }
        check_plausible(&c, &where_)?;
        bands.push((c.role, c.band));
    }
    for role in super::REQUIRED_ROLES {
        if !bands.iter().any(|(r, _)| *r == role) {
            let found: Vec<String> = bands.iter().map(|(r, _)| r.name().to_string()).collect();
            return Err(format!(
                "{where_}: no {role} band among its assets (matched by common_name, band name or asset key; found: {})",
                if found.is_empty() { "none".to_string() } else { found.join(", ") }
            ));
        }
    }
    bands.sort_by_key(|(r, _)| *r);
    let cloud_cover = props.get("eo:cloud_cover").and_then(Value::as_f64);
    Ok(Scene { id, date, source: file.to_path_buf(), bands, mask, cloud_cover })
}

/// A stated scale and offset must put the catalogue's own band statistics (where it gives them) in the
/// physical range of reflectance; otherwise the scale is wrong and every index computed from it too.
fn check_plausible(c: &Candidate, where_: &str) -> std::result::Result<(), String> {
    let (Some(scale), Some((min, max, mean))) = (c.band.scale, c.statistics) else { return Ok(()) };
    let offset = c.band.offset.unwrap_or(0.0);
    // The mean is the robust one; extremes hold saturated and fill pixels. A maximum is only checked
    // against a generous bound.
    if let Some(mean) = mean {
        let r = mean * scale + offset;
        if !(REFLECTANCE_RANGE.0..=REFLECTANCE_RANGE.1).contains(&r) {
            return Err(format!(
                "{where_} asset {}: raster:bands scale {scale} and offset {offset} make the band's mean {mean} a reflectance of {r:.4}, outside {} to {}; the catalogue's scale is wrong, scene skipped",
                c.key, REFLECTANCE_RANGE.0, REFLECTANCE_RANGE.1
            ));
        }
    }
    let _ = (min, max);
    Ok(())
}

/// A local asset must be an existing regular file (hashing a device or FIFO never returns); a remote
/// one must answer GDAL's stat (its size is cached for the reads that follow).
fn check_asset(path: &Path, where_: &str, key: &str) -> std::result::Result<(), String> {
    if vsi::is_network_path(path) {
        return vsi::stat(path).map(|_| ()).map_err(|e| format!("{where_} asset {key}: {e}"));
    }
    if !path.exists() {
        return Err(format!("{where_} asset {key}: {} does not exist", path.display()));
    }
    if !path.is_file() {
        return Err(format!(
            "{where_} asset {key}: {} is not a regular file (a device, FIFO or folder); only regular files are read",
            path.display()
        ));
    }
    Ok(())
}

/// What an href in the document `file` names: remote hrefs (`http(s)://`, `s3://`, GDAL network
/// paths) as GDAL paths; relative hrefs against the document's folder, local or remote.
pub fn resolve_href(href: &str, file: &Path) -> PathBuf {
    if vsi::is_remote(href) {
        return PathBuf::from(vsi::gdal_path(href));
    }
    let file_str = file.to_string_lossy();
    // A file:// URI is a local file wherever the document came from (a STAC API serving local data).
    if let Some(local) = href.strip_prefix("file://") {
        return PathBuf::from(local);
    }
    if vsi::is_network_path(file) {
        if href.starts_with('/') {
            // An absolute path on the same server (or in the same bucket).
            return PathBuf::from(vsi::join(vsi::root(&file_str), href));
        }
        return PathBuf::from(vsi::join(&vsi::parent(&file_str), href));
    }
    let base = file.parent().unwrap_or(Path::new("."));
    let stripped = href.strip_prefix("file://").unwrap_or(href);
    let p = PathBuf::from(stripped);
    if p.is_absolute() {
        p
    } else {
        // "./scenes/B02.tif" as "scenes/B02.tif": the path is recorded (file hash cache, store) as text.
        base.join(p.components().filter(|c| *c != std::path::Component::CurDir).collect::<PathBuf>())
    }
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
