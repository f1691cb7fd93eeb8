//! The relay: SRTCP in on one leg, unprotected under the ingress key, re-protected under the
//! route's egress key, out on another leg — the CS/IS proxy hop (a client's CSK ⇄ a server's
//! SPK). One run-to-completion loop per worker, each pinned to a core, each with its own
//! `SO_REUSEPORT` socket per leg ([`worker`]).
//!
//! **One stream, one owner** (ARCHITECTURE.md). The kernel spreads datagrams over the workers'
//! sockets by their addresses, which says nothing about streams; the worker that owns a
//! stream's replay window is `StreamId::shard(workers)`. A packet that lands elsewhere is
//! copied to its owner's bounded ring before anything is checked, and a full ring drops it
//! (counted). So a replay sent from another source port meets the same window.
//!
//! A [`Relay`] is driven through a [`Control`]: keys (the key store of mcx-engine), routes
//! and statistics — from Rust, from the control socket ([`crate::control`]) and from C.

mod config;
mod proxy;
pub mod stats;
mod worker;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use mcx_engine::keys::KeyId;
use mcx_engine::store::{KeyStore, StoreConfig};
use mcx_engine::sync::{Ring, Table};
use mcx_engine::{Engine, EngineConfig};

pub use config::{
    ConfigError, IoChoice, LegConfig, MAX_LEG_NAME, MAX_LEGS, MAX_WORKERS, RelayConfig,
    RelaySection,
};
pub use proxy::{IdentityPair, ProxySection, SessionConfig, SideConfig};
pub use stats::{Drops, LegStats, RelayStats, WorkerStats};

use crate::backend::{Backend, Dest, IoKind};
use crate::mmsg::Mmsg;
use crate::sock::{SocketOptions, UdpSocket, Waker};
use crate::uring::{self, Uring};
use worker::{MAX_DATAGRAM, Worker};

/// Where packets of a route go.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Route {
    /// Socket (leg) index they leave from.
    pub(crate) sock: u16,
    /// Destination.
    pub(crate) dst: Dest,
    /// Egress key; `None`: forwarded unchanged (a plain route).
    pub(crate) key_out: Option<KeyId>,
}

impl Route {
    /// Out of leg `sock` to `to`, as it is (no egress key).
    pub(crate) fn plain(sock: u16, to: SocketAddr) -> Route {
        Route {
            sock,
            dst: crate::backend::Dest::new(to),
            key_out: None,
        }
    }
}

/// A packet handed to the worker that owns its stream.
pub(crate) struct Handoff {
    /// The route's key in the table: the owner looks the route up itself. 0: a packet of a
    /// proxy session, which the owner finds by (`sock`, `src`).
    route_key: u64,
    sock: u16,
    src: SocketAddr,
    len: u16,
    data: [u8; MAX_DATAGRAM],
}

fn route_key(sock: u16, key_id: u32) -> u64 {
    ((u64::from(sock) + 1) << 32) | u64::from(key_id)
}

fn forward_key(sock: u16) -> u64 {
    (1 << 48) | u64::from(sock)
}

/// What the workers and the control share.
pub(crate) struct Shared {
    pub(crate) store: Arc<KeyStore>,
    /// The proxy role, where `[proxy]` configures one.
    pub(crate) proxy: Option<Arc<mcx_engine::proxy::Proxy>>,
    pub(crate) routes: Table<Route>,
    /// Route specs as given, for listing and removal (control path only).
    pub(crate) route_specs: std::sync::Mutex<Vec<RouteSpec>>,
    pub(crate) legs: Vec<(String, SocketAddr)>,
    pub(crate) inbox: Vec<Ring<Handoff>>,
    pub(crate) wakers: Vec<Arc<Waker>>,
    pub(crate) published: Vec<stats::Published>,
    pub(crate) stop: AtomicBool,
    pub(crate) io: IoKind,
    pub(crate) io_reason: String,
}

