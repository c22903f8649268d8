//! The parts of the OCI distribution API that oci-client does not do, over reqwest: tag lists
//! paged through `Link` (oci-client's `list_tags` drops the header), HEAD for
//! `Docker-Content-Digest`, and `DELETE /v2/<name>/manifests/<digest>` with a token of scope
//! `repository:<name>:delete` (oci-client's operations are only pull and push).
//!
//! Auth follows the distribution token spec (distribution/distribution
//! `docs/spec/auth/token.md`): a 401 names a Basic realm (answered with the credentials) or a
//! Bearer realm (a token asked for there, with the credentials, for the operation's scope).

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, LINK, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;

use super::cache::MANIFEST_MEDIA_TYPES;

/// At most this many tries of one request the registry asks to slow down (429, 503).
const TRIES: u32 = 4;
/// The longest `Retry-After` honoured; a longer one is an error rather than a stalled job.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
const PAGE_SIZE: usize = 100;

/// Credentials for one registry.
#[derive(Clone, Default)]
pub struct Credentials {
    pub basic: Option<(String, String)>,
}

pub struct Distribution {
    http: reqwest::Client,
    /// `http://host:port` or `https://host`.
    base: String,
    /// The repository path (`owner/app`).
    name: String,
    credentials: Credentials,
    /// The last Authorization that worked, per scope action (`pull`, `delete`).
    authorizations: Mutex<Vec<(&'static str, String)>>,
}

/// One answer that was not what the call needed.
#[derive(Debug)]
pub struct Failure {
    pub status: Option<StatusCode>,
    /// The registry's error codes (`UNSUPPORTED`, `MANIFEST_UNKNOWN`), when it sent any.
    pub codes: Vec<String>,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Failure {
    fn transport(e: &reqwest::Error) -> Self {
        Failure {
            status: None,
            codes: Vec::new(),
            message: super::error_chain(e),
        }
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

/// A `WWW-Authenticate` challenge: the scheme and its parameters.
#[derive(Debug, PartialEq)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

/// `Bearer realm="https://auth",service="registry",scope="repository:a:pull"`; values may be
/// quoted (with `\"` inside) or bare tokens (RFC 9110 §11.6.1).
fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let mut value = String::new();
        if let Some(quoted) = after.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end?..];
        } else {
            let end = after.find(',').unwrap_or(after.len());
            value = after[..end].trim().to_owned();
            rest = &after[end..];
        }
        params.push((key, value));
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// The next page's address from a `Link: </v2/x/tags/list?last=a&n=100>; rel="next"` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers.get_all(LINK).iter().find_map(|value| {
        let value = value.to_str().ok()?;
        value.split(',').find_map(|link| {
            let (target, params) = link.split_once(';')?;
            let is_next = params
                .split(';')
                .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next");
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            is_next.then(|| target.to_owned())
        })
    })
}

/// Seconds from a `Retry-After` header (the HTTP-date form is read as "a while": 5 s).
fn retry_after(headers: &HeaderMap) -> Duration {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_or(Duration::from_secs(5), Duration::from_secs)
        })
        .unwrap_or(Duration::from_secs(1))
}

