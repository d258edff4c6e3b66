//! The server's stdin and stdout, each served by one dedicated thread.
//!
//! Owns moving bytes between the process's standard streams and the async session: a reader
//! thread that blocks in `read` and hands chunks over a channel ([`Stdin`]), and a writer thread
//! that drains every queued frame into one `write` ([`Stdout`]). Leaves out framing and JSON
//! (`framing.rs`).
//!
//! Why not `tokio::io::{stdin, stdout}`: those run each read, each write and each flush as a
//! separate task on the blocking pool, and std's stdout is line-buffered, so every reply frame
//! cost a write, a flush and two pool hand-offs. Under an edit storm that was a tenth of the
//! server's CPU. Here the async side only pushes into a queue; the writer thread wakes once per
//! burst of replies.
//!
//! Backpressure: at most [`QUEUE_LIMIT`] bytes wait for the writer; beyond that `poll_write`
//! returns `Pending` until the client reads, as a pipe would. A write error (the client went
//! away) fails every later write, which ends the session.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

/// Bytes asked of the OS per read.
const READ_CHUNK: usize = 64 * 1024;
/// Chunks read ahead of the session.
const READ_AHEAD: usize = 4;
/// Bytes queued for the writer before writes wait.
pub const QUEUE_LIMIT: usize = 4 * 1024 * 1024;

/// The process's stdin as an [`AsyncRead`], read by a thread of its own.
pub struct Stdin {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

/// Starts the reader thread. It ends at end of input, at a read error (passed on as the next
/// read's result) or when [`Stdin`] is dropped and its next chunk has nowhere to go; a thread
/// still blocked in `read` when the session ends goes with the process.
pub fn stdin() -> io::Result<Stdin> {
    stdin_from(io::stdin())
}

fn stdin_from<R: Read + Send + 'static>(mut input: R) -> io::Result<Stdin> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    std::thread::Builder::new()
        .name("spot-stdin".to_owned())
        .spawn(move || loop {
            let mut buf = vec![0; READ_CHUNK];
            let chunk = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    Ok(buf)
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => Err(err),
            };
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                break;
            }
        })?;
    Ok(Stdin {
        chunks: rx,
        chunk: Vec::new(),
        pos: 0,
    })
}

impl AsyncRead for Stdin {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos == this.chunk.len() {
            match this.chunks.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Ok(())), // end of input
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Err(err)),
                Poll::Ready(Some(Ok(chunk))) => {
                    this.chunk = chunk;
                    this.pos = 0;
                }
            }
        }
        let n = out.remaining().min(this.chunk.len() - this.pos);
        out.put_slice(&this.chunk[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// What the async side and the writer thread share.
#[derive(Default)]
struct Shared {
    /// Bytes handed to the writer and not yet written.
    queued: AtomicUsize,
    /// Set when a write failed; later writes fail too.
    broken: AtomicBool,
    /// The task waiting for room in the queue (or for it to drain).
    waker: AtomicWaker,
}

/// The process's stdout as an [`AsyncWrite`], written by a thread of its own.
///
/// `poll_flush` returns once the bytes are queued: the writer writes as soon as it can, and
/// [`Stdout::drain`] waits for everything at the end of the session.
pub struct Stdout {
    frames: Option<std_mpsc::Sender<Vec<u8>>>,
    shared: Arc<Shared>,
    writer: Option<std::thread::JoinHandle<()>>,
}

/// Starts the writer thread.
pub fn stdout() -> io::Result<Stdout> {
    stdout_to(io::stdout())
}

fn stdout_to<W: Write + Send + 'static>(mut output: W) -> io::Result<Stdout> {
    let (tx, rx) = std_mpsc::channel::<Vec<u8>>();
    let shared = Arc::new(Shared::default());
    let writer_shared = Arc::clone(&shared);
    let writer = std::thread::Builder::new()
        .name("spot-stdout".to_owned())
        .spawn(move || {
            let shared = writer_shared;
            while let Ok(mut batch) = rx.recv() {
                // Whatever else is queued goes out in the same write.
                while let Ok(more) = rx.try_recv() {
                    batch.extend_from_slice(&more);
                }
                let written = output.write_all(&batch).and_then(|()| output.flush());
                if let Err(err) = written {
                    tracing::debug!("writing to the client failed: {err}");
                    shared.broken.store(true, Ordering::SeqCst);
                }
                shared.queued.fetch_sub(batch.len(), Ordering::SeqCst);
                shared.waker.wake();
                if shared.broken.load(Ordering::SeqCst) {
                    // Nothing more can be delivered; release whoever waits on the queue.
                    while let Ok(more) = rx.recv() {
                        shared.queued.fetch_sub(more.len(), Ordering::SeqCst);
                        shared.waker.wake();
                    }
                    return;
                }
            }
        })?;
    Ok(Stdout {
        frames: Some(tx),
        shared,
        writer: Some(writer),
    })
}

impl Stdout {
    /// Waits (blocking, up to `limit`) until everything queued is written: the session is
    /// over, and the process must not exit with the last replies still queued.
    pub fn drain(mut self, limit: Duration) {
        self.frames = None; // the writer ends once the queue is empty
        let deadline = Instant::now() + limit;
        while self.shared.queued.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.shared.queued.load(Ordering::SeqCst) == 0 {
            if let Some(writer) = self.writer.take() {
                let _ = writer.join();
            }
        }
    }

    fn broken() -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, "the client closed its input")
    }
}

