//! Short-lived access tokens: HS256 JWTs with issuer, audience and expiry, validated with the
//! algorithm pinned (a token claiming `alg: none` or any other algorithm is refused).

use std::path::Path;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The user's organisation.
    pub org: String,
    /// Organisation admin.
    #[serde(default)]
    pub adm: bool,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Token id, for logs.
    pub jti: String,
    /// Space-separated scopes of an integration client's token; absent for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The registered device this session was signed in on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
}

/// Signing and validation keys plus the rules tokens are checked against.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
    /// Signs sync pull cursors (derived from the secret, so every node shares it).
    cursor_key: std::sync::Arc<[u8]>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Builds keys from a secret.
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: i64) -> JwtKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let cursor_key = {
            use hmac::Mac;
            match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) {
                Ok(mut mac) => {
                    mac.update(b"hazardloop sync pull cursor");
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => secret.to_vec(),
            }
        };
        JwtKeys {
            cursor_key: cursor_key.into(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_secs,
        }
    }

    /// Keys from the configuration: the configured secret, or the key file in the data folder,
    /// generated with mode 0600 on first start.
    pub fn from_config(config: &Config) -> Result<JwtKeys, String> {
        let secret = match &config.jwt_secret {
            Some(s) if s.len() >= 32 => s.as_bytes().to_vec(),
            Some(_) => return Err("jwt_secret must be at least 32 bytes".into()),
            None => load_or_create_key(&config.data_dir.join("jwt.key"))?,
        };
        Ok(JwtKeys::new(
            &secret,
            &config.jwt_issuer,
            &config.jwt_audience,
            config.access_token_ttl_secs,
        ))
    }

    /// The key that signs sync pull cursors.
    pub fn cursor_key(&self) -> std::sync::Arc<[u8]> {
        self.cursor_key.clone()
    }

    /// Access token lifetime in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Issues an access token for a user, bound to `device` when signed in on one.
    pub fn issue(
        &self,
        user_id: &str,
        org_id: &str,
        is_admin: bool,
        device: Option<&str>,
    ) -> Result<String, String> {
        let now = hazardloop_storage::now_ms() / 1000;
        let claims = Claims {
            sub: user_id.to_string(),
            org: org_id.to_string(),
            adm: is_admin,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.ttl_secs,
            jti: uuid::Uuid::now_v7().to_string(),
            scope: None,
            dev: device.map(str::to_string),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| format!("cannot sign token: {e}"))
    }

    /// Issues an access token for an integration client's principal with its scopes.
    pub fn issue_client(
        &self,
        principal_id: &str,
        org_id: &str,
        is_admin: bool,
        scopes: &[String],
        ttl_secs: i64,
    ) -> Result<String, String> {
        let now = hazardloop_storage::now_ms() / 1000;
        let claims = Claims {
            sub: principal_id.to_string(),
            org: org_id.to_string(),
            adm: is_admin,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::now_v7().to_string(),
            scope: Some(scopes.join(" ")),
            dev: None,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| format!("cannot sign token: {e}"))
    }

    /// Validates a token: signature, algorithm, expiry, issuer and audience.
    pub fn validate(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims)
    }
}

/// The server's signing secret as it stands, without creating one: the configured secret or the
/// key file a server created in the data folder. For commands that must sign with the key the
/// server uses (a new key would sign what no server recognises).
pub fn existing_secret(config: &Config) -> Result<Vec<u8>, String> {
    match &config.jwt_secret {
        Some(s) if s.len() >= 32 => Ok(s.as_bytes().to_vec()),
        Some(_) => Err("jwt_secret must be at least 32 bytes".into()),
        None => {
            let path = config.data_dir.join("jwt.key");
            if !path.exists() {
                return Err(format!(
                    "no signing key: {} does not exist and jwt_secret is not set (run this \
                     with the server's data_dir or HAZARDLOOP_JWT_SECRET)",
                    path.display()
                ));
            }
            load_or_create_key(&path)
        }
    }
}

fn load_or_create_key(path: &Path) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read signing key {}: {e}", path.display()))?;
        return engine
            .decode(text.trim())
            .map_err(|e| format!("signing key {} is not base64: {e}", path.display()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data folder {}: {e}", dir.display()))?;
    }
    let mut key = [0u8; 64];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(path)
        .map_err(|e| format!("cannot create signing key {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut file, engine.encode(key).as_bytes())
        .map_err(|e| format!("cannot write signing key {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new token signing key");
    Ok(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile_dir();
        let path = dir.join("jwt.key");
        let a = load_or_create_key(&path).unwrap();
        let b = load_or_create_key(&path).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::remove_dir_all(dir).ok();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hl-jwt-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn round_trip_and_wrong_audience() {
        let keys = JwtKeys::new(&[7u8; 32], "iss", "aud", 60);
        let t = keys.issue("u", "o", false, None).unwrap();
        assert_eq!(keys.validate(&t).unwrap().sub, "u");
        let other = JwtKeys::new(&[7u8; 32], "iss", "other", 60);
        assert!(other.validate(&t).is_err());
    }
}
