//! `jingtu serve`: OGC API - Features, the changefeed, reviews and tokens over HTTP.

mod api;
