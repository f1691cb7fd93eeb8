//! Rewriting the identities and SSRCs of a floor-control packet in place: what a proxy does
//! between unprotect and protect to hide its side's topology (TR 33.880 §7.2.5.3.3.2).
//! Nothing allocates: the new packet is laid out in a buffer on the stack and copied back.

use super::Error;
use super::build::header;
use super::field::{Profile, Value};
use super::parse::{HEADER_LEN, Options, parse};

/// The longest packet [`rewrite`] lays out.
pub const MAX_REWRITE: usize = 2048;

/// What replaces what.
pub trait Rewrite {
    /// The identity to write instead of `id` (an identity field or a list entry); `None`
    /// keeps it.
    fn identity(&self, id: &str) -> Option<&str>;
    /// The SSRC to write instead of `ssrc` (SSRC field, List of SSRCs); `None` keeps it.
    fn ssrc(&self, ssrc: u32) -> Option<u32>;
}

/// What [`rewrite`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// The packet's new length.
    pub len: usize,
    /// Identities replaced.
    pub identities: u32,
    /// SSRC values replaced (the sender's in the header not counted).
    pub ssrcs: u32,
}

/// Rewrites the APP packet `buf[..len]`: the sender SSRC becomes `sender`, every identity
/// and SSRC field goes through `map`, and the fields are numbered by `to` (read by `from`).
/// The result starts at `buf[0]`; it may be longer or shorter than `len`. On an error
/// (the packet does not parse, an identity is over 255 octets, the result does not fit in
/// `buf`) `buf` is unchanged.
pub fn rewrite(
    buf: &mut [u8],
    len: usize,
    sender: u32,
    from: Options,
    to: Profile,
    map: &impl Rewrite,
) -> Result<Rewritten, Error> {
    let mut out = [0u8; MAX_REWRITE];
    let mut n = HEADER_LEN;
    let mut done = Rewritten::default();
    let msg = parse(buf.get(..len).ok_or(Error::Truncated)?, from)?;
    for f in msg.fields() {
        let (wire_id, value) = match (f.id, f.value) {
            (Some(id), Some(v)) => (id.wire(to), Some((id, v))),
            _ => (f.wire_id, None),
        };
        let start = n;
        // The header is written once the value's length is known.
        n += if wire_id >= 192 { 3 } else { 2 };
        match value {
            Some((id, Value::Text(t))) if id.is_identity() => {
                let t = match map.identity(t) {
                    Some(new) => {
                        done.identities += 1;
                        new
                    }
                    None => t,
                };
                put(&mut out, &mut n, t.as_bytes())?;
            }
            Some((id, v @ Value::Texts { count, .. })) if id.is_identity() => {
                put(&mut out, &mut n, &[count])?;
                for t in v.texts() {
                    let t = match map.identity(t) {
                        Some(new) => {
                            done.identities += 1;
                            new
                        }
                        None => t,
                    };
                    if t.len() > 255 {
                        return Err(Error::TooLong);
                    }
                    put(&mut out, &mut n, &[t.len() as u8])?;
                    put(&mut out, &mut n, t.as_bytes())?;
                }
            }
            Some((_, Value::Ssrc(s))) => {
                let s = match map.ssrc(s) {
                    Some(new) => {
                        done.ssrcs += 1;
                        new
                    }
                    None => s,
                };
                put(&mut out, &mut n, &s.to_be_bytes())?;
                put(&mut out, &mut n, &[0, 0])?;
            }
            Some((_, v @ Value::Ssrcs(_))) => {
                put(&mut out, &mut n, &f.raw[..3])?;
                for s in v.words() {
                    let s = match map.ssrc(s) {
                        Some(new) => {
                            done.ssrcs += 1;
                            new
                        }
                        None => s,
                    };
                    put(&mut out, &mut n, &s.to_be_bytes())?;
                }
            }
            _ => put(&mut out, &mut n, f.raw)?,
        }
        let vlen = n - start - if wire_id >= 192 { 3 } else { 2 };
        out[start] = wire_id;
        if wire_id >= 192 {
            out[start + 1..start + 3].copy_from_slice(&(vlen as u16).to_be_bytes());
        } else if vlen > 255 {
            return Err(Error::TooLong);
        } else {
            out[start + 1] = vlen as u8;
        }
        let padded = n.next_multiple_of(4);
        if padded > out.len() {
            return Err(Error::TooLong);
        }
        out[n..padded].fill(0);
        n = padded;
    }
    if n > buf.len() || n / 4 - 1 > 0xffff {
        return Err(Error::TooLong);
    }
    out[..HEADER_LEN].copy_from_slice(&header(msg.app, msg.subtype, sender, n - HEADER_LEN));
    buf[..n].copy_from_slice(&out[..n]);
    done.len = n;
    Ok(done)
}

fn put(out: &mut [u8; MAX_REWRITE], n: &mut usize, b: &[u8]) -> Result<(), Error> {
    let end = *n + b.len();
    if end > out.len() {
        return Err(Error::TooLong);
    }
    out[*n..end].copy_from_slice(b);
    *n = end;
    Ok(())
}
