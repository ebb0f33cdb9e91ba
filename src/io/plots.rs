//! The plot registry: listed contaminated plots, closed industrial sites, registered bare land, read from
//! any OGR source in any CRS, with field names from the config file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use gdal::cpl::CslStringList;
use gdal::raster::{RasterizeOptions, rasterize};
use gdal::spatial_ref::SpatialRef;
use gdal::vector::{Geometry, LayerAccess, OGRwkbGeometryType, geometry_type_flatten};
use gdal::{Dataset, DatasetOptions, DriverManager, GdalOpenFlags};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::{crs, dates};
use crate::raster::{Bounds, Grid};

/// What kind of plot the registry lists (CONTRACT.md); decides which flags apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// On the risk-control and remediation list: no construction except remediation works.
    ContaminatedListed,
    /// Closed or relocated enterprise site: bare soil to be re-greened or covered.
    LegacyIndustrial,
    /// Registered bare land.
    BareSoil,
    /// A construction site (dust nets required, bare soil not to be left idle).
    ConstructionSite,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 4] =
        [Category::ContaminatedListed, Category::LegacyIndustrial, Category::BareSoil, Category::ConstructionSite];

    /// The registry's name.
    pub fn name(self) -> &'static str {
        match self {
            Category::ContaminatedListed => "contaminated_listed",
            Category::LegacyIndustrial => "legacy_industrial",
            Category::BareSoil => "bare_soil",
            Category::ConstructionSite => "construction_site",
        }
    }

    /// Parses the registry's name.
    pub fn parse(s: &str) -> Option<Category> {
        let s = s.trim().to_ascii_lowercase();
        Category::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Whether construction and earthworks on the plot are violations (unless works are allowed).
    pub fn forbids_development(self) -> bool {
        matches!(self, Category::ContaminatedListed | Category::LegacyIndustrial)
    }
}

/// Names of the registry fields (config file `[plots]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlotFields {
    /// Unique text id (required).
    pub plot_id: String,
    /// Human name.
    pub name: String,
    /// Category.
    pub category: String,
    /// True where approved works may disturb the ground.
    pub works_allowed: String,
    /// Date the plot entered the registry.
    pub listed_on: String,
    /// Layer to read when the source has several (default: the first).
    pub layer: Option<String>,
}

impl Default for PlotFields {
    fn default() -> Self {
        PlotFields {
            plot_id: "plot_id".into(),
            name: "name".into(),
            category: "category".into(),
            works_allowed: "works_allowed".into(),
            listed_on: "listed_on".into(),
            layer: None,
        }
    }
}

/// One registered plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// Unique id.
    pub plot_id: String,
    /// Name as written in the registry (UTF-8).
    pub name: Option<String>,
    /// Category, where the registry gives a known one.
    pub category: Option<Category>,
    /// Approved risk-control or remediation works may disturb the ground.
    pub works_allowed: bool,
    /// Date listed.
    pub listed_on: Option<NaiveDate>,
    /// Polygon or multipolygon as WKB in the registry's CRS.
    pub geometry: Vec<u8>,
}

/// A plot registry read into memory.
#[derive(Debug, Clone)]
pub struct PlotRegistry {
    /// The source.
    pub path: PathBuf,
    /// The layer read.
    pub layer: String,
    /// The source CRS as WKT.
    pub crs_wkt: String,
    /// EPSG code of the source CRS, where known.
    pub epsg: Option<u32>,
    /// Plots in source order.
    pub plots: Vec<Plot>,
    /// Problems that did not stop reading (repaired geometries, unknown categories), one line each.
    pub warnings: Vec<String>,
    /// Features skipped (no id, no or unusable geometry): a run that skipped some exits with status 1.
    pub skipped: usize,
}

/// The attribute values of one registry feature as the source gave them (`None`: no such field, or null).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureAttributes {
    /// The id field's value.
    pub plot_id: Option<String>,
    /// The name field's value.
    pub name: Option<String>,
    /// The category field's value.
    pub category: Option<String>,
    /// The works-allowed field's value.
    pub works_allowed: Option<String>,
    /// The listed-on field's value.
    pub listed_on: Option<String>,
}

