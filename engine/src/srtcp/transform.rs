//! The SRTCP transform itself, without state: seal a packet at a given index, open a packet
//! against an optional replay window. [`super::TxContext`] and [`super::RxContext`] add the
//! index counter and the window; the engine uses these functions directly with keys from the
//! key store (so that no per-stream copy of key material outlives a revocation).
//!
//! Opening checks, in order and read-only: length, MKI, clear header, E flag against the
//! policy, replay window; then the tag; only then decrypts. The caller commits the index to
//! its window after a successful open.

use super::layout::{
    ESRTCP_WORD_LEN, LengthCheck, Mki, RTCP_HEADER_LEN, TAG_LEN, check_incoming, check_outgoing,
    esrtcp_word, parse_esrtcp_word, protected_len,
};
use super::{Error, Protection, ReplayWindow, SrtcpKeys, Unprotected};

/// The per-packet choices of one direction: E=1 or E=0 (on receive: whether E=0 is
/// accepted), the MKI, and how strictly the RTCP framing is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Protection applied (sending) or required (receiving; `AuthOnly` accepts both).
    pub protection: Protection,
    /// The MKI written (sending) or required (receiving).
    pub mki: Mki,
    /// RTCP framing check.
    pub length_check: LengthCheck,
}

/// Protects the RTCP packet `buf[..len]` in place with SRTCP index `index` (below 2^31; the
/// caller owns index uniqueness). Returns the SRTCP length. On error `buf` is unchanged.
pub fn seal_in_place(
    keys: &SrtcpKeys,
    policy: &Policy,
    buf: &mut [u8],
    len: usize,
    index: u32,
) -> Result<usize, Error> {
    let Some(plain) = buf.get(..len) else {
        return Err(Error::BufferTooSmall);
    };
    check_outgoing(plain, policy.length_check)?;
    let out_len = protected_len(len, policy.mki.len());
    let Some(out) = buf.get_mut(..out_len) else {
        return Err(Error::BufferTooSmall);
    };
    seal_checked(keys, policy, out, len, index);
    Ok(out_len)
}

/// Protects `input` into `output` with SRTCP index `index`. On error `output` is untouched.
pub fn seal(
    keys: &SrtcpKeys,
    policy: &Policy,
    input: &[u8],
    output: &mut [u8],
    index: u32,
) -> Result<usize, Error> {
    check_outgoing(input, policy.length_check)?;
    let out_len = protected_len(input.len(), policy.mki.len());
    let Some(out) = output.get_mut(..out_len) else {
        return Err(Error::BufferTooSmall);
    };
    out[..input.len()].copy_from_slice(input);
    seal_checked(keys, policy, out, input.len(), index);
    Ok(out_len)
}

/// Seals `out[..len]` (a checked RTCP packet) and writes the trailer into `out[len..]`, which
/// is exactly trailer-sized.
fn seal_checked(keys: &SrtcpKeys, policy: &Policy, out: &mut [u8], len: usize, index: u32) {
    let encrypted = policy.protection == Protection::Encrypted;
    let word = esrtcp_word(encrypted, index);
    let ssrc = [out[4], out[5], out[6], out[7]];
    let iv = keys.iv(ssrc, index);
    let (pkt, trailer) = out.split_at_mut(len);
    let tag = if encrypted {
        let (hdr, body) = pkt.split_at_mut(RTCP_HEADER_LEN);
        keys.gcm().seal_in_place(&iv, &[hdr, &word], body)
    } else {
        keys.gcm().tag(&iv, &[pkt, &word], &[])
    };
    trailer[..TAG_LEN].copy_from_slice(&tag);
    trailer[TAG_LEN..TAG_LEN + ESRTCP_WORD_LEN].copy_from_slice(&word);
    trailer[TAG_LEN + ESRTCP_WORD_LEN..].copy_from_slice(policy.mki.as_bytes());
}

/// A checked packet ready to seal, for the batch calls: `out` is exactly its protected
/// length ([`protected_len`]) and holds the RTCP packet in `out[..len]`; `index` was taken
/// for it.
pub(crate) struct SealItem<'a> {
    pub(crate) keys: &'a SrtcpKeys,
    pub(crate) policy: &'a Policy,
    pub(crate) out: &'a mut [u8],
    pub(crate) len: usize,
    pub(crate) index: u32,
}

