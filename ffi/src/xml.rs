//! XML bodies of SIP messages from C (TS 33.180 §9.3; engine `xml`): element encryption and
//! the signatures body, under the F.1.4 keys of one XPK and MC Service user.
//!
//! Outputs go into caller memory with a length query: when `cap` is too small the call
//! returns `MCX_BUFFER_TOO_SMALL`, writes nothing to `out` and sets `*out_len` to the length
//! needed (for protect, the same on a retry: only the IVs differ). Documents are checked
//! against the engine's default limits (256 KiB, depth 32, 32 attributes per element).

use std::ffi::c_char;

use ::mcx_engine::keys::KeyId;
use ::mcx_engine::xml::{self, Elements, Limits, XmlKey};
use zeroize::Zeroizing;

use crate::keys::bytes;
use crate::status::mcx_status;
use crate::{boundary, text};

/// The XML keys of one XPK (CSK or SPK) and MC Service user (opaque; zeroized on free).
pub struct mcx_xml_key {
    key: XmlKey,
}

fn status(e: xml::Error) -> mcx_status {
    use xml::Error as E;
    match e {
        E::Malformed(_) | E::BadStructure(_) => mcx_status::MCX_MALFORMED_XML,
        E::Dtd | E::Entity | E::Encoding | E::Unsupported(_) => mcx_status::MCX_UNSUPPORTED,
        E::TooLarge | E::TooDeep | E::TooManyAttributes => mcx_status::MCX_LIMIT_EXCEEDED,
        E::WrongKey | E::AlgorithmMismatch => mcx_status::MCX_UNKNOWN_KEY,
        E::AuthenticationFailed => mcx_status::MCX_AUTHENTICATION_FAILED,
        E::Unsigned => mcx_status::MCX_UNSIGNED,
        E::RandomUnavailable => mcx_status::MCX_RANDOM_UNAVAILABLE,
        _ => mcx_status::MCX_INTERNAL,
    }
}

/// Derives the XML confidentiality (FC 0x51) and integrity (FC 0x52) keys from the XPK (the
/// CSK client ↔ server, the SPK server ↔ server; 16 or 32 octets), its ID and the MC Service
/// user ID `user_id[0..user_id_len)` (TS 33.180 F.1.4). Free with `mcx_xml_key_free`.
///
/// # Safety
/// `xpk` readable for `xpk_len`; `user_id` readable for `user_id_len`; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_xml_key_new(
    xpk: *const u8,
    xpk_len: usize,
    xpk_id: u32,
    user_id: *const u8,
    user_id_len: usize,
    out: *mut *mut mcx_xml_key,
) -> mcx_status {
    boundary(|| {
        if out.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: readable for their lengths (caller contract).
        let (x, u) = unsafe { (bytes(xpk, xpk_len), bytes(user_id, user_id_len)) };
        let (Some(x), Some(u), Ok(id)) = (x, u, KeyId::new(xpk_id)) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        match XmlKey::derive(x, id, u) {
            Ok(key) => {
                // SAFETY: writable (caller contract).
                unsafe { out.write(Box::into_raw(Box::new(mcx_xml_key { key }))) };
                mcx_status::MCX_OK
            }
            Err(_) => mcx_status::MCX_BAD_LENGTH,
        }
    })
}

/// Frees a key (zeroized). NULL is a no-op.
///
/// # Safety
/// `k` is NULL or a key from `mcx_xml_key_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_xml_key_free(k: *mut mcx_xml_key) {
    let _ = boundary(|| {
        if !k.is_null() {
            // SAFETY: from `Box::into_raw`, freed once.
            drop(unsafe { Box::from_raw(k) });
        }
        mcx_status::MCX_OK
    });
}

/// Copies `result` to `out` when it fits; otherwise `MCX_BUFFER_TOO_SMALL`. `*out_len` gets
/// the length either way.
///
/// # Safety
/// `out` writable for `cap`; `out_len` writable.
unsafe fn deliver(result: &[u8], out: *mut u8, cap: usize, out_len: *mut usize) -> mcx_status {
    // SAFETY: writable (caller contract).
    unsafe { out_len.write(result.len()) };
    if result.len() > cap {
        return mcx_status::MCX_BUFFER_TOO_SMALL;
    }
    // SAFETY: writable for `cap` octets (caller contract).
    match unsafe { crate::srtcp::buffer(out, cap) } {
        Some(o) => {
            o[..result.len()].copy_from_slice(result);
            mcx_status::MCX_OK
        }
        None => mcx_status::MCX_INVALID_ARGUMENT,
    }
}

