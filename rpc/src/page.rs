//! The Ledger Explorer web page, served on the RPC port beside JSON-RPC.
//!
//! A tower layer in front of jsonrpsee: a plain `GET` (no WebSocket upgrade) for `/` or one of
//! the page's assets is answered with the file embedded in the binary; `GET /models/<hash>` gives
//! a round model's raw safetensors weights from this node's home. Everything else (JSON-RPC
//! `POST`s, WebSocket upgrades) goes to jsonrpsee unchanged. The page itself talks JSON-RPC to
//! the same origin, so it works offline with nothing fetched from anywhere else.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{header, Method, Request, Response, StatusCode};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpResponse};
use tower::{Layer, Service};

/// One embedded file of the page.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../explorer/index.html"),
    },
    Asset {
        path: "/explorer.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../explorer/explorer.js"),
    },
    Asset {
        path: "/explorer.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../explorer/explorer.css"),
    },
];

/// Largest model file served over HTTP (the bootstrap model is about 400 MB of f32).
const MAX_MODEL_BYTES: u64 = 2 << 30;

/// What a `GET` asks for.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Asset(usize),
    Model(String),
    NotFound,
}

fn target(path: &str) -> Target {
    let path = if path == "/index.html" { "/" } else { path };
    if let Some(i) = ASSETS.iter().position(|a| a.path == path) {
        return Target::Asset(i);
    }
    if let Some(name) = path.strip_prefix("/models/") {
        let hash = name.strip_suffix(".safetensors").unwrap_or(name);
        let hash = hash.strip_prefix("0x").unwrap_or(hash);
        if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Target::Model(hash.to_ascii_lowercase());
        }
    }
    Target::NotFound
}

fn respond(status: StatusCode, content_type: &str, body: HttpBody) -> HttpResponse {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-content-type-options", "nosniff")
        .body(body)
        .unwrap_or_else(|_| Response::new(HttpBody::from("internal error")))
}

fn text(status: StatusCode, message: String) -> HttpResponse {
    respond(status, "text/plain; charset=utf-8", HttpBody::from(message))
}

async fn model_file(models: PathBuf, hash: String) -> HttpResponse {
    let path = models.join(format!("{hash}.safetensors"));
    match tokio::fs::metadata(&path).await {
        Ok(m) if m.len() > MAX_MODEL_BYTES => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("model 0x{hash} is larger than this server sends"),
            )
        }
        Ok(_) => {}
        Err(_) => {
            return text(
                StatusCode::NOT_FOUND,
                format!("this node does not hold model 0x{hash}\n"),
            )
        }
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mut r = respond(StatusCode::OK, "application/octet-stream", bytes.into());
            if let Ok(v) = format!("attachment; filename=\"{hash}.safetensors\"").parse() {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

/// Serves the page in front of the JSON-RPC service.
#[derive(Clone, Debug)]
pub struct PageLayer {
    models: PathBuf,
}

impl PageLayer {
    /// `models`: the node home's directory of round models (`<hash>.safetensors`).
    pub fn new(models: PathBuf) -> PageLayer {
        PageLayer { models }
    }
}

impl<S> Layer<S> for PageLayer {
    type Service = PageService<S>;
    fn layer(&self, inner: S) -> PageService<S> {
        PageService {
            inner,
            models: self.models.clone(),
        }
    }
}

type PageFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

/// See [`PageLayer`].
#[derive(Clone, Debug)]
pub struct PageService<S> {
    inner: S,
    models: PathBuf,
}

impl<S, B> Service<Request<B>> for PageService<S>
where
    S: Service<Request<B>, Response = HttpResponse, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = PageFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> PageFuture {
        let plain_get = (req.method() == Method::GET || req.method() == Method::HEAD)
            && !req.headers().contains_key(header::UPGRADE);
        if !plain_get {
            return Box::pin(self.inner.call(req));
        }
        match target(req.uri().path()) {
            Target::Asset(i) => {
                let a = &ASSETS[i];
                let r = respond(
                    StatusCode::OK,
                    a.content_type,
                    HttpBody::from(a.bytes.to_vec()),
                );
                Box::pin(async move { Ok(r) })
            }
            Target::Model(hash) => {
                let models = self.models.clone();
                Box::pin(async move { Ok(model_file(models, hash).await) })
            }
            Target::NotFound => {
                let r = text(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no page at {}: the explorer is at /, JSON-RPC takes POST\n",
                        req.uri().path()
                    ),
                );
                Box::pin(async move { Ok(r) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_assets_models_or_nothing() {
        assert_eq!(target("/"), Target::Asset(0));
        assert_eq!(target("/index.html"), Target::Asset(0));
        assert_eq!(target("/explorer.js"), Target::Asset(1));
        let h = "ab".repeat(32);
        assert_eq!(
            target(&format!("/models/0x{h}.safetensors")),
            Target::Model(h.clone())
        );
        assert_eq!(
            target(&format!("/models/{}", h.to_uppercase())),
            Target::Model(h)
        );
        // Nothing outside the models directory can be named.
        assert_eq!(target("/models/../config.toml"), Target::NotFound);
        assert_eq!(
            target(&format!("/models/{}", "x".repeat(64))),
            Target::NotFound
        );
        assert_eq!(target("/models/"), Target::NotFound);
        assert_eq!(target("/validator_key"), Target::NotFound);
    }

    #[test]
    fn every_asset_the_page_loads_is_embedded() {
        let html = std::str::from_utf8(ASSETS[0].bytes).unwrap();
        for a in &ASSETS[1..] {
            assert!(html.contains(a.path.trim_start_matches('/')), "{}", a.path);
        }
        // Offline: the page names no other origin (SVG's namespace is a name, not a fetch).
        for a in ASSETS {
            let text = std::str::from_utf8(a.bytes)
                .unwrap()
                .replace("http://www.w3.org/2000/svg", "");
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{}",
                a.path
            );
        }
    }
}
