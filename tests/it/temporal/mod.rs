//! The temporal rules on single pixels.

mod rules;