impl AsyncWrite for Stdout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        if shared.broken.load(Ordering::SeqCst) {
            return Poll::Ready(Err(Self::broken()));
        }
        if shared.queued.load(Ordering::SeqCst) >= QUEUE_LIMIT {
            shared.waker.register(cx.waker());
            // The writer may have made room between the check and the registration.
            if shared.queued.load(Ordering::SeqCst) >= QUEUE_LIMIT {
                return Poll::Pending;
            }
        }
        let Some(frames) = &self.frames else {
            return Poll::Ready(Err(Self::broken()));
        };
        shared.queued.fetch_add(buf.len(), Ordering::SeqCst);
        if frames.send(buf.to_vec()).is_err() {
            shared.queued.fetch_sub(buf.len(), Ordering::SeqCst);
            return Poll::Ready(Err(Self::broken()));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shared.broken.load(Ordering::SeqCst) {
            return Poll::Ready(Err(Self::broken()));
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A writer that records what it got, optionally failing or stalling.
    #[derive(Clone, Default)]
    struct Sink {
        got: Arc<Mutex<Vec<u8>>>,
        writes: Arc<AtomicUsize>,
        fail: bool,
        gate: Option<Arc<(Mutex<bool>, std::sync::Condvar)>>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(gate) = &self.gate {
                let (open, cv) = &**gate;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
            }
            if self.fail {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"));
            }
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn reads_everything_in_order_then_end_of_input() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut input = stdin_from(io::Cursor::new(data.clone())).unwrap();
        let mut got = Vec::new();
        input.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, data);
    }

    #[tokio::test]
    async fn a_read_error_reaches_the_session() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut input = stdin_from(Broken).unwrap();
        let mut buf = [0; 16];
        let err = input.read(&mut buf).await.unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[tokio::test]
    async fn writes_arrive_in_order_and_drain_waits_for_them() {
        let sink = Sink::default();
        let mut out = stdout_to(sink.clone()).unwrap();
        let mut want = Vec::new();
        for i in 0..500 {
            let frame = format!("frame {i}\n").into_bytes();
            out.write_all(&frame).await.unwrap();
            out.flush().await.unwrap();
            want.extend_from_slice(&frame);
        }
        out.drain(Duration::from_secs(10));
        assert_eq!(*sink.got.lock().unwrap(), want);
        assert!(sink.writes.load(Ordering::SeqCst) <= 500);
    }

    #[tokio::test]
    async fn a_full_queue_makes_writes_wait_until_the_client_reads() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let sink = Sink {
            gate: Some(Arc::clone(&gate)),
            ..Sink::default()
        };
        let mut out = stdout_to(sink.clone()).unwrap();
        let block = vec![b'x'; QUEUE_LIMIT];
        out.write_all(&block).await.unwrap(); // queued; the writer is stuck in write
        let second = tokio::time::timeout(Duration::from_millis(200), out.write_all(b"y")).await;
        assert!(second.is_err(), "a write past the limit must wait");
        {
            let (open, cv) = &*gate;
            *open.lock().unwrap() = true;
            cv.notify_all();
        }
        tokio::time::timeout(Duration::from_secs(10), out.write_all(b"z"))
            .await
            .expect("room again once the writer wrote")
            .unwrap();
        out.drain(Duration::from_secs(10));
        assert_eq!(sink.got.lock().unwrap().len(), QUEUE_LIMIT + 1);
    }

    #[tokio::test]
    async fn a_failed_write_fails_the_next_ones() {
        let sink = Sink {
            fail: true,
            ..Sink::default()
        };
        let mut out = stdout_to(sink).unwrap();
        out.write_all(b"first").await.unwrap(); // queued before the writer fails
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut failed = false;
        while Instant::now() < deadline && !failed {
            failed = out.write_all(b"next").await.is_err();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(failed, "writes must fail once the client is gone");
    }
}
