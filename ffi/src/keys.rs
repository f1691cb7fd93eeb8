//! Installing and revoking keys.

use std::ffi::c_char;

use ::mcx_engine::keys::{CsId, KeyId, Service};
use ::mcx_engine::srtcp::Protection;
use ::mcx_engine::store::{KeyInstall, Owner, SrtpInstall};
use ::mcx_engine::time::Timestamp;

use crate::engine::mcx_engine;
use crate::status::{mcx_status, of_store};
use crate::{boundary, read_config, text};

/// `mcx_key_material.service`: MCPTT.
pub const MCX_SERVICE_MCPTT: u32 = 0;
/// `mcx_key_material.service`: MCVideo.
pub const MCX_SERVICE_MCVIDEO: u32 = 1;
/// `mcx_key_material.service`: MCData.
pub const MCX_SERVICE_MCDATA: u32 = 2;

/// Key flag: SRTCP under this key is authenticated only (E=0), not encrypted.
pub const MCX_SRTCP_AUTH_ONLY: u32 = 1;

/// An MC key as the control plane hands it over (TS 33.180: CSK upload, group key
/// download, SPK configuration …). Start with `struct_size = sizeof(mcx_key_material)`;
/// everything up to and including `peer` is required, later fields default when past
/// `struct_size`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct mcx_key_material {
    /// `sizeof(mcx_key_material)` as the caller knows it.
    pub struct_size: u32,
    /// The key ID; its 4 top bits name the purpose (CSK, MuSiK, SPK …).
    pub key_id: u32,
    /// The MC key, 16 or 32 octets.
    pub key: *const u8,
    /// Its length.
    pub key_len: usize,
    /// The MIKEY RAND that came with it, 16 to 255 octets.
    pub rand: *const u8,
    /// Its length.
    pub rand_len: usize,
    /// `MCX_SERVICE_MCPTT`, `MCX_SERVICE_MCVIDEO` or `MCX_SERVICE_MCDATA`.
    pub service: u32,
    /// `MCX_SRTCP_AUTH_ONLY`, or 0 (other bits: `MCX_INVALID_ARGUMENT`).
    pub flags: u32,
    /// The owner's MC Service user ID (or MC group ID for group keys), UTF-8.
    pub owner_user_id: *const c_char,
    /// The owner's IMPU, UTF-8; NULL when unknown.
    pub owner_impu: *const c_char,
    /// The other end: the server's MDSI for client keys, the peer server for an SPK.
    pub peer: *const c_char,
    /// Not usable before this time (milliseconds since the Unix epoch); 0: no limit.
    pub valid_from_ms: u64,
    /// Not usable from this time on; 0: no limit.
    pub valid_until_ms: u64,
    /// CS-ID where TS 33.180 Table E.1.3-1 defines none for the purpose and service;
    /// -1: from the table.
    pub cs_id: i32,
    /// For a GMK: the member's GUK-ID (required: a `struct_size` that ends before it gives
    /// `MCX_MISSING_GUK_ID`).
    pub guk_id: u32,
}

fn zeroed_material() -> mcx_key_material {
    mcx_key_material {
        struct_size: 0,
        key_id: 0,
        key: core::ptr::null(),
        key_len: 0,
        rand: core::ptr::null(),
        rand_len: 0,
        service: 0,
        flags: 0,
        owner_user_id: core::ptr::null(),
        owner_impu: core::ptr::null(),
        peer: core::ptr::null(),
        valid_from_ms: 0,
        valid_until_ms: 0,
        cs_id: -1,
        guk_id: 0,
    }
}

/// A caller's byte range, or `None` for NULL with a non-zero length.
///
/// # Safety
/// `p` is NULL or readable for `len` octets.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if p.is_null() || len > crate::MAX_LEN {
        return None;
    }
    // SAFETY: readable for `len` octets (caller contract).
    Some(unsafe { core::slice::from_raw_parts(p, len) })
}

fn service(s: u32) -> Option<Service> {
    match s {
        MCX_SERVICE_MCPTT => Some(Service::Mcptt),
        MCX_SERVICE_MCVIDEO => Some(Service::Mcvideo),
        MCX_SERVICE_MCDATA => Some(Service::Mcdata),
        _ => None,
    }
}

fn time(ms: u64) -> Option<Timestamp> {
    (ms != 0).then_some(Timestamp(ms))
}

fn protection(flags: u32) -> Protection {
    if flags & MCX_SRTCP_AUTH_ONLY != 0 {
        Protection::AuthOnly
    } else {
        Protection::Encrypted
    }
}