/// Seals four checked packets: the same octets as sealing each alone, with the four E=1
/// packets' AES-GCM in one [`crate::aead::seal_batch`] call (the multi-buffer kernel where
/// the backend has it and the packets fit it).
pub(crate) fn seal_checked_4(items: [SealItem<'_>; 4]) {
    if items
        .iter()
        .any(|i| i.policy.protection != Protection::Encrypted)
    {
        for i in items {
            seal_checked(i.keys, i.policy, i.out, i.len, i.index);
        }
        return;
    }
    let [a, b, c, d] = items;
    crate::aead::seal_batch(&mut [seal_job(a), seal_job(b), seal_job(c), seal_job(d)]);
}

/// Writes the E=1 trailer's word and MKI and returns the AES-GCM job that fills in the tag.
fn seal_job(i: SealItem<'_>) -> crate::aead::SealJob<'_> {
    let word = esrtcp_word(true, i.index);
    let iv = i.keys.iv([i.out[4], i.out[5], i.out[6], i.out[7]], i.index);
    let (pkt, trailer) = i.out.split_at_mut(i.len);
    let (hdr, body) = pkt.split_at_mut(RTCP_HEADER_LEN);
    let Some((tag, rest)) = trailer.split_first_chunk_mut::<TAG_LEN>() else {
        unreachable!("`out` is the protected length: the trailer holds a tag")
    };
    rest[..ESRTCP_WORD_LEN].copy_from_slice(&word);
    rest[ESRTCP_WORD_LEN..].copy_from_slice(i.policy.mki.as_bytes());
    let rest: &[u8] = rest;
    crate::aead::SealJob {
        gcm: i.keys.gcm(),
        iv,
        aad: [hdr, &rest[..ESRTCP_WORD_LEN]],
        data: body,
        tag,
    }
}

/// Opens four packets of four distinct streams, for the batch calls: the same outcome as
/// [`open_in_place`] on each, with the four packets' AES-GCM in one
/// [`crate::aead::open_batch`] call. `None` (nothing changed) when a packet is not E=1 or
/// fails a check before the tag; the caller then opens them one by one, which reports why.
pub(crate) fn open_checked_4(
    items: [(&SrtcpKeys, &Policy, &ReplayWindow, &mut [u8]); 4],
) -> Option<[Result<Unprotected, Error>; 4]> {
    let mut parsed = [const { None }; 4];
    for (p, (_, policy, window, buf)) in parsed.iter_mut().zip(items.iter()) {
        match parse(policy, Some(window), buf) {
            Ok(x) if x.encrypted => *p = Some(x),
            _ => return None,
        }
    }
    let [Some(pa), Some(pb), Some(pc), Some(pd)] = parsed else {
        unreachable!("every packet parsed")
    };
    let parsed = [pa, pb, pc, pd];
    let [a, b, c, d] = items;
    let mut open = [
        open_job(a.0, a.3, &parsed[0]),
        open_job(b.0, b.3, &parsed[1]),
        open_job(c.0, c.3, &parsed[2]),
        open_job(d.0, d.3, &parsed[3]),
    ];
    crate::aead::open_batch(&mut open);
    let mut out = [const { Err(Error::AuthenticationFailed) }; 4];
    for ((o, j), p) in out.iter_mut().zip(open.iter()).zip(parsed.iter()) {
        if j.ok {
            *o = Ok(Unprotected {
                len: p.rtcp_len,
                index: p.index,
                encrypted: true,
            });
        }
    }
    Some(out)
}

/// The AES-GCM job of a parsed E=1 packet.
fn open_job<'a>(keys: &'a SrtcpKeys, buf: &'a mut [u8], p: &'a Parsed) -> crate::aead::OpenJob<'a> {
    let iv = keys.iv([buf[4], buf[5], buf[6], buf[7]], p.index);
    let (hdr, body) = buf[..p.rtcp_len].split_at_mut(RTCP_HEADER_LEN);
    crate::aead::OpenJob {
        gcm: keys.gcm(),
        iv,
        aad: [hdr, &p.word],
        data: body,
        tag: p.tag,
        ok: false,
    }
}

/// A received packet whose framing, MKI and replay status were checked.
struct Parsed {
    rtcp_len: usize,
    word: [u8; 4],
    tag: [u8; TAG_LEN],
    encrypted: bool,
    index: u32,
}

