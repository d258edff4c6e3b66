//! LSP stdio framing that survives any input: sits between stdin/stdout and tower-lsp-server.
//!
//! Owns reading `Content-Length` frames, checking that each body is a JSON-RPC 2.0 message,
//! answering bad frames with -32700/-32600 replies, resyncing after header garbage, and merging
//! those replies into the framework's output between whole frames. Leaves out dispatch and any
//! LSP semantics (the framework and the handlers), and logging setup (`main.rs`).
//!
//! Why: tower-lsp-server 0.23 reads stdin through a `FramedRead`, which ends its stream, and with
//! it the session, after the first frame its codec or its `Message` type cannot decode. So every
//! frame forwarded to it is re-framed as `Content-Length: N\r\n\r\n` plus a UTF-8 body that
//! its decoder is known to accept: a request passes checks that cover everything that decoder can
//! refuse (in one parse, duplicate members included); a response from the client, rare, is
//! decoded through the same serde types (`Incoming` mirrors its private `Message`).
//!
//! Decisions:
//! - An id is an integer that fits `i64` (the framework's `Id::Number`) or a string. Floats (even
//!   `1.0`), larger integers, booleans, arrays and objects are -32600 with id `null`; so is a
//!   request with `"id": null`. `null` is accepted only in an error response from the client
//!   (JSON-RPC 2.0 §5), which the framework logs and ignores.
//! - Header names are case-insensitive, other headers (Content-Type) are ignored, lines may end in
//!   a lone `\n`, and blank lines between frames are skipped silently.
//! - After a broken header the pump scans for the next `content-length:`. A body that happens to
//!   contain that text can cause further error replies, but the stream always recovers.
//! - End of input without `exit` means the client went away: the server is told at once (it
//!   cancels its jobs), and requests still unanswered after [`INPUT_CLOSED_GRACE`] are dropped,
//!   so that a request waiting on the client (a progress token, an applied edit) cannot keep the
//!   process alive. The framework alone waits for every request in flight, forever if need be.

use std::{io, mem};

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};
use tower_lsp_server::{ClientSocket, LanguageServer, LspService, Server};

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
/// What resync scans for, compared case-insensitively.
const CONTENT_LENGTH: &[u8] = b"content-length:";
const LOG_EXCERPT_BYTES: usize = 200;
const READ_CHUNK: usize = 64 * 1024;
const PIPE_BYTES: usize = 64 * 1024;
const REPLY_QUEUE: usize = 64;
/// Requests the framework runs at once.
const CONCURRENCY: usize = 64;
/// How long requests in flight may still take once the client closed its input.
pub const INPUT_CLOSED_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Size limits on one incoming frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest header block (all header lines, without the blank line) that is accepted.
    pub max_header_bytes: usize,
    /// Largest body that is read; larger bodies are skipped unread and answered with -32600.
    pub max_body_bytes: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 8 * 1024,
            max_body_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Serves `service` over `input`/`output` until the session ends: after `exit`, at end of input,
/// or when `output` fails. No input, however malformed, ends it early.
///
/// At end of input (the client is gone unless it sent `exit`) `on_input_closed` runs, then the
/// requests in flight get [`INPUT_CLOSED_GRACE`] to finish; the rest are dropped unanswered.
pub async fn serve<I, O, S>(
    input: I,
    output: O,
    service: LspService<S>,
    socket: ClientSocket,
    limits: FrameLimits,
    on_input_closed: impl FnOnce(),
) where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
    S: LanguageServer,
{
    let (pump_to_framework, framework_in) = tokio::io::duplex(PIPE_BYTES);
    let (framework_out, framework_to_pump) = tokio::io::duplex(PIPE_BYTES);
    let (reply_tx, reply_rx) = mpsc::channel(REPLY_QUEUE);

    // The framework and the input pump run together; when the framework ends (after `exit`) the
    // input pump is dropped even if the client keeps stdin open. Dropping it closes the reply
    // channel, which lets the output pump finish.
    let session = async move {
        // Long model requests must not take the slots index requests need (the default is 4).
        let server = Server::new(framework_in, framework_out, socket)
            .concurrency_level(CONCURRENCY)
            .serve(service);
        let input = InputPump::new(input, pump_to_framework, reply_tx, limits).run();
        tokio::pin!(server, input);
        tokio::select! {
            () = &mut server => {}
            result = &mut input => {
                if let Err(err) = result {
                    tracing::warn!("reading client input failed: {err}");
                }
                on_input_closed();
                if tokio::time::timeout(INPUT_CLOSED_GRACE, &mut server).await.is_err() {
                    tracing::warn!(
                        "the client closed its input; requests still unanswered after {} ms \
                         are dropped",
                        INPUT_CLOSED_GRACE.as_millis()
                    );
                }
            }
        }
    };
    let output = output_pump(framework_to_pump, reply_rx, output);
    tokio::pin!(session, output);
    tokio::select! {
        () = &mut session => {
            if let Err(err) = output.await {
                tracing::warn!("writing to the client failed: {err}");
            }
        }
        result = &mut output => {
            // Only a write error ends the output first; nobody can hear the session any more.
            if let Err(err) = result {
                tracing::warn!("writing to the client failed, ending the session: {err}");
            }
        }
    }
}

