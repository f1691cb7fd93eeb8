//! Setting a run up: the generator's sockets, its keys (in its own key store and, through
//! the relay's control socket, in the relay's), the identity pairs and one proxy session
//! per stream; and taking it all down again afterwards.
//!
//! Through a relay (a `[proxy]` role with a `clients` leg outside and a `core` leg inside):
//! - client `c` has a socket and a CSK (`key.install`: the MC key and its RAND, so both
//!   ends derive the SRTCP keys by TS 33.180 §7.4); the server side of its session has a
//!   socket of its own under the run's SPK (`key.install_srtp`). Session: inside = (core,
//!   server socket, SPK), outside = (clients, client socket, CSK).
//! - group `j` has a MuSiK (`key.install`) and a server socket; its session is a fan-out:
//!   the group's socket under the MuSiK, then each member (clients `c` with `c % groups ==
//!   j`) under its CSK.
//! - with `mbms`, group `j` also has an MSCCK (`key.install_srtp`) and an MBMS session from
//!   another server socket to the group's MBMS socket.
//! - each client's and group's internal identity is paired with its external one.
//!
//! Without a relay (`sink`): each stream's sender sends straight to its receivers, which
//! expect what was sent; that measures the generator alone.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use mcx_engine::keys::{KeyId, Purpose, Service};
use mcx_engine::secret::KeyLen;
use mcx_engine::store::{KeyInstall, KeyStore, Owner, SrtpInstall};
use mcx_engine::time::Timestamp;
use mcx_io::sock::{SocketOptions, UdpSocket};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::scenario::Scenario;
use super::traffic::{self, Form, Plan, StreamKind};

/// The server URI the CSKs are bound to.
pub const SERVER: &str = "sip:mcptt-server@pktgen.example";

/// A relay's control socket, one connection, opened again when the relay closed it.
#[derive(Debug)]
pub struct ControlClient {
    path: PathBuf,
    conn: Option<(UnixStream, BufReader<UnixStream>)>,
}

impl ControlClient {
    /// Connects to the control socket at `path` and checks it answers.
    pub fn connect(path: &Path) -> Result<ControlClient, String> {
        let mut c = ControlClient {
            path: path.to_owned(),
            conn: None,
        };
        c.call(&json!({"op": "ping"}))
            .map_err(|e| format!("the relay's control socket {}: {e}", path.display()))?;
        Ok(c)
    }

    fn open(&mut self) -> Result<&mut (UnixStream, BufReader<UnixStream>), String> {
        if self.conn.is_none() {
            let s = UnixStream::connect(&self.path).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            s.set_write_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            let r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
            self.conn = Some((s, r));
        }
        Ok(self.conn.as_mut().expect("just opened"))
    }