/// Why the relay did not start, or a control operation was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum RelayError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// A socket could not be bound.
    Bind {
        /// The leg.
        leg: String,
        /// Its address.
        addr: SocketAddr,
        /// What the kernel said.
        error: std::io::Error,
    },
    /// The I/O backend asked for could not start.
    Io(String),
    /// A control operation was refused; nothing changed.
    Refused(String),
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::Config(e) => write!(f, "configuration: {e}"),
            RelayError::Bind { leg, addr, error } => {
                write!(f, "leg {leg:?}: cannot bind {addr}: {error}")
            }
            RelayError::Io(e) => write!(f, "I/O backend: {e}"),
            RelayError::Refused(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for RelayError {}

impl From<ConfigError> for RelayError {
    fn from(e: ConfigError) -> RelayError {
        RelayError::Config(e)
    }
}

/// A route as given: packets arriving on `from_leg` under `key_id` leave `to_leg` toward `to`
/// under `key_id_out` (whose four octets are the egress MKI). Without `key_id` and
/// `key_id_out` it is a plain route: everything arriving on `from_leg` leaves unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// Ingress leg.
    pub from_leg: String,
    /// Ingress key (the MKI packets arrive with); `None` for a plain route.
    pub key_id: Option<KeyId>,
    /// Egress leg.
    pub to_leg: String,
    /// Destination.
    pub to: SocketAddr,
    /// Egress key; `None` for a plain route.
    pub key_id_out: Option<KeyId>,
}

/// The relay's control: keys, routes, statistics. Cheap to clone; every clone drives the
/// same relay.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("io", &self.shared.io)
            .field("workers", &self.shared.inbox.len())
            .finish()
    }
}

impl Control {
    /// The key store (install, revoke, look up keys).
    pub fn store(&self) -> &Arc<KeyStore> {
        &self.shared.store
    }

    /// The legs and the addresses they are bound to.
    pub fn legs(&self) -> Vec<(String, SocketAddr)> {
        self.shared.legs.clone()
    }

    /// The proxy role, where the configuration has a `[proxy]` table.
    pub fn proxy(&self) -> Option<&Arc<mcx_engine::proxy::Proxy>> {
        self.shared.proxy.as_ref()
    }

    fn proxy_or_refuse(&self) -> Result<&Arc<mcx_engine::proxy::Proxy>, RelayError> {
        self.proxy()
            .ok_or_else(|| RelayError::Refused("this relay has no [proxy] role".into()))
    }

    /// Adds a proxy session. Refused, with nothing changed, without a `[proxy]` role, for an
    /// unknown leg or a key that is not installed, or what the role does not allow.
    pub fn add_session(
        &self,
        s: &SessionConfig,
    ) -> Result<Arc<mcx_engine::proxy::Session>, RelayError> {
        let p = self.proxy_or_refuse()?;
        let names: Vec<String> = self.shared.legs.iter().map(|(n, _)| n.clone()).collect();
        let spec = s.spec(&names).map_err(RelayError::Refused)?;
        for side in core::iter::once(&spec.inside).chain(&spec.outside) {
            for k in &side.keys {
                self.key_present(*k)?;
            }
        }
        p.add(&spec).map_err(|e| RelayError::Refused(e.to_string()))
    }

    /// Removes proxy session `id`: once this returns, no packet is matched to it.
    pub fn remove_session(&self, id: u64) -> Result<(), RelayError> {
        self.proxy_or_refuse()?
            .remove(id)
            .map_err(|e| RelayError::Refused(e.to_string()))
    }

    /// Moves the sessions under key `from` to key `to` (a key replaced by key download).
    pub fn rekey_sessions(&self, from: KeyId, to: KeyId) -> Result<usize, RelayError> {
        let p = self.proxy_or_refuse()?;
        self.key_present(to)?;
        p.rekey(from, to)
            .map_err(|e| RelayError::Refused(e.to_string()))
    }

    /// The I/O backend the workers run, and why it was chosen.
    pub fn io(&self) -> (IoKind, &str) {
        (self.shared.io, &self.shared.io_reason)
    }

