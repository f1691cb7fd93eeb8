//! `libmcx`: the C ABI of mcx-engine.
//!
//! This crate starts thin: the version and status-string calls every later export builds on.
//! Engines, keys and the SRTCP calls arrive with the C ABI issue, following the conventions
//! in ARCHITECTURE.md ("Surfaces") and STYLE.md (rustls-ffi, libsrtp rows): opaque handles,
//! `mcx_status` results with explicit never-reused numbers, a panic boundary on every export.

use std::ffi::{CStr, c_char};

/// Result of every fallible `mcx_*` call. `MCX_OK` is 0; numbers are never reused.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McxStatus {
    /// Success.
    Ok = 0,
    /// An argument was NULL or out of range.
    InvalidArgument = 1,
    /// A panic was caught at the boundary (a bug in the library).
    Internal = 2,
}

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(s) => s,
        Err(_) => panic!("version string has no interior NUL"),
    };

/// The library version, a static NUL-terminated string ("0.1.0").
#[unsafe(no_mangle)]
pub extern "C" fn mcx_version() -> *const c_char {
    VERSION.as_ptr()
}

/// A static NUL-terminated description of a status value; "unknown status" for numbers the
/// library does not define.
#[unsafe(no_mangle)]
pub extern "C" fn mcx_status_str(status: i32) -> *const c_char {
    let s: &'static CStr = match status {
        0 => c"ok",
        1 => c"invalid argument",
        2 => c"internal error",
        _ => c"unknown status",
    };
    s.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: mcx_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(mcx_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn status_numbers_are_pinned() {
        // Numbers are part of the ABI and must never change or be reused.
        assert_eq!(McxStatus::Ok as i32, 0);
        assert_eq!(McxStatus::InvalidArgument as i32, 1);
        assert_eq!(McxStatus::Internal as i32, 2);
        for (n, want) in [
            (0, "ok"),
            (1, "invalid argument"),
            (2, "internal error"),
            (-5, "unknown status"),
        ] {
            // SAFETY: mcx_status_str returns a static NUL-terminated string.
            let s = unsafe { CStr::from_ptr(mcx_status_str(n)) };
            assert_eq!(s.to_str().unwrap(), want);
        }
    }
}