/// A plot's attributes, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotAttributes {
    /// Non-empty, trimmed, valid text without NUL.
    pub plot_id: String,
    /// Trimmed, valid text without NUL; `None` when empty.
    pub name: Option<String>,
    /// A known category.
    pub category: Option<Category>,
    /// Approved works may disturb the ground.
    pub works_allowed: bool,
    /// Date listed, where the value is one.
    pub listed_on: Option<NaiveDate>,
}

/// Validates the attributes of feature `n` of a registry. `Err`: a value that cannot be kept (text GDAL
/// could not decode, a NUL byte), which stops reading; `Ok(None)`: no id, the feature is skipped;
/// problems that do not stop it (unknown category, a `listed_on` that is not a date, the skip) are pushed
/// to `warnings`, naming the feature or plot.
pub fn plot_attributes(
    n: usize,
    values: &FeatureAttributes,
    fields: &PlotFields,
    warnings: &mut Vec<String>,
) -> std::result::Result<Option<PlotAttributes>, String> {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    // Text GDAL could not decode arrives with U+FFFD in place of its bytes: an id or name mangled so
    // would be stored and exported as something the registry never said.
    for (field, value) in [(&fields.plot_id, &values.plot_id), (&fields.name, &values.name)] {
        if let Some(v) = text(value) {
            if v.contains('\u{FFFD}') || v.contains('\0') {
                return Err(format!(
                    "feature {n}: {field} '{}' is not valid text in the layer's encoding (invalid UTF-8 or a NUL byte); \
                     give the Shapefile a .cpg naming its encoding, or fix the value",
                    v.replace('\0', "\\0")
                ));
            }
        }
    }
    let Some(plot_id) = text(&values.plot_id) else {
        warnings.push(format!("feature {n}: empty {} (skipped)", fields.plot_id));
        return Ok(None);
    };
    let category = match text(&values.category) {
        Some(c) => {
            let parsed = Category::parse(&c);
            if parsed.is_none() {
                warnings.push(format!("plot {plot_id}: unknown category '{c}' (treated as uncategorised)"));
            }
            parsed
        }
        None => None,
    };
    let works_allowed = text(&values.works_allowed)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "t" | "yes" | "y") || v == "是");
    let listed_text = text(&values.listed_on);
    let listed_on = listed_text.as_deref().and_then(dates::date_in_text);
    if let (Some(v), None) = (&listed_text, listed_on) {
        warnings.push(format!("plot {plot_id}: {} '{v}' is not a date (ignored)", fields.listed_on));
    }
    Ok(Some(PlotAttributes { plot_id, name: text(&values.name), category, works_allowed, listed_on }))
}

