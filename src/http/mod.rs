//! Operational HTTP endpoints and the JSON error every endpoint answers with.

pub mod error;
pub mod health;

pub use error::ApiError;
