//! Operational HTTP endpoints, what a public listener demands of them
//! ([`exposure`]), and the JSON error every endpoint answers with.

pub mod error;
pub mod exposure;
pub mod health;
pub mod metrics;

pub use error::ApiError;