/// The install a caller's key material describes, or the status that refuses it.
///
/// # Safety
/// `km` points to a readable `mcx_key_material` of at least `km->struct_size` octets whose
/// pointers are valid for their lengths / NUL-terminated, and stay so for `'a`.
unsafe fn install_of<'a>(km: *const mcx_key_material) -> Result<KeyInstall<'a>, mcx_status> {
    if km.is_null() {
        return Err(mcx_status::MCX_INVALID_ARGUMENT);
    }
    // SAFETY: `km` is readable for `struct_size` octets (caller contract).
    let Some(m) = (unsafe { read_config(km, zeroed_material()) }) else {
        return Err(mcx_status::MCX_INVALID_ARGUMENT);
    };
    if (m.struct_size as usize) < core::mem::offset_of!(mcx_key_material, valid_from_ms)
        || m.flags & !MCX_SRTCP_AUTH_ONLY != 0
    {
        return Err(mcx_status::MCX_INVALID_ARGUMENT);
    }
    // SAFETY: the pointers come with their lengths / as C strings (caller contract).
    let (key, rand, user, impu, peer) = unsafe {
        (
            bytes(m.key, m.key_len),
            bytes(m.rand, m.rand_len),
            text(m.owner_user_id),
            text(m.owner_impu),
            text(m.peer),
        )
    };
    let (Some(key), Some(rand), Some(user), Some(peer), Some(service)) =
        (key, rand, user, peer, service(m.service))
    else {
        return Err(mcx_status::MCX_INVALID_ARGUMENT);
    };
    if !m.owner_impu.is_null() && impu.is_none() {
        return Err(mcx_status::MCX_INVALID_ARGUMENT);
    }
    let Ok(key_id) = KeyId::new(m.key_id) else {
        return Err(mcx_status::MCX_INVALID_ARGUMENT);
    };
    let cs_id = match m.cs_id {
        -1 => None,
        n => match u8::try_from(n).ok().and_then(|n| CsId::try_from(n).ok()) {
            Some(c) => Some(c),
            None => return Err(mcx_status::MCX_INVALID_ARGUMENT),
        },
    };
    let owner = Owner {
        user_id: user.to_owned(),
        impu: impu.map(str::to_owned),
    };
    let mut k = KeyInstall::new(key, key_id, rand, service, owner, peer);
    k.valid_from = time(m.valid_from_ms);
    k.valid_until = time(m.valid_until_ms);
    k.protection = protection(m.flags);
    k.cs_id = cs_id;
    // A GMK needs its member's GUK-ID: a struct too short to carry one has none.
    let has_guk = m.struct_size as usize
        >= core::mem::offset_of!(mcx_key_material, guk_id) + core::mem::size_of::<u32>();
    k.guk_id =
        (key_id.purpose() == ::mcx_engine::keys::Purpose::Gmk && has_guk).then_some(m.guk_id);
    Ok(k)
}

/// Installs an MC key: derives and caches its SRTCP keys (TS 33.180 §7.4). A new key for
/// the same purpose, owner and peer supersedes the previous one (it keeps unprotecting for
/// the grace period, and the sender's SRTCP index carries on). A key ID that was installed
/// before and left (revoked, expired, purged) is remembered (`mcx_engine_config.retired_keys`,
/// the most recent 100000 by default): installed again with the same material it is refused
/// (`MCX_KEY_REUSED`: its old packets could be replayed), with new material its SSRCs
/// continue above the last index it sent with, so that no (key, SSRC, index) — no GCM IV —
/// repeats. Do not reuse key material under an older ID. A validity that ends before it
/// begins is `MCX_INVALID_ARGUMENT`, one already over `MCX_EXPIRED`. The cost does not grow
/// with the number of keys installed.
///
/// # Safety
/// `e` is a live engine; `km` points to a readable `mcx_key_material` of at least
/// `km->struct_size` octets whose pointers are valid for their lengths / NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_key_install(
    e: *mut mcx_engine,
    km: *const mcx_key_material,
) -> mcx_status {
    boundary(|| {
        if e.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live handle; `km` as the contract says.
        let (e, k) = unsafe { (&*e, install_of(km)) };
        let k = match k {
            Ok(k) => k,
            Err(status) => return status,
        };
        match e.store.install(&k, Timestamp::now()) {
            Ok(_) => mcx_status::MCX_OK,
            Err(err) => of_store(err),
        }
    })
}

