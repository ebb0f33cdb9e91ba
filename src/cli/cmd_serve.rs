//! `jingtu serve --store FILE.gpkg --listen ADDR [--public-read] [--tls-cert F --tls-key F]`.

use std::net::ToSocketAddrs;
use std::time::Duration;

use super::Outcome;
use super::args::ServeArgs;
use super::config::Settings;
use crate::error::Error;
use crate::serve::{ServeOptions, serve};

pub fn run(args: &ServeArgs, _settings: &Settings) -> anyhow::Result<Outcome> {
    let listen = args
        .listen
        .to_socket_addrs()
        .map_err(|e| Error::Usage(format!("--listen {}: not an address:port ({e})", args.listen)))?
        .next()
        .ok_or_else(|| Error::Usage(format!("--listen {}: resolves to no address", args.listen)))?;
    if args.request_timeout == 0 || args.request_timeout > 3600 {
        return Err(Error::Usage("--request-timeout: 1 to 3600 seconds".into()).into());
    }
    for (flag, file) in [("--tls-cert", &args.tls_cert), ("--tls-key", &args.tls_key)] {
        if let Some(f) = file {
            if !f.is_file() {
                return Err(Error::input(f, format!("{flag}: no such file")).into());
            }
        }
    }
    serve(ServeOptions {
        store: args.store.clone(),
        listen,
        public_read: args.public_read,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        request_timeout: Duration::from_secs(args.request_timeout),
    })?;
    Ok(Outcome::Done)
}