/// `deliver`, and `*count = n` when `count` is not NULL.
///
/// # Safety
/// As `deliver`; `count` NULL or writable.
unsafe fn deliver_counted(
    result: &[u8],
    n: usize,
    count: *mut usize,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> mcx_status {
    if !count.is_null() {
        // SAFETY: writable (caller contract).
        unsafe { count.write(n) };
    }
    // SAFETY: caller contract, passed on.
    unsafe { deliver(result, out, cap, out_len) }
}

/// Encrypts the content of the elements named in `elements` (local names, comma-separated,
/// NUL-terminated; NULL for the engine's default list: the TS 24.379 §4.8 / TS 24.282 §4.6
/// sensitive elements) of the document `doc[0..len)` into `out` (see the module's length
/// query). `*count` (if not NULL) receives how many elements were encrypted.
///
/// # Safety
/// `k` a live key; `doc` readable for `len`; `elements` NULL or NUL-terminated; `out`
/// writable for `cap`, not overlapping `doc`; `out_len` writable; `count` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_xml_protect(
    k: *const mcx_xml_key,
    doc: *const u8,
    len: usize,
    elements: *const c_char,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
    count: *mut usize,
) -> mcx_status {
    boundary(|| {
        if k.is_null() || out_len.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        let list = if elements.is_null() {
            Elements::default()
        } else {
            // SAFETY: NUL-terminated (caller contract).
            match unsafe { text(elements) } {
                Some(s) => Elements::parse(s),
                None => return mcx_status::MCX_INVALID_ARGUMENT,
            }
        };
        // SAFETY: live key; readable for `len` (caller contract).
        let (k, d) = unsafe { (&(*k).key, bytes(doc, len)) };
        let Some(d) = d else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let mut result = Vec::new();
        match xml::protect(k, d, &list, &Limits::default(), &mut result) {
            // SAFETY: caller contract, passed on.
            Ok(n) => unsafe { deliver_counted(&result, n, count, out, cap, out_len) },
            Err(e) => status(e),
        }
    })
}

/// Decrypts every `xenc:EncryptedData` of the document `doc[0..len)` into `out` (see the
/// module's length query). The plaintext is checked before anything is written; on any error
/// nothing is. `*count` (if not NULL) receives how many were decrypted.
///
/// # Safety
/// As `mcx_xml_protect`, without `elements`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_xml_unprotect(
    k: *const mcx_xml_key,
    doc: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
    count: *mut usize,
) -> mcx_status {
    boundary(|| {
        if k.is_null() || out_len.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: live key; readable for `len` (caller contract).
        let (k, d) = unsafe { (&(*k).key, bytes(doc, len)) };
        let Some(d) = d else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        // The decrypted document is wiped when dropped, delivered or not.
        let mut result = Zeroizing::new(Vec::new());
        match xml::unprotect(k, d, &Limits::default(), &mut result) {
            // SAFETY: caller contract, passed on.
            Ok(n) => unsafe { deliver_counted(&result, n, count, out, cap, out_len) },
            Err(e) => status(e),
        }
    })
}

/// Writes the signatures body (`application/vnd.3gpp.mcptt-signed+xml`) for the XML body
/// `doc[0..len)` whose Content-ID is `content_id` (NUL-terminated, with or without `<>`)
/// into `out` (see the module's length query).
///
/// # Safety
/// `k` a live key; `doc` readable for `len`; `content_id` NUL-terminated; `out` writable for
/// `cap`; `out_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_xml_sign(
    k: *const mcx_xml_key,
    doc: *const u8,
    len: usize,
    content_id: *const c_char,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> mcx_status {
    boundary(|| {
        if k.is_null() || out_len.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: live key; readable / NUL-terminated (caller contract).
        let (k, d, cid) = unsafe { (&(*k).key, bytes(doc, len), text(content_id)) };
        let (Some(d), Some(cid)) = (d, cid) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let mut result = Vec::new();
        match xml::sign(k, cid, d, &Limits::default(), &mut result) {
            // SAFETY: caller contract, passed on.
            Ok(()) => unsafe { deliver(&result, out, cap, out_len) },
            Err(e) => status(e),
        }
    })
}

/// Verifies the signatures body `sigs[0..sigs_len)` against the XML body `doc[0..len)` with
/// Content-ID `content_id`: `MCX_OK` only when a signature names the body and every
/// signature verifies; `MCX_UNSIGNED` when they do not match up.
///
/// # Safety
/// `k` a live key; `sigs` and `doc` readable for their lengths; `content_id`
/// NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_xml_verify(
    k: *const mcx_xml_key,
    sigs: *const u8,
    sigs_len: usize,
    doc: *const u8,
    len: usize,
    content_id: *const c_char,
) -> mcx_status {
    boundary(|| {
        if k.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: live key; readable / NUL-terminated (caller contract).
        let (k, s, d, cid) = unsafe {
            (
                &(*k).key,
                bytes(sigs, sigs_len),
                bytes(doc, len),
                text(content_id),
            )
        };
        let (Some(s), Some(d), Some(cid)) = (s, d, cid) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        match xml::verify(k, s, &[(cid, d)], &Limits::default()) {
            Ok(_) => mcx_status::MCX_OK,
            Err(e) => status(e),
        }
    })
}

