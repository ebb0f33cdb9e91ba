//! STAC catalogues read and written, checked with pystac and the extension schemas.

mod clients;
