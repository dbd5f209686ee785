//! Errors for parsing and validating object-model values.

/// What can go wrong while parsing or validating a value of the object model.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A value was outside the set the field accepts; the message names the field.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
