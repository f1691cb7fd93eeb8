//! Waiting for SIGINT or SIGTERM, so that a foreground relay drains and exits 0.
//!
//! [`block_termination`] blocks both signals in the calling thread — call it before any
//! thread starts, so that every thread inherits the mask — and [`wait_termination`] then
//! takes them synchronously with `sigwait`.

use std::io;

fn set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local set.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut s);
        libc::sigaddset(&raw mut s, libc::SIGINT);
        libc::sigaddset(&raw mut s, libc::SIGTERM);
        s
    }
}

/// Blocks SIGINT and SIGTERM for this thread and the threads it starts afterwards.
pub fn block_termination() -> io::Result<()> {
    let s = set();
    // SAFETY: `s` is an initialised set; the old mask is not asked for.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw const s, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits for SIGINT or SIGTERM (blocked before with [`block_termination`]); returns its
/// number.
pub fn wait_termination() -> io::Result<i32> {
    let s = set();
    let mut sig: libc::c_int = 0;
    // SAFETY: `s` is an initialised set and `sig` a live int.
    let rc = unsafe { libc::sigwait(&raw const s, &raw mut sig) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(sig)
}

/// "SIGINT" or "SIGTERM" (or "signal N").
pub fn name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}
