//! Registry credentials from an `X-Registry-Auth` header: base64url of a JSON object, as the
//! docker CLI sends it on `docker pull` and `docker service create --with-registry-auth`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Longest header value accepted; real ones are a few hundred bytes.
const MAX_HEADER: usize = 64 * 1024;

/// Credentials for one registry.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// `base64(user:password)`, the older form some clients send instead of the two fields.
    #[serde(default)]
    pub auth: String,
    /// The registry the credentials are for (informational: the reference decides the host).
    #[serde(default)]
    pub serveraddress: String,
    /// An OAuth2 refresh token from `docker login` to an identity provider.
    #[serde(default)]
    pub identitytoken: String,
    /// A bearer token to present as is.
    #[serde(default)]
    pub registrytoken: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("serveraddress", &self.serveraddress)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Decodes an `X-Registry-Auth` value; an empty value means anonymous access.
    pub fn from_header(value: &str) -> Result<Self> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Credentials::default());
        }
        if value.len() > MAX_HEADER {
            return Err(Error::InvalidArgument("X-Registry-Auth header too long".into()));
        }
        let json = [&URL_SAFE, &URL_SAFE_NO_PAD, &STANDARD]
            .iter()
            .find_map(|engine| engine.decode(value).ok())
            .ok_or_else(|| Error::InvalidArgument("X-Registry-Auth is not base64url".into()))?;
        let mut creds: Credentials = serde_json::from_slice(&json)
            .map_err(|e| Error::InvalidArgument(format!("X-Registry-Auth is not valid JSON: {e}")))?;
        if creds.username.is_empty() && !creds.auth.is_empty() {
            let pair = STANDARD
                .decode(creds.auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Error::InvalidArgument("X-Registry-Auth: bad auth field".into()))?;
            let (user, pass) = pair
                .split_once(':')
                .ok_or_else(|| Error::InvalidArgument("X-Registry-Auth: bad auth field".into()))?;
            creds.username = user.to_owned();
            creds.password = pass.to_owned();
        }
        Ok(creds)
    }

    /// What oci-client presents to the registry.
    pub(crate) fn registry_auth(&self) -> Result<oci_client::secrets::RegistryAuth> {
        use oci_client::secrets::RegistryAuth;
        if !self.registrytoken.is_empty() {
            return Ok(RegistryAuth::Bearer(self.registrytoken.clone()));
        }
        if !self.identitytoken.is_empty() {
            return Err(Error::Unsupported(
                "identity tokens (OAuth2 refresh tokens) in X-Registry-Auth; log in with a password or access token".into(),
            ));
        }
        if !self.username.is_empty() {
            return Ok(RegistryAuth::Basic(self.username.clone(), self.password.clone()));
        }
        Ok(RegistryAuth::Anonymous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_the_docker_cli_sends() {
        let json = r#"{"username":"u","password":"p+/?","serveraddress":"127.0.0.1:5000"}"#;
        for engine in [&URL_SAFE, &URL_SAFE_NO_PAD, &STANDARD] {
            let c = Credentials::from_header(&engine.encode(json)).unwrap();
            assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p+/?"));
            assert_eq!(c.serveraddress, "127.0.0.1:5000");
        }
        let auth = URL_SAFE.encode(format!(r#"{{"auth":"{}"}}"#, STANDARD.encode("a:b:c")));
        let c = Credentials::from_header(&auth).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("a", "b:c"));
        assert_eq!(Credentials::from_header("").unwrap(), Credentials::default());
        // `docker pull` with no login sends "{}".
        let empty = Credentials::from_header(&URL_SAFE.encode("{}")).unwrap();
        assert!(matches!(
            empty.registry_auth().unwrap(),
            oci_client::secrets::RegistryAuth::Anonymous
        ));
    }

    #[test]
    fn refuses_bad_values() {
        assert!(Credentials::from_header("%%%").is_err());
        assert!(Credentials::from_header(&URL_SAFE.encode("not json")).is_err());
        assert!(Credentials::from_header(&"A".repeat(MAX_HEADER + 1)).is_err());
        let id = Credentials::from_header(&URL_SAFE.encode(r#"{"identitytoken":"t"}"#)).unwrap();
        assert_eq!(id.registry_auth().unwrap_err().status(), 501);
        let c =
            Credentials::from_header(&URL_SAFE.encode(r#"{"username":"u","password":"secretpw"}"#)).unwrap();
        assert!(!format!("{c:?}").contains("secretpw"));
    }
}
