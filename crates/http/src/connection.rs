//! The server's connections. actix-http answers a request head larger than it buffers
//! (128 KiB, a 133 KB token say) with a bare `431` and no body, below every layer of
//! ours; this stream swaps that answer for problem+json as it is written, so every error
//! the service sends is a problem.
//!
//! Each connection sends without Nagle's delay (`TCP_NODELAY`). A compressed answer is
//! written in pieces (its head, then its body once encoded, then the chunked ending),
//! and with Nagle's algorithm the kernel held each later piece until the client
//! acknowledged the earlier one, which a client waiting for the rest of an answer
//! delays by up to 40 ms: one request in ten of a person's timeline with
//! `Accept-Encoding: gzip` took 44 ms where the rest took 0.5.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::rt::net::TcpStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::problem::{ApiError, ProblemKind};
use crate::request_id::RequestId;

/// What actix-http writes for an oversized head: its status line.
const BARE_431: &[u8] = b"HTTP/1.1 431 ";

/// A TCP connection whose bare 431 answer is rewritten as problem+json.
pub struct Connection {
    inner: TcpStream,
    /// The problem still to be written in place of the bare answer, and how much of it
    /// has been.
    replacing: Option<(Vec<u8>, usize)>,
}

impl Connection {
    pub fn new(inner: TcpStream) -> Self {
        if let Err(e) = inner.set_nodelay(true) {
            // The answers still arrive, only later; not worth refusing the connection.
            log::warn!("cannot turn Nagle's algorithm off on a connection: {e}");
        }
        Connection {
            inner,
            replacing: None,
        }
    }

    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.peer_addr()
    }

    /// Writes what remains of the replacement; ready once it is all written.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacing {
            if *written == bytes.len() {
                self.replacing = None;
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The whole answer to an oversized head: the connection closes after it, as
/// actix-http's own would.
pub fn header_too_large() -> Vec<u8> {
    let id = RequestId::fresh();
    let problem = crate::request_id::within(Some(id.clone()), || {
        ApiError::new(
            ProblemKind::HeaderTooLarge,
            "the request's headers are larger than the 128 KiB this service reads",
        )
        .problem()
    });
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: {}\r\n\
         content-length: {}\r\nx-request-id: {}\r\nconnection: close\r\n\r\n",
        crate::problem::PROBLEM_JSON,
        body.len(),
        id.as_str()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacing.is_some() {
            // Nothing follows a 431 on this connection: what comes after it is dropped.
            return this.poll_replacement(cx).map_ok(|()| buf.len());
        }
        if buf.starts_with(BARE_431) {
            this.replacing = Some((header_too_large(), 0));
            return match this.poll_replacement(cx) {
                // Taken whole: the bare answer is never written.
                Poll::Ready(Ok(())) | Poll::Pending => Poll::Ready(Ok(buf.len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            };
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.poll_replacement(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.poll_replacement(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_connection_sends_without_nagles_delay() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(address).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let stream = TcpStream::from_std(accepted).unwrap();
        assert!(
            !stream.nodelay().unwrap(),
            "a fresh socket keeps Nagle's algorithm"
        );
        let connection = Connection::new(stream);
        assert!(connection.inner.nodelay().unwrap());
    }
}