/// Why an incoming frame was dropped; becomes one JSON-RPC error reply.
#[derive(Debug)]
struct Rejection {
    code: i64,
    id: Value,
    message: String,
}

impl Rejection {
    fn parse(reason: impl std::fmt::Display) -> Self {
        Self {
            code: PARSE_ERROR,
            id: Value::Null,
            message: format!("Parse error: {reason}"),
        }
    }

    fn invalid(id: Value, reason: impl std::fmt::Display) -> Self {
        Self {
            code: INVALID_REQUEST,
            id,
            message: format!("Invalid request: {reason}"),
        }
    }

    fn method_not_found(id: Value, method: &str) -> Self {
        Self {
            code: METHOD_NOT_FOUND,
            id,
            message: format!("Method not found: {method}"),
        }
    }

    fn to_frame(&self) -> Vec<u8> {
        let reply = json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": { "code": self.code, "message": self.message },
        });
        frame(reply.to_string().as_bytes())
    }
}

/// Reads client frames, forwards valid messages to the framework, rejects the rest.
struct InputPump<R, W> {
    reader: R,
    framework: W,
    replies: mpsc::Sender<Vec<u8>>,
    limits: FrameLimits,
    buf: Vec<u8>,
}

impl<R, W> InputPump<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    fn new(reader: R, framework: W, replies: mpsc::Sender<Vec<u8>>, limits: FrameLimits) -> Self {
        Self {
            reader,
            framework,
            replies,
            limits,
            buf: Vec::with_capacity(READ_CHUNK),
        }
    }

    /// Pumps until end of input, then closes the framework's input so that the server ends.
    async fn run(mut self) -> io::Result<()> {
        let result = self.pump().await;
        if let Err(err) = self.framework.shutdown().await {
            tracing::debug!("closing the framework input: {err}");
        }
        result
    }

    async fn pump(&mut self) -> io::Result<()> {
        let mut resyncing = false;
        loop {
            if resyncing {
                if let Some(at) = find_content_length(&self.buf) {
                    self.buf.drain(..at);
                    resyncing = false;
                } else {
                    // Keep a tail that may be the start of a `content-length:` split across reads.
                    let keep = CONTENT_LENGTH.len() - 1;
                    self.buf.drain(..self.buf.len().saturating_sub(keep));
                    if !self.fill().await? {
                        return Ok(()); // This broken frame was already answered.
                    }
                    continue;
                }
            }
            let blank = self.buf.iter().take_while(|&&b| matches!(b, b'\r' | b'\n'));
            let blank = blank.count();
            self.buf.drain(..blank);

            // A block of at most `max` bytes ends within `max + 2` bytes (its blank line).
            let max = self.limits.max_header_bytes;
            let scan_len = max.saturating_add(2);
            let scan = self.buf.get(..scan_len).unwrap_or(&self.buf);
            let (block_len, header_len) = match find_header_end(scan) {
                Some((block_len, _)) if block_len > max => {
                    self.header_too_large().await;
                    resyncing = true;
                    continue;
                }
                Some(end) => end,
                None if scan.len() >= scan_len => {
                    self.header_too_large().await;
                    resyncing = true;
                    continue;
                }
                None => {
                    if self.fill().await? {
                        continue;
                    }
                    if !self.buf.is_empty() {
                        let reason = "end of input inside a header";
                        self.reject(Rejection::parse(reason), &self.buf).await;
                    }
                    return Ok(());
                }
            };
            match parse_headers(self.buf.get(..block_len).unwrap_or_default()) {
                Ok(len) => {
                    self.buf.drain(..header_len);
                    if !self.body(len).await? {
                        return Ok(());
                    }
                }
                Err(err) => {
                    let header = self.buf.get(..header_len).unwrap_or_default();
                    self.reject(Rejection::parse(err.describe()), header).await;
                    // A bad length means this was a real header: skip it. Otherwise garbage may
                    // hide a real header after it, so resume the scan at the next byte.
                    let garbage =
                        matches!(err, HeaderError::Malformed | HeaderError::MissingLength);
                    let skip = if garbage { 1 } else { header_len };
                    self.buf.drain(..skip);
                    resyncing = true;
                }
            }
        }
    }

    /// Answers an oversized header and steps past its first byte, ready to resync.
    async fn header_too_large(&mut self) {
        let reason = format!("header larger than {} bytes", self.limits.max_header_bytes);
        self.reject(Rejection::parse(reason), &self.buf).await;
        self.buf.drain(..1.min(self.buf.len()));
    }

    /// Reads one body of `len` bytes and forwards or rejects it. False at end of input.
    async fn body(&mut self, len: usize) -> io::Result<bool> {
        if len > self.limits.max_body_bytes {
            let reason = format!(
                "message too large ({len} bytes, limit {})",
                self.limits.max_body_bytes
            );
            self.reject(Rejection::invalid(Value::Null, reason), &[])
                .await;
            return self.discard(len).await;
        }
        while self.buf.len() < len {
            self.buf.reserve(len - self.buf.len());
            if self.reader.read_buf(&mut self.buf).await? == 0 {
                let reason = format!("end of input inside a {len}-byte body");
                self.reject(Rejection::parse(reason), &self.buf).await;
                return Ok(false);
            }
        }
        // The loop above guarantees `len <= buf.len()`.
        let rest = self.buf.split_off(len);
        let body = mem::replace(&mut self.buf, rest);
        match check_message(&body) {
            Ok(()) => {
                self.framework.write_all(&frame(&body)).await?;
                self.framework.flush().await?;
            }
            Err(rejection) => self.reject(rejection, &body).await,
        }
        Ok(true)
    }

    /// Skips `len` bytes without holding them. False if input ended first.
    async fn discard(&mut self, len: usize) -> io::Result<bool> {
        let buffered = len.min(self.buf.len());
        self.buf.drain(..buffered);
        let remaining = u64::try_from(len - buffered).unwrap_or(u64::MAX);
        let mut rest = (&mut self.reader).take(remaining);
        let skipped = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await?;
        Ok(skipped == remaining)
    }

    /// Reads more input into the buffer. False at end of input.
    async fn fill(&mut self) -> io::Result<bool> {
        self.buf.reserve(READ_CHUNK);
        Ok(self.reader.read_buf(&mut self.buf).await? > 0)
    }

    /// Logs the dropped frame and queues its error reply.
    async fn reject(&self, rejection: Rejection, dropped: &[u8]) {
        tracing::warn!(
            code = rejection.code,
            id = %rejection.id,
            bytes = dropped.len(),
            excerpt = ?excerpt(dropped),
            "dropped client message: {}",
            rejection.message,
        );
        if self.replies.send(rejection.to_frame()).await.is_err() {
            tracing::debug!("output closed; error reply not sent");
        }
    }
}

