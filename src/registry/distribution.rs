//! The one registry client every command uses, over reqwest, and the policy it keeps. A
//! registry is often a proxy, a CDN or a mirror, so nothing it says is trusted further than
//! this file lets it go:
//!
//! - **Credentials go only to the registry's own origin** (scheme, host, port) and to the token
//!   realm its challenge names, the way go-containerregistry (`pkg/v1/remote/transport`) and
//!   regclient scope them. Every URL the registry hands back (a tag list's `Link: rel="next"`)
//!   must be of the same origin or the request is not made. Over plain HTTP, credentials go only
//!   to a registry that is itself plain HTTP (loopback, or named `--insecure`). Redirects go to
//!   any origin with `Authorization` dropped (reqwest's rule when the host or port changes),
//!   never from HTTPS down to HTTP.
//! - **Every request has a deadline** (`REQUEST_DEADLINE`, or for a layer stream one that grows
//!   with its declared size up to `LONGEST_BLOB_DEADLINE`) and **every body a size cap**: a
//!   manifest at most 4 MiB (the size the OCI distribution spec asks registries to accept,
//!   "Pushing Manifests"), a tag page 4 MiB, a token answer 1 MiB, an error body 64 KiB (cut,
//!   not refused), a blob its declared size.
//! - **Listings are complete or an error**: at most `MAX_PAGES` pages and `MAX_TAGS` tags, a
//!   next link seen before is an error, and a page after the first that fails (404 included)
//!   fails the listing rather than ending it with the tags read so far.
//! - **Digests and tags are validated** before they are used in a path or believed: a digest is
//!   `sha256:` + 64 or `sha512:` + 128 lowercase hex, a tag the OCI grammar; a manifest fetched
//!   by digest is hashed against it.
//!
//! The parts of the OCI distribution API oci-client does not do are here too: tag lists paged
//! through `Link` (oci-client's `list_tags` drops the header) and `DELETE
//! /v2/<name>/manifests/<digest>` with a token of scope `repository:<name>:delete`. Auth follows
//! the distribution token spec (distribution/distribution `docs/spec/auth/token.md`): a 401
//! names a Basic realm (answered with the credentials) or a Bearer realm (a token asked for
//! there, with the credentials, for the operation's scope).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LINK, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode, Url};
use serde::Deserialize;
use sha2::Digest as _;

use super::cache::MANIFEST_MEDIA_TYPES;

/// At most this many tries of one request the registry asks to slow down (429, 503).
const TRIES: u32 = 4;
/// The longest `Retry-After` honoured; a longer one is an error rather than a stalled job.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
const PAGE_SIZE: usize = 100;
use crate::runtime::REQUEST_DEADLINE;
/// A layer stream may take `REQUEST_DEADLINE` plus a second per `BLOB_FLOOR_RATE` bytes of its
/// declared size, and never longer than this.
const LONGEST_BLOB_DEADLINE: Duration = Duration::from_secs(600);
const BLOB_FLOOR_RATE: u64 = 4 << 20;
pub const MANIFEST_LIMIT: usize = 4 << 20;
const TAG_PAGE_LIMIT: usize = 4 << 20;
const TOKEN_LIMIT: usize = 1 << 20;
const ERROR_BODY_LIMIT: usize = 64 << 10;
const MAX_PAGES: usize = 1_000;
const MAX_TAGS: usize = 100_000;
const MAX_REDIRECTS: usize = 5;

/// Credentials for one registry: a user and password, or an identity token sent as a bearer
/// token (as oci-client's `RegistryAuth::Bearer`).
#[derive(Clone, Default)]
pub struct Credentials {
    pub basic: Option<(String, String)>,
    pub bearer: Option<String>,
}

