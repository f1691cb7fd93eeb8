//! `mcx_status`: the result of every fallible call. Numbers are part of the ABI: never
//! changed, never reused (a test pins them).

use std::ffi::{CStr, c_char};

use ::mcx_engine::srtcp;
use ::mcx_engine::store::StoreError;

/// Result of every fallible `mcx_*` call. `MCX_OK` is 0.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mcx_status {
    /// Success.
    MCX_OK = 0,
    /// An argument was NULL, out of range, or a struct's `struct_size` too small.
    MCX_INVALID_ARGUMENT = 1,
    /// A panic was caught at the boundary (a bug in the library); nothing can be assumed
    /// about the call's outputs.
    MCX_INTERNAL = 2,
    /// The buffer has no room for the result (see `MCX_SRTCP_MAX_TRAILER`).
    MCX_BUFFER_TOO_SMALL = 3,
    /// No installed key has this key ID, or the packet's MKI names none.
    MCX_UNKNOWN_KEY = 4,
    /// The key's purpose does not allow this use.
    MCX_WRONG_PURPOSE = 5,
    /// The key was revoked.
    MCX_REVOKED = 6,
    /// The key was replaced and its grace period is over.
    MCX_SUPERSEDED = 7,
    /// The key's activation time has not come.
    MCX_NOT_YET_VALID = 8,
    /// The key's expiry time has passed.
    MCX_EXPIRED = 9,
    /// The key has the most SSRCs allowed.
    MCX_TOO_MANY_STREAMS = 10,
    /// Not a valid RTCP / SRTCP packet (too short, version, lengths) or MCData payload (XML
    /// documents have `MCX_MALFORMED_XML`).
    MCX_MALFORMED = 11,
    /// The authentication tag did not verify (forged or damaged packet).
    MCX_AUTHENTICATION_FAILED = 12,
    /// This SRTCP index was already received.
    MCX_REPLAYED = 13,
    /// The SRTCP index is older than the replay window.
    MCX_TOO_OLD = 14,
    /// The key's transmit index space is spent: replace the key.
    MCX_KEY_EXHAUSTED = 15,
    /// The packet is not encrypted (E=0) but the key requires encryption.
    MCX_NOT_ENCRYPTED = 16,
    /// A key with this key ID is already installed.
    MCX_DUPLICATE_KEY_ID = 17,
    /// A key, salt or RAND has the wrong length.
    MCX_BAD_LENGTH = 18,
    /// No CS-ID is defined for this purpose and service: give one in `cs_id`.
    MCX_NO_CS_ID = 19,
    /// GMK and PCK keys need off-network use enabled in the engine config.
    MCX_OFF_NETWORK_DISABLED = 20,
    /// A GMK needs the member's GUK-ID, with the GMK purpose tag (0) in its 4 top bits.
    MCX_MISSING_GUK_ID = 21,
    /// The operating system's random source failed.
    MCX_RANDOM_UNAVAILABLE = 22,
    /// The pool's queues are full: poll completions, then submit again (back-pressure).
    MCX_BUSY = 23,
    /// The pool is shut down and accepts no new work.
    MCX_CLOSED = 24,
    /// No job has completed (poll without waiting, or the wait timed out).
    MCX_NOT_READY = 25,
    /// An XML document is over a limit: size, nesting depth, attributes, name or value length.
    MCX_LIMIT_EXCEEDED = 26,
    /// What the engine refuses or lacks: in an XML document a DTD, an entity, an XML version
    /// other than 1.0, an encoding other than UTF-8, an algorithm or transform other than
    /// those of TS 33.180; in an engine config an AES-GCM provider this CPU cannot run.
    MCX_UNSUPPORTED = 27,
    /// XML bodies and their signatures do not match up (a body unsigned, or a signature
    /// naming no body given).
    MCX_UNSIGNED = 28,
    /// An XML document is not well-formed, or an `EncryptedData`, `Signature`, Content-ID
    /// or multipart body lacks a part or has a bad one.
    MCX_MALFORMED_XML = 29,
    /// This key ID was installed before with the same key material and has left the engine
    /// (revoked, expired, purged): installing it again would let its old packets be replayed.
    /// Install fresh material.
    MCX_KEY_REUSED = 30,
    /// A relay configuration does not parse or is out of its limits.
    MCX_RELAY_CONFIG = 31,
    /// A relay socket cannot be bound, or its I/O backend cannot start.
    MCX_RELAY_IO = 32,
    /// The relay refused an operation (unknown leg or key, a route that exists or does
    /// not); nothing changed.
    MCX_RELAY_REFUSED = 33,
}

impl From<mcx_status> for i32 {
    fn from(s: mcx_status) -> i32 {
        s as i32
    }
}

/// The status of an engine data-path error.
pub(crate) fn of_engine(e: ::mcx_engine::Error) -> mcx_status {
    use ::mcx_engine::Error as E;
    use mcx_status as S;
    use srtcp::Error as R;
    match e {
        E::Srtcp(R::TooShort | R::BadVersion | R::LengthMismatch) => S::MCX_MALFORMED,
        E::Srtcp(R::BufferTooSmall) => S::MCX_BUFFER_TOO_SMALL,
        E::Srtcp(R::UnknownMki) | E::UnknownKey => S::MCX_UNKNOWN_KEY,
        E::Srtcp(R::AuthenticationFailed) => S::MCX_AUTHENTICATION_FAILED,
        E::Srtcp(R::Replayed) => S::MCX_REPLAYED,
        E::Srtcp(R::TooOld) => S::MCX_TOO_OLD,
        E::Srtcp(R::KeyExhausted) => S::MCX_KEY_EXHAUSTED,
        E::Srtcp(R::NotEncrypted) => S::MCX_NOT_ENCRYPTED,
        E::WrongPurpose(_) => S::MCX_WRONG_PURPOSE,
        E::Revoked => S::MCX_REVOKED,
        E::Superseded => S::MCX_SUPERSEDED,
        E::NotYetValid => S::MCX_NOT_YET_VALID,
        E::Expired => S::MCX_EXPIRED,
        E::TooManyStreams => S::MCX_TOO_MANY_STREAMS,
        _ => S::MCX_INTERNAL,
    }
}

