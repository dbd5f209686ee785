//! Secrets and configs.

/// What a secret (or config) rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRotated {
    /// The new secret's ID.
    pub id: String,
    /// Its name (`<base>.v<N>`).
    pub name: String,
    /// The services moved to it.
    pub services: Vec<String>,
}
