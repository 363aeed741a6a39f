//! Newline-framed lines over a miner's byte stream, in as little memory as an idle miner
//! needs.
//!
//! A general codec keeps 8 KiB read and write buffers per connection whether the miner
//! sends anything or not; with tens of thousands of miners that is most of the pool's
//! memory. Here the read buffer starts empty, grows only while a line is longer than what
//! it holds (up to the flood limit) and is released once it is empty and large; a line is
//! written straight from the caller's string with its newline in one vectored write, with
//! no per-connection write buffer.

use std::io::{self, IoSlice};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// An emptied read buffer larger than this is released rather than kept.
const KEPT_CAPACITY: usize = 1024;

/// Why no line could be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// More than the limit arrived without a newline (a flood).
    TooLong,
    /// The stream failed, or sent a line that is not UTF-8.
    Io(io::Error),
}

/// Lines in, lines out, over `S`.
pub(crate) struct LineStream<S> {
    io: S,
    /// Bytes read and not yet returned as a line.
    buffer: Vec<u8>,
    /// How far `buffer` is known to hold no newline.
    searched: usize,
    max_length: usize,
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> LineStream<S> {
    /// Lines of at most `max_length` bytes (without the newline) over `io`.
    pub(crate) fn new(io: S, max_length: usize) -> Self {
        LineStream {
            io,
            buffer: Vec::new(),
            searched: 0,
            max_length,
            eof: false,
        }
    }

    /// The next line without its newline (and without a `\r` before it); `None` at the
    /// end of the stream. A last line without a newline is returned too.
    ///
    /// Cancel-safe: bytes read stay in the buffer for the next call.
    pub(crate) async fn next_line(&mut self) -> Option<Result<String, FrameError>> {
        loop {
            if let Some(offset) = self.buffer[self.searched..]
                .iter()
                .position(|&b| b == b'\n')
            {
                let end = self.searched + offset;
                if end > self.max_length {
                    return Some(Err(FrameError::TooLong));
                }
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.searched = 0;
                if self.buffer.is_empty() && self.buffer.capacity() > KEPT_CAPACITY {
                    self.buffer = Vec::new();
                }
                return Some(text(line));
            }
            self.searched = self.buffer.len();
            if self.searched > self.max_length {
                return Some(Err(FrameError::TooLong));
            }
            if self.eof {
                if self.buffer.is_empty() {
                    return None;
                }
                self.searched = 0;
                return Some(text(std::mem::take(&mut self.buffer)));
            }
            // An empty buffer reads a small chunk first; a long line doubles it as it comes.
            let spare = self.buffer.capacity() - self.buffer.len();
            if spare == 0 {
                let grow = self.buffer.len().max(128).min(self.max_length + 1);
                self.buffer.reserve(grow);
            }
            match self.io.read_buf(&mut self.buffer).await {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(error) => return Some(Err(FrameError::Io(error))),
            }
        }
    }

    /// Writes `line` and a newline, in one write where the stream takes vectored writes.
    pub(crate) async fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut parts = [IoSlice::new(line.as_bytes()), IoSlice::new(b"\n")];
        let mut left = &mut parts[..];
        while !left.is_empty() {
            let written = self.io.write_vectored(left).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut left, written);
        }
        self.io.flush().await
    }

    /// Bytes the read buffer holds now (for tests of its growth and release).
    #[cfg(test)]
    fn buffered_capacity(&self) -> usize {
        self.buffer.capacity()
    }
}

fn text(line: Vec<u8>) -> Result<String, FrameError> {
    String::from_utf8(line)
        .map_err(|e| FrameError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    async fn pair(max: usize) -> (LineStream<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        (LineStream::new(ours, max), theirs)
    }

    #[tokio::test]
    async fn lines_come_whole_however_the_bytes_arrive() {
        let (mut lines, mut peer) = pair(100).await;
        peer.write_all(b"{\"id\":1}\r\n{\"id\"").await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "{\"id\":1}");
        peer.write_all(b":2}\n\nlast").await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "{\"id\":2}");
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "");
        drop(peer);
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "last");
        assert!(lines.next_line().await.is_none());
    }

    #[tokio::test]
    async fn a_line_over_the_limit_is_a_flood_with_or_without_its_newline() {
        let (mut lines, mut peer) = pair(100).await;
        peer.write_all(&[b'x'; 101]).await.unwrap();
        peer.write_all(b"\n").await.unwrap();
        assert!(matches!(
            lines.next_line().await,
            Some(Err(FrameError::TooLong))
        ));
        let (mut lines, mut peer) = pair(100).await;
        peer.write_all(&[b'x'; 5000]).await.unwrap();
        assert!(matches!(
            lines.next_line().await,
            Some(Err(FrameError::TooLong))
        ));
        let (mut lines, mut peer) = pair(100).await;
        peer.write_all(&[b'x'; 100]).await.unwrap();
        peer.write_all(b"\n").await.unwrap();
        assert_eq!(
            lines.next_line().await.unwrap().unwrap().len(),
            100,
            "at the limit"
        );
    }

    #[tokio::test]
    async fn the_buffer_grows_for_a_long_line_and_is_released_after_it() {
        let (mut lines, mut peer) = pair(10 * 1024).await;
        let long = "y".repeat(9000);
        peer.write_all(format!("{long}\nshort\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), long);
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "short");
        assert!(lines.buffered_capacity() <= KEPT_CAPACITY, "released");
    }

    #[tokio::test]
    async fn bad_utf8_is_an_error_and_lines_are_written_with_their_newline() {
        let (mut lines, mut peer) = pair(100).await;
        peer.write_all(b"\xff\xfe\n").await.unwrap();
        assert!(matches!(
            lines.next_line().await,
            Some(Err(FrameError::Io(_)))
        ));
        lines.write_line("{\"result\":true}").await.unwrap();
        let mut read = vec![0u8; 16];
        peer.read_exact(&mut read).await.unwrap();
        assert_eq!(read, b"{\"result\":true}\n");
    }
}
