//! MCData protected payloads (TS 33.180 §8.5.4) from C.

use ::mcx_engine::keys::KeyId;
use ::mcx_engine::mcdata::{self, Header, KeyError, PayloadKey};

use crate::keys::bytes;
use crate::status::mcx_status;
use crate::{CPod, boundary, read_config};

/// The DPCK of one DPPK (opaque; key material zeroized on free).
pub struct mcx_mcdata_key {
    key: PayloadKey,
}

/// Header fields of an MCData protected payload. Start with
/// `struct_size = sizeof(mcx_mcdata_header)`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct mcx_mcdata_header {
    /// `sizeof(mcx_mcdata_header)` as the caller knows it.
    pub struct_size: u32,
    /// Payload ID.
    pub payload_id: u32,
    /// Date and time, 40 bits.
    pub date_time: u64,
    /// Message type (TS 24.282 §15.2.2).
    pub message_type: u8,
    /// Payload sequence number.
    pub sequence: u8,
    /// The payload TLV-E's IEI. Not authenticated (outside the AAD): unprotect reports it as
    /// received, possibly altered on the way.
    pub iei: u8,
    /// Protect: 0 (or `MCX_MCDATA_FRESH_IV`) draws a fresh random IV and writes it back to
    /// `iv` (when `struct_size` covers the whole header); `MCX_MCDATA_GIVEN_IV` uses `iv` as
    /// given (test vectors), which then must lie within `struct_size`; both together are
    /// `MCX_INVALID_ARGUMENT`. Unprotect writes 0.
    pub flags: u8,
    /// The 16-octet GCM IV.
    pub iv: [u8; 16],
}

// SAFETY: integer fields and an integer array only, `struct_size` first.
unsafe impl CPod for mcx_mcdata_header {}

/// `mcx_mcdata_header.flags`: draw a fresh random IV, as 0 does.
pub const MCX_MCDATA_FRESH_IV: u8 = 1;
/// `mcx_mcdata_header.flags`: protect under the IV in `iv` as given (test vectors). GCM
/// under one key must never see an IV twice: a repeat reveals the XOR of the plaintexts and
/// lets forgeries through.
pub const MCX_MCDATA_GIVEN_IV: u8 = 2;
/// Octets of `mcx_mcdata_header` up to the end of `iv`: what `struct_size` must cover for
/// `MCX_MCDATA_GIVEN_IV`.
const IV_END: usize = core::mem::offset_of!(mcx_mcdata_header, iv) + mcdata::IV_LEN;
/// Octets a protected payload adds to its plaintext.
pub const MCX_MCDATA_OVERHEAD: usize = 51;
const _: () = assert!(MCX_MCDATA_OVERHEAD == mcdata::OVERHEAD);

fn status(e: mcdata::Error) -> mcx_status {
    use mcdata::Error as E;
    match e {
        E::TooShort | E::LengthMismatch | E::UnknownAlgorithm(_) => mcx_status::MCX_MALFORMED,
        E::TooLong => mcx_status::MCX_INVALID_ARGUMENT,
        E::AlgorithmMismatch | E::WrongKey { .. } => mcx_status::MCX_UNKNOWN_KEY,
        E::AuthenticationFailed => mcx_status::MCX_AUTHENTICATION_FAILED,
        E::BufferTooSmall => mcx_status::MCX_BUFFER_TOO_SMALL,
        E::RandomUnavailable => mcx_status::MCX_RANDOM_UNAVAILABLE,
        _ => mcx_status::MCX_INTERNAL,
    }
}

/// Derives the DPCK from a DPPK (the PCK or GMK, 16 or 32 octets) and its ID (TS 33.180
/// F.1.5). A DPPK-ID of another purpose (the 4 top bits) is `MCX_WRONG_PURPOSE`. Free with
/// `mcx_mcdata_key_free`.
///
/// # Safety
/// `dppk` is readable for `dppk_len` octets; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_mcdata_key_new(
    dppk: *const u8,
    dppk_len: usize,
    dppk_id: u32,
    out: *mut *mut mcx_mcdata_key,
) -> mcx_status {
    boundary(|| {
        if out.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: readable for `dppk_len` (caller contract).
        let (Some(dppk), Ok(id)) = (unsafe { bytes(dppk, dppk_len) }, KeyId::new(dppk_id)) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        match PayloadKey::from_dppk(dppk, id) {
            Ok(key) => {
                // SAFETY: `out` is writable (caller contract).
                unsafe { out.write(Box::into_raw(Box::new(mcx_mcdata_key { key }))) };
                mcx_status::MCX_OK
            }
            Err(KeyError::WrongPurpose(_)) => mcx_status::MCX_WRONG_PURPOSE,
            Err(_) => mcx_status::MCX_BAD_LENGTH,
        }
    })
}

