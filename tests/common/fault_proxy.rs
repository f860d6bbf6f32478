//! A small TCP fault proxy for the fault tests: it sits between the server under test and
//! a real mail server of the stack (Dovecot, Postfix), forwards both ways, and on the
//! test's command injects what a real server cannot be made to do on cue: go down
//! (refuse connections and drop the open ones) and come back on the same port, hold every
//! byte until released (a server that is slow for exactly as long as the test wants), or
//! cut the connection after the next N bytes of one direction (mid-FETCH, mid-DATA). The
//! stream may be TLS: faults are placed by byte counts, never by reading the content.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Which way bytes travel through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the server under test to the mail server (commands, APPEND, DATA).
    ToMailServer,
    /// From the mail server to the server under test (greetings, FETCH answers).
    FromMailServer,
}

/// No cut armed.
const UNLIMITED: i64 = -1;

struct Shared {
    target: SocketAddr,
    /// True while every byte is held.
    held: watch::Sender<bool>,
    /// Bytes that may still pass before the cut, per direction (`UNLIMITED`: no cut).
    budgets: [AtomicI64; 2],
    /// Connections accepted so far.
    accepted: watch::Sender<usize>,
    /// Cancelled to drop every open connection (replaced by a fresh one after).
    kill: Mutex<CancellationToken>,
}

/// A running proxy on a port of 127.0.0.1 of its own.
pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
    listening: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(task) = self.listening.lock().unwrap().take() {
            task.abort();
        }
        self.shared.kill.lock().unwrap().cancel();
    }
}

impl FaultProxy {
    /// A proxy forwarding to `127.0.0.1:target_port`.
    pub async fn start(target_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            target: SocketAddr::from(([127, 0, 0, 1], target_port)),
            held: watch::channel(false).0,
            budgets: [AtomicI64::new(UNLIMITED), AtomicI64::new(UNLIMITED)],
            accepted: watch::channel(0).0,
            kill: Mutex::new(CancellationToken::new()),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        FaultProxy {
            port,
            shared,
            listening: Mutex::new(Some(task)),
        }
    }

    /// Holds every byte, both ways and on new connections, until [`Self::release`].
    pub fn hold(&self) {
        self.shared.held.send_replace(true);
    }

    /// Lets the held bytes (and all later ones) through.
    pub fn release(&self) {
        self.shared.held.send_replace(false);
    }

    /// Cuts the connection that carries the `bytes`+1st byte `direction` from now: up to
    /// `bytes` pass, then both sides are closed. Later connections pass unharmed.
    pub fn cut_after(&self, direction: Direction, bytes: usize) {
        self.shared.budgets[index(direction)].store(bytes as i64, Ordering::SeqCst);
    }

    /// The mail server "goes down": the port refuses connections and the open ones drop.
    pub fn go_down(&self) {
        if let Some(task) = self.listening.lock().unwrap().take() {
            task.abort();
        }
        let mut kill = self.shared.kill.lock().unwrap();
        kill.cancel();
        *kill = CancellationToken::new();
    }

    /// The mail server is back, on the same port.
    pub async fn come_back(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let task = tokio::spawn(accept_loop(listener, self.shared.clone()));
        *self.listening.lock().unwrap() = Some(task);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        *self.shared.accepted.borrow()
    }

    /// Waits until `count` connections were accepted in all.
    pub async fn wait_for_accepted(&self, count: usize) {
        let mut accepted = self.shared.accepted.subscribe();
        accepted.wait_for(|n| *n >= count).await.unwrap();
    }
}

fn index(direction: Direction) -> usize {
    match direction {
        Direction::ToMailServer => 0,
        Direction::FromMailServer => 1,
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        shared.accepted.send_modify(|n| *n += 1);
        let kill = shared.kill.lock().unwrap().clone();
        tokio::spawn(relay(client, shared.clone(), kill));
    }
}

/// One connection: both directions until either ends, is cut or killed; dropping the
/// halves closes both sockets.
async fn relay(client: TcpStream, shared: Arc<Shared>, kill: CancellationToken) {
    let Ok(server) = TcpStream::connect(shared.target).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (from_client, to_client) = client.into_split();
    let (from_server, to_server) = server.into_split();
    tokio::select! {
        () = pump(from_client, to_server, Direction::ToMailServer, &shared) => {}
        () = pump(from_server, to_client, Direction::FromMailServer, &shared) => {}
        () = kill.cancelled() => {}
    }
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    shared: &Shared,
) {
    let mut held = shared.held.subscribe();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if held.wait_for(|held| !*held).await.is_err() {
            return;
        }
        let passing = take_budget(&shared.budgets[index(direction)], read);
        if to.write_all(&buffer[..passing]).await.is_err() || passing < read {
            return;
        }
    }
}

/// How many of `read` bytes may pass; when fewer than all, the cut is spent (the budget
/// goes back to unlimited, so the next connection is not cut too).
fn take_budget(budget: &AtomicI64, read: usize) -> usize {
    let mut current = budget.load(Ordering::SeqCst);
    loop {
        if current < 0 {
            return read;
        }
        let passing = (current as usize).min(read);
        let next = if passing < read {
            UNLIMITED
        } else {
            current - passing as i64
        };
        match budget.compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return passing,
            Err(seen) => current = seen,
        }
    }
}
