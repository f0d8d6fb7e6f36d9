//! The built-in demo page (`WEBSOCKET_DEMO=true`): a new user opens `http://host:8080/` and sees
//! wampd deliver events within a minute of starting it.
//!
//! The page (`index.html`, `demo.js`, embedded at build time) loads autobahn-browser from
//! `WEBSOCKET_DEMO_AUTOBAHN_URL`, connects back to where it was served from, and shows
//! `wampd.demo.time` (published every second by [`crate::router::demo_clock`]) and
//! `wampd.demo.notifications` (published by backends, e.g. `POST /publish`). It is served at `/`
//! and at any path ending in `/`, so behind nginx's `location /ws` it works at `/ws/`.
//!
//! Safety: the two values written into the HTML are escaped, events are rendered with
//! `textContent` only, and a Content-Security-Policy allows scripts from this origin and the
//! configured autobahn URL only, styles only by the hash of the page's one style element, and
//! connections to this origin only.

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::transport::http::Body;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("demo.js");

/// The rendered demo page, built once at start-up.
#[derive(Debug, Clone)]
pub struct DemoPage {
    index: Bytes,
    csp: HeaderValue,
}

/// Escapes text for an HTML attribute value in double quotes.
fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The content of the page's `<style>` element, whose hash the CSP allows.
fn style_content(html: &str) -> &str {
    html.split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map_or("", |(style, _)| style)
}

impl DemoPage {
    /// Renders the page for `realm`, loading autobahn-browser from `autobahn_url` (validated by
    /// the settings: an http(s) URL or an absolute path without quotes or spaces).
    pub fn new(autobahn_url: &str, realm: &str) -> DemoPage {
        let index = INDEX
            .replace("{{REALM}}", &escape_attribute(realm))
            .replace("{{AUTOBAHN_URL}}", &escape_attribute(autobahn_url));
        let style_hash = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest(style_content(INDEX).as_bytes()));
        // A path-only URL is covered by 'self'; a full URL is allowed exactly.
        let script_source = if autobahn_url.starts_with('/') {
            String::new()
        } else {
            format!(" {autobahn_url}")
        };
        let csp = format!(
            "default-src 'none'; script-src 'self'{script_source}; style-src 'sha256-{style_hash}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        DemoPage {
            index: Bytes::from(index),
            // The URL was checked to be visible ASCII, so this cannot fail; fall back to the
            // strictest policy rather than panic.
            csp: HeaderValue::from_str(&csp)
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
        }
    }

    /// The response for a GET of `path`, when it is one of the demo's.
    pub fn serve(&self, path: &str) -> Option<Response<Body>> {
        let (content_type, body) = if path.ends_with('/') {
            ("text/html; charset=utf-8", self.index.clone())
        } else if path.ends_with("/demo.js") {
            (
                "text/javascript; charset=utf-8",
                Bytes::from_static(SCRIPT.as_bytes()),
            )
        } else {
            return None;
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Some(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_the_csp_names_the_script() {
        let page = DemoPage::new("https://cdn.example/autobahn.min.js", "realm\"<x>");
        let html = String::from_utf8(page.index.to_vec()).expect("utf8");
        assert!(html.contains("<script src=\"https://cdn.example/autobahn.min.js\"></script>"));
        assert!(html.contains("data-realm=\"realm&quot;&lt;x&gt;\""));
        assert!(!html.contains("{{"));
        let csp = page.csp.to_str().expect("ascii");
        assert!(csp.contains("script-src 'self' https://cdn.example/autobahn.min.js;"));
        assert!(csp.contains("style-src 'sha256-"));
        assert!(!csp.contains("unsafe"));
        let local = DemoPage::new("/autobahn.min.js", "realm1");
        assert!(local
            .csp
            .to_str()
            .expect("ascii")
            .contains("script-src 'self';"));
    }

    #[test]
    fn served_paths() {
        let page = DemoPage::new("/a.js", "realm1");
        for path in ["/", "/ws/", "/demo.js", "/ws/demo.js"] {
            assert!(page.serve(path).is_some(), "{path}");
        }
        for path in ["/ws", "/health", "/demo.jsx", "/index.html"] {
            assert!(page.serve(path).is_none(), "{path}");
        }
    }

    #[test]
    fn the_script_never_renders_html() {
        assert!(!SCRIPT.contains("innerHTML"));
        assert!(!SCRIPT.contains("insertAdjacentHTML"));
        assert!(!SCRIPT.contains("document.write"));
    }
}
