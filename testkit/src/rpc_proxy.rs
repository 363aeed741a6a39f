use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// What the proxy does to a call of a chosen method.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Forwards the call and sends the daemon's answer only after this long (past the
    /// caller's timeout, say), if the caller is still there.
    Delay(Duration),
    /// Forwards the call, then closes the connection without answering.
    DropAnswer,
    /// Closes the connection without forwarding the call.
    DropRequest,
    /// Answers this JSON-RPC error (HTTP 500, as bitcoind does) without forwarding.
    Fail {
        /// The error code.
        code: i64,
        /// The message.
        message: String,
    },
    /// Keeps the call, unforwarded, until [`RpcProxy::release`] says what to do with it.
    HoldRequest,
    /// Forwards the call and keeps the answer until [`RpcProxy::release`].
    HoldAnswer,
}

/// What to do with a held call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Forward a held request (answering the caller if it is still there); send a held
    /// answer.
    Pass,
    /// Drop it: a held request never reaches the daemon, a held answer never the caller.
    Drop,
}

#[derive(Debug, Default)]
struct State {
    /// method → (fault, calls it still applies to; `None` for every call).
    faults: HashMap<String, (Fault, Option<u32>)>,
    calls: HashMap<String, u64>,
    held: HashMap<String, Vec<oneshot::Sender<Release>>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// A JSON-RPC proxy in front of a real daemon that misbehaves on purpose for chosen
/// methods: delays answers, drops them, fails calls, or holds them while a test kills the
/// process that made them. Every other call passes through untouched. Runs on its own
/// thread and runtime until dropped.
///
/// It is a stand-in for a slow or broken network between the pool and its wallet, which no
/// real daemon can be made to be on purpose; the daemon behind it is real.
#[derive(Debug)]
pub struct RpcProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RpcProxy {
    /// Starts a proxy on a free loopback port in front of the daemon at 127.0.0.1:`rpc_port`.
    pub fn start(rpc_port: u16) -> RpcProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("testkit: cannot bind the RPC proxy's port");
        let addr = listener.local_addr().expect("bound socket has an address");
        listener
            .set_nonblocking(true)
            .expect("testkit: cannot make the RPC proxy's socket non-blocking");
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("testkit: cannot build the RPC proxy's runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener)
                    .expect("testkit: cannot register the RPC proxy's socket");
                let accept = async {
                    while let Ok((socket, _)) = listener.accept().await {
                        tokio::spawn(serve(socket, rpc_port, serving.clone()));
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
        });
        RpcProxy {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The proxy's port on 127.0.0.1: point the pool at it instead of the daemon.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Applies `fault` to every call of `method` from now on.
    pub fn set(&self, method: &str, fault: Fault) {
        self.lock().faults.insert(method.to_owned(), (fault, None));
    }

    /// Applies `fault` to the next `times` calls of `method`.
    pub fn set_times(&self, method: &str, fault: Fault, times: u32) {
        self.lock()
            .faults
            .insert(method.to_owned(), (fault, Some(times)));
    }

    /// Lets calls of `method` pass again.
    pub fn clear(&self, method: &str) {
        self.lock().faults.remove(method);
    }

    /// Calls of `method` seen so far.
    pub fn calls(&self, method: &str) -> u64 {
        self.lock().calls.get(method).copied().unwrap_or(0)
    }

    /// Waits until a call of `method` is held; false after `timeout`.
    pub fn wait_for_held(&self, method: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if state.held.get(method).is_some_and(|held| !held.is_empty()) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Releases every held call of `method`; returns how many there were.
    pub fn release(&self, method: &str, release: Release) -> usize {
        let held = self.lock().held.remove(method).unwrap_or_default();
        let count = held.len();
        for call in held {
            let _ = call.send(release);
        }
        count
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        for (_, held) in self.lock().held.drain() {
            for call in held {
                let _ = call.send(Release::Drop);
            }
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One HTTP message: its head (up to the blank line) and body.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 message, its body framed by `Content-Length` or chunked (as the
/// daemon sends larger answers); the body is kept as framed, to be passed on unchanged.
/// `None` at the end of the stream.
async fn read_message(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Message> {
    let end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end + 4;
        }
        fill(stream, buffer).await?;
    };
    let head = buffer[..end].to_vec();
    let body_len = if is_chunked(&head) {
        let mut at = end;
        loop {
            let line_end = loop {
                if let Some(i) = find(&buffer[at..], b"\r\n") {
                    break at + i;
                }
                fill(stream, buffer).await?;
            };
            let size_text = String::from_utf8_lossy(&buffer[at..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            // The chunk, its CRLF; the last (empty) chunk is followed by the final CRLF.
            let next = line_end + 2 + size + 2;
            while buffer.len() < next {
                fill(stream, buffer).await?;
            }
            at = next;
            if size == 0 {
                break at - end;
            }
        }
    } else {
        let length = content_length(&head);
        while buffer.len() < end + length {
            fill(stream, buffer).await?;
        }
        length
    };
    let body = buffer[end..end + body_len].to_vec();
    buffer.drain(..end + body_len);
    Some(Message { head, body })
}

/// Reads more of `stream` into `buffer`; `None` at its end.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8192];
    let read = stream.read(&mut chunk).await.ok()?;
    if read == 0 {
        return None;
    }
    buffer.extend_from_slice(&chunk[..read]);
    Some(())
}

fn is_chunked(head: &[u8]) -> bool {
    String::from_utf8_lossy(head).lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
        })
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0)
}

/// The methods of a JSON-RPC call or batch.
fn methods(body: &[u8]) -> Vec<String> {
    let method = |call: &Value| {
        call.get("method")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(calls)) => calls.iter().filter_map(method).collect(),
        Ok(call) => method(&call).into_iter().collect(),
        Err(_) => Vec::new(),
    }
}

/// The fault for a call of `methods`, counting the call.
fn fault_for(shared: &Shared, methods: &[String]) -> Option<(String, Fault)> {
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    for method in methods {
        *state.calls.entry(method.clone()).or_default() += 1;
    }
    for method in methods {
        let Some((fault, remaining)) = state.faults.get_mut(method) else {
            continue;
        };
        let fault = fault.clone();
        match remaining {
            Some(0) => continue,
            Some(n) => *n -= 1,
            None => {}
        }
        return Some((method.clone(), fault));
    }
    None
}

/// Parks a call of `method` until it is released.
async fn hold(shared: &Shared, method: &str) -> Release {
    let (release, released) = oneshot::channel();
    {
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .held
            .entry(method.to_owned())
            .or_default()
            .push(release);
    }
    shared.changed.notify_all();
    released.await.unwrap_or(Release::Drop)
}

/// Sends `request` to the daemon on a fresh connection and reads its answer.
async fn forward(rpc_port: u16, request: &Message) -> Option<Vec<u8>> {
    // One connection to the daemon per call: a held or delayed call never blocks another.
    let mut daemon = TcpStream::connect(("127.0.0.1", rpc_port)).await.ok()?;
    daemon.write_all(&request.head).await.ok()?;
    daemon.write_all(&request.body).await.ok()?;
    let mut buffer = Vec::new();
    let answer = read_message(&mut daemon, &mut buffer).await?;
    Some([answer.head, answer.body].concat())
}

fn rpc_error(code: i64, message: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "result": null,
        "error": { "code": code, "message": message },
        "id": null,
    })
    .to_string();
    format!(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(mut caller: TcpStream, rpc_port: u16, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    while let Some(request) = read_message(&mut caller, &mut buffer).await {
        let methods = methods(&request.body);
        let answer = match fault_for(&shared, &methods) {
            None => forward(rpc_port, &request).await,
            Some((_, Fault::Delay(delay))) => {
                let answer = forward(rpc_port, &request).await;
                tokio::time::sleep(delay).await;
                answer
            }
            Some((_, Fault::DropAnswer)) => {
                let _ = forward(rpc_port, &request).await;
                None
            }
            Some((_, Fault::DropRequest)) => None,
            Some((_, Fault::Fail { code, message })) => Some(rpc_error(code, &message)),
            Some((method, Fault::HoldRequest)) => match hold(&shared, &method).await {
                Release::Pass => forward(rpc_port, &request).await,
                Release::Drop => None,
            },
            Some((method, Fault::HoldAnswer)) => {
                let answer = forward(rpc_port, &request).await;
                match hold(&shared, &method).await {
                    Release::Pass => answer,
                    Release::Drop => None,
                }
            }
        };
        let Some(answer) = answer else {
            return;
        };
        if caller.write_all(&answer).await.is_err() {
            return;
        }
    }
}