/// Installs `n` MC keys at once (`kms[i]` each as for `mcx_key_install`) under one writer
/// lock, with the index sized once for all of them (packet calls see them appear one by one);
/// `statuses[i]` receives each key's status. Returns `MCX_OK` when the call itself was valid.
///
/// # Safety
/// `e` is a live engine; `kms` points to `n` pointers each as `mcx_key_install`'s `km`;
/// `statuses` is writable for `n` `int32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_key_install_many(
    e: *mut mcx_engine,
    kms: *const *const mcx_key_material,
    n: usize,
    statuses: *mut i32,
) -> mcx_status {
    boundary(|| {
        if e.is_null() || (n > 0 && (kms.is_null() || statuses.is_null())) || n > crate::MAX_LEN / 8
        {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        if n == 0 {
            return mcx_status::MCX_OK;
        }
        // SAFETY: a live handle; `n` pointers and `n` statuses (caller contract).
        let (e, kms, out) = unsafe {
            (
                &*e,
                core::slice::from_raw_parts(kms, n),
                core::slice::from_raw_parts_mut(statuses, n),
            )
        };
        let mut ks = Vec::with_capacity(n);
        let mut at = Vec::with_capacity(n);
        for (i, &km) in kms.iter().enumerate() {
            // SAFETY: each pointer as `mcx_key_install`'s (caller contract).
            match unsafe { install_of(km) } {
                Ok(k) => {
                    ks.push(k);
                    at.push(i);
                }
                Err(status) => out[i] = status.into(),
            }
        }
        for (i, r) in at
            .into_iter()
            .zip(e.store.install_many(&ks, Timestamp::now()))
        {
            out[i] = match r {
                Ok(_) => mcx_status::MCX_OK,
                Err(err) => of_store(err),
            }
            .into();
        }
        mcx_status::MCX_OK
    })
}

/// Installs a raw SRTP master key (16 or 32 octets) and master salt (12 octets) under
/// `key_id`, which is also the MKI on the wire; its 4 top bits name the purpose as for an
/// MC key. `flags`: `MCX_SRTCP_AUTH_ONLY` for E=0. Such a key replaces no other.
///
/// # Safety
/// `e` is a live engine; `master_key` and `master_salt` are readable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_key_install_srtp(
    e: *mut mcx_engine,
    key_id: u32,
    master_key: *const u8,
    master_key_len: usize,
    master_salt: *const u8,
    master_salt_len: usize,
    flags: u32,
) -> mcx_status {
    boundary(|| {
        if e.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live handle (caller contract).
        let e = unsafe { &*e };
        // SAFETY: readable for their lengths (caller contract).
        let (key, salt) = unsafe {
            (
                bytes(master_key, master_key_len),
                bytes(master_salt, master_salt_len),
            )
        };
        let (Some(key), Some(salt), Ok(key_id)) = (key, salt, KeyId::new(key_id)) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        if flags & !MCX_SRTCP_AUTH_ONLY != 0 {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        let mut k = SrtpInstall::new(key, salt, key_id, Service::Mcptt);
        k.protection = protection(flags);
        match e.store.install_srtp(&k, Timestamp::now()) {
            Ok(_) => mcx_status::MCX_OK,
            Err(err) => of_store(err),
        }
    })
}

/// Revokes a key: from the next packet on it neither protects nor unprotects, and its
/// material is zeroized once no call still uses it.
///
/// # Safety
/// `e` is a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_key_revoke(e: *mut mcx_engine, key_id: u32) -> mcx_status {
    boundary(|| {
        if e.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live handle (caller contract).
        let e = unsafe { &*e };
        let Ok(id) = KeyId::new(key_id) else {
            return mcx_status::MCX_UNKNOWN_KEY;
        };
        match e.store.revoke(id) {
            Ok(()) => mcx_status::MCX_OK,
            Err(err) => of_store(err),
        }
    })
}

/// Removes the keys whose validity is over and the replaced keys whose grace period is over,
/// at time `now_ms` (milliseconds since the Unix epoch; 0 reads the system clock); their
/// material is zeroized once no call uses it. `*removed` (if not NULL) receives how many
/// left. Installs purge too; call this when none come for a while. Costs nothing for the keys
/// that stay.
///
/// # Safety
/// `e` is a live engine; `removed` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_key_purge(
    e: *mut mcx_engine,
    now_ms: u64,
    removed: *mut usize,
) -> mcx_status {
    boundary(|| {
        if e.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live handle (caller contract).
        let e = unsafe { &*e };
        let gone = e.store.purge(crate::srtcp::time_of(now_ms)).len();
        if !removed.is_null() {
            // SAFETY: `removed` is writable (caller contract).
            unsafe { removed.write(gone) };
        }
        mcx_status::MCX_OK
    })
}
