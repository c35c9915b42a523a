//! JSON Web Tokens: issued by `register`/`login`, checked on every request.
//!
//! Keys: an HS256 secret, or PEM key files (RS256, ES256 or EdDSA, detected from the key),
//! and/or an identity provider's JWKS for tokens that carry a `kid`. A token is checked
//! with exactly one key and that key's one algorithm, so `alg: none` and algorithm-confusion
//! tokens fail; `exp`, `iss` and `sub` are required, `aud` when configured, and `nbf` is
//! honoured, with a small leeway for clock skew between replicas.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::jwks::Jwks;
use super::{Role, Viewer};
use crate::config::JwtSettings;

/// Clock skew tolerated on `exp`/`nbf`.
const LEEWAY_SECS: u64 = 30;

/// The claims Gatehouse writes and reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// `user` or `admin`.
    #[serde(default)]
    pub role: String,
    /// Issuer.
    pub iss: String,
    /// Roles granted by an external identity provider (any of them `admin` makes an
    /// admin); Gatehouse's own tokens use `role`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Issued at (seconds); optional (RFC 7519), so provider tokens without it pass.
    #[serde(default)]
    pub iat: i64,
    /// Audience, written when `JWT_AUDIENCE` is set (and then required). A string or an
    /// array of strings; jsonwebtoken checks it, this only carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    /// Not before (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry (seconds).
    pub exp: i64,
}

/// Signing and validation keys.
#[derive(Clone)]
pub struct JwtKeys {
    algorithm: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    validation: Validation,
    jwks: Option<Arc<Jwks>>,
    issuer: String,
    audience: Option<String>,
    ttl: Duration,
}

/// Why a token was refused (logged, never detailed to the client).
#[derive(Debug, thiserror::Error)]
#[error("invalid token: {0}")]
pub struct TokenError(String);

