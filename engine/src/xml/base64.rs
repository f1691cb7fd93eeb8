//! Base64 (RFC 4648 §4, standard alphabet, padded) as XML Encryption and XML Signature use it
//! for `CipherValue`, `DigestValue`, `SignatureValue` and `KeyName`: whitespace between
//! characters is allowed on input (XML Schema `base64Binary`), anything else is refused.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Octets base64 takes for `n` input octets.
pub(crate) const fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Appends the base64 of `data` to `out`.
pub(crate) fn encode_into(data: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + encoded_len(data.len()), 0);
    encode_to_slice(data, &mut out[at..]);
}

/// Writes the base64 of `data` to `out`, exactly [`encoded_len`] octets long.
pub(crate) fn encode_to_slice(data: &[u8], out: &mut [u8]) {
    let sym = |v: u32, shift: u32| ALPHABET[(v >> shift) as usize & 63];
    let mut chunks = data.chunks_exact(3);
    let mut quads = out.chunks_exact_mut(4);
    for (c, q) in (&mut chunks).zip(&mut quads) {
        let v = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        q.copy_from_slice(&[sym(v, 18), sym(v, 12), sym(v, 6), sym(v, 0)]);
    }
    let rest = chunks.remainder();
    if let Some(q) = quads.next() {
        let v = rest
            .iter()
            .enumerate()
            .fold(0u32, |v, (i, b)| v | u32::from(*b) << (16 - 8 * i));
        let third = if rest.len() == 2 { sym(v, 6) } else { b'=' };
        q.copy_from_slice(&[sym(v, 18), sym(v, 12), third, b'=']);
    }
}

/// The base64 of `data` in a fixed array (for short IDs such as a KeyName).
pub(crate) fn encode_array<const N: usize>(data: &[u8]) -> Option<[u8; N]> {
    if encoded_len(data.len()) != N {
        return None;
    }
    let mut v = Vec::with_capacity(N);
    encode_into(data, &mut v);
    v.try_into().ok()
}

const fn value(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => 0xff,
    }
}

/// Appends the octets `text` encodes to `out`. Whitespace is skipped; a bad character, bad
/// padding or a length that is not a multiple of four is an error and `out` is restored.
pub(crate) fn decode_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    let mark = out.len();
    let r = decode_inner(text, out);
    if r.is_err() {
        out.truncate(mark);
    }
    r
}

fn decode_inner(text: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    out.reserve(text.len() / 4 * 3);
    let mut quad = [0u8; 4];
    let mut n = 0;
    let mut pad = 0;
    for &c in text {
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        if c == b'=' {
            pad += 1;
            quad[n] = 0;
        } else {
            let v = value(c);
            if v == 0xff || pad > 0 {
                return Err(());
            }
            quad[n] = v;
        }
        n += 1;
        if n == 4 {
            let v = u32::from(quad[0]) << 18
                | u32::from(quad[1]) << 12
                | u32::from(quad[2]) << 6
                | u32::from(quad[3]);
            let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
            match pad {
                0 => out.extend_from_slice(&bytes),
                1 if v & 0xff == 0 => out.extend_from_slice(&bytes[..2]),
                2 if v & 0xffff == 0 && quad[2] == 0 => out.push(bytes[0]),
                _ => return Err(()),
            }
            n = 0;
            if pad > 0 {
                // Padding ends the data: only whitespace may follow (checked by `pad > 0`
                // refusing further characters, and `n != 0` at the end).
                pad = 3;
            }
        }
    }
    if n != 0 { Err(()) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4648 §10 test vectors.
    const VECTORS: &[(&[u8], &[u8])] = &[
        (b"", b""),
        (b"f", b"Zg=="),
        (b"fo", b"Zm8="),
        (b"foo", b"Zm9v"),
        (b"foob", b"Zm9vYg=="),
        (b"fooba", b"Zm9vYmE="),
        (b"foobar", b"Zm9vYmFy"),
    ];

    #[test]
    fn rfc4648_vectors() {
        for (plain, enc) in VECTORS {
            let mut e = Vec::new();
            encode_into(plain, &mut e);
            assert_eq!(&e, enc);
            let mut d = Vec::new();
            decode_into(enc, &mut d).unwrap();
            assert_eq!(&d, plain);
        }
    }

    #[test]
    fn whitespace_is_skipped_and_junk_refused() {
        let mut d = vec![9];
        decode_into(b" Zm9v\n YmFy\r\n", &mut d).unwrap();
        assert_eq!(d, b"\x09foobar");
        for bad in [
            &b"Zm9"[..],
            b"Zm9v=",
            b"Zg=a",
            b"Z===",
            b"Zh==",
            b"Zm9=",
            b"Zm*v",
            b"Zg==Zg==",
        ] {
            let mut d = vec![1, 2];
            assert!(decode_into(bad, &mut d).is_err(), "{bad:?}");
            assert_eq!(d, [1, 2], "restored after {bad:?}");
        }
        assert_eq!(encode_array::<8>(&[0x20, 0, 0, 1]), Some(*b"IAAAAQ=="));
    }
}
