//! The relay's control socket: a Unix stream socket; one JSON object per line in, one reply
//! line out, `{"ok":true,…}` or `{"ok":false,"error":"…"}`.
//!
//! Operations:
//! - `{"op":"key.install","key":HEX,"key_id":HEX8,"rand":HEX,"service":"mcptt|mcvideo|mcdata","owner":URI,"peer":URI}`
//!   (optional `"cs_id":N` for keys the CS-ID table has no entry for, such as an SPK)
//!   (optional `"impu"`; `"algorithms":{"supported":[…],"selected":"aes128-gcm|aes256-gcm"}`;
//!   `"via":"upload"` for a CSK upload — the reply says `"aliased"` with the client's first
//!   CSK when the same client came through another URI — or `"via":"download"` for a key
//!   download, which discards the key it replaces at once unless another URI still uses it;
//!   the reply names it as `"replaced"`)
//! - `{"op":"key.install_srtp","key_id":HEX8,"master_key":HEX,"master_salt":HEX}` (optional
//!   `"service"`, default mcptt; `"peer"` binds the key to an interconnection end-point)
//! - `{"op":"key.revoke","key_id":HEX8}`
//! - `{"op":"route.add","from_leg":NAME,"key_id":HEX8,"to_leg":NAME,"to":"IP:PORT","key_id_out":HEX8}`;
//!   without the two key IDs, a plain route (the leg's packets leave unchanged)
//! - `{"op":"route.remove","from_leg":NAME,"key_id":HEX8}` (without `key_id`: the plain route)
//! - `{"op":"routes"}`, `{"op":"legs"}`, `{"op":"stats"}`, `{"op":"ping"}`
//! - with a `[proxy]` role: `{"op":"session.add","inside":SIDE,"outside":[SIDE…],"alias":[IN,OUT]}`
//!   where SIDE is `{"leg":NAME,"peer":"IP:PORT","keys":[HEX8…]}` (optional `"ssrc"`,
//!   `"peer_ssrc"`, `"profile"`; no keys: in clear), answered with the session's `id` and
//!   the SSRCs the proxy shows; `{"op":"session.remove","id":N}`;
//!   `{"op":"session.rekey","from":HEX8,"to":HEX8}`; `{"op":"sessions"}`;
//!   `{"op":"identity.add","internal":URI,"external":URI}`,
//!   `{"op":"identity.remove","internal":URI}`, `{"op":"identities"}`: the identity map's
//!   pairs, changed while packets flow (each packet reads the map as it was when it began)
//!
//! A refused line changes nothing. Lines longer than [`MAX_LINE`] are refused and the
//! connection closed; at most [`MAX_CONNECTIONS`] connections are served at once. Key
//! material in a line is zeroized once the line is handled and never appears in a reply.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use mcx_engine::keys::{CsId, KeyId, Service};
use mcx_engine::store::{Algorithms, KeyInstall, Owner, SrtcpAlgorithm, SrtpInstall, Upload};
use mcx_engine::time::Timestamp;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::relay::{Control, RouteSpec};

/// The longest control line, in octets.
pub const MAX_LINE: usize = 64 * 1024;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;

fn err(msg: impl Into<String>) -> Value {
    json!({"ok": false, "error": msg.into()})
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("\"{name}\" (a string) is missing"))
}

fn key_id(v: &Value, name: &str) -> Result<KeyId, String> {
    let s = field(v, name)?;
    if s.len() != 8 {
        return Err(format!("\"{name}\": 8 hex digits expected"));
    }
    let n = u32::from_str_radix(s, 16).map_err(|_| format!("\"{name}\": not hex"))?;
    KeyId::new(n).map_err(|e| format!("\"{name}\": {e}"))
}

fn opt_key_id(v: &Value, name: &str) -> Result<Option<KeyId>, String> {
    if v.get(name).is_none() {
        return Ok(None);
    }
    key_id(v, name).map(Some)
}

fn hex_field(v: &Value, name: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let s = field(v, name)?;
    hex::decode(s)
        .map(Zeroizing::new)
        .map_err(|_| format!("\"{name}\": not hex"))
}

fn service(v: &Value) -> Result<Service, String> {
    match v.get("service").and_then(Value::as_str).unwrap_or("mcptt") {
        "mcptt" => Ok(Service::Mcptt),
        "mcvideo" => Ok(Service::Mcvideo),
        "mcdata" => Ok(Service::Mcdata),
        other => Err(format!(
            "\"service\": {other:?} is not mcptt, mcvideo or mcdata"
        )),
    }
}