/// The HTTP client all registry requests share: the deadline, and redirects that never
/// downgrade to plain HTTP. With `plain_only` no TLS is spoken, so it trusts one placeholder
/// root (see `super::PLAIN_HTTP_ROOT`) instead of loading the system's.
pub fn http_client(plain_only: bool) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(REQUEST_DEADLINE)
        .connect_timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt.url().scheme() == "http"
                && attempt.previous().iter().any(|u| u.scheme() == "https");
            if downgrade {
                attempt.error("a redirect from HTTPS to plain HTTP")
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else {
                attempt.follow()
            }
        }));
    if plain_only {
        let root = reqwest::Certificate::from_pem(super::PLAIN_HTTP_ROOT)
            .map_err(|e| format!("the placeholder root does not load: {e}"))?;
        builder = builder.tls_certs_only([root]);
    }
    builder.build().map_err(|e| {
        format!("cannot set up the registry client: {}. Install the system's CA certificates (Debian/Ubuntu: ca-certificates)", super::error_chain(&e))
    })
}

/// `sha256:` and 64, or `sha512:` and 128, lowercase hex digits: the registered algorithms
/// (OCI image spec, "Digests"). Anything else from a registry is refused, never used in a path.
pub fn is_digest(text: &str) -> bool {
    let hex_of = |len: usize, hex: &str| {
        hex.len() == len
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match text.split_once(':') {
        Some(("sha256", hex)) => hex_of(64, hex),
        Some(("sha512", hex)) => hex_of(128, hex),
        _ => false,
    }
}

/// A tag as the OCI distribution spec writes it: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_tag(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The digest of `bytes` in the algorithm `digest` names (sha256 or sha512).
fn digest_of(algorithm_of: &str, bytes: &[u8]) -> String {
    let mut hasher = Hasher::for_digest(algorithm_of);
    hasher.update(bytes);
    hasher.finish()
}

/// The token scope a write asks for (the distribution token spec's `pull,push`).
const PUSH: &str = "pull,push";

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

/// A running digest of a blob's bytes, in the algorithm its digest names.
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn for_digest(digest: &str) -> Self {
        if digest.starts_with("sha512:") {
            Hasher::Sha512(sha2::Sha512::new())
        } else {
            Hasher::Sha256(sha2::Sha256::new())
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{:x}", h.finalize()),
            Hasher::Sha512(h) => format!("sha512:{:x}", h.finalize()),
        }
    }
}

pub struct Distribution<'c> {
    http: &'c reqwest::Client,
    /// `http://host:port/` or `https://host/`: the only origin requests and credentials go to.
    base: Url,
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
    /// No answer at all (connection, DNS, TLS, deadline), rather than one regcache refused.
    pub unreachable: bool,
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
        let message = if e.is_timeout() {
            format!(
                "no complete answer within the deadline ({}s): {}",
                REQUEST_DEADLINE.as_secs(),
                super::error_chain(e)
            )
        } else {
            super::error_chain(e)
        };
        Failure {
            status: None,
            unreachable: true,
            codes: Vec::new(),
            message,
        }
    }

    /// The registry answered, but with something regcache will not use.
    pub fn refused(message: String) -> Self {
        Failure {
            status: None,
            unreachable: false,
            codes: Vec::new(),
            message,
        }
    }

    /// A 404 or the registry's own "unknown" codes: the thing asked for is not there.
    /// A 404 status itself, not an error code of another status: what prune needs before it
    /// takes a manifest for gone.
    pub fn answered_404(&self) -> bool {
        self.status == Some(StatusCode::NOT_FOUND)
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(StatusCode::NOT_FOUND)
            || (!self.codes.is_empty()
                && self.codes.iter().all(|c| {
                    matches!(
                        c.as_str(),
                        "MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UNKNOWN"
                    )
                }))
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
pub struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

/// `Bearer realm="https://auth",service="registry",scope="repository:a:pull"`; values may be
/// quoted (with `\"` inside) or bare tokens (RFC 9110 §11.6.1).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
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

/// The next page's address from a `Link: </v2/x/tags/list?last=a&n=100>; rel="next"` value.
/// A target is whatever stands between `<` and `>` (RFC 8288 §3: it may hold `;` and `,`); its
/// parameters run to the next `<`.
pub fn next_link_of<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    values.into_iter().find_map(|value| {
        let mut rest = value;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>')?;
            let target = &after[..close];
            let tail = &after[close + 1..];
            let params = &tail[..tail.find('<').unwrap_or(tail.len())];
            let is_next = params.split([';', ',']).any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                return Some(target.to_owned());
            }
            rest = tail;
        }
        None
    })
}

