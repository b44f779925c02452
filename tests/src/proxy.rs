//! A TCP proxy on 127.0.0.1 in front of a real server, that can be told to
//! misbehave: forward, accept and never answer (a server that hangs), refuse
//! (accept and close at once: a server that is down), or cut the connection
//! of one git push after the server took it and before its answer reaches
//! the client (the push landed, the client cannot know); and slow down
//! what it forwards (a slow disk or network behind a server: etcd with
//! latency).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::Error;

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward to the target.
    Forward,
    /// Accept and hold the connection open in silence.
    Silent,
    /// Accept and close at once.
    Refuse,
}

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    mode: Mutex<ProxyMode>,
    /// Every open connection (both sides), closed when the mode changes.
    open: Mutex<Vec<TcpStream>>,
    /// How many git-receive-pack answers to cut.
    cuts: AtomicUsize,
    /// How many were cut.
    cut: AtomicUsize,
    stop: AtomicBool,
    /// Latency added before each chunk is passed on, either way.
    delay: Mutex<Duration>,
}

/// A running proxy; stops (closing every connection) on drop.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// A proxy to `target` on a free port, forwarding.
    pub fn start(target: SocketAddr) -> Result<Self, Error> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("binding 127.0.0.1:0", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))?;
        let shared = Arc::new(Shared {
            target,
            mode: Mutex::new(ProxyMode::Forward),
            open: Mutex::new(Vec::new()),
            cuts: AtomicUsize::new(0),
            cut: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            delay: Mutex::new(Duration::ZERO),
        });
        let accepting = shared.clone();
        let thread = std::thread::Builder::new()
            .name("proxy".to_owned())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accepting.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        handle(&accepting, stream);
                    }
                }
            })
            .map_err(|e| Error::io("spawning the proxy", e))?;
        Ok(Self {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Changes what it does; every connection open now is closed.
    pub fn set_mode(&self, mode: ProxyMode) {
        *self
            .shared
            .mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = mode;
        close_all(&self.shared);
    }

    /// Waits `delay` before passing on each chunk read, in both directions,
    /// on open connections and new ones (zero: none).
    pub fn set_delay(&self, delay: Duration) {
        *self
            .shared
            .delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = delay;
    }

    /// Cuts the next smart-HTTP push (`POST .../git-receive-pack`): the
    /// request reaches the server whole, and the connection is closed as
    /// soon as the server starts answering.
    pub fn cut_next_push_answer(&self) {
        self.shared.cuts.fetch_add(1, Ordering::SeqCst);
    }

    /// How many push answers were cut so far.
    pub fn cut_count(&self) -> usize {
        self.shared.cut.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        close_all(&self.shared);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn close_all(shared: &Shared) {
    let mut open = shared.open.lock().unwrap_or_else(PoisonError::into_inner);
    for stream in open.drain(..) {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

fn remember(shared: &Shared, stream: &TcpStream) {
    if let Ok(clone) = stream.try_clone() {
        shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(clone);
    }
}

fn handle(shared: &Arc<Shared>, client: TcpStream) {
    let mode = *shared.mode.lock().unwrap_or_else(PoisonError::into_inner);
    match mode {
        ProxyMode::Refuse => drop(client),
        ProxyMode::Silent => remember(shared, &client),
        ProxyMode::Forward => {
            let Ok(server) = TcpStream::connect(shared.target) else {
                return;
            };
            remember(shared, &client);
            remember(shared, &server);
            let cut_answer = Arc::new(AtomicBool::new(false));
            let (Ok(client_in), Ok(server_out)) = (client.try_clone(), server.try_clone()) else {
                return;
            };
            let upstream = {
                let shared = shared.clone();
                let cut_answer = cut_answer.clone();
                move || copy_up(&shared, client_in, server_out, &cut_answer)
            };
            let downstream = {
                let shared = shared.clone();
                move || copy_down(&shared, server, client, &cut_answer)
            };
            let _ = std::thread::Builder::new()
                .name("proxy-up".into())
                .spawn(upstream);
            let _ = std::thread::Builder::new()
                .name("proxy-down".into())
                .spawn(downstream);
        }
    }
}

/// Sleeps for the delay set, if any.
fn wait(shared: &Shared) {
    let delay = *shared.delay.lock().unwrap_or_else(PoisonError::into_inner);
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
}

fn copy_up(shared: &Shared, mut from: TcpStream, mut to: TcpStream, cut_answer: &AtomicBool) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // A request starts a read (clients write their headers at once; one
        // connection may carry several requests).
        {
            let head = &buffer[..n];
            let is_push =
                head.starts_with(b"POST ") && head.windows(16).any(|w| w == b"git-receive-pack");
            if is_push
                && shared
                    .cuts
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_sub(1))
                    .is_ok()
            {
                cut_answer.store(true, Ordering::SeqCst);
            }
        }
        wait(shared);
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn copy_down(shared: &Shared, mut from: TcpStream, mut to: TcpStream, cut_answer: &AtomicBool) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if cut_answer.load(Ordering::SeqCst) {
            // The server took the push and answers: the client never hears it.
            shared.cut.fetch_add(1, Ordering::SeqCst);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
        wait(shared);
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