/// Copies the framework's frames and queued error replies to `out`, each one whole, flushed.
/// Ends when the framework's output and the reply queue have both closed.
async fn output_pump<F, O>(
    mut framework: F,
    mut replies: mpsc::Receiver<Vec<u8>>,
    mut out: O,
) -> io::Result<()>
where
    F: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut buf = Vec::with_capacity(READ_CHUNK);
    let (mut framework_open, mut replies_open) = (true, true);
    while framework_open || replies_open {
        buf.reserve(READ_CHUNK);
        // Both branches are cancel-safe; writes happen only in the handlers, one frame at a time.
        tokio::select! {
            read = framework.read_buf(&mut buf), if framework_open => {
                if read? == 0 {
                    framework_open = false;
                    if !buf.is_empty() {
                        tracing::error!("framework output ended inside a frame");
                    }
                }
                // Every whole frame read so far goes out in one write and one flush: under load
                // the framework writes dozens of replies between two wake-ups of this pump.
                let mut whole = 0;
                while let Some(len) = buf.get(whole..).and_then(complete_frame_len) {
                    whole += len;
                }
                if whole > 0 {
                    let rest = buf.split_off(whole);
                    out.write_all(&mem::replace(&mut buf, rest)).await?;
                    out.flush().await?;
                }
            }
            reply = replies.recv(), if replies_open => match reply {
                Some(frame) => {
                    out.write_all(&frame).await?;
                    out.flush().await?;
                }
                None => replies_open = false,
            },
        }
    }
    Ok(())
}

/// Length of the first whole frame in the framework's output, if it is all there.
fn complete_frame_len(buf: &[u8]) -> Option<usize> {
    let (block_len, header_len) = find_header_end(buf)?;
    match parse_headers(buf.get(..block_len)?) {
        Ok(len) => Some(header_len + len).filter(|&total| total <= buf.len()),
        Err(err) => {
            // The framework writes its own frames; pass the bytes on rather than stall.
            tracing::error!("framework wrote a bad header: {}", err.describe());
            Some(header_len)
        }
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Finds the blank line ending a header block: `(block_len, header_len)`, where the block is the
/// header lines with their line endings and `header_len` also covers the blank line.
fn find_header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            if matches!(buf.get(line_start..i), Some(b"" | b"\r")) {
                return Some((line_start, i + 1));
            }
            line_start = i + 1;
        }
    }
    None
}