    fn leg(&self, name: &str) -> Result<u16, RelayError> {
        self.shared
            .legs
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| i as u16)
            .ok_or_else(|| RelayError::Refused(format!("no leg named {name:?}")))
    }

    fn key_present(&self, id: KeyId) -> Result<(), RelayError> {
        if self.shared.store.info(id).is_some() {
            Ok(())
        } else {
            Err(RelayError::Refused(format!(
                "no installed key {:08x}",
                id.get()
            )))
        }
    }

    /// Adds a route. Refused, with nothing changed, for an unknown leg, a key that is not
    /// installed, a plain route with keys (or a keyed one without both), or a route that
    /// exists already.
    pub fn add_route(&self, spec: &RouteSpec) -> Result<(), RelayError> {
        let from = self.leg(&spec.from_leg)?;
        let to = self.leg(&spec.to_leg)?;
        let key = match (spec.key_id, spec.key_id_out) {
            (Some(i), Some(o)) => {
                self.key_present(i)?;
                self.key_present(o)?;
                route_key(from, i.get())
            }
            (None, None) => forward_key(from),
            _ => {
                return Err(RelayError::Refused(
                    "a keyed route needs both key_id and key_id_out".into(),
                ));
            }
        };
        if spec.to.is_ipv4() != self.shared.legs[to as usize].1.is_ipv4() {
            return Err(RelayError::Refused(format!(
                "leg {:?} cannot send to {}: other address family",
                spec.to_leg, spec.to
            )));
        }
        let mut specs = self
            .shared
            .route_specs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let route = Route {
            sock: to,
            dst: Dest::new(spec.to),
            key_out: spec.key_id_out,
        };
        if self.shared.routes.insert(key, Arc::new(route)).is_err() {
            return Err(RelayError::Refused(match spec.key_id {
                Some(i) => format!(
                    "a route from leg {:?} under key {:08x} exists; remove it first",
                    spec.from_leg,
                    i.get()
                ),
                None => format!("leg {:?} has a plain route; remove it first", spec.from_leg),
            }));
        }
        specs.push(spec.clone());
        Ok(())
    }

    /// Removes the route from `from_leg` under `key_id` (`None`: the leg's plain route). When
    /// it returns, no worker forwards on it any more.
    pub fn remove_route(&self, from_leg: &str, key_id: Option<KeyId>) -> Result<(), RelayError> {
        let from = self.leg(from_leg)?;
        let key = match key_id {
            Some(i) => route_key(from, i.get()),
            None => forward_key(from),
        };
        let mut specs = self
            .shared
            .route_specs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.shared.routes.remove_many(&[key]).is_empty() {
            return Err(RelayError::Refused("no such route".into()));
        }
        specs.retain(|s| !(s.from_leg == from_leg && s.key_id == key_id));
        Ok(())
    }

    /// The routes installed.
    pub fn routes(&self) -> Vec<RouteSpec> {
        self.shared
            .route_specs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Revokes a key: from the next packet on, nothing under it is forwarded.
    pub fn revoke(&self, key_id: KeyId) -> Result<(), RelayError> {
        self.shared
            .store
            .revoke(key_id)
            .map_err(|e| RelayError::Refused(e.to_string()))
    }

    /// The counters: per worker, per leg, drops by reason, and the backend.
    pub fn stats(&self) -> RelayStats {
        let legs: Vec<(String, String)> = self
            .shared
            .legs
            .iter()
            .map(|(n, a)| (n.clone(), a.to_string()))
            .collect();
        let (workers, legs, dropped) = stats::collect(&self.shared.published, &legs);
        RelayStats {
            io: self.shared.io.name().into(),
            io_reason: self.shared.io_reason.clone(),
            received: workers.iter().map(|w| w.received).sum(),
            sent: workers.iter().map(|w| w.sent).sum(),
            dropped,
            keys: self.shared.store.len(),
            routes: self.shared.routes.len(),
            workers,
            legs,
        }
    }

    /// Handles one control line (JSON) and returns the reply line (JSON, no newline).
    pub fn handle_line(&self, line: &str) -> String {
        crate::control::handle(self, line)
    }
}

