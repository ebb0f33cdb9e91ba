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

/// GDAL's message for an error on `path`, without the path: jingtu's messages name the file once, in
/// front, and GDAL's own often repeat it ("a.tif: TIFFReadDirectory: ...", "(a.tif, band 1: ...)").
pub fn describe_at(path: &std::path::Path, err: &GdalError) -> String {
    without_path(&describe(err), &path.display().to_string())
}

fn without_path(message: &str, path: &str) -> String {
    if path.is_empty() {
        return message.to_string();
    }
    let mut m = message.to_string();
    for form in [format!("{path}: "), format!("{path}, "), format!("'{path}' "), format!("`{path}' "), path.to_string()]
    {
        m = m.replace(&form, "");
    }
    let m = m.trim().trim_start_matches([':', ',']).trim().to_string();
    if m.is_empty() { "GDAL failed without a message".to_string() } else { m }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdal_messages_lose_the_path_jingtu_already_names() {
        let p = "/data/a b.tif";
        assert_eq!(without_path("/data/a b.tif: TIFFReadDirectory: failed", p), "TIFFReadDirectory: failed");
        assert_eq!(without_path("(/data/a b.tif, band 1: IReadBlock failed)", p), "(band 1: IReadBlock failed)");
        assert_eq!(
            without_path("`/data/a b.tif' not recognized as a supported file format.", p),
            "not recognized as a supported file format."
        );
        assert_eq!(without_path("no path here", p), "no path here");
    }
}