/// Offset of the first `content-length:` in `buf`, any case.
fn find_content_length(buf: &[u8]) -> Option<usize> {
    buf.windows(CONTENT_LENGTH.len())
        .position(|w| w.eq_ignore_ascii_case(CONTENT_LENGTH))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeaderError {
    Malformed,
    MissingLength,
    BadLength,
    DuplicateLength,
}

impl HeaderError {
    fn describe(self) -> &'static str {
        match self {
            Self::Malformed => "malformed header line",
            Self::MissingLength => "missing Content-Length header",
            Self::BadLength => "Content-Length is not a non-negative integer",
            Self::DuplicateLength => "duplicate Content-Length header",
        }
    }
}

/// Returns the Content-Length of a header block; other headers are ignored.
fn parse_headers(block: &[u8]) -> Result<usize, HeaderError> {
    let mut content_length = None;
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let colon = line.iter().position(|&b| b == b':');
        let (name, value) = line.split_at(colon.ok_or(HeaderError::Malformed)?);
        if !name.eq_ignore_ascii_case(b"content-length") {
            continue;
        }
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(HeaderError::BadLength);
        }
        let len = std::str::from_utf8(value)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or(HeaderError::BadLength)?;
        if content_length.replace(len).is_some() {
            return Err(HeaderError::DuplicateLength);
        }
    }
    content_length.ok_or(HeaderError::MissingLength)
}

/// Mirrors tower-lsp-server's private `jsonrpc::Message`, so a body is forwarded only if the
/// framework's own decoder accepts it.
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code, reason = "only which variant decodes matters")]
enum Incoming {
    Response(Response),
    Request(Request),
}

/// The members of a JSON object in order, duplicates kept (a `Value` map silently keeps the
/// last one, while the framework's decoder refuses a duplicated field).
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// The members the framework's `Message` types read; a duplicate of one makes its decoder fail.
const MESSAGE_FIELDS: [&str; 6] = ["jsonrpc", "id", "method", "params", "result", "error"];

/// Accepts a body that is one JSON-RPC 2.0 request, notification or response.
///
/// One parse for requests and notifications (the hot path: every keystroke is a didChange).
/// Responses from the client, rare, are also decoded through the framework's own types.
fn check_message(body: &[u8]) -> Result<(), Rejection> {
    let text = std::str::from_utf8(body)
        .map_err(|err| Rejection::parse(format_args!("invalid UTF-8: {err}")))?;
    let members = match serde_json::from_str::<Members>(text) {
        Ok(Members(members)) => members,
        // Valid JSON that is not an object, or not JSON at all: the slow path tells which.
        Err(err) if err.is_data() => {
            return Err(match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(_)) => Rejection::invalid(Value::Null, "batches are not allowed"),
                Ok(_) => Rejection::invalid(Value::Null, "not a JSON object"),
                Err(err) => Rejection::parse(format_args!("invalid JSON: {err}")),
            })
        }
        Err(err) => return Err(Rejection::parse(format_args!("invalid JSON: {err}"))),
    };
    let duplicate = MESSAGE_FIELDS
        .iter()
        .find(|f| members.iter().filter(|(k, _)| k == *f).count() > 1);
    let map: serde_json::Map<String, Value> = members.into_iter().collect();
    let id = map.get("id");
    let echo_id = id
        .filter(|id| is_valid_id(id))
        .cloned()
        .unwrap_or(Value::Null);
    let invalid = |reason: &str| Rejection::invalid(echo_id.clone(), reason);
    if let Some(field) = duplicate {
        return Err(invalid(&format!("`{field}` appears more than once")));
    }

    if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("`jsonrpc` must be \"2.0\""));
    }
    let (has_result, has_error) = (map.contains_key("result"), map.contains_key("error"));
    let is_response = has_result || has_error;
    match map.get("method") {
        Some(Value::String(_)) if is_response => {
            return Err(invalid("`method` together with `result` or `error`"));
        }
        Some(Value::String(method)) => {
            if id.is_some_and(|id| !is_valid_id(id)) {
                return Err(invalid("`id` must be an integer or a string"));
            }
            // The framework silently drops `$/` requests it does not know; spot has none, and a
            // request must be answered.
            if id.is_some() && method.starts_with("$/") {
                return Err(Rejection::method_not_found(echo_id.clone(), method));
            }
            // Nothing else about a request can fail the framework's decoder: `params` is any
            // JSON there (the handler answers -32602 when it has the wrong shape).
            return Ok(());
        }
        Some(_) => return Err(invalid("`method` must be a string")),
        None if !is_response => return Err(invalid("neither `method` nor `result`/`error`")),
        None if has_result && has_error => return Err(invalid("both `result` and `error`")),
        None => {
            let null_error_reply = has_error && id == Some(&Value::Null);
            if !(id.is_some_and(is_valid_id) || null_error_reply) {
                return Err(invalid("response `id` must be an integer or a string"));
            }
        }
    }
    // Catches what the checks above let through but the framework's types refuse, e.g. a
    // malformed `error` object.
    match serde_json::from_str::<Incoming>(text) {
        Ok(Incoming::Response(_)) => Ok(()),
        Ok(Incoming::Request(_)) => Err(invalid("message does not decode as its kind")),
        Err(err) => Err(invalid(&format!("message does not decode: {err}"))),
    }
}

