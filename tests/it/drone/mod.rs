//! Drone orthomosaics: generated flights with known truth and real orthophotos.

mod real_orthos;
mod synthetic;