impl PlotRegistry {
    /// Reads a registry. Fails on a missing id field, empty or duplicate ids (naming them), and a source
    /// without a CRS; repairs invalid polygons and says so in `warnings`.
    pub fn open(path: &Path, fields: &PlotFields) -> Result<PlotRegistry> {
        crate::io::gdal_env::init();
        if !path.exists() {
            return Err(Error::input(path, "no such file or folder"));
        }
        let options = DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
            ..Default::default()
        };
        let ds = Dataset::open_ex(path, options).map_err(|e| {
            Error::input(
                path,
                format!("not a vector source GDAL can read ({})", crate::error::describe_gdal_at(path, &e)),
            )
        })?;
        let mut layer = match &fields.layer {
            Some(name) => ds.layer_by_name(name).map_err(|_| Error::input(path, format!("no layer named '{name}'")))?,
            None => ds.layer(0).map_err(|_| Error::input(path, "has no layers"))?,
        };
        let layer_name = layer.name();
        let srs = layer.spatial_ref().ok_or_else(|| {
            Error::input(path, format!("layer '{layer_name}' has no CRS; plots cannot be placed on imagery"))
        })?;
        let crs_wkt = srs.to_wkt().map_err(|e| Error::gdal(path, e))?;
        let epsg = crs::epsg_of(&srs);
        let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
        // dBase cuts field names to 10 characters (works_allowed becomes works_allo), so in Shapefiles a
        // name that long also matches its cut form.
        let shapefile = ds.driver().short_name() == "ESRI Shapefile";
        let find = |wanted: &str| {
            names.iter().position(|n| n.eq_ignore_ascii_case(wanted)).or_else(|| {
                let cut: String = wanted.chars().take(10).collect();
                (shapefile && wanted.chars().count() > 10)
                    .then(|| names.iter().position(|n| n.eq_ignore_ascii_case(&cut)))
                    .flatten()
            })
        };
        let id_index = find(&fields.plot_id).ok_or_else(|| {
            Error::input(
                path,
                format!(
                    "no '{}' field for plot ids (fields are: {}); set [plots] plot_id in the config",
                    fields.plot_id,
                    names.join(", ")
                ),
            )
        })?;
        let (name_i, cat_i, works_i, listed_i) =
            (find(&fields.name), find(&fields.category), find(&fields.works_allowed), find(&fields.listed_on));
        let mut plots = Vec::new();
        let mut warnings = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut missing_ids = 0usize;
        let mut skipped = 0usize;
        for (n, feature) in layer.features().enumerate() {
            let raw = |i: Option<usize>| i.and_then(|i| feature.field_as_string(i).ok().flatten());
            let values = FeatureAttributes {
                plot_id: raw(Some(id_index)),
                name: raw(name_i),
                category: raw(cat_i),
                works_allowed: raw(works_i),
                listed_on: raw(listed_i),
            };
            let Some(attributes) =
                plot_attributes(n, &values, fields, &mut warnings).map_err(|problem| Error::input(path, problem))?
            else {
                missing_ids += 1;
                skipped += 1;
                continue;
            };
            let PlotAttributes { plot_id, name, category, works_allowed, listed_on } = attributes;
            *seen.entry(plot_id.clone()).or_default() += 1;
            let Some(geometry) = feature.geometry() else {
                skipped += 1;
                warnings.push(format!("plot {plot_id}: no geometry (skipped)"));
                continue;
            };
            match polygonal(geometry) {
                Ok((geom, repaired)) => {
                    if repaired {
                        warnings.push(format!("plot {plot_id}: invalid geometry repaired"));
                    }
                    plots.push(Plot {
                        plot_id,
                        name,
                        category,
                        works_allowed,
                        listed_on,
                        geometry: geom.wkb().map_err(|e| Error::gdal(path, e))?,
                    });
                }
                Err(problem) => {
                    skipped += 1;
                    warnings.push(format!("plot {plot_id}: {problem} (skipped)"))
                }
            }
        }
        let duplicates: Vec<String> =
            seen.into_iter().filter(|(_, c)| *c > 1).map(|(id, c)| format!("{id} ({c}x)")).collect();
        if !duplicates.is_empty() {
            return Err(Error::input(path, format!("duplicate plot ids: {}", duplicates.join(", "))));
        }
        if plots.is_empty() {
            let why = if missing_ids > 0 { format!("; {missing_ids} feature(s) had no id") } else { String::new() };
            return Err(Error::input(path, format!("no usable plots in layer '{layer_name}'{why}")));
        }
        Ok(PlotRegistry { path: path.to_path_buf(), layer: layer_name, crs_wkt, epsg, plots, warnings, skipped })
    }

    /// The registry's CRS.
    pub fn srs(&self) -> Result<SpatialRef> {
        crs::srs_from_wkt(&self.crs_wkt).ok_or_else(|| Error::input(&self.path, "its CRS cannot be parsed"))
    }

    /// Every plot's geometry in the CRS `target_wkt`.
    pub fn geometries_in(&self, target_wkt: &str) -> Result<Vec<Geometry>> {
        let from = self.srs()?;
        let to = crs::srs_from_wkt(target_wkt).ok_or_else(|| Error::Usage("analysis CRS cannot be parsed".into()))?;
        let transform = gdal::spatial_ref::CoordTransform::new(&from, &to).map_err(|e| Error::gdal(&self.path, e))?;
        self.plots
            .iter()
            .map(|p| {
                let g = Geometry::from_wkb(&p.geometry).map_err(|e| Error::gdal(&self.path, e))?;
                let mut g = g.transform(&transform).map_err(|e| {
                    Error::input(
                        &self.path,
                        format!(
                            "plot {}: cannot be transformed to the analysis CRS ({})",
                            p.plot_id,
                            crate::error::describe_gdal(&e)
                        ),
                    )
                })?;
                g.set_spatial_ref(to.clone());
                Ok(g)
            })
            .collect()
    }

    /// Bounds of each plot in the CRS `target_wkt`.
    pub fn bounds_in(&self, target_wkt: &str) -> Result<Vec<Bounds>> {
        Ok(self
            .geometries_in(target_wkt)?
            .iter()
            .map(|g| {
                let e = g.envelope();
                Bounds { min_x: e.MinX, min_y: e.MinY, max_x: e.MaxX, max_y: e.MaxY }
            })
            .collect())
    }

    /// A raster on `grid` holding, per pixel, the 1-based index of the plot whose interior holds the
    /// pixel centre (0 outside every plot; later plots win where plots overlap).
    pub fn rasterize(&self, grid: &Grid) -> Result<Array2<u32>> {
        let geometries = self.geometries_in(&grid.crs_wkt)?;
        rasterize_geometries(&geometries, grid, &self.path)
    }
}