/// One XML body for `mcx_xml_sign_bodies` / `mcx_xml_verify_bodies`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct mcx_xml_body {
    /// Its Content-ID, NUL-terminated, with or without `<>`.
    pub content_id: *const c_char,
    /// The body's octets.
    pub data: *const u8,
    /// Their number.
    pub len: usize,
}

/// Most bodies one call takes (a SIP message carries a few).
pub const MCX_XML_MAX_BODIES: usize = 16;

/// The (Content-ID, body) pairs of `bodies[0..n)`, or `None` for a bad entry.
///
/// # Safety
/// `bodies` readable for `n` entries, each with a NUL-terminated `content_id` and `data`
/// readable for `len`.
unsafe fn bodies_of<'a>(bodies: *const mcx_xml_body, n: usize) -> Option<Vec<(&'a str, &'a [u8])>> {
    if bodies.is_null() || n == 0 || n > MCX_XML_MAX_BODIES {
        return None;
    }
    // SAFETY: readable for `n` entries (caller contract).
    let list = unsafe { core::slice::from_raw_parts(bodies, n) };
    list.iter()
        // SAFETY: each entry's pointers per the caller contract.
        .map(|b| unsafe { Some((text(b.content_id)?, bytes(b.data, b.len)?)) })
        .collect()
}

/// `mcx_xml_sign` for several XML bodies of one message: one `Signature` per body, `Id`s
/// `signature1`, `signature2` … (at most `MCX_XML_MAX_BODIES`).
///
/// # Safety
/// `k` a live key; `bodies` readable for `n` valid entries; `out` writable for `cap`;
/// `out_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_xml_sign_bodies(
    k: *const mcx_xml_key,
    bodies: *const mcx_xml_body,
    n: usize,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> mcx_status {
    boundary(|| {
        if k.is_null() || out_len.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: live key; entries valid (caller contract).
        let (k, list) = unsafe { (&(*k).key, bodies_of(bodies, n)) };
        let Some(list) = list else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let mut result = Vec::new();
        match xml::sign_bodies(k, &list, &Limits::default(), &mut result) {
            // SAFETY: caller contract, passed on.
            Ok(()) => unsafe { deliver(&result, out, cap, out_len) },
            Err(e) => status(e),
        }
    })
}

/// `mcx_xml_verify` for several XML bodies: `MCX_OK` only when every body is signed and every
/// signature verifies and names one of them.
///
/// # Safety
/// `k` a live key; `sigs` readable for `sigs_len`; `bodies` readable for `n` valid entries.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_xml_verify_bodies(
    k: *const mcx_xml_key,
    sigs: *const u8,
    sigs_len: usize,
    bodies: *const mcx_xml_body,
    n: usize,
) -> mcx_status {
    boundary(|| {
        if k.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: live key; readable; entries valid (caller contract).
        let (k, s, list) = unsafe { (&(*k).key, bytes(sigs, sigs_len), bodies_of(bodies, n)) };
        let (Some(s), Some(list)) = (s, list) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        match xml::verify(k, s, &list, &Limits::default()) {
            Ok(_) => mcx_status::MCX_OK,
            Err(e) => status(e),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    // Every XML error has a status that does not describe a packet (MCX_MALFORMED is for
    // packets), and the two malformed ones say XML.
    #[test]
    fn every_xml_error_has_an_xml_status() {
        use xml::Error as E;
        let all = [
            E::Malformed("m"),
            E::Dtd,
            E::Entity,
            E::Encoding,
            E::TooLarge,
            E::TooDeep,
            E::TooManyAttributes,
            E::Unsupported("u"),
            E::BadStructure("b"),
            E::WrongKey,
            E::AlgorithmMismatch,
            E::AuthenticationFailed,
            E::Unsigned,
            E::RandomUnavailable,
        ];
        let text = |s: mcx_status| {
            // SAFETY: mcx_status_str returns a static NUL-terminated string.
            unsafe { CStr::from_ptr(crate::mcx_status_str(s as i32)) }
                .to_str()
                .unwrap()
        };
        for e in all {
            let s = status(e);
            assert_ne!(s, mcx_status::MCX_MALFORMED, "{e:?}");
            assert_ne!(s, mcx_status::MCX_INTERNAL, "{e:?}");
            assert!(!text(s).contains("packet"), "{e:?}: {}", text(s));
        }
        for e in [E::Malformed("m"), E::BadStructure("b")] {
            assert_eq!(status(e), mcx_status::MCX_MALFORMED_XML);
        }
        assert!(text(mcx_status::MCX_MALFORMED_XML).contains("XML"));
    }
}
