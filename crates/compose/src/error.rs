//! The crate's one error: what is wrong with a compose file, said with where.

/// A compose file that cannot be deployed, and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The YAML itself does not parse (or exceeds the parser's budget).
    #[error("{file}: {message}")]
    Yaml {
        /// The file (or "-" for stdin).
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A `$` that is not a valid interpolation.
    #[error(
        "invalid interpolation format for {path}: {template:?}; you may need to escape any $ with another $"
    )]
    Interpolation {
        /// Where the value sits (`services.web.image`).
        path: String,
        /// The value as written.
        template: String,
    },
    /// `${VAR:?message}` or `${VAR?message}` with VAR missing.
    #[error("required variable {name} is missing a value{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Required {
        /// The variable.
        name: String,
        /// The file's message.
        message: String,
    },
    /// A value of the wrong shape or a reference to nothing.
    #[error("{path}: {message}")]
    Invalid {
        /// Where (`services.web.deploy.replicas`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A file that cannot be read (the compose file, an env file).
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, Error>;

/// An [`Error::Invalid`] at `path`.
pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.into(),
        message: message.into(),
    }
}