/// Burns `geometries` (index + 1) onto `grid`.
pub fn rasterize_geometries(geometries: &[Geometry], grid: &Grid, source: &Path) -> Result<Array2<u32>> {
    let fail = |e: gdal::errors::GdalError| Error::gdal(source, e);
    let driver = DriverManager::get_driver_by_name("MEM").map_err(fail)?;
    let mut ds = driver.create_with_band_type::<i32, _>("", grid.width, grid.height, 1).map_err(fail)?;
    ds.set_geo_transform(&grid.transform.0).map_err(fail)?;
    ds.set_projection(&grid.crs_wkt).map_err(fail)?;
    let burn: Vec<f64> = (1..=geometries.len()).map(|i| i as f64).collect();
    if !geometries.is_empty() {
        rasterize(&mut ds, &[1], geometries, &burn, Some(RasterizeOptions::default())).map_err(fail)?;
    }
    let band = ds.rasterband(1).map_err(fail)?;
    let mut buf = vec![0i32; grid.len()];
    band.read_into_slice::<i32>((0, 0), (grid.width, grid.height), (grid.width, grid.height), &mut buf, None)
        .map_err(fail)?;
    Ok(Array2::from_shape_vec((grid.height, grid.width), buf.into_iter().map(|v| v.max(0) as u32).collect())
        .expect("shape"))
}

/// The geometry as a valid polygon or multipolygon, and whether it had to be repaired.
fn polygonal(geometry: &Geometry) -> std::result::Result<(Geometry, bool), String> {
    let ty = geometry_type_flatten(geometry.geometry_type());
    if ty != OGRwkbGeometryType::wkbPolygon && ty != OGRwkbGeometryType::wkbMultiPolygon {
        return Err(format!("geometry is {}, not a polygon", gdal::vector::geometry_type_to_name(ty)));
    }
    if geometry.is_empty() {
        return Err("empty geometry".into());
    }
    let e = geometry.envelope();
    if ![e.MinX, e.MinY, e.MaxX, e.MaxY].iter().all(|v| v.is_finite()) {
        return Err("geometry with non-finite (NaN or infinite) coordinates".into());
    }
    let mut g = geometry.clone();
    g.flatten_to_2d();
    if g.is_valid() {
        return Ok((g, false));
    }
    let repaired =
        g.make_valid(&CslStringList::new()).map_err(|_| "invalid geometry that cannot be repaired".to_string())?;
    // make_valid may return a collection with slivers of lines: keep the polygonal part.
    let polygons = polygonal_part(&repaired);
    match polygons {
        Some(p) if !p.is_empty() && p.is_valid() && p.area() > 0.0 => Ok((p, true)),
        _ => Err("invalid geometry that cannot be repaired".into()),
    }
}

fn polygonal_part(g: &Geometry) -> Option<Geometry> {
    let ty = geometry_type_flatten(g.geometry_type());
    if ty == OGRwkbGeometryType::wkbPolygon || ty == OGRwkbGeometryType::wkbMultiPolygon {
        return Some(g.clone());
    }
    let mut multi = Geometry::empty(OGRwkbGeometryType::wkbMultiPolygon).ok()?;
    for i in 0..g.geometry_count() {
        let part = g.get_geometry(i);
        let pty = geometry_type_flatten(part.geometry_type());
        if pty == OGRwkbGeometryType::wkbPolygon {
            multi.add_geometry(part.to_owned()).ok()?;
        } else if pty == OGRwkbGeometryType::wkbMultiPolygon {
            for j in 0..part.geometry_count() {
                multi.add_geometry(part.get_geometry(j).to_owned()).ok()?;
            }
        }
    }
    Some(multi)
}
