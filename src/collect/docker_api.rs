//! A blocking HTTP/1.0 client for Docker's Engine API over its Unix socket.
//!
//! No Docker CLI and no async runtime: connect, send `GET {path} HTTP/1.0`, read until the
//! daemon closes the connection, check the status line, return the body once it parses as JSON.
//! A hostile or broken socket cannot exhaust memory or time: each body is capped at
//! [`max_response`] bytes (64 MiB for `/containers/json`), checked without building a JSON tree,
//! and the check counts against the request's deadline.
//! Paths are unversioned (`/info`, not `/v1.41/info`): the daemon answers at its own API
//! version, and Docker 29 rejects client versions below 1.44 (research §4.1).

use crate::collect::SourceState;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Default socket locations, in order. The Docker snap's daemon listens on the regular
/// `/var/run/docker.sock` too (canonical/docker-snap#20, #143); `/run/docker.sock` is the same
/// place on hosts where `/var/run` is a symlink, and a separate one elsewhere.
pub const DEFAULT_SOCKETS: &[&str] = &["/var/run/docker.sock", "/run/docker.sock"];

const MIB: usize = 1024 * 1024;

/// Most response bytes (headers and body) read for `path`; a larger answer is `failed`.
///
/// Sized from what dockerd sends, with room to spare: a `/containers/json` entry is 1–2 KiB
/// (more with many compose labels), so 10 000 containers are about 20 MiB and 64 MiB holds over
/// 30 000; a `/networks` entry is about 1 KiB (the list carries no containers since API 1.28);
/// `/info` and `/version` are a few KiB. The four requests run in parallel, so the caps
/// (64 + 16 + 8 + 8 = 96 MiB) also bound the buffers held at once.
pub fn max_response(path: &str) -> usize {
    match path.split('?').next().unwrap_or(path) {
        "/containers/json" => 64 * MIB,
        "/networks" => 16 * MIB,
        _ => 8 * MIB,
    }
}

/// Most characters of an error body quoted in a message.
const EXCERPT_CHARS: usize = 300;

/// Why an Engine API request did not give a JSON body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No socket: Docker is not installed or not running here, or `DOCKER_HOST` is not local.
    #[error("{0}")]
    Missing(String),
    /// The socket exists but we may not connect (not root, not in the `docker` group).
    #[error("{0}")]
    Denied(String),
    /// The daemon did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// The daemon answered with a non-2xx status.
    #[error("HTTP {status}: {message}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// Docker's `message`, or an excerpt of the body.
        message: String,
    },
    /// Refused connection, I/O error, malformed HTTP, truncated or invalid JSON.
    #[error("{0}")]
    Failed(String),
}

impl ApiError {
    /// The meta.json state this error is recorded as.
    pub fn state(&self) -> SourceState {
        match self {
            ApiError::Missing(_) => SourceState::Missing,
            ApiError::Denied(_) => SourceState::Denied,
            ApiError::Timeout(_) => SourceState::Timeout,
            ApiError::Http { .. } | ApiError::Failed(_) => SourceState::Failed,
        }
    }
}

/// The Docker socket of this host: `$DOCKER_HOST` when it is `unix://PATH`, else the first of
/// [`DEFAULT_SOCKETS`] that exists.
///
/// A `DOCKER_HOST` that is not `unix://` (tcp://, ssh://) is skipped in favour of the local
/// socket: the daemon whose rules fwdoctor diagnoses is the one on this host. When there is no
/// socket the error says where it looked.
pub fn socket_path() -> Result<PathBuf, ApiError> {
    let docker_host = std::env::var("DOCKER_HOST").ok();
    let candidates: Vec<&Path> = DEFAULT_SOCKETS.iter().map(Path::new).collect();
    socket_path_from(docker_host.as_deref(), &candidates)
}

/// [`socket_path`] with its inputs given: the value of `DOCKER_HOST` and the default locations.
pub fn socket_path_from(
    docker_host: Option<&str>,
    candidates: &[&Path],
) -> Result<PathBuf, ApiError> {
    let mut skipped = None;
    if let Some(host) = docker_host.map(str::trim).filter(|h| !h.is_empty()) {
        match host.strip_prefix("unix://") {
            Some(path) if !path.is_empty() => return Ok(PathBuf::from(path)),
            Some(_) => {}
            None => skipped = Some(host),
        }
    }
    if let Some(found) = candidates.iter().find(|p| p.exists()) {
        return Ok(found.to_path_buf());
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    let mut reason = format!("no Docker socket at {}", looked.join(" or "));
    if let Some(host) = skipped {
        reason.push_str(&format!(
            " (DOCKER_HOST={host} is not a Unix socket; fwdoctor only reads a local daemon)"
        ));
    }
    Err(ApiError::Missing(reason))
}

/// A warning when the socket at `socket` is not dockerd's `root:docker` (or `root:root`): the
/// process that bound a socket owns it, so a socket of another user (a `DOCKER_HOST` left
/// pointing at a user's socket, a rootless daemon's, or a planted one) answers for the Docker
/// daemon with whatever its owner likes.
pub fn socket_owner_warning(socket: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(socket).ok()?;
    let docker_gid = nix::unistd::Group::from_name("docker")
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw());
    if meta.uid() == 0 && (meta.gid() == 0 || Some(meta.gid()) == docker_gid) {
        return None;
    }
    Some(format!(
        "the Docker socket {} is owned by uid {} gid {}, not root with group root or docker: \
         whoever owns it answers for the Docker daemon, so the Docker facts in this report \
         come from them (check DOCKER_HOST)",
        socket.display(),
        meta.uid(),
        meta.gid()
    ))
}

