//! Process-wide GDAL set-up (the translation of GDAL's errors into one-line messages is
//! [`crate::error`]'s).

use std::sync::Once;

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
                CplErrType::Debug => {
                    crate::io::vsi::count_download_message(message);
                    log::trace!("GDAL: {message}")
                }
                _ => log::trace!("GDAL: {message}"),
            }
        });
        // Warping and decoding use the cores we give them; the default cache is far too small for
        // scene-sized reads and far too large for plot windows, so size it for tiles.
        let _ = gdal::config::set_config_option("GDAL_CACHEMAX", "512");
        let _ = gdal::config::set_config_option("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", ".tif,.tiff,.json");
        // Remote reads: retries with backoff on 429/5xx and timeouts unless the user chose otherwise in
        // the environment (a config option set here would override it). GDAL doubles the delay after
        // each retry.
        for (key, value) in [("GDAL_HTTP_MAX_RETRY", "4"), ("GDAL_HTTP_RETRY_DELAY", "1")] {
            if std::env::var_os(key).is_none() {
                let _ = gdal::config::set_config_option(key, value);
            }
        }
        // The bytes fetched are counted from the download debug messages of the network file systems
        // (see `vsi`); only their categories are turned on, unless the user asked for more.
        if std::env::var_os("CPL_DEBUG").is_none() {
            let _ = gdal::config::set_config_option("CPL_DEBUG", "VSICURL,S3,GS,AZURE,ADLS,OSS,SWIFT");
        }
    });
}
