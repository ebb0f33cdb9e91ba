//! The files jingtu writes, read back in the clients analysts use.

mod gpkg_styles;
mod in_clients;
