//! The relay from C: `mcx_relay_new` starts `mcx-io`'s relay on an engine's key store (keys
//! go in and out through the engine's `mcx_key_*` calls), routes are added and removed here,
//! and `mcx_relay_stats_get` / `mcx_relay_control` report.

use std::ffi::c_char;
use std::net::SocketAddr;
use std::sync::Arc;

use ::mcx_engine::keys::KeyId;
use mcx_io::relay::{Control, Relay, RelayConfig, RelayError, RouteSpec};

use crate::engine::mcx_engine;
use crate::{boundary, mcx_status, read_config, text};

/// A running relay: worker threads pinned to cores, moving SRTCP between its legs.
pub struct mcx_relay {
    relay: Option<Relay>,
    control: Control,
}

/// `mcx_relay_stats.io`: io_uring.
pub const MCX_RELAY_IO_URING: u32 = 1;
/// `mcx_relay_stats.io`: `recvmmsg`/`sendmmsg`.
pub const MCX_RELAY_IO_MMSG: u32 = 2;

/// A relay's counters, summed over its workers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct mcx_relay_stats {
    /// `sizeof(mcx_relay_stats)`, set by the caller; the library fills at most this much.
    pub struct_size: u32,
    /// The I/O backend: `MCX_RELAY_IO_URING` or `MCX_RELAY_IO_MMSG`.
    pub io: u32,
    /// Workers.
    pub workers: u32,
    /// Datagrams received.
    pub received: u64,
    /// Packets sent.
    pub sent: u64,
    /// Packets dropped, every reason.
    pub dropped: u64,
    /// Dropped: not addressable SRTCP (short, long, no MKI).
    pub dropped_malformed: u64,
    /// Dropped: no route for (leg, key ID).
    pub dropped_no_route: u64,
    /// Dropped: the MKI names no installed key.
    pub dropped_unknown_key: u64,
    /// Dropped: the tag did not verify.
    pub dropped_auth: u64,
    /// Dropped: replayed or older than the window.
    pub dropped_replay: u64,
    /// Dropped: the key is revoked, expired, superseded or not yet valid.
    pub dropped_key_state: u64,
    /// Dropped: the egress protect failed.
    pub dropped_protect: u64,
    /// Dropped for another reason (purpose, stream limit, hand-off ring, slots, send).
    pub dropped_other: u64,
    /// Packets handed to the worker that owns their stream.
    pub handed_off: u64,
}

// SAFETY: a plain C struct of integers; every bit pattern is valid.
unsafe impl crate::CPod for mcx_relay_stats {}

fn of_relay(e: &RelayError) -> mcx_status {
    match e {
        RelayError::Config(_) => mcx_status::MCX_RELAY_CONFIG,
        RelayError::Bind { .. } | RelayError::Io(_) => mcx_status::MCX_RELAY_IO,
        RelayError::Refused(_) => mcx_status::MCX_RELAY_REFUSED,
        _ => mcx_status::MCX_INTERNAL,
    }
}

/// Starts a relay. `config_toml` is the text of a `relay.toml` (the `mcx relay` format), or
/// NULL for the built-in default (legs `clients` 127.0.0.1:40000 and `core`
/// 127.0.0.1:40002, control socket `/run/mcx/relay.sock`). The relay uses `e`'s key store:
/// keys installed or revoked on `e` are the relay's. Returns once every socket is bound and
/// every worker runs. `MCX_RELAY_CONFIG` for a configuration that does not parse or check,
/// `MCX_RELAY_IO` when a socket cannot be bound or the I/O backend asked for cannot start.
///
/// # Safety
/// `e` is a live engine that outlives the relay; `config_toml` is NULL or a NUL-terminated
/// string; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_relay_new(
    e: *const mcx_engine,
    config_toml: *const c_char,
    out: *mut *mut mcx_relay,
) -> mcx_status {
    boundary(|| {
        if e.is_null() || out.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        let config = if config_toml.is_null() {
            RelayConfig::default()
        } else {
            // SAFETY: non-NULL and NUL-terminated (caller contract).
            let Some(t) = (unsafe { text(config_toml) }) else {
                return mcx_status::MCX_RELAY_CONFIG;
            };
            match RelayConfig::from_toml(t) {
                Ok(c) => c,
                Err(_) => return mcx_status::MCX_RELAY_CONFIG,
            }
        };
        // SAFETY: a live engine (caller contract).
        let store = Arc::clone(unsafe { &(*e).store });
        match Relay::start_with_store(&config, store) {
            Ok(relay) => {
                let control = relay.control();
                let r = Box::new(mcx_relay {
                    relay: Some(relay),
                    control,
                });
                // SAFETY: `out` is writable (caller contract).
                unsafe { out.write(Box::into_raw(r)) };
                mcx_status::MCX_OK
            }
            Err(e) => of_relay(&e),
        }
    })
}