/// Handles one line for `c`; the reply, without a newline.
pub fn handle(c: &Control, line: &str) -> String {
    let reply = match serde_json::from_str::<Value>(line) {
        Err(e) => err(format!("not a JSON object: {e}")),
        Ok(v) if !v.is_object() => err("not a JSON object"),
        Ok(v) => {
            let r = op(c, &v);
            zeroize_value(v);
            match r {
                Ok(v) => v,
                Err(e) => err(e),
            }
        }
    };
    reply.to_string()
}

/// Zeroizes the strings of a parsed line (they may hold keys).
fn zeroize_value(v: Value) {
    if let Value::Object(m) = v {
        for (_, x) in m {
            if let Value::String(s) = x {
                drop(Zeroizing::new(s));
            }
        }
    }
}

/// `"algorithms": {"supported": ["aes128-gcm", …], "selected": "aes256-gcm"}`.
fn algorithms(v: &Value) -> Result<Option<Algorithms>, String> {
    let Some(a) = v.get("algorithms") else {
        return Ok(None);
    };
    let one = |x: &Value| match x.as_str() {
        Some("aes128-gcm") => Ok(SrtcpAlgorithm::Aes128Gcm),
        Some("aes256-gcm") => Ok(SrtcpAlgorithm::Aes256Gcm),
        _ => Err("\"algorithms\": aes128-gcm or aes256-gcm expected".to_owned()),
    };
    let selected = one(a
        .get("selected")
        .ok_or("\"algorithms\": \"selected\" missing")?)?;
    let supported = match a.get("supported") {
        None => Vec::new(),
        Some(l) => l
            .as_array()
            .ok_or("\"algorithms\": \"supported\" is a list")?
            .iter()
            .map(one)
            .collect::<Result<_, _>>()?,
    };
    Ok(Some(Algorithms {
        supported,
        selected,
    }))
}