fn next_link(headers: &HeaderMap) -> Option<String> {
    next_link_of(headers.get_all(LINK).iter().filter_map(|v| v.to_str().ok()))
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

/// The body, refused when it is larger than `limit` (by its `Content-Length` before anything is
/// read, or by what arrives).
async fn read_capped(mut response: Response, limit: usize, what: &str) -> Result<Vec<u8>, Failure> {
    let too_large = || {
        Failure::refused(format!(
            "{what} is larger than {limit} bytes, the most regcache reads; the registry (or a proxy in front of it) sent something that is not a registry answer"
        ))
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Failure::transport(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How long reading a blob of `size` bytes may take: the request deadline, plus a second per
/// `BLOB_FLOOR_RATE` bytes, never more than `LONGEST_BLOB_DEADLINE`.
pub fn blob_deadline(size: u64) -> Duration {
    (REQUEST_DEADLINE + Duration::from_secs(size / BLOB_FLOOR_RATE)).min(LONGEST_BLOB_DEADLINE)
}

impl<'c> Distribution<'c> {
    /// The client for `name` on `registry` (`host[:port]`), plain HTTP when `plain_http`.
    pub fn new(
        http: &'c reqwest::Client,
        plain_http: bool,
        registry: &str,
        name: &str,
        credentials: Credentials,
    ) -> Result<Self, String> {
        let scheme = if plain_http { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{registry}/"))
            .map_err(|e| format!("`{registry}` is not a registry host: {e}"))?;
        Ok(Distribution {
            http,
            base,
            name: name.to_owned(),
            credentials,
            authorizations: Mutex::new(Vec::new()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A path of this registry, or an absolute URL the registry gave, which must be of the
    /// registry's own origin: credentials go with every request.
    fn url(&self, path: &str) -> Result<Url, Failure> {
        let url = self.base.join(path).map_err(|e| {
            Failure::refused(format!(
                "the registry gave an address regcache cannot read ({e})"
            ))
        })?;
        if url.origin() != self.base.origin() {
            return Err(Failure::refused(format!(
                "the registry pointed to {}, another origin than {}; regcache sends requests (and credentials) only to the registry's own origin",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    /// Whether credentials may travel to `url` (a token realm): over HTTPS, or over plain HTTP
    /// only when the registry itself is plain HTTP and the realm is its own host or loopback.
    fn may_send_credentials(&self, url: &Url) -> bool {
        match url.scheme() {
            "https" => true,
            "http" => {
                self.base.scheme() == "http"
                    && url.host_str().is_some_and(|host| {
                        Some(host) == self.base.host_str() || super::is_loopback(host)
                    })
            }
            _ => false,
        }
    }

    /// A token (or Basic credentials) for `action` on this repository, from the challenge.
    async fn authorize(&self, challenge: &str, action: &'static str) -> Result<String, Failure> {
        let failed = |message: String| Failure {
            status: Some(StatusCode::UNAUTHORIZED),
            unreachable: false,
            codes: Vec::new(),
            message,
        };
        let challenge = parse_challenge(challenge).ok_or_else(|| {
            failed("the registry's WWW-Authenticate challenge is unreadable".into())
        })?;
        let param = |key: &str| {
            challenge
                .params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let no_credentials = || {
            failed("the registry asks for credentials and none were found: log in (docker login), or give --username with REGCACHE_PASSWORD".into())
        };
        match challenge.scheme.as_str() {
            "basic" => {
                let (user, password) =
                    self.credentials.basic.as_ref().ok_or_else(no_credentials)?;
                use base64::Engine;
                Ok(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                ))
            }
            "bearer" => {
                let realm = param("realm")
                    .ok_or_else(|| failed("the Bearer challenge names no realm".into()))?;
                let realm_url = Url::parse(realm)
                    .map_err(|_| failed("the Bearer challenge's realm is not a URL".into()))?;
                let has_credentials = self.credentials.basic.is_some();
                if has_credentials && !self.may_send_credentials(&realm_url) {
                    return Err(failed(format!(
                        "the registry names the token service {} over plain HTTP; regcache sends credentials over plain HTTP only to a registry that is itself plain HTTP (loopback or --insecure) and to its own host",
                        realm_url.origin().ascii_serialization()
                    )));
                }
                let scope = format!("repository:{}:{action}", self.name);
                let mut request = self.http.get(realm_url).query(&[("scope", scope.as_str())]);
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
                        "the token service refused scope {scope} ({status}): check the credentials and that they may {action} in {}",
                        self.name
                    )));
                }
                let body = read_capped(answer, TOKEN_LIMIT, "the token service's answer").await?;
                let token: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
                    failed(format!(
                        "the token service's answer is not JSON of a token: {e}"
                    ))
                })?;
                token
                    .token
                    .or(token.access_token)
                    .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
                    .map(|t| format!("Bearer {t}"))
                    .ok_or_else(|| {
                        failed("the token service answered without a usable token".into())
                    })
            }
            other => Err(failed(format!(
                "the registry asks for `{}` authentication, which regcache does not speak",
                other.escape_default()
            ))),
        }
    }

    /// One request to `url` (of the registry's origin), authorized on demand, retried while the
    /// registry asks to wait.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        action: &'static str,
        accept: bool,
        deadline: Duration,
    ) -> Result<Response, Failure> {
        self.send_body(method, url, action, accept, deadline, None)
            .await
    }

    /// `send` with a body of a content type (a blob or a manifest pushed).
    async fn send_body(
        &self,
        method: Method,
        url: &Url,
        action: &'static str,
        accept: bool,
        deadline: Duration,
        body: Option<(&str, &[u8])>,
    ) -> Result<Response, Failure> {
        let mut authorization = self
            .authorizations
            .lock()
            .expect("not poisoned")
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                self.credentials
                    .bearer
                    .as_ref()
                    .map(|t| format!("Bearer {t}"))
            });
        let mut authorized_once = false;
        let mut tries = 0;
        loop {
            tries += 1;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .timeout(deadline);
            if accept {
                request = request.header(ACCEPT, MANIFEST_MEDIA_TYPES.join(", "));
            }
            if let Some(value) = &authorization {
                request = request.header(AUTHORIZATION, value);
            }
            if let Some((content_type, bytes)) = body {
                request = request
                    .header(CONTENT_TYPE, content_type)
                    .body(bytes.to_vec());
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
                let mut saved = self.authorizations.lock().expect("not poisoned");
                saved.retain(|(a, _)| *a != action);
                saved.push((action, value.clone()));
                drop(saved);
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

    async fn get(&self, path: &str, accept: bool) -> Result<Response, Failure> {
        let url = self.url(path)?;
        self.send(Method::GET, &url, "pull", accept, REQUEST_DEADLINE)
            .await
    }

    /// An answer that is not a success, as a Failure with the registry's codes.
    async fn failure(what: &str, response: Response) -> Failure {
        let status = response.status();
        let mut body = Vec::new();
        let mut response = response;
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= ERROR_BODY_LIMIT {
                body.truncate(ERROR_BODY_LIMIT);
                break;
            }
        }
        let envelope: Option<ErrorEnvelope> = serde_json::from_slice(&body).ok();
        let entries = envelope.map(|e| e.errors).unwrap_or_default();
        let detail: Vec<String> = entries
            .iter()
            .take(8)
            .map(|e| {
                let message: String = e.message.chars().take(500).collect();
                if message.is_empty() {
                    e.code.chars().take(100).collect()
                } else {
                    format!(
                        "{}: {message}",
                        e.code.chars().take(100).collect::<String>()
                    )
                }
            })
            .collect();
        Failure {
            status: Some(status),
            unreachable: false,
            codes: entries.into_iter().map(|e| e.code).collect(),
            message: if detail.is_empty() {
                format!("{what}: {status}")
            } else {
                format!("{what}: {status} ({})", detail.join("; "))
            },
        }
    }

    /// Every tag, following `Link` from page to page, all of them or an error.
    pub async fn tags(&self) -> Result<Vec<String>, Failure> {
        let mut next = Some(self.url(&format!("/v2/{}/tags/list?n={PAGE_SIZE}", self.name))?);
        let mut seen = HashSet::new();
        let mut tags = Vec::new();
        while let Some(url) = next.take() {
            let page = seen.len() + 1;
            if page > MAX_PAGES {
                return Err(Failure::refused(format!(
                    "the tag list runs past {MAX_PAGES} pages, the most regcache reads; nothing is decided on part of a list"
                )));
            }
            if !seen.insert(url.clone()) {
                return Err(Failure::refused(format!(
                    "the tag list's page {page} links back to a page already read; the registry's paging is broken, and nothing is decided on part of a list"
                )));
            }
            let response = self
                .send(Method::GET, &url, "pull", false, REQUEST_DEADLINE)
                .await?;
            if !response.status().is_success() {
                if page == 1 && response.status() == StatusCode::NOT_FOUND {
                    // A repository nothing was pushed to yet has no tags.
                    return Ok(tags);
                }
                let what = format!("listing tags, page {page}");
                return Err(Self::failure(&what, response).await);
            }
            next = next_link(response.headers())
                .map(|link| self.url(&link))
                .transpose()?;
            let body = read_capped(response, TAG_PAGE_LIMIT, "a page of the tag list").await?;
            let list: TagPage = serde_json::from_slice(&body).map_err(|e| {
                Failure::refused(format!(
                    "page {page} of the tag list is not a tag list: {e}"
                ))
            })?;
            for tag in list.tags.unwrap_or_default() {
                if !is_tag(&tag) {
                    return Err(Failure::refused(format!(
                        "page {page} of the tag list holds `{}`, which is not a tag",
                        tag.escape_default()
                    )));
                }
                tags.push(tag);
            }
            if tags.len() > MAX_TAGS {
                return Err(Failure::refused(format!(
                    "the repository lists more than {MAX_TAGS} tags, the most regcache reads"
                )));
            }
        }
        Ok(tags)
    }

    /// Whether the repository lists any tag (one page of one tag).
    pub async fn has_tags(&self) -> Result<bool, Failure> {
        let response = self
            .get(&format!("/v2/{}/tags/list?n=1", self.name), false)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !response.status().is_success() {
            return Err(Self::failure("listing tags", response).await);
        }
        let body = read_capped(response, TAG_PAGE_LIMIT, "the tag list").await?;
        let list: TagPage = serde_json::from_slice(&body)
            .map_err(|e| Failure::refused(format!("the tag list is not a tag list: {e}")))?;
        Ok(!list.tags.unwrap_or_default().is_empty())
    }

    /// `reference` (a tag or a digest) checked before it goes into a path.
    fn manifest_path(&self, reference: &str) -> Result<String, Failure> {
        if is_tag(reference) || is_digest(reference) {
            Ok(format!("/v2/{}/manifests/{reference}", self.name))
        } else {
            Err(Failure::refused(format!(
                "`{}` is neither a tag nor a sha256/sha512 digest",
                reference.escape_default()
            )))
        }
    }

    /// The validated `Docker-Content-Digest` of an answer, when it sent one.
    fn content_digest(response: &Response, what: &str) -> Result<Option<String>, Failure> {
        match response.headers().get("docker-content-digest") {
            None => Ok(None),
            Some(value) => match value.to_str().ok().filter(|v| is_digest(v)) {
                Some(digest) => Ok(Some(digest.to_owned())),
                None => Err(Failure::refused(format!(
                    "{what}: the registry's Docker-Content-Digest is not a sha256/sha512 digest"
                ))),
            },
        }
    }

    /// The digest a tag resolves to, from HEAD's `Docker-Content-Digest`.
    pub async fn resolve(&self, tag: &str) -> Result<String, Failure> {
        let url = self.url(&self.manifest_path(tag)?)?;
        let what = format!("HEAD {tag}");
        let response = self
            .send(Method::HEAD, &url, "pull", true, REQUEST_DEADLINE)
            .await?;
        if !response.status().is_success() {
            return Err(Self::failure(&what, response).await);
        }
        Self::content_digest(&response, &what)?
            .ok_or_else(|| Failure::refused(format!("{what}: no Docker-Content-Digest header")))
    }

    /// Whether a manifest exists under `reference` (HEAD).
    pub async fn exists(&self, reference: &str) -> Result<bool, Failure> {
        let path = self.manifest_path(reference)?;
        self.head_finds(&path, reference, true).await
    }

    /// HEAD `path`: found, not found (404 or the registry's "unknown" codes), or a failure.
    async fn head_finds(&self, path: &str, what: &str, accept: bool) -> Result<bool, Failure> {
        let url = self.url(path)?;
        let response = self
            .send(Method::HEAD, &url, "pull", accept, REQUEST_DEADLINE)
            .await?;
        if response.status().is_success() {
            return Ok(true);
        }
        let failure = Self::failure(&format!("HEAD {what}"), response).await;
        if failure.is_not_found() {
            Ok(false)
        } else {
            Err(failure)
        }
    }

    /// The manifest stored under `reference` (a tag or a digest), at most `MANIFEST_LIMIT`
    /// bytes, checked against the digest asked for or the one the registry names.
    pub async fn manifest(&self, reference: &str) -> Result<Vec<u8>, Failure> {
        let response = self.get(&self.manifest_path(reference)?, true).await?;
        let what = format!("GET {reference}");
        if !response.status().is_success() {
            return Err(Self::failure(&what, response).await);
        }
        let named = Self::content_digest(&response, &what)?;
        let body = read_capped(response, MANIFEST_LIMIT, "the manifest").await?;
        let expected = if is_digest(reference) {
            Some(reference.to_owned())
        } else {
            named
        };
        if let Some(expected) = expected {
            let actual = digest_of(&expected, &body);
            if actual != expected {
                return Err(Failure::refused(format!(
                    "{what}: the registry sent a manifest whose digest is {actual}, not {expected}"
                )));
            }
        }
        Ok(body)
    }

    /// Whether the blob `digest` exists (HEAD).
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, Failure> {
        let path = self.blob_path(digest)?;
        self.head_finds(&path, digest, false).await
    }

    fn blob_path(&self, digest: &str) -> Result<String, Failure> {
        if is_digest(digest) {
            Ok(format!("/v2/{}/blobs/{digest}", self.name))
        } else {
            Err(Failure::refused(format!(
                "`{}` is not a sha256/sha512 digest",
                digest.escape_default()
            )))
        }
    }

    /// The blob `digest` of declared `size`, chunk by chunk into `each`, checked against its
    /// digest and size; its deadline grows with the size (`blob_deadline`).
    pub async fn blob(
        &self,
        digest: &str,
        size: u64,
        mut each: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), Failure> {
        let url = self.url(&self.blob_path(digest)?)?;
        let mut response = self
            .send(Method::GET, &url, "pull", false, blob_deadline(size))
            .await?;
        if !response.status().is_success() {
            return Err(Self::failure(&format!("GET {digest}"), response).await);
        }
        let mut hasher = Hasher::for_digest(digest);
        let mut read = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| Failure::transport(&e))? {
            read += chunk.len() as u64;
            if read > size {
                return Err(Failure::refused(format!(
                    "GET {digest}: the registry sent more than the {size} bytes the manifest declares"
                )));
            }
            hasher.update(&chunk);
            each(&chunk).map_err(Failure::refused)?;
        }
        let actual = hasher.finish();
        if read != size || actual != digest {
            return Err(Failure::refused(format!(
                "its bytes do not match its descriptor: {read} bytes with digest {actual}, expected {size} bytes with digest {digest}"
            )));
        }
        Ok(())
    }

    /// The blob `digest` whole, when it is at most `limit` bytes.
    pub async fn small_blob(
        &self,
        digest: &str,
        size: u64,
        limit: usize,
    ) -> Result<Vec<u8>, Failure> {
        if size > limit as u64 {
            return Err(Failure::refused(format!(
                "{digest} declares {size} bytes, more than the {limit} regcache reads"
            )));
        }
        let mut bytes = Vec::new();
        self.blob(digest, size, |chunk| {
            bytes.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        Ok(bytes)
    }

    /// Upload `bytes` as a blob unless the repository has it: `POST /v2/<name>/blobs/uploads/`,
    /// then `PUT` to the session's `Location` (of the registry's own origin) with `?digest=`
    /// (OCI distribution spec, "Pushing a blob monolithically"). Its digest.
    pub async fn push_blob(&self, bytes: &[u8]) -> Result<String, Failure> {
        let digest = sha256_digest(bytes);
        if self.blob_exists(&digest).await? {
            return Ok(digest);
        }
        self.upload_blob(bytes).await
    }

    /// `push_blob` without asking first, for bytes the repository cannot hold yet (a record,
    /// new every build). Its digest.
    pub async fn upload_blob(&self, bytes: &[u8]) -> Result<String, Failure> {
        let digest = sha256_digest(bytes);
        let start = self.url(&format!("/v2/{}/blobs/uploads/", self.name))?;
        let response = self
            .send_body(
                Method::POST,
                &start,
                PUSH,
                false,
                REQUEST_DEADLINE,
                Some(("application/octet-stream", &[])),
            )
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(Self::failure("starting a blob upload", response).await);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Failure::refused("the registry started an upload without a Location".into())
            })?
            .to_owned();
        let mut url = self.url(&location)?;
        url.query_pairs_mut().append_pair("digest", &digest);
        let response = self
            .send_body(
                Method::PUT,
                &url,
                PUSH,
                false,
                blob_deadline(bytes.len() as u64),
                Some(("application/octet-stream", bytes)),
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(Self::failure(&format!("uploading {digest}"), response).await);
        }
        Ok(digest)
    }

    /// `PUT /v2/<name>/manifests/<tag>` with `bytes` of `media_type`. Its digest.
    pub async fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, Failure> {
        if !is_tag(tag) {
            return Err(Failure::refused(format!(
                "`{}` is not a tag; nothing was written",
                tag.escape_default()
            )));
        }
        let url = self.url(&self.manifest_path(tag)?)?;
        let response = self
            .send_body(
                Method::PUT,
                &url,
                PUSH,
                false,
                REQUEST_DEADLINE,
                Some((media_type, bytes)),
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(Self::failure(&format!("PUT {tag}"), response).await);
        }
        Ok(sha256_digest(bytes))
    }

    /// `DELETE /v2/<name>/manifests/<digest>`: 202 is done.
    pub async fn delete(&self, digest: &str) -> Result<(), Failure> {
        if !is_digest(digest) {
            return Err(Failure::refused(format!(
                "`{}` is not a digest; nothing was deleted",
                digest.escape_default()
            )));
        }
        let url = self.url(&self.manifest_path(digest)?)?;
        let response = self
            .send(Method::DELETE, &url, "delete", false, REQUEST_DEADLINE)
            .await?;
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

    fn client_for(registry: &str, plain: bool) -> (reqwest::Client, String, bool) {
        (http_client(true).unwrap(), registry.to_owned(), plain)
    }

    #[test]
    fn addresses_the_registry_gives_must_be_its_own_origin() {
        let (http, registry, plain) = client_for("127.0.0.1:5000", true);
        let d = Distribution::new(&http, plain, &registry, "a/b", Credentials::default()).unwrap();
        assert_eq!(
            d.url("/v2/a/b/tags/list?last=x").unwrap().as_str(),
            "http://127.0.0.1:5000/v2/a/b/tags/list?last=x"
        );
        assert!(d.url("http://127.0.0.1:5000/v2/a/b/tags/list").is_ok());
        for elsewhere in [
            "http://127.0.0.1:5001/v2/a/b/tags/list",
            "https://127.0.0.1:5000/v2/a/b/tags/list",
            "http://localhost:5000/v2/",
            "//attacker.example/v2/",
            "http://attacker.example/v2/",
            "ftp://127.0.0.1:5000/v2/",
        ] {
            let e = d.url(elsewhere).unwrap_err();
            assert!(e.message.contains("another origin"), "{elsewhere}: {e}");
        }
    }

    #[test]
    fn credentials_travel_in_the_clear_only_to_a_plain_registry_host() {
        let http = http_client(true).unwrap();
        let tls =
            Distribution::new(&http, false, "r.example", "a", Credentials::default()).unwrap();
        let plain =
            Distribution::new(&http, true, "127.0.0.1:5000", "a", Credentials::default()).unwrap();
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(tls.may_send_credentials(&url("https://auth.example/token")));
        assert!(!tls.may_send_credentials(&url("http://auth.example/token")));
        assert!(!tls.may_send_credentials(&url("http://r.example/token")));
        assert!(plain.may_send_credentials(&url("http://127.0.0.1:6000/token")));
        assert!(plain.may_send_credentials(&url("https://auth.example/token")));
        assert!(!plain.may_send_credentials(&url("http://auth.example/token")));
        assert!(!plain.may_send_credentials(&url("file:///etc/passwd")));
    }

    #[test]
    fn digests_and_tags_follow_their_grammars() {
        assert!(is_digest(&format!("sha256:{}", "a1".repeat(32))));
        assert!(is_digest(&format!("sha512:{}", "0f".repeat(64))));
        for bad in [
            format!("sha256:{}", "A1".repeat(32)),
            format!("sha256:{}", "a1".repeat(31)),
            format!("sha256:{}/../x", "a1".repeat(32)),
            format!("md5:{}", "a1".repeat(16)),
            "sha256:".to_owned(),
            String::new(),
        ] {
            assert!(!is_digest(&bad), "{bad}");
        }
        assert!(is_tag("buildcache-main") && is_tag("_x.1") && is_tag(&"a".repeat(128)));
        for bad in [
            "",
            "-x",
            ".x",
            "a/b",
            "a?b",
            "a b",
            "a\nb",
            &"a".repeat(129),
        ] {
            assert!(!is_tag(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_blob_deadline_grows_with_its_size_and_stops_at_the_longest() {
        assert_eq!(blob_deadline(0), REQUEST_DEADLINE);
        assert_eq!(
            blob_deadline(40 << 20),
            REQUEST_DEADLINE + Duration::from_secs(10)
        );
        assert_eq!(blob_deadline(u64::MAX), LONGEST_BLOB_DEADLINE);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any header text reads to an end, into no more than it held.
            #[test]
            fn headers_read_in_bounded_output(text in any::<String>()) {
                if let Some(challenge) = parse_challenge(&text) {
                    prop_assert!(challenge.params.len() <= text.len());
                    for (key, value) in &challenge.params {
                        prop_assert!(key.len() + value.len() <= text.len());
                    }
                }
                if let Some(link) = next_link_of([text.as_str()]) {
                    prop_assert!(link.len() <= text.len());
                }
                if let Ok(value) = HeaderValue::from_str(&text) {
                    let mut headers = HeaderMap::new();
                    headers.insert(RETRY_AFTER, value);
                    let _ = retry_after(&headers);
                }
            }

            /// Link values as registries write them, and worse: a next target comes back
            /// exactly, and only when a `rel=next` names it.
            #[test]
            fn link_values_name_their_next_page(
                links in proptest::collection::vec(("[ -;=?-~]{0,20}", "(next|\"next\"|prev|x)"), 0..4)
            ) {
                let value: Vec<String> = links
                    .iter()
                    .map(|(target, rel)| format!("<{target}>; rel={rel}"))
                    .collect();
                let value = value.join(", ");
                let expected = links
                    .iter()
                    .find(|(_, rel)| rel.trim_matches('"') == "next")
                    .map(|(target, _)| target.clone());
                prop_assert_eq!(next_link_of([value.as_str()]), expected);
            }

            /// A digest or a tag that passes is safe in a path: no `/`, `?`, `#`, `%` or `.`
            /// run that could climb.
            #[test]
            fn what_passes_as_digest_or_tag_is_path_safe(text in any::<String>()) {
                if is_digest(&text) || is_tag(&text) {
                    prop_assert!(!text.contains(['/', '?', '#', '%', '\\']) && !text.starts_with('.'));
                    prop_assert!(text.len() <= 135);
                }
            }
        }
    }
}