/// Frees a key (zeroized). NULL is a no-op.
///
/// # Safety
/// `k` is NULL or a key from `mcx_mcdata_key_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_mcdata_key_free(k: *mut mcx_mcdata_key) {
    let _ = boundary(|| {
        if !k.is_null() {
            // SAFETY: from `Box::into_raw`, freed once.
            drop(unsafe { Box::from_raw(k) });
        }
        mcx_status::MCX_OK
    });
}

/// Protects `payload[0..len)` into `out` (capacity `cap`, at least
/// `len + MCX_MCDATA_OVERHEAD`); `*out_len` receives the protected length. Under a fresh
/// random IV unless `h->flags` has `MCX_MCDATA_GIVEN_IV`; the IV drawn is written back to
/// `h->iv`.
///
/// The AAD is the 32 header octets: `h->iei`, the TLV-E's IEI octet, is written but not
/// authenticated, so a receiver cannot tell it was changed on the way.
///
/// # Safety
/// `k` is a live key; `h` points to a writable header of at least `h->struct_size` octets;
/// `payload` is readable for `len`; `out` writable for `cap` and not overlapping
/// `payload`; `out_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_mcdata_protect(
    k: *const mcx_mcdata_key,
    h: *mut mcx_mcdata_header,
    payload: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> mcx_status {
    boundary(|| {
        if k.is_null() || h.is_null() || out_len.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: live key; header readable (caller contract).
        let (k, hdr) = unsafe { (&(*k).key, read_config(h.cast_const(), zero_header())) };
        let Some(hdr) = hdr else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let given = match hdr.flags {
            0 | MCX_MCDATA_FRESH_IV => false,
            // A given IV must be the caller's, not the default past a short `struct_size`.
            MCX_MCDATA_GIVEN_IV if hdr.struct_size as usize >= IV_END => true,
            _ => return mcx_status::MCX_INVALID_ARGUMENT,
        };
        // SAFETY: readable / writable for their lengths (caller contract).
        let (Some(p), Some(o)) = (unsafe { bytes(payload, len) }, unsafe {
            crate::srtcp::buffer(out, cap)
        }) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let mut header = Header {
            message_type: hdr.message_type,
            date_time: hdr.date_time,
            payload_id: hdr.payload_id,
            sequence: hdr.sequence,
            iv: hdr.iv,
            iei: hdr.iei,
        };
        if !given {
            match Header::new(
                hdr.message_type,
                hdr.date_time,
                hdr.payload_id,
                hdr.sequence,
                hdr.iei,
            ) {
                Ok(fresh) => header = fresh,
                Err(e) => return status(e),
            }
        }
        match mcdata::protect(k, &header, p, o) {
            Ok(n) => {
                // SAFETY: writable (caller contract); the IV is written back only into a
                // header long enough to hold it.
                unsafe {
                    out_len.write(n);
                    if (*h).struct_size as usize >= core::mem::size_of::<mcx_mcdata_header>() {
                        (*h).iv = header.iv;
                    }
                }
                mcx_status::MCX_OK
            }
            Err(e) => status(e),
        }
    })
}

fn zero_header() -> mcx_mcdata_header {
    mcx_mcdata_header {
        struct_size: 0,
        payload_id: 0,
        date_time: 0,
        message_type: 0,
        sequence: 0,
        iei: 0,
        flags: 0,
        iv: [0; 16],
    }
}