/// A running relay. Dropping it stops it (as [`Relay::shutdown`]).
pub struct Relay {
    control: Control,
    threads: Vec<JoinHandle<()>>,
    server: Option<crate::control::Server>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("control", &self.control)
            .finish()
    }
}

/// Chooses the backend for `choice`, with the reason the log gives.
pub fn choose_io(choice: IoChoice) -> Result<(IoKind, String), RelayError> {
    match choice {
        IoChoice::Mmsg => Ok((IoKind::Mmsg, "io = \"mmsg\" in the configuration".into())),
        IoChoice::Uring => match uring::probe() {
            Ok(()) => Ok((IoKind::Uring, "io = \"uring\" in the configuration".into())),
            Err(e) => Err(RelayError::Io(format!(
                "io = \"uring\", but io_uring is not available: {e}"
            ))),
        },
        IoChoice::Auto => match uring::probe() {
            Ok(()) => Ok((
                IoKind::Uring,
                "auto: io_uring is available (a probe datagram came through a multishot recvmsg on a provided-buffer ring)".into(),
            )),
            Err(e) => Ok((
                IoKind::Mmsg,
                format!("auto: io_uring is not available ({e})"),
            )),
        },
    }
}

/// Binds a socket per worker on `addr` (the kernel's port, when `addr` has port 0, is the
/// same for all). A leg whose address is held by another socket fails to bind.
fn bind_leg(
    name: &str,
    addr: SocketAddr,
    workers: usize,
    opts: SocketOptions,
) -> Result<Vec<UdpSocket>, RelayError> {
    let err = |error| RelayError::Bind {
        leg: name.into(),
        addr,
        error,
    };
    // SO_REUSEPORT would let this relay share a port another process holds with the same
    // option: a plain bind first tells whether the address is free.
    let probe = UdpSocket::bind(
        addr,
        SocketOptions {
            reuse_port: false,
            gso: false,
            gro: false,
            buffer: 0,
        },
    )
    .map_err(err)?;
    let addr = probe.local_addr();
    drop(probe);
    let mut socks = Vec::with_capacity(workers);
    for _ in 0..workers {
        socks.push(UdpSocket::bind(addr, opts).map_err(err)?);
    }
    Ok(socks)
}

impl Relay {
    /// Starts a relay on a new key store.
    pub fn start(config: &RelayConfig) -> Result<Relay, RelayError> {
        Relay::start_with_store(config, Arc::new(KeyStore::new(StoreConfig::default())))
    }

