//! A minimal HTTP/1.1 keep-alive client for the MCP endpoint: requests are prepared bytes,
//! responses are read by Content-Length (or chunked). Lean on purpose, so that on a
//! 2-core machine the load generator takes as little CPU from the server as it can.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    addr: String,
}

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// 200 with a JSON-RPC result that is not a tool error.
    pub fn ok(&self) -> bool {
        self.status == 200
            && contains(&self.body, b"\"result\"")
            && !contains(&self.body, b"\"isError\":true")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl Conn {
    pub async fn connect(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(64 * 1024),
            addr: addr.to_owned(),
        })
    }

    /// Sends `request` and reads the whole response; reconnects once when the server had
    /// closed the idle connection.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<Response> {
        match self.exchange(request).await {
            Ok(response) => Ok(response),
            Err(_) => {
                *self = Conn::connect(&self.addr).await?;
                self.exchange(request).await
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> io::Result<Response> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        let header_end = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..header_end]).to_ascii_lowercase();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        let body = match length {
            Some(length) => {
                while self.buf.len() < header_end + length {
                    self.fill().await?;
                }
                self.buf[header_end..header_end + length].to_vec()
            }
            None if head.contains("transfer-encoding: chunked") => self.chunked(header_end).await?,
            None => {
                return Err(io::Error::other("response without length"));
            }
        };
        Ok(Response { status, body })
    }

    async fn chunked(&mut self, mut at: usize) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(end) = find(&self.buf[at..], b"\r\n") {
                    break at + end;
                }
                self.fill().await?;
            };
            let size_text = String::from_utf8_lossy(&self.buf[at..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
                .map_err(|_| io::Error::other("bad chunk size"))?;
            let data = line_end + 2;
            while self.buf.len() < data + size + 2 {
                self.fill().await?;
            }
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&self.buf[data..data + size]);
            at = data + size + 2;
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A POST /mcp with a bearer token and a JSON-RPC body, ready to send.
pub fn mcp_request(host: &str, token: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n\
MCP-Protocol-Version: 2025-06-18\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A plain GET, for /health.
pub fn get_request(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

/// The JSON-RPC body of a `tools/call`.
pub fn call_body(tool: &str, arguments: serde_json::Value) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}
    })
    .to_string()
}

/// The JSON-RPC body of `tools/list`.
pub fn list_tools_body() -> String {
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_owned()
}
