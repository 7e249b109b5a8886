//! Operational HTTP endpoints and the JSON error every endpoint answers with.

pub mod error;
pub mod health;
pub mod metrics;

pub use error::ApiError;