    fn exchange(&mut self, line: &[u8]) -> Result<String, String> {
        let (w, r) = self.open()?;
        let mut out = String::new();
        let res = w
            .write_all(line)
            .and_then(|()| w.write_all(b"\n"))
            .and_then(|()| r.read_line(&mut out).map(|_| ()));
        match res {
            Ok(()) if !out.is_empty() => Ok(out),
            Ok(()) => Err("the relay closed the connection".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// One request; the reply when it says `ok`, else the relay's reason.
    pub fn call(&mut self, req: &Value) -> Result<Value, String> {
        // Serialized into a buffer that is wiped afterwards and large enough not to move
        // (a move would leave a copy of any key in the request behind).
        let mut line = Zeroizing::new(Vec::with_capacity(4096));
        serde_json::to_writer(&mut *line, req).map_err(|e| e.to_string())?;
        // An idle connection the relay timed out: once more on a fresh one.
        let reply = match self.exchange(&line) {
            Ok(r) => r,
            Err(_) => {
                self.conn = None;
                self.exchange(&line)?
            }
        };
        let v: Value =
            serde_json::from_str(&reply).map_err(|e| format!("a reply that is not JSON: {e}"))?;
        if v["ok"] == Value::Bool(true) {
            Ok(v)
        } else {
            Err(v["error"].as_str().unwrap_or("refused").to_owned())
        }
    }
}

fn hex_id(k: KeyId) -> String {
    format!("{:08x}", k.get())
}

/// Which key a side uses: a fixed one, or client `c`'s CSK as it is now (it changes at the
/// rollover).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRef {
    /// This key.
    Fixed(KeyId),
    /// Client `c`'s current CSK.
    Client(u32),
}

/// The clients' CSKs, as the rollover changes them.
#[derive(Debug)]
pub struct ClientKeys {
    /// Each client's current CSK ID.
    pub current: Vec<AtomicU32>,
    /// The CSK before the rollover (the same as `current` before it).
    pub previous: Vec<AtomicU32>,
    /// The CSK the rollover is moving to (the same as `current` outside it).
    pub next: Vec<AtomicU32>,
    /// When the rollover began, µs since the run began (0: not yet).
    pub roll_start_us: AtomicU64,
    /// When the rollover ended, µs since the run began (0: not yet).
    pub roll_end_us: AtomicU64,
}

/// One receiver of a stream.
#[derive(Debug)]
pub struct Target {
    /// The generator thread that owns its socket.
    pub thread: usize,
    /// The socket's index among that thread's sockets.
    pub sock: u16,
    /// The key the packets arrive under.
    pub key: KeyRef,
    /// What arrives, per variant (references zero).
    pub templates: Vec<Vec<u8>>,
}

/// One stream: its sender and receivers.
#[derive(Debug)]
pub struct Stream {
    /// What it carries.
    pub kind: StreamKind,
    /// The thread that sends it.
    pub thread: usize,
    /// The sending socket's index among that thread's sockets.
    pub sock: u16,
    /// The sending socket's address.
    pub from: SocketAddr,
    /// Where it sends.
    pub to: SocketAddr,
    /// The key it protects with.
    pub key: KeyRef,
    /// Its hostile packets' key, which the relay does not have.
    pub unknown_key: KeyId,
    /// What it sends, per variant (references zero).
    pub templates: Vec<Vec<u8>>,
    /// Who receives it.
    pub targets: Vec<Target>,
}

/// Everything a run needs from its set-up.
#[derive(Debug)]
pub struct Topology {
    /// The streams, by index.
    pub streams: Vec<Stream>,
    /// Each thread's sockets.
    pub sockets: Vec<Vec<UdpSocket>>,
    /// The generator's key store (every key of the run).
    pub store: Arc<KeyStore>,
    /// The clients' CSKs.
    pub keys: Arc<ClientKeys>,
    /// Per client: the owner identity its CSKs are installed under.
    pub client_owner: Vec<String>,
    undo: Vec<Value>,
}

/// A socket of the generator on `bind`'s address.
fn socket(bind: SocketAddr) -> Result<UdpSocket, String> {
    UdpSocket::bind(
        bind,
        SocketOptions {
            reuse_port: false,
            gso: false,
            gro: false,
            buffer: 4 << 20,
        },
    )
    .map_err(|e| format!("bind {bind}: {e}"))
}

/// The relay's legs the generator talks to.
#[derive(Clone, Copy, Debug)]
pub struct Legs {
    /// The outside leg (clients).
    pub clients: SocketAddr,
    /// The inside leg (core).
    pub core: SocketAddr,
}

/// Reads the relay's legs and checks it plays a proxy role.
pub fn legs(c: &mut ControlClient, clients: &str, core: &str) -> Result<Legs, String> {
    let sessions = c.call(&json!({"op": "sessions"})).map_err(|e| {
        format!(
            "the relay plays no proxy role ({e}): mcx-pktgen needs a relay with \
             [proxy] role = \"cs-proxy\""
        )
    })?;
    if sessions["role"] != "cs-proxy" {
        return Err(format!(
            "the relay plays {}; mcx-pktgen drives a cs-proxy",
            sessions["role"]
        ));
    }
    let v = c.call(&json!({"op": "legs"}))?;
    let find = |name: &str| -> Result<SocketAddr, String> {
        let l = v["legs"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["name"] == name))
            .ok_or_else(|| format!("the relay has no leg named {name:?}"))?;
        l["listen"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("leg {name:?}: no address in {l}"))
    };
    Ok(Legs {
        clients: find(clients)?,
        core: find(core)?,
    })
}

struct Keys {
    spk: KeyId,
    csk: Vec<KeyId>,
    musik: Vec<KeyId>,
    mscck: Vec<KeyId>,
    unknown_csk: KeyId,
    unknown_spk: KeyId,
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, String> {
    let mut b = Zeroizing::new([0u8; N]);
    getrandom::fill(&mut b[..]).map_err(|e| format!("OS random source: {e}"))?;
    Ok(b)
}

/// An SRTP master key and salt for `purpose`, in the local store and (with `relay`) the
/// relay's.
fn srtp_key(
    store: &KeyStore,
    relay: Option<&mut ControlClient>,
    purpose: Purpose,
    undo: &mut Vec<Value>,
) -> Result<KeyId, String> {
    let id = loop {
        let id = KeyId::random(purpose).map_err(|e| e.to_string())?;
        if store.status(id).is_none() {
            break id;
        }
    };
    let key = random::<16>()?;
    let salt = random::<12>()?;
    store
        .install_srtp(
            &SrtpInstall::new(&key[..], &salt[..], id, Service::Mcptt),
            Timestamp::now(),
        )
        .map_err(|e| e.to_string())?;
    if let Some(r) = relay {
        let req = json!({"op": "key.install_srtp", "key_id": hex_id(id),
            "master_key": hex::encode(&key[..]), "master_salt": hex::encode(&salt[..])});
        let res = r.call(&req);
        crate::pktgen::zeroize_json(req);
        res.map_err(|e| format!("the relay refused the {purpose} {}: {e}", hex_id(id)))?;
        undo.push(json!({"op": "key.revoke", "key_id": hex_id(id)}));
    }
    Ok(id)
}

/// An MC key (CSK or MuSiK) with its RAND, in the local store and the relay's; `via` is
/// the control socket's `via` (install or download).
pub(crate) fn mc_key(
    store: &KeyStore,
    relay: Option<&mut ControlClient>,
    purpose: Purpose,
    owner: &str,
    via: &str,
) -> Result<KeyId, String> {
    let g = store
        .generate(purpose, KeyLen::Aes128)
        .map_err(|e| e.to_string())?;
    let k = KeyInstall::new(
        g.key.expose(),
        g.key_id,
        &g.rand,
        Service::Mcptt,
        Owner::new(owner),
        SERVER,
    );
    store
        .install(&k, Timestamp::now())
        .map_err(|e| e.to_string())?;
    if let Some(r) = relay {
        let req = json!({"op": "key.install", "key": hex::encode(g.key.expose()),
            "key_id": hex_id(g.key_id), "rand": hex::encode(g.rand), "service": "mcptt",
            "owner": owner, "peer": SERVER, "via": via});
        let res = r.call(&req);
        crate::pktgen::zeroize_json(req);
        res.map_err(|e| format!("the relay refused the {purpose} {}: {e}", hex_id(g.key_id)))?;
    }
    Ok(g.key_id)
}

fn side(leg: &str, peer: SocketAddr, key: KeyId) -> Value {
    json!({"leg": leg, "peer": peer.to_string(), "keys": [hex_id(key)]})
}

/// The thread that owns client `c`'s sockets, group `j`'s.
fn owner_of(kind: StreamKind, threads: usize) -> usize {
    match kind {
        StreamKind::Uplink(c) | StreamKind::Downlink(c) => c as usize % threads,
        StreamKind::Group(j) | StreamKind::Mbms(j) => j as usize % threads,
    }
}

/// Options of a set-up.
#[derive(Clone, Debug)]
pub struct SetupOptions {
    /// Where the generator binds its sockets (port 0: the kernel's).
    pub bind: SocketAddr,
    /// The relay's outside and inside leg names.
    pub legs: (String, String),
}

/// Sets a run up: through the relay behind `relay`, or straight (`None`, the sink).
pub fn setup(
    s: &Scenario,
    plan: &Plan,
    mut relay: Option<&mut ControlClient>,
    o: &SetupOptions,
) -> Result<Topology, String> {
    let threads = s.threads;
    let provider = mcx_engine::startup::provider_from_env().provider;
    let store = Arc::new(KeyStore::new(mcx_engine::store::StoreConfig {
        provider,
        ..Default::default()
    }));
    let legs = match relay.as_deref_mut() {
        Some(r) => Some(legs(r, &o.legs.0, &o.legs.1)?),
        None => None,
    };
    let mut undo = Vec::new();
    let mut t = Topology {
        streams: Vec::new(),
        sockets: (0..threads).map(|_| Vec::new()).collect(),
        store: Arc::clone(&store),
        keys: Arc::new(ClientKeys {
            current: Vec::new(),
            previous: Vec::new(),
            next: Vec::new(),
            roll_start_us: AtomicU64::new(0),
            roll_end_us: AtomicU64::new(0),
        }),
        client_owner: Vec::new(),
        undo: Vec::new(),
    };
    let r = setup_inner(
        s,
        plan,
        relay.as_deref_mut(),
        legs,
        o,
        &store,
        &mut t,
        &mut undo,
    );
    t.undo = undo;
    match r {
        Ok(()) => Ok(t),
        Err(e) => {
            if let Some(r) = relay {
                t.teardown(r);
            }
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn setup_inner(
    s: &Scenario,
    plan: &Plan,
    mut relay: Option<&mut ControlClient>,
    legs: Option<Legs>,
    o: &SetupOptions,
    store: &Arc<KeyStore>,
    t: &mut Topology,
    undo: &mut Vec<Value>,
) -> Result<(), String> {
    let threads = s.threads;
    let keys = {
        let spk = srtp_key(store, relay.as_deref_mut(), Purpose::Spk, undo)?;
        let mut csk = Vec::new();
        for c in 0..s.clients {
            let owner = traffic::user(c, Form::External);
            let id = mc_key(store, relay.as_deref_mut(), Purpose::Csk, &owner, "install")?;
            if relay.is_some() {
                undo.push(json!({"op": "key.revoke", "key_id": hex_id(id)}));
            }
            csk.push(id);
            t.client_owner.push(owner);
        }
        let mut musik = Vec::new();
        let mut mscck = Vec::new();
        for j in 0..s.groups {
            let owner = traffic::group(j, Form::External);
            let id = mc_key(
                store,
                relay.as_deref_mut(),
                Purpose::Musik,
                &owner,
                "install",
            )?;
            if relay.is_some() {
                undo.push(json!({"op": "key.revoke", "key_id": hex_id(id)}));
            }
            musik.push(id);
            if s.mbms {
                mscck.push(srtp_key(store, relay.as_deref_mut(), Purpose::Mscck, undo)?);
            }
        }
        Keys {
            spk,
            csk,
            musik,
            mscck,
            // Only in the generator's store: what the relay must refuse.
            unknown_csk: srtp_key(store, None, Purpose::Csk, undo)?,
            unknown_spk: srtp_key(store, None, Purpose::Spk, undo)?,
        }
    };
    t.keys = Arc::new(ClientKeys {
        current: keys.csk.iter().map(|k| AtomicU32::new(k.get())).collect(),
        previous: keys.csk.iter().map(|k| AtomicU32::new(k.get())).collect(),
        next: keys.csk.iter().map(|k| AtomicU32::new(k.get())).collect(),
        roll_start_us: AtomicU64::new(0),
        roll_end_us: AtomicU64::new(0),
    });
    if let Some(r) = relay.as_deref_mut() {
        for c in 0..s.clients {
            pair(
                r,
                &traffic::user(c, Form::Internal),
                &traffic::user(c, Form::External),
                undo,
            )?;
        }
        for j in 0..s.groups {
            pair(
                r,
                &traffic::group(j, Form::Internal),
                &traffic::group(j, Form::External),
                undo,
            )?;
        }
    }
    // Sockets: per client a client socket and a server socket; per group a server socket
    // and the group's socket, and with MBMS two more.
    let sock = |thread: usize, t: &mut Topology| -> Result<(u16, SocketAddr), String> {
        let u = socket(o.bind)?;
        let a = u.local_addr();
        let v = &mut t.sockets[thread];
        v.push(u);
        Ok(((v.len() - 1) as u16, a))
    };
    let mut client_sock = Vec::new();
    let mut server_sock = Vec::new();
    for c in 0..s.clients {
        let th = owner_of(StreamKind::Uplink(c), threads);
        client_sock.push((th, sock(th, t)?));
        server_sock.push((th, sock(th, t)?));
    }
    let mut group_socks = Vec::new();
    for j in 0..s.groups {
        let th = owner_of(StreamKind::Group(j), threads);
        let server = sock(th, t)?;
        let grp = sock(th, t)?;
        let mbms = if s.mbms {
            Some((sock(th, t)?, sock(th, t)?))
        } else {
            None
        };
        group_socks.push((th, server, grp, mbms));
    }
    let build =
        |kind: StreamKind, i: usize, ssrc: u32, form: Form| -> Result<Vec<Vec<u8>>, String> {
            plan.variants[i]
                .iter()
                .map(|v| traffic::build(kind, v, s.clients, ssrc, form))
                .collect()
        };
    let ssrc = |kind: StreamKind| -> u32 {
        // The generator's own SSRCs: distinct per stream, fixed by the seed.
        let k = match kind {
            StreamKind::Uplink(c) => u64::from(c) * 4,
            StreamKind::Downlink(c) => u64::from(c) * 4 + 1,
            StreamKind::Group(j) => u64::from(j) * 4 + 2 + (1 << 40),
            StreamKind::Mbms(j) => u64::from(j) * 4 + 3 + (1 << 40),
        };
        traffic::mix64(s.seed ^ k ^ 0x5eed) as u32 | 1
    };
    // A stream whose one receiver is on the sender's thread: it sends from `tx` to `to`
    // under `key` with identities in `form`; `rx` receives under `rx_key` from `rx_ssrc`,
    // identities in `rx_form`.
    let single = |kind: StreamKind,
                  i: usize,
                  thread: usize,
                  (sock, from): (u16, SocketAddr),
                  to: SocketAddr,
                  (key, unknown_key, form): (KeyRef, KeyId, Form),
                  (rx, rx_key, rx_ssrc, rx_form): (u16, KeyRef, u32, Form)|
     -> Result<Stream, String> {
        Ok(Stream {
            kind,
            thread,
            sock,
            from,
            to,
            key,
            unknown_key,
            templates: build(kind, i, ssrc(kind), form)?,
            targets: vec![Target {
                thread,
                sock: rx,
                key: rx_key,
                templates: build(kind, i, rx_ssrc, rx_form)?,
            }],
        })
    };
    let (out_leg, in_leg) = (o.legs.0.as_str(), o.legs.1.as_str());
    // The SSRCs each client's session shows (inside, outside), from its uplink's session.add.
    let mut client_ssrcs = vec![(0u32, 0u32); s.clients as usize];
    for (i, &kind) in plan.kinds.iter().enumerate() {
        let my = ssrc(kind);
        let stream = match kind {
            StreamKind::Uplink(c) | StreamKind::Downlink(c) => {
                let cu = c as usize;
                let (th, (cs, ca)) = client_sock[cu];
                let (_, (ss, sa)) = server_sock[cu];
                // The client's session carries both directions: added with its uplink.
                let (in_ssrc, out_ssrc) = match (relay.as_deref_mut(), legs) {
                    (Some(r), Some(_)) if matches!(kind, StreamKind::Uplink(_)) => {
                        let v = r
                            .call(&json!({"op": "session.add",
                            "inside": side(in_leg, sa, keys.spk),
                            "outside": [side(out_leg, ca, keys.csk[cu])]}))
                            .map_err(|e| format!("session.add for client {c}: {e}"))?;
                        undo.insert(0, json!({"op": "session.remove", "id": v["id"]}));
                        let a = v["inside_ssrc"].as_u64().unwrap_or(0) as u32;
                        let b = v["outside_ssrcs"][0].as_u64().unwrap_or(0) as u32;
                        client_ssrcs[cu] = (a, b);
                        (a, b)
                    }
                    (Some(_), Some(_)) => client_ssrcs[cu],
                    _ => (0, 0),
                };
                if let StreamKind::Uplink(_) = kind {
                    let (to, key, ssrc_rx, form_rx) = match legs {
                        Some(l) => (l.clients, KeyRef::Fixed(keys.spk), in_ssrc, Form::Internal),
                        None => (sa, KeyRef::Client(c), my, Form::External),
                    };
                    single(
                        kind,
                        i,
                        th,
                        (cs, ca),
                        to,
                        (KeyRef::Client(c), keys.unknown_csk, Form::External),
                        (ss, key, ssrc_rx, form_rx),
                    )?
                } else {
                    let (to, ssrc_rx, form_rx, key) = match legs {
                        Some(l) => (l.core, out_ssrc, Form::External, KeyRef::Client(c)),
                        None => (ca, my, Form::Internal, KeyRef::Fixed(keys.spk)),
                    };
                    single(
                        kind,
                        i,
                        th,
                        (ss, sa),
                        to,
                        (KeyRef::Fixed(keys.spk), keys.unknown_spk, Form::Internal),
                        (cs, key, ssrc_rx, form_rx),
                    )?
                }
            }
            StreamKind::Group(j) => {
                let ju = j as usize;
                let (th, (ss, sa), (gs, ga), _) = group_socks[ju];
                let members: Vec<u32> = (0..s.clients).filter(|c| c % s.groups == j).collect();
                let (to, out_ssrc) = match (relay.as_deref_mut(), legs) {
                    (Some(r), Some(l)) => {
                        let mut outside = vec![side(out_leg, ga, keys.musik[ju])];
                        for &m in &members {
                            let (_, (_, ma)) = client_sock[m as usize];
                            outside.push(side(out_leg, ma, keys.csk[m as usize]));
                        }
                        let v = r
                            .call(&json!({"op": "session.add",
                            "inside": side(in_leg, sa, keys.spk), "outside": outside}))
                            .map_err(|e| format!("session.add for group {j}: {e}"))?;
                        undo.insert(0, json!({"op": "session.remove", "id": v["id"]}));
                        (l.core, v["outside_ssrcs"][0].as_u64().unwrap_or(0) as u32)
                    }
                    _ => (ga, my),
                };
                let (form_rx, group_key) = if legs.is_some() {
                    (Form::External, KeyRef::Fixed(keys.musik[ju]))
                } else {
                    (Form::Internal, KeyRef::Fixed(keys.spk))
                };
                let rx = build(kind, i, out_ssrc, form_rx)?;
                let mut targets = vec![Target {
                    thread: th,
                    sock: gs,
                    key: group_key,
                    templates: rx.clone(),
                }];
                if legs.is_some() {
                    for &m in &members {
                        let (mt, (ms, _)) = client_sock[m as usize];
                        targets.push(Target {
                            thread: mt,
                            sock: ms,
                            key: KeyRef::Client(m),
                            templates: rx.clone(),
                        });
                    }
                }
                Stream {
                    kind,
                    thread: th,
                    sock: ss,
                    from: sa,
                    to,
                    key: KeyRef::Fixed(keys.spk),
                    unknown_key: keys.unknown_spk,
                    templates: build(kind, i, my, Form::Internal)?,
                    targets,
                }
            }
            StreamKind::Mbms(j) => {
                let ju = j as usize;
                let (th, _, _, mbms) = group_socks[ju];
                let ((ss, sa), (bs, ba)) = mbms.expect("an MBMS stream has its sockets");
                let (to, out_ssrc, form_rx, key) = match (relay.as_deref_mut(), legs) {
                    (Some(r), Some(l)) => {
                        let v = r
                            .call(&json!({"op": "session.add",
                            "inside": side(in_leg, sa, keys.spk),
                            "outside": [side(out_leg, ba, keys.mscck[ju])]}))
                            .map_err(|e| format!("session.add for group {j}'s MBMS: {e}"))?;
                        undo.insert(0, json!({"op": "session.remove", "id": v["id"]}));
                        (
                            l.core,
                            v["outside_ssrcs"][0].as_u64().unwrap_or(0) as u32,
                            Form::External,
                            KeyRef::Fixed(keys.mscck[ju]),
                        )
                    }
                    _ => (ba, my, Form::Internal, KeyRef::Fixed(keys.spk)),
                };
                single(
                    kind,
                    i,
                    th,
                    (ss, sa),
                    to,
                    (KeyRef::Fixed(keys.spk), keys.unknown_spk, Form::Internal),
                    (bs, key, out_ssrc, form_rx),
                )?
            }
        };
        t.streams.push(stream);
    }
    Ok(())
}

fn pair(
    r: &mut ControlClient,
    internal: &str,
    external: &str,
    undo: &mut Vec<Value>,
) -> Result<(), String> {
    r.call(&json!({"op": "identity.add", "internal": internal, "external": external}))
        .map_err(|e| format!("identity.add {internal}: {e}"))?;
    undo.push(json!({"op": "identity.remove", "internal": internal}));
    Ok(())
}

impl Topology {
    /// Removes what the set-up added to the relay (sessions first, then identities and
    /// keys); what fails to go is reported on stderr.
    pub fn teardown(&mut self, r: &mut ControlClient) {
        for req in self.undo.drain(..) {
            if let Err(e) = r.call(&req) {
                eprintln!("mcx-pktgen: clean-up {req}: {e}");
            }
        }
    }

    /// The rollover replaced `old` by `new` in the relay: the teardown revokes `new`.
    pub(crate) fn replaced_key(&mut self, old: KeyId, new: KeyId) {
        let was = json!({"op": "key.revoke", "key_id": hex_id(old)});
        let now = json!({"op": "key.revoke", "key_id": hex_id(new)});
        match self.undo.iter_mut().find(|u| **u == was) {
            Some(u) => *u = now,
            None => self.undo.push(now),
        }
    }
}
