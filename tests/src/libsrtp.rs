//! libsrtp 2 (Debian's `libsrtp2`) as an independent SRTCP peer, through `csrc/srtp_shim.c`.

use std::ffi::{CStr, c_char, c_int};
use std::sync::Once;

#[repr(C)]
struct RawSession {
    _private: [u8; 0],
}

unsafe extern "C" {
    fn mcx_shim_init() -> c_int;
    fn mcx_shim_version() -> *const c_char;
    fn mcx_shim_session_new(
        inbound: c_int,
        key: *const u8,
        key_len: usize,
        salt: *const u8,
        salt_len: usize,
        mki: *const u8,
        mki_len: usize,
        auth_only: c_int,
        err: *mut c_int,
    ) -> *mut RawSession;
    fn mcx_shim_session_free(s: *mut RawSession);
    fn mcx_shim_protect_rtcp(s: *mut RawSession, buf: *mut u8, len: *mut c_int) -> c_int;
    fn mcx_shim_unprotect_rtcp(s: *mut RawSession, buf: *mut u8, len: *mut c_int) -> c_int;
}

static INIT: Once = Once::new();

fn init() {
    INIT.call_once(|| {
        // SAFETY: srtp_init has no preconditions; Once runs it a single time.
        let st = unsafe { mcx_shim_init() };
        assert_eq!(st, 0, "srtp_init failed: {st}");
    });
}

/// The libsrtp version string, e.g. "libsrtp2 2.5.0".
pub fn version() -> String {
    init();
    // SAFETY: libsrtp returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(mcx_shim_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Which way a libsrtp session works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Protects (ssrc_any_outbound).
    Outbound,
    /// Unprotects (ssrc_any_inbound).
    Inbound,
}

/// A libsrtp session with an AEAD_AES_*_GCM RTCP policy.
pub struct Session {
    raw: *mut RawSession,
}

impl Session {
    /// Creates a session from a master key (16 or 32 octets), a 12-octet master salt and an
    /// MKI (empty for none). `auth_only` selects E=0.
    pub fn new(
        dir: Direction,
        key: &[u8],
        salt: &[u8],
        mki: &[u8],
        auth_only: bool,
    ) -> Result<Session, i32> {
        init();
        let mut err: c_int = 0;
        // SAFETY: the pointers and lengths describe live slices; the shim copies them.
        let raw = unsafe {
            mcx_shim_session_new(
                (dir == Direction::Inbound) as c_int,
                key.as_ptr(),
                key.len(),
                salt.as_ptr(),
                salt.len(),
                mki.as_ptr(),
                mki.len(),
                auth_only as c_int,
                &mut err,
            )
        };
        if raw.is_null() {
            Err(err)
        } else {
            Ok(Session { raw })
        }
    }

    /// Protects `buf[..len]` in place; returns the SRTCP length or the libsrtp status.
    /// `buf` must have room for the trailer (16 + 4 + MKI octets).
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, i32> {
        assert!(buf.len() >= len + 16 + 4 + 16, "room for libsrtp's trailer");
        let mut n = len as c_int;
        // SAFETY: `buf` is valid for writes of its whole length, which covers the trailer.
        let st = unsafe { mcx_shim_protect_rtcp(self.raw, buf.as_mut_ptr(), &mut n) };
        if st == 0 { Ok(n as usize) } else { Err(st) }
    }

    /// Unprotects `buf` in place; returns the RTCP length or the libsrtp status.
    pub fn unprotect(&mut self, buf: &mut [u8]) -> Result<usize, i32> {
        let mut n = buf.len() as c_int;
        // SAFETY: libsrtp reads and writes at most `n` octets of `buf`.
        let st = unsafe { mcx_shim_unprotect_rtcp(self.raw, buf.as_mut_ptr(), &mut n) };
        if st == 0 { Ok(n as usize) } else { Err(st) }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: `raw` came from mcx_shim_session_new and is freed once.
        unsafe { mcx_shim_session_free(self.raw) }
    }
}
