//! The HTTP runner of external checks: `POST` the parameters as JSON to the operator's URL.
//!
//! The body is `{"check": "<name>", "params": {"<placeholder>": "<value>", …}}`; a 2xx answer
//! passes (its body, trimmed, is the output an expectation is compared with), anything else is a
//! refusal, and no answer is a failure. One connection per check with `Connection: close`: checks
//! are few and cached, and a pool would be one more thing to bound. `https://` uses the platform's
//! TLS (native-tls) and verifies the certificate.

use http_body_util::{BodyExt, Full, Limited};
use hyper::header;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{Outcome, Params, MAX_OUTPUT};

/// Sends the check; `Ok` = a 2xx answer's trimmed body.
pub async fn post(url: &url::Url, name: &str, params: &Params) -> Result<String, Outcome> {
    let failed = |why: String| Outcome::Failed(format!("{}: {why}", masked(url)));
    let host = url
        .host_str()
        .ok_or_else(|| failed("no host".into()))?
        .to_owned();
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(failed(format!("scheme {other} is not http or https"))),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let body = serde_json::json!({
        "check": name,
        "params": params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>(),
    });
    let body = serde_json::to_vec(&body).map_err(|e| failed(e.to_string()))?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let request = Request::post(path)
        .header(header::HOST, host_header(&host, url.port()))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONNECTION, "close")
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| failed(e.to_string()))?;
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| failed(format!("cannot connect: {e}")))?;
    let response = if tls {
        let connector = native_tls::TlsConnector::new().map_err(|e| failed(e.to_string()))?;
        let stream = tokio_native_tls::TlsConnector::from(connector)
            .connect(&host, stream)
            .await
            .map_err(|e| failed(format!("TLS: {e}")))?;
        send(TokioIo::new(stream), request).await
    } else {
        send(TokioIo::new(stream), request).await
    }
    .map_err(failed)?;
    let status = response.status();
    let collected = Limited::new(response.into_body(), MAX_OUTPUT)
        .collect()
        .await
        .map_err(|e| failed(format!("reading the answer: {e}")))?;
    let text = String::from_utf8_lossy(&collected.to_bytes())
        .trim()
        .to_string();
    if status.is_success() {
        Ok(text)
    } else {
        Err(Outcome::Denied(format!(
            "answered HTTP {}",
            status.as_u16()
        )))
    }
}

async fn send<T>(
    io: T,
    request: Request<Full<bytes::Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

fn host_header(host: &str, port: Option<u16>) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// The URL without credentials or query, for log lines.
pub fn masked(url: &url::Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.path()
    )
}