/// Stops a relay (each worker sends what it holds) and frees it. NULL is a no-op. No other
/// call on the relay may be running or start afterwards.
///
/// # Safety
/// `r` is NULL or a handle from `mcx_relay_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_relay_free(r: *mut mcx_relay) {
    if r.is_null() {
        return;
    }
    let _ = boundary(|| {
        // SAFETY: from Box::into_raw in mcx_relay_new, freed once (caller contract).
        let mut b = unsafe { Box::from_raw(r) };
        if let Some(relay) = b.relay.take() {
            relay.shutdown();
        }
        mcx_status::MCX_OK
    });
}

fn key(id: u32) -> Option<KeyId> {
    KeyId::new(id).ok()
}

/// Adds a route: packets arriving on leg `from_leg` under `key_id` leave leg `to_leg` toward
/// `to` ("IP:PORT") re-protected under `key_id_out` (whose four octets are the egress MKI).
/// With `key_id` and `key_id_out` both 0 it is a plain route: every packet arriving on
/// `from_leg` leaves unchanged. `MCX_RELAY_REFUSED`, with nothing changed, for an unknown leg,
/// a key not installed, or a route that exists. Any thread, any time.
///
/// # Safety
/// `r` is a live relay; the strings are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_relay_route_add(
    r: *const mcx_relay,
    from_leg: *const c_char,
    key_id: u32,
    to_leg: *const c_char,
    to: *const c_char,
    key_id_out: u32,
) -> mcx_status {
    boundary(|| {
        if r.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: NUL-terminated strings (caller contract).
        let (Some(from), Some(to_leg), Some(to)) =
            (unsafe { text(from_leg) }, unsafe { text(to_leg) }, unsafe {
                text(to)
            })
        else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let Ok(to) = to.parse::<SocketAddr>() else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let (k_in, k_out) = match (key_id, key_id_out) {
            (0, 0) => (None, None),
            (i, o) => match (key(i), key(o)) {
                (Some(i), Some(o)) => (Some(i), Some(o)),
                _ => return mcx_status::MCX_INVALID_ARGUMENT,
            },
        };
        let spec = RouteSpec {
            from_leg: from.into(),
            key_id: k_in,
            to_leg: to_leg.into(),
            to,
            key_id_out: k_out,
        };
        // SAFETY: a live relay (caller contract).
        match unsafe { &*r }.control.add_route(&spec) {
            Ok(()) => mcx_status::MCX_OK,
            Err(e) => of_relay(&e),
        }
    })
}

/// Removes the route from `from_leg` under `key_id` (0: the leg's plain route). When it
/// returns, no worker forwards on it. `MCX_RELAY_REFUSED` when there is no such route.
///
/// # Safety
/// `r` is a live relay; `from_leg` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_relay_route_remove(
    r: *const mcx_relay,
    from_leg: *const c_char,
    key_id: u32,
) -> mcx_status {
    boundary(|| {
        if r.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: NUL-terminated (caller contract).
        let Some(from) = (unsafe { text(from_leg) }) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let k = match key_id {
            0 => None,
            i => match key(i) {
                Some(k) => Some(k),
                None => return mcx_status::MCX_INVALID_ARGUMENT,
            },
        };
        // SAFETY: a live relay (caller contract).
        match unsafe { &*r }.control.remove_route(from, k) {
            Ok(()) => mcx_status::MCX_OK,
            Err(e) => of_relay(&e),
        }
    })
}

