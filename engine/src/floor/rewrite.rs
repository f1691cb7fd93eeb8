//! Rewriting the identities and SSRCs of a floor-control packet in place: what a proxy does
//! between unprotect and protect to hide its side's topology (TR 33.880 §7.2.5.3.3.2).
//! Nothing allocates: the new packet is laid out in one pass, in the buffer's room after the
//! packet (or, where that is too small, in a buffer on the stack), then moved to the front.

use super::Error;
use super::build::header;
use super::field::{FieldId, Profile, Value};
use super::parse::{App, HEADER_LEN, Options, Unknown, header_of, next_field};

/// The longest packet [`rewrite`] lays out.
pub const MAX_REWRITE: usize = 2048;

/// What replaces what.
pub trait Rewrite {
    /// The identity to write instead of `id` (an identity field or a list entry, as the
    /// packet carries it); `None` keeps it.
    fn identity(&self, id: &[u8]) -> Option<&[u8]>;
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
/// `buf`) `buf[..len]` is unchanged.
pub fn rewrite(
    buf: &mut [u8],
    len: usize,
    sender: u32,
    from: Options,
    to: Profile,
    map: &impl Rewrite,
) -> Result<Rewritten, Error> {
    if len > buf.len() {
        return Err(Error::Truncated);
    }
    if let Some(r) = fast(buf, len, sender, from, to, map) {
        return r;
    }
    general(buf, len, sender, from, to, map)
}

/// The general path: every field laid out again, into the buffer's room after the packet
/// or a buffer on the stack.
pub(crate) fn general(
    buf: &mut [u8],
    len: usize,
    sender: u32,
    from: Options,
    to: Profile,
    map: &impl Rewrite,
) -> Result<Rewritten, Error> {
    let first = {
        let (input, spare) = buf.split_at_mut(len);
        into(input, spare, sender, from, to, map)
    };
    match first {
        Ok(r) => {
            let (front, back) = buf.split_at_mut(len);
            if r.len <= len {
                copy(&mut front[..r.len], &back[..r.len]);
            } else {
                buf.copy_within(len..len + r.len, 0);
            }
            Ok(r)
        }
        Err(Error::TooLong) if buf.len() - len < MAX_REWRITE => {
            let mut out = [0u8; MAX_REWRITE];
            let r = into(&buf[..len], &mut out, sender, from, to, map)?;
            if r.len > buf.len() {
                return Err(Error::TooLong);
            }
            buf[..r.len].copy_from_slice(&out[..r.len]);
            Ok(r)
        }
        Err(e) => Err(e),
    }
}

/// Most identity and SSRC fields one packet may have for the fast path.
const MAX_ITEMS: usize = 8;

/// A field the fast path may change: where its TLV starts, its header and value lengths.
#[derive(Clone, Copy, Default)]
struct Item {
    start: usize,
    head: usize,
    vlen: usize,
    ssrc: bool,
}

impl Item {
    fn value(&self) -> core::ops::Range<usize> {
        self.start + self.head..self.start + self.head + self.vlen
    }
    fn end(&self) -> usize {
        (self.start + self.head + self.vlen).next_multiple_of(4)
    }
}

/// The layout check of a field the fast path passes through unchanged.
#[inline]
fn check_layout(id: FieldId, v: &[u8]) -> Result<(), Error> {
    match id {
        FieldId::FloorPriority
        | FieldId::MessageType
        | FieldId::Duration
        | FieldId::PermissionToRequest
        | FieldId::QueueSize
        | FieldId::SequenceNumber
        | FieldId::Source
        | FieldId::FloorIndicator
        | FieldId::QueueInfo => {
            if v.len() == 2 {
                Ok(())
            } else {
                Err(Error::BadField(id))
            }
        }
        _ => Value::parse(id, v).map(|_| ()),
    }
}

/// One pass over a floor-control packet whose changes are single identities and SSRCs: the
/// framing and every field's layout checked, the few fields to change noted, then the
/// packet patched in place (lengths unchanged) or laid out again in the buffer's room with
/// one copy per stretch between changes. `None`: the packet needs the general path (lists,
/// many identities, another application, too little room).
fn fast(
    buf: &mut [u8],
    len: usize,
    sender: u32,
    from: Options,
    to: Profile,
    map: &impl Rewrite,
) -> Option<Result<Rewritten, Error>> {
    let pkt = &buf[..len];
    let (app, _, _) = match header_of(pkt) {
        Ok(h) => h,
        Err(e) => return Some(Err(e)),
    };
    if app != App::FloorControl || from.profile != to {
        return None;
    }
    let mut items = [Item::default(); MAX_ITEMS];
    let mut k = 0;
    let mut i = HEADER_LEN;
    while i < len {
        let id = pkt[i];
        let (vlen, head) = if id >= 192 {
            if i + 3 > len {
                return Some(Err(Error::Truncated));
            }
            (u16::from_be_bytes([pkt[i + 1], pkt[i + 2]]) as usize, 3)
        } else {
            if i + 2 > len {
                return Some(Err(Error::Truncated));
            }
            (pkt[i + 1] as usize, 2)
        };
        let item = Item {
            start: i,
            head,
            vlen,
            ssrc: false,
        };
        let end = item.end();
        if end > len {
            return Some(Err(Error::Truncated));
        }
        let v = &pkt[item.value()];
        if pkt[item.value().end..end].iter().any(|&b| b != 0) {
            return Some(Err(Error::NonZeroPadding));
        }
        match FieldId::from_wire(id, from.profile) {
            None if from.unknown == Unknown::Keep => {}
            None => return Some(Err(Error::UnknownField(id))),
            Some(
                f @ (FieldId::GrantedPartyIdentity
                | FieldId::UserId
                | FieldId::QueuedUserId
                | FieldId::FunctionalAlias),
            ) => {
                if !v.is_ascii() && core::str::from_utf8(v).is_err() {
                    return Some(Err(Error::BadText(f)));
                }
                if k == MAX_ITEMS {
                    return None;
                }
                items[k] = item;
                k += 1;
            }
            Some(FieldId::Ssrc) => {
                if vlen != 6 {
                    return Some(Err(Error::BadField(FieldId::Ssrc)));
                }
                if k == MAX_ITEMS {
                    return None;
                }
                items[k] = Item { ssrc: true, ..item };
                k += 1;
            }
            Some(
                FieldId::ListOfGrantedUsers
                | FieldId::ListOfFunctionalAliases
                | FieldId::ListOfSsrcs,
            ) => {
                return None;
            }
            Some(f) => {
                if let Err(e) = check_layout(f, v) {
                    return Some(Err(e));
                }
            }
        }
        i = end;
    }
    // What each noted field becomes, and how much the packet grows or shrinks.
    let mut repl: [Option<&[u8]>; MAX_ITEMS] = [None; MAX_ITEMS];
    let mut ssrcs = [0u32; MAX_ITEMS];
    let mut done = Rewritten::default();
    let mut grow: isize = 0;
    let mut same_sizes = true;
    for j in 0..k {
        let it = items[j];
        let v = &pkt[it.value()];
        if it.ssrc {
            let s = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            ssrcs[j] = counted(&mut done.ssrcs, map.ssrc(s), s);
        } else if let Some(new) = map.identity(v) {
            if new.len() > 255 {
                return Some(Err(Error::TooLong));
            }
            done.identities += 1;
            let old = (it.head + it.vlen).next_multiple_of(4);
            let now = (it.head + new.len()).next_multiple_of(4);
            grow += now as isize - old as isize;
            same_sizes &= now == old;
            repl[j] = Some(new);
        }
    }
    let n = (len as isize + grow) as usize;
    if same_sizes {
        // Patch in place: every field keeps its padded size.
        for j in 0..k {
            let it = items[j];
            let v0 = it.start + it.head;
            if it.ssrc {
                buf[v0..v0 + 4].copy_from_slice(&ssrcs[j].to_be_bytes());
                // The spare octets go out as zero, as the general path writes them.
                buf[v0 + 4..v0 + 6].fill(0);
            } else if let Some(new) = repl[j] {
                let end = it.end();
                buf[it.start + 1] = new.len() as u8;
                copy(&mut buf[v0..v0 + new.len()], new);
                buf[v0 + new.len()..end].fill(0);
            }
        }
        buf[4..8].copy_from_slice(&sender.to_be_bytes());
        done.len = len;
        return Some(Ok(done));
    }
    if n / 4 - 1 > 0xffff {
        return Some(Err(Error::TooLong));
    }
    if buf.len() < len + n {
        return None;
    }
    // Lay out in the room after the packet, a stretch at a time, then move to the front.
    let (input, out) = buf.split_at_mut(len);
    let mut o = 0;
    let mut cur = 0;
    for j in 0..k {
        let it = items[j];
        let v0 = it.start + it.head;
        let stretch = v0 - cur;
        out[o..o + stretch].copy_from_slice(&input[cur..v0]);
        o += stretch;
        let value: &[u8] = if it.ssrc {
            out[o..o + 4].copy_from_slice(&ssrcs[j].to_be_bytes());
            out[o + 4..o + 6].fill(0);
            o += 6;
            cur = it.end();
            let pad = o.next_multiple_of(4) - o;
            out[o..o + pad].fill(0);
            o += pad;
            continue;
        } else {
            repl[j].unwrap_or(&input[it.value()])
        };
        // The length octet sits just before the value.
        out[o - 1] = value.len() as u8;
        copy(&mut out[o..o + value.len()], value);
        o += value.len();
        let pad = o.next_multiple_of(4) - o;
        out[o..o + pad].fill(0);
        o += pad;
        cur = it.end();
    }
    out[o..o + (len - cur)].copy_from_slice(&input[cur..]);
    o += len - cur;
    debug_assert_eq!(o, n);
    buf.copy_within(len..len + n, 0);
    buf[2..4].copy_from_slice(&((n / 4 - 1) as u16).to_be_bytes());
    buf[4..8].copy_from_slice(&sender.to_be_bytes());
    done.len = n;
    Some(Ok(done))
}

/// Lays the rewritten `pkt` out in `out`, checking every field on the way.
fn into(
    pkt: &[u8],
    out: &mut [u8],
    sender: u32,
    from: Options,
    to: Profile,
    map: &impl Rewrite,
) -> Result<Rewritten, Error> {
    let (app, subtype, _) = header_of(pkt)?;
    let interpret = app == App::FloorControl;
    let mut w = Writer { out, n: HEADER_LEN };
    if w.out.len() < HEADER_LEN {
        return Err(Error::TooLong);
    }
    let mut done = Rewritten::default();
    let mut rest = &pkt[HEADER_LEN..];
    while !rest.is_empty() {
        let (f, r) = next_field(rest, from, interpret)?;
        rest = r;
        let (wire_id, value) = match (f.id, f.value) {
            (Some(id), Some(v)) => (id.wire(to), Some((id, v))),
            // An unknown field that the other numbering would read as a known one cannot
            // cross unchanged.
            _ if from.profile != to && FieldId::from_wire(f.wire_id, to).is_some() => {
                return Err(Error::UnknownField(f.wire_id));
            }
            _ => (f.wire_id, None),
        };
        let start = w.n;
        let head = if wire_id >= 192 { 3 } else { 2 };
        // The header is written once the value's length is known.
        w.skip(head)?;
        match value {
            Some((id, Value::Text(t))) if id.is_identity() => {
                let t = counted(
                    &mut done.identities,
                    map.identity(t.as_bytes()),
                    t.as_bytes(),
                );
                if t.len() > 255 {
                    return Err(Error::TooLong);
                }
                w.put(t)?;
            }
            Some((id, v @ Value::Texts { count, .. })) if id.is_identity() => {
                w.byte(count)?;
                for t in v.texts() {
                    let t = counted(
                        &mut done.identities,
                        map.identity(t.as_bytes()),
                        t.as_bytes(),
                    );
                    if t.len() > 255 {
                        return Err(Error::TooLong);
                    }
                    w.byte(t.len() as u8)?;
                    w.put(t)?;
                }
            }
            Some((_, Value::Ssrc(s))) => {
                let s = counted(&mut done.ssrcs, map.ssrc(s), s);
                w.put(&s.to_be_bytes())?;
                w.put(&[0, 0])?;
            }
            Some((_, v @ Value::Ssrcs(_))) => {
                w.put(&f.raw[..3])?;
                for s in v.words() {
                    let s = counted(&mut done.ssrcs, map.ssrc(s), s);
                    w.put(&s.to_be_bytes())?;
                }
            }
            _ => w.put(f.raw)?,
        }
        let vlen = w.n - start - head;
        w.out[start] = wire_id;
        if head == 3 {
            w.out[start + 1..start + 3].copy_from_slice(&(vlen as u16).to_be_bytes());
        } else if vlen > 255 {
            return Err(Error::TooLong);
        } else {
            w.out[start + 1] = vlen as u8;
        }
        while !w.n.is_multiple_of(4) {
            w.byte(0)?;
        }
    }
    let n = w.n;
    if n / 4 - 1 > 0xffff {
        return Err(Error::TooLong);
    }
    w.out[..HEADER_LEN].copy_from_slice(&header(app, subtype, sender, n - HEADER_LEN));
    done.len = n;
    Ok(done)
}

/// `new` if the map gave one (counted), else `old`.
#[inline]
fn counted<T>(count: &mut u32, new: Option<T>, old: T) -> T {
    match new {
        Some(v) => {
            *count += 1;
            v
        }
        None => old,
    }
}

/// `dst.copy_from_slice(src)`, without a library call for the few octets of most fields.
#[inline]
fn copy(dst: &mut [u8], src: &[u8]) {
    if src.len() <= 16 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    } else {
        dst.copy_from_slice(src);
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    n: usize,
}

impl Writer<'_> {
    #[inline]
    fn put(&mut self, b: &[u8]) -> Result<(), Error> {
        let end = self.n + b.len();
        let dst = self.out.get_mut(self.n..end).ok_or(Error::TooLong)?;
        copy(dst, b);
        self.n = end;
        Ok(())
    }

    #[inline]
    fn byte(&mut self, b: u8) -> Result<(), Error> {
        *self.out.get_mut(self.n).ok_or(Error::TooLong)? = b;
        self.n += 1;
        Ok(())
    }

    #[inline]
    fn skip(&mut self, k: usize) -> Result<(), Error> {
        if self.n + k > self.out.len() {
            return Err(Error::TooLong);
        }
        self.n += k;
        Ok(())
    }
}
