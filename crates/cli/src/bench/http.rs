//! The bench's HTTP client: one keep-alive HTTP/1.1 connection per bench client (hyper's client, a
//! pool of one), `TCP_NODELAY`, a bearer token, and a timeout on every request, the whole answer
//! read included. Plain HTTP only: a bench runs next to the node it measures.

use std::time::Duration;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The largest answer read: a page of 20 notes is a few tens of kilobytes.
const ANSWER_BYTES_MAX: usize = 4 * 1024 * 1024;

/// A node's address, checked: `http://host:port`, no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUrl(String);

impl BaseUrl {
    pub(crate) fn parse(text: &str) -> anyhow::Result<BaseUrl> {
        let trimmed = text.trim_end_matches('/');
        let uri: Uri = trimmed
            .parse()
            .with_context(|| format!("--url {text:?} is not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => anyhow::bail!(
                "--url {text:?}: the bench speaks plain HTTP only; run it on the node's machine against its own address (or behind the TLS proxy)"
            ),
            _ => anyhow::bail!("--url {text:?} must start with http://"),
        }
        if uri.authority().is_none() {
            anyhow::bail!("--url {text:?} has no host");
        }
        if uri.path() != "/" && !uri.path().is_empty() {
            anyhow::bail!("--url {text:?} must be the node's address only, without a path");
        }
        Ok(BaseUrl(trimmed.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a request has no answer.
#[derive(Debug)]
pub(crate) enum NoAnswer {
    Timeout,
    /// Connecting, sending or reading failed (the text says how).
    Connection(String),
}

impl NoAnswer {
    /// The failure code a sample records.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            NoAnswer::Timeout => "timeout",
            NoAnswer::Connection(_) => "connection",
        }
    }
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoAnswer::Timeout => write!(f, "no answer within the request timeout"),
            NoAnswer::Connection(e) => write!(f, "{e}"),
        }
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) etag: Option<String>,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "the answer ({}) is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The failure code of an error answer: its problem's `code`, else `http_<status>`.
    pub(crate) fn failure_code(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|problem| problem["code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("http_{}", self.status.as_u16()))
    }

    /// A one-line account of an unexpected answer, for errors during setup.
    pub(crate) fn describe(&self) -> String {
        let detail = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|problem| problem["detail"].as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(300)
                    .collect()
            });
        format!("{} {}: {detail}", self.status.as_u16(), self.failure_code())
    }
}

/// One client's connection to the node, with the token it sends.
#[derive(Clone)]
pub(crate) struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: BaseUrl,
    timeout: Duration,
    token: Option<String>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub(crate) fn new(base: BaseUrl, timeout: Duration) -> Http {
        let mut connector = HttpConnector::new();
        // Small requests on a kept-alive connection: without it, Nagle and delayed ACKs add 40 ms.
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build(connector);
        Http {
            client,
            base,
            timeout,
            token: None,
        }
    }

    /// A connection of its own (a new pool) sending `token`.
    pub(crate) fn with_token(&self, token: &str) -> Http {
        let mut http = Http::new(self.base.clone(), self.timeout);
        http.token = Some(token.to_owned());
        http
    }

    /// A connection of its own (a new pool) sending the same token.
    pub(crate) fn new_connection(&self) -> Http {
        let mut http = Http::new(self.base.clone(), self.timeout);
        http.token.clone_from(&self.token);
        http
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Answer, NoAnswer> {
        self.send(Method::GET, path, None, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Answer, NoAnswer> {
        self.send(Method::POST, path, Some(body), None).await
    }

    /// `POST path` with `If-Match: if_match`.
    pub(crate) async fn post_if_match(
        &self,
        path: &str,
        body: &Value,
        if_match: &str,
    ) -> Result<Answer, NoAnswer> {
        self.send(Method::POST, path, Some(body), Some(if_match))
            .await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Answer, NoAnswer> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base.as_str()));
        if let Some(token) = &self.token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(tag) = if_match {
            builder = builder.header(header::IF_MATCH, tag);
        }
        let bytes = match body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(
                    serde_json::to_vec(body).map_err(|e| NoAnswer::Connection(e.to_string()))?,
                )
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(bytes))
            .map_err(|e| NoAnswer::Connection(format!("cannot build the request: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| NoAnswer::Connection(connection_error(&e)))?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, ANSWER_BYTES_MAX)
                .collect()
                .await
                .map_err(|e| NoAnswer::Connection(format!("reading the answer: {e}")))?
                .to_bytes();
            let etag = parts
                .headers
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(Answer {
                status: parts.status,
                etag,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(NoAnswer::Timeout))
    }
}

/// A client error with its causes (hyper's own text is only "client error (Connect)").
fn connection_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_is_an_http_address_without_a_path() {
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1:8080/")
                .expect("valid")
                .as_str(),
            "http://127.0.0.1:8080"
        );
        assert!(BaseUrl::parse("http://localhost:1").is_ok());
        for (bad, why) in [
            ("https://127.0.0.1:8443", "plain HTTP only"),
            ("127.0.0.1:8080", "must start with http://"),
            ("http://127.0.0.1:8080/api/v1", "without a path"),
            ("not a url", "not a URL"),
        ] {
            let error = BaseUrl::parse(bad).expect_err(bad).to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
