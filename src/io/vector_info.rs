//! What the engine sees in a vector file (for `inspect`).

use std::path::{Path, PathBuf};

use gdal::vector::{LayerAccess, geometry_type_to_name};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::crs;

/// One field of a layer.
#[derive(Debug, Clone, Serialize)]
pub struct FieldInfo {
    /// Name.
    pub name: String,
    /// OGR type name.
    pub field_type: String,
}

/// One layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerInfo {
    /// Name.
    pub name: String,
    /// Features.
    pub features: u64,
    /// Geometry type name.
    pub geometry_type: String,
    /// CRS WKT (empty when none).
    pub crs_wkt: String,
    /// EPSG code where known.
    pub epsg: Option<u32>,
    /// Fields.
    pub fields: Vec<FieldInfo>,
}

/// A vector source.
#[derive(Debug, Clone, Serialize)]
pub struct VectorInfo {
    /// The file.
    pub path: PathBuf,
    /// GDAL driver.
    pub driver: String,
    /// Layers.
    pub layers: Vec<LayerInfo>,
}

/// Describes a vector source; fails when GDAL cannot open it as vector.
pub fn describe_vector(path: &Path) -> Result<VectorInfo> {
    crate::io::gdal_env::init();
    let options = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
        ..Default::default()
    };
    let ds = Dataset::open_ex(path, options).map_err(|e| Error::gdal(path, e))?;
    let mut layers = Vec::new();
    for mut layer in ds.layers() {
        let srs = layer.spatial_ref();
        let fields = layer
            .defn()
            .fields()
            .map(|f| FieldInfo {
                name: f.name(),
                field_type: {
                    // SAFETY: OGR_GetFieldTypeName returns a static string.
                    unsafe { std::ffi::CStr::from_ptr(gdal_sys::OGR_GetFieldTypeName(f.field_type())) }
                        .to_string_lossy()
                        .into_owned()
                },
            })
            .collect();
        let features = layer.try_feature_count().unwrap_or_else(|| layer.features().count() as u64);
        layers.push(LayerInfo {
            name: layer.name(),
            features,
            geometry_type: geometry_type_to_name(layer.defn().geometry_type()),
            crs_wkt: srs.as_ref().and_then(|s| s.to_wkt().ok()).unwrap_or_default(),
            epsg: srs.as_ref().and_then(crs::epsg_of),
            fields,
        });
    }
    Ok(VectorInfo { path: path.to_path_buf(), driver: ds.driver().short_name(), layers })
}