impl JwtKeys {
    /// Builds keys from settings: PEM key files when given, else `JWT_SECRET`, else a
    /// random per-process secret (tokens then die with the process, so it warns).
    pub fn from_settings(settings: &JwtSettings) -> anyhow::Result<Self> {
        let (algorithm, encoding, decoding) = match (
            &settings.private_key_file,
            &settings.public_key_file,
        ) {
            (private, Some(public)) => {
                let public_pem = std::fs::read(public)
                    .with_context(|| format!("reading JWT_PUBLIC_KEY_FILE {}", public.display()))?;
                let (algorithm, decoding) = asymmetric_decoding_key(&public_pem).context(
                    "JWT_PUBLIC_KEY_FILE: expected an RSA, EC (P-256) or Ed25519 public key in PEM",
                )?;
                let encoding = match private {
                    Some(path) => {
                        let pem = std::fs::read(path).with_context(|| {
                            format!("reading JWT_PRIVATE_KEY_FILE {}", path.display())
                        })?;
                        Some(asymmetric_encoding_key(algorithm, &pem).context(
                                "JWT_PRIVATE_KEY_FILE: expected a private key matching JWT_PUBLIC_KEY_FILE",
                            )?)
                    }
                    None => None,
                };
                (algorithm, encoding, decoding)
            }
            (Some(_), None) => anyhow::bail!(
                "JWT_PRIVATE_KEY_FILE is set without JWT_PUBLIC_KEY_FILE: both are needed"
            ),
            (None, None) => {
                let secret: Vec<u8> = match &settings.secret {
                    Some(secret) => secret.expose_secret().as_bytes().to_vec(),
                    None => {
                        tracing::warn!(
                            "JWT_SECRET is not set: using a random secret, so tokens are \
                                 valid only until this process stops and only on this replica"
                        );
                        let mut bytes = vec![0u8; 32];
                        rand::thread_rng().fill_bytes(&mut bytes);
                        bytes
                    }
                };
                (
                    Algorithm::HS256,
                    Some(EncodingKey::from_secret(&secret)),
                    DecodingKey::from_secret(&secret),
                )
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[settings.issuer.as_str()]);
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience.as_str()]);
                validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss", "sub"]);
            }
        }
        Ok(Self {
            algorithm,
            encoding,
            decoding,
            validation,
            jwks: settings
                .jwks_url
                .clone()
                .map(|url| Arc::new(Jwks::new(url))),
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl: settings.ttl,
        })
    }

    /// Issues a token for `user_id` with `role`.
    pub fn issue(&self, user_id: i64, role: Role) -> anyhow::Result<String> {
        let key = self
            .encoding
            .as_ref()
            .context("this server only verifies tokens (no private key configured)")?;
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            role: match role {
                Role::Admin => "admin".into(),
                Role::User => "user".into(),
            },
            iss: self.issuer.clone(),
            roles: Vec::new(),
            aud: self.audience.clone().map(serde_json::Value::String),
            iat: now,
            nbf: None,
            exp: now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key).context("signing a token")
    }

    /// Fetches the JWKS once at start-up (a failure is logged: keys are fetched again on
    /// demand).
    pub async fn warm_up(&self) {
        if let Some(jwks) = &self.jwks {
            match jwks.refresh().await {
                Ok(n) => tracing::info!(keys = n, "loaded the JWKS"),
                Err(err) => tracing::warn!(error = format!("{err:#}"), "JWKS not loaded yet"),
            }
        }
    }

    /// Validates a token and returns its viewer. A token with a `kid` is checked against
    /// the JWKS (when configured), any other against the configured key.
    pub async fn verify(&self, token: &str) -> Result<Viewer, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError(e.to_string()))?;
        let external = match (&self.jwks, header.kid.as_deref()) {
            (Some(jwks), Some(kid)) => Some(
                jwks.key(kid)
                    .await
                    .ok_or_else(|| TokenError(format!("unknown key id {kid:?}")))?,
            ),
            _ => None,
        };
        let data = match &external {
            Some((algorithm, key)) => {
                let mut validation = self.validation.clone();
                validation.algorithms = vec![*algorithm];
                jsonwebtoken::decode::<Claims>(token, key, &validation)
            }
            None => jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation),
        }
        .map_err(|e| TokenError(e.to_string()))?;
        let id = data
            .claims
            .sub
            .parse()
            .map_err(|_| TokenError("sub is not a user id".into()))?;
        let admin = Role::parse(&data.claims.role) == Role::Admin
            || data
                .claims
                .roles
                .iter()
                .any(|r| Role::parse(r) == Role::Admin);
        Ok(Viewer {
            id,
            role: if admin { Role::Admin } else { Role::User },
        })
    }
}

fn asymmetric_decoding_key(pem: &[u8]) -> anyhow::Result<(Algorithm, DecodingKey)> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((Algorithm::RS256, key));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Ok((Algorithm::ES256, key));
    }
    Ok((Algorithm::EdDSA, DecodingKey::from_ed_pem(pem)?))
}

fn asymmetric_encoding_key(algorithm: Algorithm, pem: &[u8]) -> anyhow::Result<EncodingKey> {
    Ok(match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem)?,
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem)?,
        _ => EncodingKey::from_ed_pem(pem)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::from_settings(&JwtSettings {
            secret: Some(secret.to_owned().into()),
            private_key_file: None,
            public_key_file: None,
            jwks_url: None,
            audience: None,
            issuer: "gatehouse".into(),
            ttl: Duration::from_secs(60),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn issued_tokens_verify() {
        let k = keys("s3cret-s3cret-s3cret-s3cret-s3cret");
        let token = k.issue(7, Role::Admin).unwrap();
        assert_eq!(
            k.verify(&token).await.unwrap(),
            Viewer {
                id: 7,
                role: Role::Admin
            }
        );
    }

    #[tokio::test]
    async fn wrong_key_and_alg_none_are_refused() {
        let token = keys("one-secret-one-secret-one-secret")
            .issue(1, Role::User)
            .unwrap();
        assert!(keys("another-secret-another-secret")
            .verify(&token)
            .await
            .is_err());
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = token.split('.').nth(1).unwrap();
        let unsigned = format!("{header}.{body}.");
        assert!(keys("one-secret-one-secret-one-secret")
            .verify(&unsigned)
            .await
            .is_err());
    }
}
