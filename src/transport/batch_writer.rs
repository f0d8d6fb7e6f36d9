//! The buffer every session's writer builds a batch in: frames are appended (header and
//! payload), and the batch goes out in one write per 64 KiB, so one syscall carries many events.
//!
//! Shared by the WebSocket and RawSocket wires. The buffer is allocated when a batch starts and
//! freed when it has been flushed, so an idle session holds no write buffer at all; and a write is
//! cancel-safe: what reached the socket is remembered, so a batch interrupted (the router killing
//! a slow consumer while the peer is not reading) is resumed, never repeated, before what follows.

use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// A batch is written out once it holds this much.
const FLUSH_AT: usize = 64 * 1024;
/// A new batch's first allocation: room for a few small frames.
const START: usize = 1024;

/// See the module docs.
#[derive(Debug)]
pub struct BatchWriter<W> {
    out: W,
    buf: Vec<u8>,
    written: usize,
}

impl<W: AsyncWrite + Unpin> BatchWriter<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        BatchWriter {
            out,
            buf: Vec::new(),
            written: 0,
        }
    }

    /// Sizes an empty buffer for a batch of about `bytes` (at most one write's worth).
    pub fn expect(&mut self, bytes: usize) {
        if self.buf.capacity() == 0 {
            self.buf.reserve(START.max(bytes.min(FLUSH_AT + START)));
        }
    }

    /// The buffer to append a frame of about `size` bytes to.
    pub fn buffer(&mut self, size: usize) -> &mut Vec<u8> {
        if self.buf.capacity() == 0 {
            self.buf.reserve(START.max(size));
        }
        &mut self.buf
    }

    /// Writes the batch out if it has grown large.
    pub async fn maybe_write(&mut self) -> io::Result<()> {
        if self.buf.len() - self.written >= FLUSH_AT {
            self.write_out().await?;
        }
        Ok(())
    }

    /// Writes everything appended so far (resuming an interrupted write).
    pub async fn write_out(&mut self) -> io::Result<()> {
        while self.written < self.buf.len() {
            let n = self.out.write(&self.buf[self.written..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        Ok(())
    }

    /// Writes everything, flushes the stream, and frees the buffer.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.write_out().await?;
        self.out.flush().await?;
        self.buf = Vec::new();
        Ok(())
    }

    /// Flushes, then shuts the stream down.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.out.shutdown().await
    }
}