    /// Starts a relay on `store` (shared with the caller, which may install keys directly).
    /// Returns once every socket is bound, every worker runs and the control socket (if
    /// configured) listens.
    pub fn start_with_store(
        config: &RelayConfig,
        store: Arc<KeyStore>,
    ) -> Result<Relay, RelayError> {
        config.validate()?;
        let r = &config.relay;
        let n = config.workers();
        let (io, io_reason) = choose_io(r.io)?;
        let opts = SocketOptions {
            reuse_port: true,
            gso: r.gso,
            gro: r.gro,
            buffer: r.socket_buffer,
        };
        // Sockets per worker, in leg order.
        let mut per_worker: Vec<Vec<UdpSocket>> = (0..n).map(|_| Vec::new()).collect();
        let mut legs = Vec::new();
        for l in &config.legs {
            let socks = bind_leg(&l.name, l.listen, n, opts)?;
            legs.push((l.name.clone(), socks[0].local_addr()));
            for (w, s) in socks.into_iter().enumerate() {
                per_worker[w].push(s);
            }
        }
        let engine_config = EngineConfig {
            replay_window: r.replay_window,
            max_streams_per_key: r.max_streams_per_key,
        };
        let engine = Engine::new(Arc::clone(&store), engine_config)
            .map_err(|e| RelayError::Config(ConfigError(e.to_string())))?;
        let mut wakers = Vec::new();
        for _ in 0..n {
            wakers.push(Arc::new(
                Waker::new().map_err(|e| RelayError::Io(format!("eventfd: {e}")))?,
            ));
        }
        let leg_names: Vec<String> = config.legs.iter().map(|l| l.name.clone()).collect();
        let proxy = match &config.proxy {
            Some(p) => Some(Arc::new(p.build(&leg_names).map_err(RelayError::Config)?)),
            None => None,
        };
        let shared = Arc::new(Shared {
            store,
            proxy,
            routes: Table::new(),
            route_specs: std::sync::Mutex::new(Vec::new()),
            legs,
            inbox: (0..n).map(|_| Ring::new(r.handoff_ring)).collect(),
            wakers,
            published: (0..n)
                .map(|_| stats::Published::new(config.legs.len()))
                .collect(),
            stop: AtomicBool::new(false),
            io,
            io_reason,
        });
        let cores = if r.pin {
            let ids = core_affinity::get_core_ids().unwrap_or_default();
            if r.cores.is_empty() {
                ids
            } else {
                r.cores
                    .iter()
                    .map(|&c| core_affinity::CoreId { id: c })
                    .collect()
            }
        } else {
            Vec::new()
        };
        let mut threads = Vec::new();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        for (w, socks) in per_worker.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let engine = engine.handle();
            let core = (!cores.is_empty()).then(|| cores[w % cores.len()]);
            let batch = r.batch;
            let batch_wait = std::time::Duration::from_micros(r.batch_wait_us);
            let poll = std::time::Duration::from_micros(r.poll_us);
            let ready = ready_tx.clone();
            let t = std::thread::Builder::new()
                .name(format!("mcx-relay-w{w}"))
                .spawn(move || {
                    if let Some(c) = core
                        && core_affinity::set_for_current(c)
                    {
                        shared.published[w]
                            .core
                            .store(c.id as u64, Ordering::Relaxed);
                    }
                    // SAFETY: gettid has no preconditions.
                    let tid = unsafe { libc::gettid() };
                    shared.published[w].tid.store(tid as u64, Ordering::Relaxed);
                    // The ring is made on the thread that drives it (single issuer).
                    let tx_max = batch * crate::sock::MAX_GSO_SEGMENTS * 2 + batch * 2;
                    let waker = Arc::clone(&shared.wakers[w]);
                    let backend: Box<dyn Backend> = match shared.io {
                        IoKind::Uring => {
                            match Uring::new(socks, waker, batch, tx_max, batch_wait) {
                                Ok(u) => Box::new(u),
                                Err(e) => {
                                    let _ = ready.send(Err(format!("worker {w}: io_uring: {e}")));
                                    return;
                                }
                            }
                        }
                        IoKind::Mmsg => {
                            Box::new(Mmsg::new(socks, waker, batch, tx_max, batch_wait))
                        }
                    };
                    let mut worker = Worker::new(w, Arc::clone(&shared), engine, backend, batch);
                    let _ = ready.send(Ok(()));
                    drop(ready);
                    worker.run(poll);
                })
                .map_err(|e| RelayError::Io(format!("cannot start worker {w}: {e}")))?;
            threads.push(t);
        }
        drop(ready_tx);
        let control = Control {
            shared: Arc::clone(&shared),
        };
        let mut relay = Relay {
            control,
            threads,
            server: None,
        };
        for _ in 0..n {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(RelayError::Io(e)),
                Err(_) => return Err(RelayError::Io("a worker ended at start-up".into())),
            }
        }
        if !r.control.as_os_str().is_empty() {
            let server =
                crate::control::Server::start(&r.control, relay.control.clone()).map_err(|e| {
                    RelayError::Io(format!("control socket {}: {e}", r.control.display()))
                })?;
            relay.server = Some(server);
        }
        Ok(relay)
    }

    /// The control of this relay.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stops the workers (each finishes its turn and sends what it holds), closes the control
    /// socket and returns the final counters.
    pub fn shutdown(mut self) -> RelayStats {
        self.stop();
        self.control.stats()
    }

    fn stop(&mut self) {
        self.server.take();
        self.control.shared.stop.store(true, Ordering::Release);
        for w in &self.control.shared.wakers {
            w.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}