fn parse(policy: &Policy, window: Option<&ReplayWindow>, pkt: &[u8]) -> Result<Parsed, Error> {
    let mki = policy.mki.as_bytes();
    if pkt.len() < protected_len(RTCP_HEADER_LEN, mki.len()) {
        return Err(Error::TooShort);
    }
    let mki_at = pkt.len() - mki.len();
    if !policy.mki.matches(&pkt[mki_at..]) {
        return Err(Error::UnknownMki);
    }
    let word_at = mki_at - ESRTCP_WORD_LEN;
    let rtcp_len = word_at - TAG_LEN;
    let mut word = [0u8; 4];
    word.copy_from_slice(&pkt[word_at..mki_at]);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&pkt[rtcp_len..word_at]);
    check_incoming(&pkt[..rtcp_len], policy.length_check)?;
    let (encrypted, index) = parse_esrtcp_word(word);
    if !encrypted && policy.protection == Protection::Encrypted {
        return Err(Error::NotEncrypted);
    }
    if let Some(w) = window {
        w.check(index)?;
    }
    Ok(Parsed {
        rtcp_len,
        word,
        tag,
        encrypted,
        index,
    })
}

fn verify(keys: &SrtcpKeys, pkt: &[u8], p: &Parsed) -> Result<[u8; 12], Error> {
    let ssrc = [pkt[4], pkt[5], pkt[6], pkt[7]];
    let iv = keys.iv(ssrc, p.index);
    let rtcp = &pkt[..p.rtcp_len];
    let ok = if p.encrypted {
        let (hdr, body) = rtcp.split_at(RTCP_HEADER_LEN);
        keys.gcm().verify(&iv, &[hdr, &p.word], body, &p.tag)
    } else {
        keys.gcm().verify(&iv, &[rtcp, &p.word], &[], &p.tag)
    };
    ok.map_err(|_| Error::AuthenticationFailed)?;
    Ok(iv)
}

/// Authenticates and decrypts the SRTCP packet `buf` in place. `window`, if given, is checked
/// (not updated). On error `buf` is unchanged.
pub fn open_in_place(
    keys: &SrtcpKeys,
    policy: &Policy,
    window: Option<&ReplayWindow>,
    buf: &mut [u8],
) -> Result<Unprotected, Error> {
    let p = parse(policy, window, buf)?;
    if p.encrypted {
        // Verify-then-decrypt in one call (one pass on the x86_64 kernels); the packet is
        // untouched unless the tag matches.
        let iv = keys.iv([buf[4], buf[5], buf[6], buf[7]], p.index);
        let (hdr, body) = buf[..p.rtcp_len].split_at_mut(RTCP_HEADER_LEN);
        keys.gcm()
            .open_in_place(&iv, &[hdr, &p.word], body, &p.tag)
            .map_err(|_| Error::AuthenticationFailed)?;
    } else {
        verify(keys, buf, &p)?;
    }
    Ok(Unprotected {
        len: p.rtcp_len,
        index: p.index,
        encrypted: p.encrypted,
    })
}

/// Authenticates `input` and writes the RTCP packet to `output`. `window`, if given, is
/// checked (not updated). On error `output` is untouched.
pub fn open(
    keys: &SrtcpKeys,
    policy: &Policy,
    window: Option<&ReplayWindow>,
    input: &[u8],
    output: &mut [u8],
) -> Result<Unprotected, Error> {
    let p = parse(policy, window, input)?;
    if output.len() < p.rtcp_len {
        return Err(Error::BufferTooSmall);
    }
    let out = &mut output[..p.rtcp_len];
    if p.encrypted {
        let iv = keys.iv([input[4], input[5], input[6], input[7]], p.index);
        let (hdr, body) = input[..p.rtcp_len].split_at(RTCP_HEADER_LEN);
        keys.gcm()
            .open_to(
                &iv,
                &[hdr, &p.word],
                body,
                &mut out[RTCP_HEADER_LEN..],
                &p.tag,
            )
            .map_err(|_| Error::AuthenticationFailed)?;
        out[..RTCP_HEADER_LEN].copy_from_slice(hdr);
    } else {
        verify(keys, input, &p)?;
        out.copy_from_slice(&input[..p.rtcp_len]);
    }
    Ok(Unprotected {
        len: p.rtcp_len,
        index: p.index,
        encrypted: p.encrypted,
    })
}

/// Authenticates `pkt` (no replay check) without writing anything.
pub fn verify_only(keys: &SrtcpKeys, policy: &Policy, pkt: &[u8]) -> Result<(), Error> {
    let p = parse(policy, None, pkt)?;
    verify(keys, pkt, &p).map(|_| ())
}

/// The SSRC of a packet's first RTCP header (octets 5–8), if present.
pub fn ssrc_of(pkt: &[u8]) -> Option<u32> {
    let b = pkt.get(4..8)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
