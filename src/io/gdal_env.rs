//! Process-wide GDAL set-up and the translation of GDAL's errors into one-line messages.

use std::sync::Once;

use gdal::errors::GdalError;

static INIT: Once = Once::new();

/// Registers drivers and routes GDAL's own diagnostics to the `log` crate, so a bad file produces one
/// error line from jingtu instead of GDAL's "ERROR 4: ..." chatter on stderr. Safe to call many times.
pub fn init() {
    INIT.call_once(|| {
        gdal::DriverManager::register_all();
        gdal::config::set_error_handler(|class, number, message| {
            use gdal::errors::CplErrType;
            match class {
                CplErrType::Failure | CplErrType::Fatal => log::debug!("GDAL error {number}: {message}"),
                CplErrType::Warning => log::debug!("GDAL warning {number}: {message}"),
                _ => log::trace!("GDAL: {message}"),
            }
        });
        // Warping and decoding use the cores we give them; the default cache is far too small for
        // scene-sized reads and far too large for plot windows, so size it for tiles.
        let _ = gdal::config::set_config_option("GDAL_CACHEMAX", "512");
        let _ = gdal::config::set_config_option("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", ".tif,.tiff,.json");
    });
}

/// GDAL's message for an error, without the wrapper text of the Rust bindings.
pub fn describe(err: &GdalError) -> String {
    let msg = match err {
        GdalError::CplError { msg, .. } => msg.clone(),
        GdalError::NullPointer { msg, method_name } => {
            if msg.is_empty() {
                format!("GDAL {method_name} failed")
            } else {
                msg.clone()
            }
        }
        other => other.to_string(),
    };
    let one_line = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() { "GDAL failed without a message".to_string() } else { one_line }
}