/// LSP ids are integers or strings; integers must fit the framework's `i64`.
fn is_valid_id(id: &Value) -> bool {
    match id {
        Value::String(_) => true,
        Value::Number(n) => n.as_i64().is_some(),
        _ => false,
    }
}

/// The start of a dropped payload, for one log line.
fn excerpt(bytes: &[u8]) -> String {
    let head = bytes.get(..LOG_EXCERPT_BYTES).unwrap_or(bytes);
    let mut text = String::from_utf8_lossy(head).into_owned();
    if head.len() < bytes.len() {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};
    use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::sync::mpsc;
    use tokio::time::timeout;
    use tower_lsp_server::jsonrpc::Result as RpcResult;
    use tower_lsp_server::ls_types::{Hover, HoverParams, InitializeParams, InitializeResult};
    use tower_lsp_server::{LanguageServer, LspService};

    use super::{frame, output_pump, serve, FrameLimits, InputPump};

    const WAIT: Duration = Duration::from_secs(5);
    const LIMITS: FrameLimits = FrameLimits {
        max_header_bytes: 128,
        max_body_bytes: 256,
    };
    const VALID: &str = r#"{"jsonrpc":"2.0","id":99,"method":"shutdown"}"#;

    /// The (code, id) of one expected error reply.
    type Reply = (i64, Value);

    /// Name, bad input, and the replies it must produce.
    fn bad_cases() -> Vec<(&'static str, Vec<u8>, Vec<Reply>)> {
        let body = |s: &str| frame(s.as_bytes());
        let parse = vec![(-32700, Value::Null)];
        let invalid = |id: Value| vec![(-32600, id)];
        let mut oversized_header = b"Content-Length: 2\r\nX-Pad: ".to_vec();
        oversized_header.extend([b'a'; 200]);
        oversized_header.extend(b"\r\n\r\n{}");
        let big = format!(
            r#"{{"jsonrpc":"2.0","method":"x","params":"{}"}}"#,
            "a".repeat(300)
        );
        vec![
            ("invalid JSON", body("{not json"), parse.clone()),
            ("empty body", body(""), parse.clone()),
            (
                "invalid UTF-8",
                frame(b"{\"a\":\"\xff\xfe\"}"),
                parse.clone(),
            ),
            ("null", body("null"), invalid(Value::Null)),
            ("number", body("42"), invalid(Value::Null)),
            ("empty batch", body("[]"), invalid(Value::Null)),
            ("batch", body(&format!("[{VALID}]")), invalid(Value::Null)),
            (
                "jsonrpc 1.0",
                body(r#"{"jsonrpc":"1.0","id":7,"method":"x"}"#),
                invalid(json!(7)),
            ),
            (
                "jsonrpc missing",
                body(r#"{"id":"abc","method":"x"}"#),
                invalid(json!("abc")),
            ),
            (
                "jsonrpc as number",
                body(r#"{"jsonrpc":2.0,"id":8,"method":"x"}"#),
                invalid(json!(8)),
            ),
            (
                "array id",
                body(r#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#),
                invalid(Value::Null),
            ),
            (
                "object id",
                body(r#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#),
                invalid(Value::Null),
            ),
            (
                "float id",
                body(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#),
                invalid(Value::Null),
            ),
            (
                "integral float id",
                body(r#"{"jsonrpc":"2.0","id":1.0,"method":"x"}"#),
                invalid(Value::Null),
            ),
            (
                "id beyond i64",
                body(r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"x"}"#),
                invalid(Value::Null),
            ),
            (
                "null id on a request",
                body(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#),
                invalid(Value::Null),
            ),
            (
                "method not a string",
                body(r#"{"jsonrpc":"2.0","id":3,"method":5}"#),
                invalid(json!(3)),
            ),
            (
                "no method, result or error",
                body(r#"{"jsonrpc":"2.0","id":4}"#),
                invalid(json!(4)),
            ),
            (
                "method and result",
                body(r#"{"jsonrpc":"2.0","id":5,"method":"x","result":1}"#),
                invalid(json!(5)),
            ),
            (
                "response without id",
                body(r#"{"jsonrpc":"2.0","result":1}"#),
                invalid(Value::Null),
            ),
            (
                "malformed error object",
                body(r#"{"jsonrpc":"2.0","id":6,"error":"oops"}"#),
                invalid(json!(6)),
            ),
            (
                "duplicate key",
                body(r#"{"jsonrpc":"2.0","id":9,"method":"a","method":"b"}"#),
                invalid(json!(9)),
            ),
            (
                "missing Content-Length",
                format!("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{VALID}")
                    .into_bytes(),
                parse.clone(),
            ),
            (
                "Content-Length: abc",
                format!("Content-Length: abc\r\n\r\n{VALID}").into_bytes(),
                parse.clone(),
            ),
            (
                "Content-Length: -5",
                format!("Content-Length: -5\r\n\r\n{VALID}").into_bytes(),
                parse.clone(),
            ),
            (
                "duplicate Content-Length",
                b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
                parse.clone(),
            ),
            ("oversized header", oversized_header, parse.clone()),
            ("oversized body", body(&big), vec![(-32600, Value::Null)]),
            (
                "binary garbage",
                b"\x00\xffgarbage!!".to_vec(),
                parse.clone(),
            ),
            ("garbage line", b"garbage\r\n".to_vec(), parse.clone()),
            (
                "garbage lines",
                b"hello\r\nworld\r\n\r\n".to_vec(),
                parse.clone(),
            ),
            // Glued onto the next frame's header, which resync still finds.
            ("garbage glued to a header", b"xyz".to_vec(), parse.clone()),
            (
                "two bad frames",
                [body("null"), body("{")].concat(),
                vec![(-32600, Value::Null), (-32700, Value::Null)],
            ),
        ]
    }

    /// Runs the input pump over `input`: returns the error replies and what reached the framework.
    async fn pump(input: &[u8], limits: FrameLimits) -> (Vec<Value>, Vec<u8>) {
        let (to_framework, mut framework) = tokio::io::duplex(1024);
        let (reply_tx, mut reply_rx) = mpsc::channel(4);
        let run = InputPump::new(input, to_framework, reply_tx, limits).run();
        let forwarded = async {
            let mut bytes = Vec::new();
            framework.read_to_end(&mut bytes).await.map(|_| bytes)
        };
        let replies = async {
            let mut replies = Vec::new();
            while let Some(reply) = reply_rx.recv().await {
                replies.push(body_json(&reply));
            }
            replies
        };
        let (ran, forwarded, replies) =
            timeout(WAIT, async { tokio::join!(run, forwarded, replies) })
                .await
                .expect("input pump finishes");
        ran.expect("input pump succeeds");
        (replies, forwarded.expect("framework side reads"))
    }

    fn frame_text(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    /// The JSON body of one encoded frame.
    fn body_json(frame: &[u8]) -> Value {
        let text = std::str::from_utf8(frame).expect("frame is UTF-8");
        let (header, body) = text.split_once("\r\n\r\n").expect("frame has a header");
        assert_eq!(header, format!("Content-Length: {}", body.len()));
        serde_json::from_str(body).expect("frame body is JSON")
    }

    fn code_and_id(reply: &Value) -> (i64, Value) {
        let code = reply["error"]["code"]
            .as_i64()
            .expect("reply has an error code");
        (code, reply["id"].clone())
    }

    #[tokio::test]
    async fn each_bad_input_is_answered_and_the_next_message_gets_through() {
        for (name, bad, expected) in bad_cases() {
            let input = [bad, frame(VALID.as_bytes())].concat();
            let (replies, forwarded) = pump(&input, LIMITS).await;
            let got: Vec<_> = replies.iter().map(code_and_id).collect();
            assert_eq!(got, expected, "replies for {name}");
            for reply in &replies {
                assert_eq!(reply["jsonrpc"], "2.0", "{name}");
                assert!(reply["error"]["message"].is_string(), "{name}");
            }
            let forwarded = String::from_utf8_lossy(&forwarded);
            assert_eq!(forwarded, frame_text(VALID), "forwarded for {name}");
        }
    }

    #[tokio::test]
    async fn oversized_body_says_so_and_is_skipped_unbuffered() {
        let mut oversized = b"Content-Length: 4000000\r\n\r\n".to_vec();
        oversized.extend(vec![b'x'; 4_000_000]);
        let input = [oversized.clone(), frame(VALID.as_bytes())].concat();
        let (replies, forwarded) = pump(&input, LIMITS).await;
        assert_eq!(replies.len(), 1);
        let message = replies[0]["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("message too large"), "{message}");
        assert_eq!(code_and_id(&replies[0]), (-32600, Value::Null));
        assert_eq!(forwarded, frame(VALID.as_bytes()));

        // Fed in small pieces, the skipped body never accumulates in the pump's buffer. (No frame
        // follows it: forwarding one would replace the buffer and hide its peak size.)
        let (mut client, reader) = tokio::io::duplex(4096);
        let (reply_tx, _reply_rx) = mpsc::channel(4);
        let mut pump = InputPump::new(reader, tokio::io::sink(), reply_tx, LIMITS);
        let feed = async move {
            client.write_all(&oversized).await.expect("feed input");
        };
        let (pumped, ()) = timeout(WAIT, async { tokio::join!(pump.pump(), feed) })
            .await
            .expect("pump finishes");
        pumped.expect("pump succeeds");
        assert!(
            pump.buf.capacity() <= 2 * super::READ_CHUNK,
            "{}",
            pump.buf.capacity()
        );
    }

    #[tokio::test]
    async fn valid_variants_are_forwarded_canonically() {
        let notification = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let response = r#"{"jsonrpc":"2.0","id":1,"result":null}"#;
        let error_reply = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"x"}}"#;
        let string_id = r#"{"jsonrpc":"2.0","id":"a-1","method":"x"}"#;
        let input = [
            format!(
                "content-length: {}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{notification}",
                notification.len()
            ),
            format!("Content-Length: {}\n\n{response}", response.len()),
            format!("\r\nCONTENT-LENGTH:{}\r\n\r\n{error_reply}", error_reply.len()),
            format!("Content-Length:  {} \r\n\r\n{string_id}\r\n", string_id.len()),
        ]
        .concat();
        let (replies, forwarded) = pump(input.as_bytes(), LIMITS).await;
        assert_eq!(replies, Vec::<Value>::new());
        let expected: Vec<u8> = [notification, response, error_reply, string_id]
            .iter()
            .flat_map(|body| frame(body.as_bytes()))
            .collect();
        assert_eq!(
            String::from_utf8_lossy(&forwarded),
            String::from_utf8_lossy(&expected)
        );
    }

    #[tokio::test]
    async fn truncated_frame_at_eof_is_answered_and_ends_cleanly() {
        let truncated_body = [
            frame(VALID.as_bytes()),
            b"Content-Length: 100\r\n\r\n{\"js".to_vec(),
        ];
        let truncated_header = [frame(VALID.as_bytes()), b"Content-Len".to_vec()];
        for input in [truncated_body.concat(), truncated_header.concat()] {
            let (replies, forwarded) = pump(&input, LIMITS).await;
            let got: Vec<_> = replies.iter().map(code_and_id).collect();
            assert_eq!(got, vec![(-32700, Value::Null)]);
            assert_eq!(forwarded, frame(VALID.as_bytes()));
        }
        let (replies, forwarded) = pump(b"", LIMITS).await;
        assert!(replies.is_empty() && forwarded.is_empty());
    }

    #[tokio::test]
    async fn output_pump_writes_replies_only_between_frames() {
        let framework_frame = frame(br#"{"jsonrpc":"2.0","id":1,"result":{"big":"payload"}}"#);
        let reply = frame(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#);
        let (mut framework, framework_end) = tokio::io::duplex(1024);
        let (client_end, mut client) = tokio::io::duplex(1024);
        let (reply_tx, reply_rx) = mpsc::channel(4);
        let pump = tokio::spawn(output_pump(framework_end, reply_rx, client_end));

        let (first, second) = framework_frame.split_at(30);
        framework.write_all(first).await.expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
        reply_tx.send(reply.clone()).await.expect("send");
        tokio::time::sleep(Duration::from_millis(50)).await;
        framework.write_all(second).await.expect("write");
        drop(framework);
        drop(reply_tx);

        let ended = timeout(WAIT, pump).await.expect("output pump ends");
        ended.expect("no panic").expect("no io error");
        let mut out = Vec::new();
        timeout(WAIT, client.read_to_end(&mut out))
            .await
            .expect("read in time")
            .expect("read");
        assert_eq!(out, [reply, framework_frame].concat());
    }

    struct Backend;

    impl LanguageServer for Backend {
        async fn initialize(&self, _: InitializeParams) -> RpcResult<InitializeResult> {
            Ok(InitializeResult::default())
        }

        async fn shutdown(&self) -> RpcResult<()> {
            Ok(())
        }

        /// A request that waits forever (on a client that never answers, say).
        async fn hover(&self, _: HoverParams) -> RpcResult<Option<Hover>> {
            std::future::pending().await
        }
    }

    /// Reads one frame from the server, failing instead of hanging.
    async fn read_message<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Value {
        timeout(WAIT, async {
            let mut len = None;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).await.expect("read header");
                assert!(!line.is_empty(), "server output ended");
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(n) = line.strip_prefix("Content-Length: ") {
                    len = Some(n.parse::<usize>().expect("numeric length"));
                }
            }
            let mut body = vec![0; len.expect("Content-Length header")];
            reader.read_exact(&mut body).await.expect("read body");
            serde_json::from_slice(&body).expect("JSON body")
        })
        .await
        .expect("server replied in time")
    }

    #[tokio::test]
    async fn serve_survives_garbage_and_ends_on_exit() {
        let (mut client_out, server_in) = tokio::io::duplex(64 * 1024);
        let (server_out, client_in) = tokio::io::duplex(64 * 1024);
        let (service, socket) = LspService::new(|_| Backend);
        let session = tokio::spawn(serve(server_in, server_out, service, socket, LIMITS, || {}));
        let mut client_in = BufReader::new(client_in);

        // Each bad case is followed by a request the framework itself answers (not initialized).
        let mut expected: Vec<(i64, String)> = Vec::new();
        for (i, (_, bad, replies)) in bad_cases().into_iter().enumerate() {
            let probe = format!(r#"{{"jsonrpc":"2.0","id":"probe-{i}","method":"shutdown"}}"#);
            client_out
                .write_all(&[bad, frame(probe.as_bytes())].concat())
                .await
                .expect("write");
            expected.extend(replies.iter().map(|(code, id)| (*code, id.to_string())));
            expected.push((-32002, format!("\"probe-{i}\"")));
        }
        let initialize =
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;
        client_out
            .write_all(&frame(initialize.as_bytes()))
            .await
            .expect("write");

        let mut errors = Vec::new();
        let init_reply = loop {
            let message = read_message(&mut client_in).await;
            if message["id"] == 1 && message.get("result").is_some() {
                break message;
            }
            errors.push((code_and_id(&message).0, message["id"].to_string()));
        };
        assert!(
            init_reply["result"]["capabilities"].is_object(),
            "{init_reply}"
        );
        errors.sort();
        expected.sort();
        assert_eq!(errors, expected);

        let shutdown = r#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#;
        client_out
            .write_all(&frame(shutdown.as_bytes()))
            .await
            .expect("write");
        let reply = read_message(&mut client_in).await;
        assert_eq!(reply, json!({"jsonrpc": "2.0", "id": 2, "result": null}));
        let exit = r#"{"jsonrpc":"2.0","method":"exit"}"#;
        client_out
            .write_all(&frame(exit.as_bytes()))
            .await
            .expect("write");
        // The client keeps its end open: `exit` alone must end the session.
        timeout(WAIT, session)
            .await
            .expect("serve returns after exit")
            .expect("serve does not panic");
        drop(client_out);
    }

    #[tokio::test]
    async fn eof_ends_the_session_even_with_a_request_that_never_finishes() {
        let (mut client_out, server_in) = tokio::io::duplex(64 * 1024);
        let (server_out, client_in) = tokio::io::duplex(64 * 1024);
        let (service, socket) = LspService::new(|_| Backend);
        let (told_tx, mut told) = mpsc::unbounded_channel();
        let session = tokio::spawn(serve(
            server_in,
            server_out,
            service,
            socket,
            LIMITS,
            move || {
                let _ = told_tx.send(());
            },
        ));
        let mut client_in = BufReader::new(client_in);
        let initialize =
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;
        client_out
            .write_all(&frame(initialize.as_bytes()))
            .await
            .expect("write");
        assert_eq!(read_message(&mut client_in).await["id"], 1);
        let hover = r#"{"jsonrpc":"2.0","id":2,"method":"textDocument/hover","params":{"textDocument":{"uri":"file:///a.py"},"position":{"line":0,"character":0}}}"#;
        client_out
            .write_all(&frame(hover.as_bytes()))
            .await
            .expect("write");
        drop(client_out);
        timeout(WAIT, session)
            .await
            .expect("serve returns at EOF with the hover still pending")
            .expect("serve does not panic");
        assert!(told.try_recv().is_ok(), "on_input_closed ran");
    }

    #[tokio::test]
    async fn serve_ends_at_eof_mid_frame() {
        let (mut client_out, server_in) = tokio::io::duplex(64 * 1024);
        let (server_out, client_in) = tokio::io::duplex(64 * 1024);
        let (service, socket) = LspService::new(|_| Backend);
        let session = tokio::spawn(serve(server_in, server_out, service, socket, LIMITS, || {}));
        let mut client_in = BufReader::new(client_in);

        client_out
            .write_all(b"Content-Length: 50\r\n\r\n{\"jsonrpc\"")
            .await
            .expect("write");
        drop(client_out);
        let reply = read_message(&mut client_in).await;
        assert_eq!(code_and_id(&reply), (-32700, Value::Null));
        timeout(WAIT, session)
            .await
            .expect("serve returns at EOF")
            .expect("serve does not panic");
    }
}
