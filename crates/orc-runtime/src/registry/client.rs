//! One image's conversation with its registry: the distribution API's manifest and
//! blob endpoints, with anonymous access, HTTP basic auth or Docker's bearer-token
//! flow (whatever the `WWW-Authenticate` challenge asks for).

use super::challenge::{parse_challenge, Challenge};
use super::http::{get, read_body};
use super::reference::{is_loopback, ImageRef};
use crate::RegistryError;
use base64::Engine;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

/// Largest manifest or config accepted.
pub(crate) const SMALL_LIMIT: usize = 8 << 20;

/// What the manifests endpoint may return, most wanted first.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A user name and password (or token) for one registry. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or access token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Credentials for the image's registry, if any.
    pub credentials: Option<Credentials>,
    /// Registries (`host[:port]`) reached over plain HTTP although not on loopback.
    pub insecure: Vec<String>,
}

/// A fetched manifest (or index).
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: String,
}

/// The conversation with one repository.
pub(crate) struct Session {
    image: ImageRef,
    base: String,
    opts: RegistryOptions,
    auth: Option<HeaderValue>,
}

impl Session {
    pub(crate) fn new(image: ImageRef, opts: RegistryOptions) -> Session {
        let host = image.api_host().to_string();
        let plain = is_loopback(&host) || opts.insecure.contains(&host);
        let scheme = if plain { "http" } else { "https" };
        Session {
            base: format!("{scheme}://{host}/v2/{}", image.repository),
            image,
            opts,
            auth: None,
        }
    }

    fn plain_ok(&self) -> impl Fn(&str) -> bool + Sync + '_ {
        move |host: &str| is_loopback(host) || self.opts.insecure.iter().any(|h| h == host)
    }

    /// GET `base/path`, answering one authentication challenge.
    async fn get(&mut self, path: &str, accept: &str) -> Result<Response<Incoming>, RegistryError> {
        let url = format!("{}/{path}", self.base);
        for attempt in 0..2 {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ACCEPT,
                HeaderValue::from_str(accept)
                    .map_err(|e| RegistryError::Protocol(e.to_string()))?,
            );
            if let Some(a) = &self.auth {
                headers.insert(header::AUTHORIZATION, a.clone());
            }
            let resp = get(&url, &headers, &self.plain_ok()).await?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return self.check(resp, path).await;
            }
            let challenge = resp
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge);
            self.auth = Some(match challenge {
                Some(Challenge::Basic) => self.basic()?.ok_or_else(|| self.refused())?,
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }) => self.token(&realm, service, scope).await?,
                None => return Err(self.refused()),
            });
        }
        Err(self.refused())
    }

    fn refused(&self) -> RegistryError {
        RegistryError::Unauthorized(self.image.registry.clone())
    }

    async fn check(
        &self,
        resp: Response<Incoming>,
        path: &str,
    ) -> Result<Response<Incoming>, RegistryError> {
        let s = resp.status();
        match s {
            s if s.is_success() => Ok(resp),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(self.refused()),
            StatusCode::NOT_FOUND => Err(RegistryError::NotFound(self.image.name())),
            s if s.is_server_error() => Err(RegistryError::Unreachable(format!(
                "{} answered {s} for {path}",
                self.image.registry
            ))),
            s => {
                let body = read_body(resp, 4096).await.unwrap_or_default();
                Err(RegistryError::Protocol(format!(
                    "{} answered {s} for {path}: {}",
                    self.image.registry,
                    String::from_utf8_lossy(&body).trim()
                )))
            }
        }
    }

    fn basic(&self) -> Result<Option<HeaderValue>, RegistryError> {
        let Some(c) = &self.opts.credentials else {
            return Ok(None);
        };
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", c.username, c.password));
        let mut v = HeaderValue::from_str(&format!("Basic {b64}"))
            .map_err(|e| RegistryError::Protocol(e.to_string()))?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    /// Docker's token flow: GET realm?service=…&scope=… (with basic auth when
    /// credentials are stored) → `{"token": …}`.
    async fn token(
        &self,
        realm: &str,
        service: Option<String>,
        scope: Option<String>,
    ) -> Result<HeaderValue, RegistryError> {
        let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", self.image.repository));
        let mut url = format!("{realm}?scope={}", encode(&scope));
        if let Some(s) = service {
            url = format!("{url}&service={}", encode(&s));
        }
        let mut headers = HeaderMap::new();
        if let Some(b) = self.basic()? {
            headers.insert(header::AUTHORIZATION, b);
        }
        let resp = get(&url, &headers, &self.plain_ok()).await?;
        if matches!(
            resp.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(self.refused());
        }
        if !resp.status().is_success() {
            return Err(RegistryError::Unreachable(format!(
                "token service answered {}",
                resp.status()
            )));
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = read_body(resp, 1 << 20).await?;
        let t: Token = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::Protocol(format!("token answer: {e}")))?;
        let token = t
            .token
            .or(t.access_token)
            .ok_or_else(|| RegistryError::Protocol("token answer without a token".into()))?;
        let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| RegistryError::Protocol(e.to_string()))?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// Fetches a manifest or index by tag or digest, verifying a digest reference.
    pub(crate) async fn manifest(&mut self, reference: &str) -> Result<Fetched, RegistryError> {
        let resp = self
            .get(&format!("manifests/{reference}"), MANIFEST_ACCEPT)
            .await?;
        let header_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or_default().trim().to_string());
        let bytes = read_body(resp, SMALL_LIMIT).await?;
        let digest = sha256(&bytes);
        if reference.starts_with("sha256:") && digest != reference {
            return Err(RegistryError::Verification(format!(
                "manifest {reference} has digest {digest}"
            )));
        }
        #[derive(serde::Deserialize)]
        struct Typed {
            #[serde(rename = "mediaType", default)]
            media_type: String,
        }
        let body_type = serde_json::from_slice::<Typed>(&bytes)
            .map_err(|e| RegistryError::Protocol(format!("manifest {reference}: {e}")))?
            .media_type;
        let media_type = if body_type.is_empty() {
            header_type.unwrap_or_default()
        } else {
            body_type
        };
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// Starts downloading blob `digest`.
    pub(crate) async fn blob(&mut self, digest: &str) -> Result<Response<Incoming>, RegistryError> {
        self.get(&format!("blobs/{digest}"), "*/*").await
    }
}

/// `sha256:HEX` of `data`.
pub(crate) fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_scopes() {
        assert_eq!(
            super::encode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }

    #[test]
    fn credentials_debug_hides_password() {
        let c = super::Credentials {
            username: "me".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