/// Unprotects the protected payload `msg[0..len)` into `out` (capacity `cap`, at least
/// `len - MCX_MCDATA_OVERHEAD`): checks framing, DPPK-ID and algorithm, verifies the tag,
/// and only then writes the payload; `*out_len` receives its length and `*h` (if not NULL,
/// `struct_size` set) the header fields. On error nothing is written.
///
/// The TLV-E's IEI octet is outside the AAD (the 32 header octets) and so not
/// authenticated: `h->iei` is as received, possibly altered, and must not be trusted.
///
/// # Safety
/// `k` is a live key; `msg` readable for `len`; `out` writable for `cap`; `out_len`
/// writable; `h` NULL or writable for `h->struct_size` octets.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_mcdata_unprotect(
    k: *const mcx_mcdata_key,
    msg: *const u8,
    len: usize,
    out: *mut u8,
    cap: usize,
    out_len: *mut usize,
    h: *mut mcx_mcdata_header,
) -> mcx_status {
    boundary(|| {
        if k.is_null() || out_len.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: live key; buffers for their lengths (caller contract).
        let (k, m, o) = unsafe { (&(*k).key, bytes(msg, len), crate::srtcp::buffer(out, cap)) };
        let (Some(m), Some(o)) = (m, o) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        match mcdata::unprotect(k, m, o) {
            Ok(opened) => {
                // SAFETY: writable (caller contract).
                unsafe { out_len.write(opened.len) };
                if !h.is_null() {
                    let r = mcx_mcdata_header {
                        struct_size: 0,
                        payload_id: opened.header.payload_id,
                        date_time: opened.header.date_time,
                        message_type: opened.header.message_type,
                        sequence: opened.header.sequence,
                        iei: opened.header.iei,
                        flags: 0,
                        iv: opened.header.iv,
                    };
                    // SAFETY: `h` is writable for `struct_size` octets (caller contract);
                    // the copy keeps the caller's `struct_size` and writes no more.
                    unsafe {
                        let size = ((*h).struct_size as usize)
                            .min(core::mem::size_of::<mcx_mcdata_header>());
                        if size > 4 {
                            core::ptr::copy_nonoverlapping(
                                (&r as *const mcx_mcdata_header).cast::<u8>().add(4),
                                h.cast::<u8>().add(4),
                                size - 4,
                            );
                        }
                    }
                }
                mcx_status::MCX_OK
            }
            Err(e) => status(e),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> *mut mcx_mcdata_key {
        let dppk: [u8; 32] = core::array::from_fn(|i| i as u8);
        let mut k = core::ptr::null_mut();
        // SAFETY: `dppk` readable for 32 octets; `k` writable.
        let s = unsafe { mcx_mcdata_key_new(dppk.as_ptr(), 32, 0x1ead_baad, &mut k) };
        assert_eq!(s, mcx_status::MCX_OK);
        k
    }

    /// Protects `PLAIN` with `h`; the status and the IV on the wire.
    fn protect_with(k: *const mcx_mcdata_key, h: &mut mcx_mcdata_header) -> (mcx_status, [u8; 16]) {
        const PLAIN: &[u8] = b"MCData SDS";
        let mut out = [0u8; 128];
        let mut n = 0;
        // SAFETY: live key; `h` a whole header; buffers valid for their lengths.
        let s = unsafe {
            mcx_mcdata_protect(
                k,
                h,
                PLAIN.as_ptr(),
                PLAIN.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut n,
            )
        };
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&out[12..28]);
        (s, iv)
    }

    // A zero-initialised header (flags 0) draws a fresh IV: the all-zero IV it holds would
    // make every such message reuse one GCM nonce.
    #[test]
    fn a_zeroed_header_draws_a_fresh_iv() {
        let k = key();
        let mut h = zero_header();
        h.struct_size = core::mem::size_of::<mcx_mcdata_header>() as u32;
        let (s, a) = protect_with(k, &mut h);
        assert_eq!(s, mcx_status::MCX_OK);
        assert_eq!(h.iv, a, "the IV drawn is written back");
        let mut h = zero_header();
        h.struct_size = core::mem::size_of::<mcx_mcdata_header>() as u32;
        let (s, b) = protect_with(k, &mut h);
        assert_eq!(s, mcx_status::MCX_OK);
        assert_ne!(a, [0; 16]);
        assert_ne!(a, b);
        // A header too short to hold `flags` (an older, smaller struct) defaults the same way.
        let mut short = zero_header();
        short.struct_size = 8;
        let (s, c) = protect_with(k, &mut short);
        assert_eq!(s, mcx_status::MCX_OK);
        let (_, d) = protect_with(k, &mut short);
        assert!(c != [0; 16] && c != d);
        assert_eq!(short.iv, [0; 16], "no IV written back past struct_size");
        // SAFETY: from mcx_mcdata_key_new, freed once.
        unsafe { mcx_mcdata_key_free(k) };
    }

    // The DPPK is a PCK or a GMK: DPPK-IDs of other purposes are refused.
    #[test]
    fn key_new_refuses_purposes_other_than_pck_and_gmk() {
        let dppk = [7u8; 16];
        for (id, want) in [
            (0x0000_0042, mcx_status::MCX_OK),
            (0x1000_0042, mcx_status::MCX_OK),
            (0x2000_0042, mcx_status::MCX_WRONG_PURPOSE),
            (0x3000_0042, mcx_status::MCX_WRONG_PURPOSE),
            (0x4000_0042, mcx_status::MCX_WRONG_PURPOSE),
            (0x5000_0042, mcx_status::MCX_WRONG_PURPOSE),
            (0x6000_0042, mcx_status::MCX_WRONG_PURPOSE),
            (0x7000_0042, mcx_status::MCX_INVALID_ARGUMENT),
        ] {
            let mut k = core::ptr::null_mut();
            // SAFETY: `dppk` readable for 16 octets; `k` writable.
            let s = unsafe { mcx_mcdata_key_new(dppk.as_ptr(), dppk.len(), id, &mut k) };
            assert_eq!(s, want, "{id:08x}");
            assert_eq!(k.is_null(), want != mcx_status::MCX_OK);
            // SAFETY: NULL or from mcx_mcdata_key_new, freed once.
            unsafe { mcx_mcdata_key_free(k) };
        }
        // A wrong length is still a length error, for a DPPK-ID of the right purpose.
        let mut k = core::ptr::null_mut();
        // SAFETY: `dppk` readable for 10 octets; `k` writable.
        let s = unsafe { mcx_mcdata_key_new(dppk.as_ptr(), 10, 0x1000_0042, &mut k) };
        assert_eq!(s, mcx_status::MCX_BAD_LENGTH);
    }

    // The IEI octet is outside the AAD: mcx.h says so where a C caller reads about protect
    // and unprotect, and an altered IEI opens, reported as received.
    #[test]
    fn the_header_says_the_iei_is_not_authenticated() {
        let header = include_str!("../include/mcx.h");
        for f in ["mcx_mcdata_protect(", "mcx_mcdata_unprotect("] {
            let at = header.find(&format!("mcx_status {f}")).expect(f);
            let doc: Vec<&str> = header[..at]
                .lines()
                .rev()
                .take_while(|l| l.starts_with("//"))
                .map(|l| l.trim_start_matches("//").trim())
                .collect();
            let doc = doc.into_iter().rev().collect::<Vec<_>>().join(" ");
            assert!(
                doc.contains("IEI") && doc.contains("not authenticated"),
                "{f}: {doc}"
            );
        }
        let k = key();
        let mut h = zero_header();
        h.struct_size = core::mem::size_of::<mcx_mcdata_header>() as u32;
        h.iei = 0x11;
        let mut msg = [0u8; 128];
        let mut n = 0;
        // SAFETY: live key; whole header; buffers valid for their lengths.
        let s = unsafe {
            mcx_mcdata_protect(k, &mut h, b"x".as_ptr(), 1, msg.as_mut_ptr(), 128, &mut n)
        };
        assert_eq!(s, mcx_status::MCX_OK);
        msg[mcdata::HEADER_LEN] = 0x22;
        let mut got = zero_header();
        got.struct_size = h.struct_size;
        let mut plain = [0u8; 8];
        let mut len = 0;
        // SAFETY: live key; buffers valid for their lengths; whole header.
        let s = unsafe {
            mcx_mcdata_unprotect(
                k,
                msg.as_ptr(),
                n,
                plain.as_mut_ptr(),
                8,
                &mut len,
                &mut got,
            )
        };
        assert_eq!((s, got.iei, len), (mcx_status::MCX_OK, 0x22, 1));
        // SAFETY: from mcx_mcdata_key_new, freed once.
        unsafe { mcx_mcdata_key_free(k) };
    }

    // A caller's IV is used only when asked for, and only from within `struct_size`.
    #[test]
    fn a_given_iv_must_be_asked_for() {
        let k = key();
        let mut h = zero_header();
        h.struct_size = core::mem::size_of::<mcx_mcdata_header>() as u32;
        h.iv = core::array::from_fn(|i| 0x20 + i as u8);
        h.flags = MCX_MCDATA_GIVEN_IV;
        assert_eq!(protect_with(k, &mut h), (mcx_status::MCX_OK, h.iv));
        h.flags = MCX_MCDATA_FRESH_IV;
        let (s, iv) = protect_with(k, &mut h);
        assert!(s == mcx_status::MCX_OK && iv != core::array::from_fn(|i| 0x20 + i as u8));
        for flags in [MCX_MCDATA_FRESH_IV | MCX_MCDATA_GIVEN_IV, 4, 0x80] {
            h.flags = flags;
            let (s, _) = protect_with(k, &mut h);
            assert_eq!(s, mcx_status::MCX_INVALID_ARGUMENT, "flags {flags}");
        }
        h.flags = MCX_MCDATA_GIVEN_IV;
        h.struct_size = (IV_END - 1) as u32;
        assert_eq!(protect_with(k, &mut h).0, mcx_status::MCX_INVALID_ARGUMENT);
        h.struct_size = IV_END as u32;
        assert_eq!(protect_with(k, &mut h).0, mcx_status::MCX_OK);
        // SAFETY: from mcx_mcdata_key_new, freed once.
        unsafe { mcx_mcdata_key_free(k) };
    }
}