impl Distribution {
    pub fn new(plain_http: bool, registry: &str, name: &str, credentials: Credentials) -> Self {
        let scheme = if plain_http { "http" } else { "https" };
        Distribution {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("a reqwest client builds"),
            base: format!("{scheme}://{registry}"),
            name: name.to_owned(),
            credentials,
            authorizations: Mutex::new(Vec::new()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// A token (or Basic credentials) for `action` on this repository, from the challenge.
    async fn authorize(&self, challenge: &str, action: &'static str) -> Result<String, Failure> {
        let failed = |message: String| Failure {
            status: Some(StatusCode::UNAUTHORIZED),
            codes: Vec::new(),
            message,
        };
        let challenge = parse_challenge(challenge).ok_or_else(|| {
            failed(format!(
                "unreadable WWW-Authenticate challenge `{challenge}`"
            ))
        })?;
        let param = |key: &str| {
            challenge
                .params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        match challenge.scheme.as_str() {
            "basic" => {
                let (user, password) = self.credentials.basic.as_ref().ok_or_else(|| {
                    failed("the registry asks for credentials and none were found: log in (docker login), or give --username with REGCACHE_PASSWORD".into())
                })?;
                use base64::Engine;
                Ok(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                ))
            }
            "bearer" => {
                let realm = param("realm")
                    .ok_or_else(|| failed("the Bearer challenge names no realm".into()))?;
                let scope = format!("repository:{}:{action}", self.name);
                let mut request = self.http.get(realm).query(&[("scope", scope.as_str())]);
                if let Some(service) = param("service") {
                    request = request.query(&[("service", service)]);
                }
                if let Some((user, password)) = &self.credentials.basic {
                    request = request.basic_auth(user, Some(password));
                }
                let answer = request.send().await.map_err(|e| Failure::transport(&e))?;
                let status = answer.status();
                if !status.is_success() {
                    return Err(failed(format!(
                        "the token service {realm} refused scope {scope} ({status}): check the credentials and that they may {action} in {}",
                        self.name
                    )));
                }
                let token: TokenAnswer = answer
                    .json()
                    .await
                    .map_err(|e| failed(format!("the token service's answer: {e}")))?;
                token
                    .token
                    .or(token.access_token)
                    .map(|t| format!("Bearer {t}"))
                    .ok_or_else(|| failed("the token service answered without a token".into()))
            }
            other => Err(failed(format!(
                "the registry asks for `{other}` authentication, which regcache does not speak"
            ))),
        }
    }

    /// One request, authorized on demand, retried while the registry asks to wait.
    async fn send(
        &self,
        method: Method,
        path: &str,
        action: &'static str,
        accept: bool,
    ) -> Result<Response, Failure> {
        let url = self.url(path);
        let mut authorization = self
            .authorizations
            .lock()
            .expect("not poisoned")
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, v)| v.clone());
        let mut authorized_once = false;
        let mut tries = 0;
        loop {
            tries += 1;
            let mut request = self.http.request(method.clone(), &url);
            if accept {
                request = request.header(ACCEPT, MANIFEST_MEDIA_TYPES.join(", "));
            }
            if let Some(value) = &authorization {
                request = request.header(AUTHORIZATION, value);
            }
            let response = request.send().await.map_err(|e| Failure::transport(&e))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !authorized_once {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let value = self.authorize(&challenge, action).await?;
                self.authorizations
                    .lock()
                    .expect("not poisoned")
                    .retain(|(a, _)| *a != action);
                self.authorizations
                    .lock()
                    .expect("not poisoned")
                    .push((action, value.clone()));
                authorization = Some(value);
                authorized_once = true;
                continue;
            }
            if matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            ) && tries < TRIES
            {
                let wait = retry_after(response.headers());
                if wait <= LONGEST_WAIT {
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// An answer that is not a success, as a Failure with the registry's codes.
    async fn failure(what: &str, response: Response) -> Failure {
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        let envelope: Option<ErrorEnvelope> = serde_json::from_slice(&body).ok();
        let entries = envelope.map(|e| e.errors).unwrap_or_default();
        let detail: Vec<String> = entries
            .iter()
            .map(|e| {
                if e.message.is_empty() {
                    e.code.clone()
                } else {
                    format!("{}: {}", e.code, e.message)
                }
            })
            .collect();
        Failure {
            status: Some(status),
            codes: entries.into_iter().map(|e| e.code).collect(),
            message: if detail.is_empty() {
                format!("{what}: {status}")
            } else {
                format!("{what}: {status} ({})", detail.join("; "))
            },
        }
    }

    /// Every tag, following `Link` from page to page.
    pub async fn tags(&self) -> Result<Vec<String>, Failure> {
        let mut next = Some(format!("/v2/{}/tags/list?n={PAGE_SIZE}", self.name));
        let mut tags = Vec::new();
        while let Some(path) = next.take() {
            let response = self.send(Method::GET, &path, "pull", false).await?;
            if response.status() == StatusCode::NOT_FOUND {
                // A repository nothing was pushed to yet has no tags.
                return Ok(tags);
            }
            if !response.status().is_success() {
                return Err(Self::failure("listing tags", response).await);
            }
            next = next_link(response.headers());
            let page: TagPage = response.json().await.map_err(|e| Failure::transport(&e))?;
            tags.extend(page.tags.unwrap_or_default());
        }
        Ok(tags)
    }

    /// The digest a tag resolves to, from HEAD's `Docker-Content-Digest`.
    pub async fn resolve(&self, tag: &str) -> Result<String, Failure> {
        let path = format!("/v2/{}/manifests/{tag}", self.name);
        let response = self.send(Method::HEAD, &path, "pull", true).await?;
        if !response.status().is_success() {
            return Err(Self::failure(&format!("HEAD {tag}"), response).await);
        }
        response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Failure {
                status: Some(response.status()),
                codes: Vec::new(),
                message: format!("HEAD {tag}: no Docker-Content-Digest header"),
            })
    }

    /// The manifest stored under `digest`, checked against it.
    pub async fn manifest(&self, digest: &str) -> Result<Vec<u8>, Failure> {
        let path = format!("/v2/{}/manifests/{digest}", self.name);
        let response = self.send(Method::GET, &path, "pull", true).await?;
        if !response.status().is_success() {
            return Err(Self::failure(&format!("GET {digest}"), response).await);
        }
        let body = response.bytes().await.map_err(|e| Failure::transport(&e))?;
        let actual = super::sha256_digest(&body);
        if actual != digest {
            return Err(Failure {
                status: None,
                codes: Vec::new(),
                message: format!(
                    "GET {digest}: the registry sent a manifest whose digest is {actual}"
                ),
            });
        }
        Ok(body.to_vec())
    }

    /// `DELETE /v2/<name>/manifests/<digest>`: 202 is done.
    pub async fn delete(&self, digest: &str) -> Result<(), Failure> {
        let path = format!("/v2/{}/manifests/{digest}", self.name);
        let response = self.send(Method::DELETE, &path, "delete", false).await?;
        if response.status() == StatusCode::ACCEPTED || response.status() == StatusCode::OK {
            return Ok(());
        }
        Err(Self::failure(&format!("DELETE {digest}"), response).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn challenges_parse_quoted_and_bare_values() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(
            c.params,
            [
                ("realm".into(), "https://auth.example/token".into()),
                ("service".into(), "registry.example".into()),
                ("scope".into(), "repository:a/b:pull,push".into()),
            ]
        );
        let c = parse_challenge(r#"Basic realm="Registry Realm", charset=UTF-8"#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params[1], ("charset".into(), "UTF-8".into()));
        let c = parse_challenge(r#"Bearer realm="a\"b""#).unwrap();
        assert_eq!(c.params[0].1, "a\"b");
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
    }

    #[test]
    fn the_next_page_comes_from_link_rel_next() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static(r#"</v2/a/tags/list?last=t99&n=100>; rel="next""#),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("/v2/a/tags/list?last=t99&n=100")
        );
        headers.insert(
            LINK,
            HeaderValue::from_static(r#"<https://x/prev>; rel="prev", <https://x/next>; rel=next"#),
        );
        assert_eq!(next_link(&headers).as_deref(), Some("https://x/next"));
        headers.insert(
            LINK,
            HeaderValue::from_static(r#"<https://x/prev>; rel="prev""#),
        );
        assert_eq!(next_link(&headers), None);
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), Duration::from_secs(1));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Duration::from_secs(7));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Duration::from_secs(5));
    }
}