/// `GET path` over the Unix socket at `socket`, with `timeout` for the whole exchange.
///
/// Returns the body when the status is 2xx and the body is valid JSON. Handles
/// `Transfer-Encoding: chunked` and `Content-Length` although an HTTP/1.0 request normally gets
/// neither from dockerd.
///
/// The whole exchange, reading and checking the body included, ends by `timeout`: a body that
/// arrives in time but takes long to check is a timeout too.
pub fn get(socket: &Path, path: &str, timeout: Duration) -> Result<String, ApiError> {
    // `timeout` comes from the command line: a deadline past what `Instant` holds is "never".
    let deadline = Instant::now().checked_add(timeout);
    let where_ = socket.display();
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ApiError::Missing(format!("no Docker socket at {where_}")),
        io::ErrorKind::PermissionDenied => ApiError::Denied(format!(
            "permission denied on {where_} (not root, not in the docker group)"
        )),
        io::ErrorKind::ConnectionRefused => ApiError::Failed(format!(
            "connection refused on {where_}: is the Docker daemon running?"
        )),
        _ => ApiError::Failed(format!("cannot connect to {where_}: {e}")),
    })?;

    let timed_out = || ApiError::Timeout(format!("GET {path}: no answer within {timeout:?}"));
    let io_failed = |e: io::Error| {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            timed_out()
        } else {
            ApiError::Failed(format!("GET {path} on {where_}: {e}"))
        }
    };

    let request = format!("GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: fwdoctor\r\n\r\n");
    stream
        .set_write_timeout(Some(remaining(deadline).ok_or_else(timed_out)?))
        .map_err(io_failed)?;
    stream.write_all(request.as_bytes()).map_err(io_failed)?;

    let cap = max_response(path);
    let mut response = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = remaining(deadline).ok_or_else(timed_out)?;
        stream.set_read_timeout(Some(left)).map_err(io_failed)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if response.len() + n > cap {
                    return Err(ApiError::Failed(format!(
                        "GET {path}: response larger than {} MiB (more than any Docker daemon \
                         sends; not read further)",
                        cap / MIB
                    )));
                }
                response.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_failed(e)),
        }
    }
    drop(stream);
    let body = parse_response(path, response)?;
    if remaining(deadline).is_none() {
        return Err(ApiError::Timeout(format!(
            "GET {path}: answer not read and checked within {timeout:?}"
        )));
    }
    Ok(body)
}

/// Time left before `deadline` (`None`: no deadline), or `None` when it has passed.
fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    let Some(deadline) = deadline else {
        return Some(Duration::MAX);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// Check a whole HTTP response and return its JSON body (the response buffer becomes the body,
/// no copy).
fn parse_response(path: &str, mut response: Vec<u8>) -> Result<String, ApiError> {
    let fail = |what: String| ApiError::Failed(format!("GET {path}: {what}"));
    if response.is_empty() {
        return Err(fail("empty response (connection closed)".into()));
    }
    let Some(split) = find(&response, b"\r\n\r\n") else {
        return Err(fail("malformed HTTP response (no end of headers)".into()));
    };
    let head = std::str::from_utf8(&response[..split])
        .map_err(|_| fail("malformed HTTP response (headers not text)".into()))?;
    let body_start = split + 4;

    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = parse_status_line(status_line).ok_or_else(|| {
        fail(format!(
            "malformed HTTP status line {:?}",
            excerpt(status_line)
        ))
    })?;

    let mut chunked = false;
    let mut content_length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .split(',')
                .any(|v| v.trim().eq_ignore_ascii_case("chunked"));
        } else if name.trim().eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| fail(format!("bad Content-Length {value:?}")))?,
            );
        }
    }

    let body = if chunked {
        decode_chunked(&response[body_start..])
            .map_err(|e| fail(format!("bad chunked body: {e}")))?
    } else {
        if let Some(len) = content_length {
            let got = response.len() - body_start;
            if got < len {
                return Err(fail(format!("truncated body: got {got} of {len} bytes")));
            }
            response.truncate(body_start + len);
        }
        response.drain(..body_start);
        response
    };

    let text = String::from_utf8(body).map_err(|_| fail("body is not UTF-8".into()))?;
    if !(200..300).contains(&status) {
        return Err(ApiError::Http {
            status,
            message: error_message(&text),
        });
    }
    // Only "is this whole JSON?": `IgnoredAny` walks the text without building a tree.
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
        return Err(fail(format!("truncated or invalid JSON: {e}")));
    }
    Ok(text)
}

/// Docker's `{"message": "..."}` of an error body, else an excerpt of the body.
fn error_message(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct DockerError {
        message: String,
    }
    serde_json::from_str::<DockerError>(text)
        .map(|e| excerpt(&e.message))
        .unwrap_or_else(|_| excerpt(text.trim()))
}

/// `HTTP/1.x NNN reason` -> NNN.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Decode a `Transfer-Encoding: chunked` body (trailers are ignored).
fn decode_chunked(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(body, b"\r\n") else {
            return Err("missing chunk size line (truncated)".into());
        };
        let line = std::str::from_utf8(&body[..eol]).map_err(|_| "chunk size not text")?;
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| format!("bad chunk size {hex:?}"))?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        // `size` comes from the peer: `ffffffffffffffff` must not wrap around.
        if size.checked_add(2).is_none_or(|need| body.len() < need) {
            return Err(format!(
                "chunk of {size} bytes cut short at {} (truncated)",
                body.len()
            ));
        }
        out.extend_from_slice(&body[..size]);
        if &body[size..size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        body = &body[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