fn op(c: &Control, v: &Value) -> Result<Value, String> {
    let op = field(v, "op")?;
    let now = Timestamp::now();
    match op {
        "ping" => Ok(json!({"ok": true})),
        "key.install" => {
            let key = hex_field(v, "key")?;
            let id = key_id(v, "key_id")?;
            let rand = hex_field(v, "rand")?;
            let mut owner = Owner::new(field(v, "owner")?);
            owner.impu = match v.get("impu") {
                None => None,
                Some(i) => Some(i.as_str().ok_or("\"impu\": a string expected")?.to_owned()),
            };
            let peer = field(v, "peer")?;
            let mut k = KeyInstall::new(&key, id, &rand, service(v)?, owner, peer);
            k.algorithms = algorithms(v)?;
            if let Some(n) = v.get("cs_id") {
                let n = n
                    .as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or("\"cs_id\": a number 0..=9 expected")?;
                k.cs_id = Some(CsId::try_from(n).map_err(|e| format!("\"cs_id\": {e}"))?);
            }
            let hex = |k: KeyId| format!("{:08x}", k.get());
            let via = match v.get("via") {
                None => "install",
                Some(x) => x.as_str().ok_or("\"via\": install, upload or download")?,
            };
            match via {
                "install" => {
                    c.store().install(&k, now).map_err(|e| e.to_string())?;
                    Ok(json!({"ok": true, "key_id": hex(id)}))
                }
                // TR 33.880 §7.2.5.3.3.5: the same client through another of the proxy's URIs
                // keeps its first CSK, which the reply names for the key download.
                "upload" => match c.store().csk_upload(&k, now).map_err(|e| e.to_string())? {
                    Upload::Installed(_) => Ok(json!({"ok": true, "key_id": hex(id)})),
                    Upload::Aliased { csk } => {
                        Ok(json!({"ok": true, "key_id": hex(csk), "aliased": true}))
                    }
                },
                "download" => {
                    let d = c.store().key_download(&k, now).map_err(|e| e.to_string())?;
                    Ok(json!({"ok": true, "key_id": hex(id), "replaced": d.superseded.map(hex)}))
                }
                other => Err(format!("\"via\": {other:?}: install, upload or download")),
            }
        }
        "key.install_srtp" => {
            let id = key_id(v, "key_id")?;
            let mk = hex_field(v, "master_key")?;
            let ms = hex_field(v, "master_salt")?;
            let mut k = SrtpInstall::new(&mk, &ms, id, service(v)?);
            k.peer = match v.get("peer") {
                None => None,
                Some(p) => Some(p.as_str().ok_or("\"peer\": a string expected")?.to_owned()),
            };
            c.store().install_srtp(&k, now).map_err(|e| e.to_string())?;
            Ok(json!({"ok": true, "key_id": format!("{:08x}", id.get())}))
        }
        "key.revoke" => {
            let id = key_id(v, "key_id")?;
            c.revoke(id).map_err(|e| e.to_string())?;
            Ok(json!({"ok": true}))
        }
        "route.add" => {
            let to = field(v, "to")?;
            let spec = RouteSpec {
                from_leg: field(v, "from_leg")?.into(),
                key_id: opt_key_id(v, "key_id")?,
                to_leg: field(v, "to_leg")?.into(),
                to: to
                    .parse()
                    .map_err(|_| format!("\"to\": {to:?} is not IP:PORT"))?,
                key_id_out: opt_key_id(v, "key_id_out")?,
            };
            c.add_route(&spec).map_err(|e| e.to_string())?;
            Ok(json!({"ok": true}))
        }
        "route.remove" => {
            let from = field(v, "from_leg")?;
            c.remove_route(from, opt_key_id(v, "key_id")?)
                .map_err(|e| e.to_string())?;
            Ok(json!({"ok": true}))
        }
        "routes" => {
            let list: Vec<Value> = c
                .routes()
                .iter()
                .map(|r| {
                    json!({
                        "from_leg": r.from_leg,
                        "key_id": r.key_id.map(|k| format!("{:08x}", k.get())),
                        "to_leg": r.to_leg,
                        "to": r.to.to_string(),
                        "key_id_out": r.key_id_out.map(|k| format!("{:08x}", k.get())),
                    })
                })
                .collect();
            Ok(json!({"ok": true, "routes": list}))
        }
        "legs" => {
            let legs: Vec<Value> = c
                .legs()
                .iter()
                .map(|(n, a)| json!({"name": n, "listen": a.to_string()}))
                .collect();
            Ok(json!({"ok": true, "legs": legs}))
        }
        "stats" => {
            let s = serde_json::to_value(c.stats()).map_err(|e| e.to_string())?;
            let mut m = serde_json::Map::new();
            m.insert("ok".into(), Value::Bool(true));
            if let Value::Object(o) = s {
                m.extend(o);
            }
            Ok(Value::Object(m))
        }
        "session.add" => {
            let mut body = v.clone();
            if let Value::Object(m) = &mut body {
                m.remove("op");
            }
            let spec: crate::relay::SessionConfig =
                serde_json::from_value(body).map_err(|e| format!("session: {e}"))?;
            let s = c.add_session(&spec).map_err(|e| e.to_string())?;
            Ok(json!({
                "ok": true,
                "id": s.id,
                "inside_ssrc": s.inside.ssrc,
                "outside_ssrcs": s.outside.iter().map(|o| o.ssrc).collect::<Vec<_>>(),
            }))
        }
        "session.remove" => {
            let id = v
                .get("id")
                .and_then(Value::as_u64)
                .ok_or("\"id\": a session number expected")?;
            c.remove_session(id).map_err(|e| e.to_string())?;
            Ok(json!({"ok": true}))
        }
        "session.rekey" => {
            let n = c
                .rekey_sessions(key_id(v, "from")?, key_id(v, "to")?)
                .map_err(|e| e.to_string())?;
            Ok(json!({"ok": true, "sessions": n}))
        }
        "sessions" => {
            let p = c.proxy().ok_or("this relay has no [proxy] role")?;
            let legs = c.legs();
            let side = |s: &mcx_engine::proxy::Side| {
                json!({
                    "leg": legs.get(s.leg as usize).map(|(n, _)| n.as_str()),
                    "peer": s.peer.to_string(),
                    "keys": s.keys.iter().map(|k| format!("{:08x}", k.get())).collect::<Vec<_>>(),
                    "ssrc": s.ssrc,
                    "peer_ssrc": s.peer_ssrc(),
                    "profile": s.profile.name(),
                })
            };
            let list: Vec<Value> = p
                .list()
                .iter()
                .map(|s| {
                    json!({
                        "id": s.id,
                        "inside": side(&s.inside),
                        "outside": s.outside.iter().map(side).collect::<Vec<_>>(),
                        "alias": s.alias.as_ref().map(|(a, b)| [a, b]),
                    })
                })
                .collect();
            Ok(json!({"ok": true, "role": p.role().name(), "sessions": list}))
        }
        "identity.add" | "identity.remove" => {
            let p = c.proxy().ok_or("this relay has no [proxy] role")?;
            let field = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .ok_or(format!("\"{k}\": an identity expected"))
            };
            let internal = field("internal")?;
            let r = if op == "identity.add" {
                let external = field("external")?;
                p.update_map(|m| m.clone().pair(internal, external))
            } else {
                p.update_map(|m| m.clone().without(internal))
            };
            r.map_err(|e| e.to_string())?;
            Ok(json!({"ok": true, "pairs": p.map().len()}))
        }
        "identities" => {
            let p = c.proxy().ok_or("this relay has no [proxy] role")?;
            let map = p.map();
            let mut pairs: Vec<(String, String)> = map
                .pairs()
                .map(|(i, e)| {
                    (
                        String::from_utf8_lossy(i).into_owned(),
                        String::from_utf8_lossy(e).into_owned(),
                    )
                })
                .collect();
            pairs.sort();
            let pairs: Vec<Value> = pairs
                .into_iter()
                .map(|(i, e)| json!({"internal": i, "external": e}))
                .collect();
            Ok(json!({
                "ok": true,
                "pairs": pairs,
                "external": map.external_identity(),
            }))
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

/// The control socket's listener thread.
pub(crate) struct Server {
    path: PathBuf,
    /// The listening socket's descriptor (owned by the listener thread), shut down to end
    /// its blocking accept.
    fd: RawFd,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `path` (a stale socket file there is replaced; its directory is made).
    pub(crate) fn start(path: &Path, control: Control) -> io::Result<Server> {
        // Absolute, so that the file removed at the end is this one even if the process
        // changes its directory meanwhile.
        let path = &std::path::absolute(path)?;
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            // Only a socket is replaced: one nobody answers on is stale, one that answers
            // belongs to a live relay; any other file is left alone.
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is there",
                ));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another relay listens there",
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        let fd = listener.as_raw_fd();
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("mcx-relay-ctl".into())
            .spawn(move || serve(listener, control, s))?;
        Ok(Server {
            path: path.to_path_buf(),
            fd,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // The listener blocks in accept (an idle relay wakes for nothing): shutting the
        // socket down ends the accept, whatever became of the path.
        // SAFETY: `fd` is the listener's descriptor, which its thread keeps open until it
        // returns, and that happens only after this.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, control: Control, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((mut s, _)) => {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                if active.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                    let _ = writeln!(s, "{}", err("too many control connections"));
                    continue;
                }
                active.fetch_add(1, Ordering::AcqRel);
                let c = control.clone();
                let a = Arc::clone(&active);
                let st = Arc::clone(&stop);
                let spawned = std::thread::Builder::new()
                    .name("mcx-relay-conn".into())
                    .spawn(move || {
                        connection(s, &c, &st);
                        a.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::AcqRel);
                }
            }
            Err(_) if stop.load(Ordering::Acquire) => return,
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A connection that sends no complete line for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

fn connection(mut s: UnixStream, c: &Control, stop: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    // The line buffer has its full size from the start, so that it never moves (a move
    // would leave key material behind in freed memory); both buffers are wiped on drop.
    let mut line = Zeroizing::new(Vec::<u8>::with_capacity(MAX_LINE + 1));
    let mut chunk = Zeroizing::new([0u8; 4096]);
    let mut idle = std::time::Instant::now();
    loop {
        if stop.load(Ordering::Acquire) || idle.elapsed() > IDLE_TIMEOUT {
            return;
        }
        let n = match s.read(&mut chunk[..]) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let mut rest = &chunk[..n];
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            if line.len() + nl > MAX_LINE {
                let _ = writeln!(s, "{}", err(format!("line longer than {MAX_LINE} octets")));
                return;
            }
            line.extend_from_slice(&rest[..nl]);
            rest = &rest[nl + 1..];
            idle = std::time::Instant::now();
            let reply = match std::str::from_utf8(&line) {
                Ok(text) if text.trim().is_empty() => None,
                Ok(text) => Some(handle(c, text.trim())),
                Err(_) => Some(err("not UTF-8").to_string()),
            };
            line.zeroize_clear();
            if let Some(reply) = reply
                && writeln!(s, "{reply}").is_err()
            {
                return;
            }
        }
        if line.len() + rest.len() > MAX_LINE {
            let _ = writeln!(s, "{}", err(format!("line longer than {MAX_LINE} octets")));
            return;
        }
        line.extend_from_slice(rest);
    }
}

trait ZeroizeClear {
    fn zeroize_clear(&mut self);
}

impl ZeroizeClear for Zeroizing<Vec<u8>> {
    fn zeroize_clear(&mut self) {
        use zeroize::Zeroize;
        self.zeroize();
        self.clear();
    }
}

/// Whether a reply line says `"ok":true`.
pub fn reply_ok(reply: &str) -> bool {
    serde_json::from_str::<Value>(reply).is_ok_and(|v| v["ok"] == Value::Bool(true))
}

/// Sends one line to the control socket at `path` and returns the reply line.
pub fn request(path: &Path, line: &str) -> io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(line.trim_end().as_bytes())?;
    s.write_all(b"\n")?;
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply)?;
    if reply.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no reply"));
    }
    Ok(reply.trim_end().to_string())
}