/// Writes the address leg `leg` is bound to ("IP:PORT", NUL-terminated) into `buf` of
/// `buf_len` octets (48 always suffice). `MCX_RELAY_REFUSED` for an unknown leg,
/// `MCX_BUFFER_TOO_SMALL` when it does not fit.
///
/// # Safety
/// `r` is a live relay; `leg` is NUL-terminated; `buf` is writable for `buf_len` octets.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_relay_leg_addr(
    r: *const mcx_relay,
    leg: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
) -> mcx_status {
    boundary(|| {
        if r.is_null() || buf.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: NUL-terminated (caller contract).
        let Some(name) = (unsafe { text(leg) }) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        // SAFETY: a live relay (caller contract).
        let legs = unsafe { &*r }.control.legs();
        let Some((_, addr)) = legs.iter().find(|(n, _)| n == name) else {
            return mcx_status::MCX_RELAY_REFUSED;
        };
        let s = addr.to_string();
        if s.len() + 1 > buf_len {
            return mcx_status::MCX_BUFFER_TOO_SMALL;
        }
        // SAFETY: `buf` is writable for `buf_len` ≥ s.len() + 1 octets.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
            buf.add(s.len()).write(0);
        }
        mcx_status::MCX_OK
    })
}

/// Fills `out` (whose `struct_size` the caller sets) with the relay's counters.
///
/// # Safety
/// `r` is a live relay; `out` is writable for its `struct_size` octets.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_relay_stats_get(
    r: *const mcx_relay,
    out: *mut mcx_relay_stats,
) -> mcx_status {
    boundary(|| {
        if r.is_null() || out.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: `out` starts with its struct_size (caller contract).
        let Some(caller) = (unsafe { read_config(out.cast_const(), mcx_relay_stats::default()) })
        else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        // SAFETY: a live relay (caller contract).
        let s = unsafe { &*r }.control.stats();
        let d = &s.dropped;
        let full = mcx_relay_stats {
            struct_size: caller.struct_size,
            io: if s.io == "uring" {
                MCX_RELAY_IO_URING
            } else {
                MCX_RELAY_IO_MMSG
            },
            workers: s.workers.len() as u32,
            received: s.received,
            sent: s.sent,
            dropped: d.total(),
            dropped_malformed: d.malformed,
            dropped_no_route: d.no_route,
            dropped_unknown_key: d.unknown_key,
            dropped_auth: d.auth,
            dropped_replay: d.replay,
            dropped_key_state: d.key_state,
            dropped_protect: d.protect,
            dropped_other: d.wrong_purpose
                + d.too_many_streams
                + d.handoff_full
                + d.slab_full
                + d.send,
            handed_off: s.workers.iter().map(|w| w.handed_off).sum(),
        };
        let n = (caller.struct_size as usize).min(std::mem::size_of::<mcx_relay_stats>());
        // SAFETY: `out` is writable for struct_size octets; at most that many are copied.
        unsafe {
            std::ptr::copy_nonoverlapping((&raw const full).cast::<u8>(), out.cast::<u8>(), n);
        }
        mcx_status::MCX_OK
    })
}

/// Runs one control-socket operation (a JSON object, as `mcx relay ctl` sends) and writes
/// the reply line (NUL-terminated JSON) into `reply` of `reply_len` octets; `*written` gets
/// its length without the NUL. `MCX_OK` when the reply says `"ok":true`,
/// `MCX_RELAY_REFUSED` when it says false (the reason is in the reply),
/// `MCX_BUFFER_TOO_SMALL` when the reply does not fit (the operation was carried out).
///
/// # Safety
/// `r` is a live relay; `line` is NUL-terminated; `reply` is writable for `reply_len`
/// octets; `written` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_relay_control(
    r: *const mcx_relay,
    line: *const c_char,
    reply: *mut c_char,
    reply_len: usize,
    written: *mut usize,
) -> mcx_status {
    boundary(|| {
        if r.is_null() || reply.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: NUL-terminated (caller contract).
        let Some(l) = (unsafe { text(line) }) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        // SAFETY: a live relay (caller contract).
        let out = unsafe { &*r }.control.handle_line(l);
        let ok = mcx_io::control::reply_ok(&out);
        if !written.is_null() {
            // SAFETY: writable (caller contract).
            unsafe { written.write(out.len()) };
        }
        if out.len() + 1 > reply_len {
            return mcx_status::MCX_BUFFER_TOO_SMALL;
        }
        // SAFETY: `reply` is writable for reply_len ≥ out.len() + 1 octets.
        unsafe {
            std::ptr::copy_nonoverlapping(out.as_ptr(), reply.cast::<u8>(), out.len());
            reply.add(out.len()).write(0);
        }
        if ok {
            mcx_status::MCX_OK
        } else {
            mcx_status::MCX_RELAY_REFUSED
        }
    })
}