/// The status of a pool packet's error.
pub(crate) fn of_pool(e: ::mcx_engine::pool::Error) -> mcx_status {
    match e {
        ::mcx_engine::pool::Error::Datapath(d) => of_engine(d),
        _ => mcx_status::MCX_INTERNAL,
    }
}

/// The status of a key store error.
pub(crate) fn of_store(e: StoreError) -> mcx_status {
    use mcx_status as S;
    match e {
        StoreError::Derive(_) | StoreError::MasterLength(_) => S::MCX_BAD_LENGTH,
        StoreError::NoCsId(..) => S::MCX_NO_CS_ID,
        StoreError::MissingGukId | StoreError::BadGukId(_) => S::MCX_MISSING_GUK_ID,
        StoreError::EmptyValidity => S::MCX_INVALID_ARGUMENT,
        StoreError::AlreadyExpired => S::MCX_EXPIRED,
        StoreError::ReusedKey(_) => S::MCX_KEY_REUSED,
        StoreError::DuplicateKeyId(_) => S::MCX_DUPLICATE_KEY_ID,
        StoreError::UnknownKey(_) => S::MCX_UNKNOWN_KEY,
        StoreError::OffNetworkDisabled(_) => S::MCX_OFF_NETWORK_DISABLED,
        StoreError::WrongPurpose(_) => S::MCX_WRONG_PURPOSE,
        StoreError::RandomUnavailable => S::MCX_RANDOM_UNAVAILABLE,
        _ => S::MCX_INTERNAL,
    }
}

/// Every status with its description, in numeric order.
pub(crate) const ALL: [(mcx_status, &CStr); 34] = [
    (mcx_status::MCX_OK, c"ok"),
    (mcx_status::MCX_INVALID_ARGUMENT, c"invalid argument"),
    (mcx_status::MCX_INTERNAL, c"internal error"),
    (mcx_status::MCX_BUFFER_TOO_SMALL, c"buffer too small"),
    (mcx_status::MCX_UNKNOWN_KEY, c"unknown key"),
    (
        mcx_status::MCX_WRONG_PURPOSE,
        c"key used outside its purpose",
    ),
    (mcx_status::MCX_REVOKED, c"key revoked"),
    (mcx_status::MCX_SUPERSEDED, c"key superseded"),
    (mcx_status::MCX_NOT_YET_VALID, c"key not yet valid"),
    (mcx_status::MCX_EXPIRED, c"key expired"),
    (
        mcx_status::MCX_TOO_MANY_STREAMS,
        c"too many SSRCs for this key",
    ),
    (mcx_status::MCX_MALFORMED, c"malformed packet"),
    (
        mcx_status::MCX_AUTHENTICATION_FAILED,
        c"authentication failed",
    ),
    (mcx_status::MCX_REPLAYED, c"replayed packet"),
    (
        mcx_status::MCX_TOO_OLD,
        c"packet older than the replay window",
    ),
    (mcx_status::MCX_KEY_EXHAUSTED, c"key exhausted: replace it"),
    (mcx_status::MCX_NOT_ENCRYPTED, c"packet not encrypted"),
    (
        mcx_status::MCX_DUPLICATE_KEY_ID,
        c"key ID already installed",
    ),
    (mcx_status::MCX_BAD_LENGTH, c"key, salt or RAND length"),
    (
        mcx_status::MCX_NO_CS_ID,
        c"no CS-ID for this purpose and service",
    ),
    (
        mcx_status::MCX_OFF_NETWORK_DISABLED,
        c"off-network keys not enabled",
    ),
    (
        mcx_status::MCX_MISSING_GUK_ID,
        c"GMK needs a GUK-ID carrying the GMK tag",
    ),
    (
        mcx_status::MCX_RANDOM_UNAVAILABLE,
        c"random source unavailable",
    ),
    (mcx_status::MCX_BUSY, c"pool busy: poll, then submit again"),
    (mcx_status::MCX_CLOSED, c"pool closed"),
    (mcx_status::MCX_NOT_READY, c"no job completed yet"),
    (
        mcx_status::MCX_LIMIT_EXCEEDED,
        c"XML document over a size, depth or attribute limit",
    ),
    (
        mcx_status::MCX_UNSUPPORTED,
        c"refused: XML DTD, entity, version, encoding or algorithm; or AES-GCM provider",
    ),
    (
        mcx_status::MCX_UNSIGNED,
        c"XML bodies and signatures do not match",
    ),
    (
        mcx_status::MCX_MALFORMED_XML,
        c"malformed XML document or XML security element",
    ),
    (
        mcx_status::MCX_KEY_REUSED,
        c"key ID and material used before: install a fresh key",
    ),
    (mcx_status::MCX_RELAY_CONFIG, c"relay configuration refused"),
    (
        mcx_status::MCX_RELAY_IO,
        c"relay socket or I/O backend cannot start",
    ),
    (mcx_status::MCX_RELAY_REFUSED, c"relay operation refused"),
];

/// A static NUL-terminated description of a status; "unknown status" for numbers the
/// library does not define. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mcx_status_str(status: i32) -> *const c_char {
    let s = usize::try_from(status)
        .ok()
        .and_then(|i| ALL.get(i))
        .map_or(c"unknown status", |(_, s)| s);
    s.as_ptr()
}
