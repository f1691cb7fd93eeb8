//! The `multipart/mixed` SIP body (RFC 2046 §5.1) that carries the XML bodies of a request and
//! their signatures body ([`super::SIGNED_CONTENT_TYPE`]): split it into parts, and build it
//! again. Parts are slices of the input; line ends are CRLF as SIP requires.

use super::Error;

/// Most parts [`split`] accepts.
pub const MAX_PARTS: usize = 16;

/// One body part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// `Content-Type` (without parameters trimmed: as written).
    pub content_type: &'a str,
    /// `Content-ID`, with its `<>` if written so.
    pub content_id: Option<&'a str>,
    /// The part's body octets.
    pub body: &'a [u8],
}

/// The `boundary` parameter of a `multipart/…` Content-Type value.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    for p in params.split(';') {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            let ok = !v.is_empty()
                && v.len() <= 70
                && v.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
            return ok.then_some(v);
        }
    }
    None
}

fn bad(what: &'static str) -> Error {
    Error::BadStructure(what)
}

/// Splits a `multipart/mixed` body whose Content-Type header value is `content_type`.
pub fn split<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<Part<'a>>, Error> {
    let b = boundary(content_type).ok_or(bad("multipart Content-Type without boundary"))?;
    let mut delim = Vec::with_capacity(b.len() + 4);
    delim.extend_from_slice(b"\r\n--");
    delim.extend_from_slice(b.as_bytes());
    // The first delimiter may start the body (no preamble) or follow one.
    let first = if body.starts_with(&delim[2..]) {
        0
    } else {
        memchr::memmem::find(body, &delim).ok_or(bad("multipart without its boundary"))? + 2
    };
    let mut pos = first + delim.len() - 2;
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return if parts.is_empty() {
                Err(bad("multipart without parts"))
            } else {
                Ok(parts)
            };
        }
        // Transport padding, then CRLF ends the delimiter line.
        while body.get(pos).is_some_and(|c| *c == b' ' || *c == b'\t') {
            pos += 1;
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(bad("multipart delimiter line"));
        }
        pos += 2;
        let end = memchr::memmem::find(&body[pos..], &delim)
            .map(|i| pos + i)
            .ok_or(bad("multipart without its close delimiter"))?;
        if parts.len() == MAX_PARTS {
            return Err(Error::TooLarge);
        }
        let p = part(&body[pos..end])?;
        if p.content_id.is_some()
            && parts
                .iter()
                .any(|q: &Part<'_>| q.content_id == p.content_id)
        {
            return Err(bad("multipart parts share a Content-ID"));
        }
        parts.push(p);
        pos = end + delim.len();
    }
}

fn part(p: &[u8]) -> Result<Part<'_>, Error> {
    let (head, body) = if p.starts_with(b"\r\n") {
        (&p[..0], &p[2..])
    } else {
        let i =
            memchr::memmem::find(p, b"\r\n\r\n").ok_or(bad("multipart part without header end"))?;
        (&p[..i], &p[i + 4..])
    };
    let head = core::str::from_utf8(head).map_err(|_| bad("multipart part headers not UTF-8"))?;
    let mut content_type = None;
    let mut content_id = None;
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once(':')
            .ok_or(bad("multipart part header line"))?;
        let k = k.trim();
        let slot = if k.eq_ignore_ascii_case("content-type") || k.eq_ignore_ascii_case("c") {
            &mut content_type
        } else if k.eq_ignore_ascii_case("content-id") {
            &mut content_id
        } else {
            continue;
        };
        if slot.replace(v.trim()).is_some() {
            return Err(bad("multipart part repeats a header"));
        }
    }
    Ok(Part {
        // RFC 2046 §5.1: a part without Content-Type is text/plain.
        content_type: content_type.unwrap_or("text/plain"),
        content_id,
        body,
    })
}

/// Appends a `multipart/mixed` body of `parts` with `boundary` (use it in the message's
/// `Content-Type: multipart/mixed;boundary=…`) to `out`. The boundary must not occur in any
/// part.
pub fn build(boundary: &str, parts: &[Part<'_>], out: &mut Vec<u8>) -> Result<(), Error> {
    let ok = !boundary.is_empty()
        && boundary.len() <= 70
        && boundary.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(bad("multipart boundary"));
    }
    let mut delim = Vec::with_capacity(boundary.len() + 4);
    delim.extend_from_slice(b"\r\n--");
    delim.extend_from_slice(boundary.as_bytes());
    for p in parts {
        let clean = |s: &str| !s.bytes().any(|c| c == b'\r' || c == b'\n');
        if memchr::memmem::find(p.body, &delim[2..]).is_some()
            || !clean(p.content_type)
            || !p.content_id.is_none_or(clean)
        {
            return Err(bad(
                "multipart part holds the boundary or a line end in a header",
            ));
        }
    }
    for p in parts {
        out.extend_from_slice(&delim[2..]);
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(p.content_type.as_bytes());
        if let Some(id) = p.content_id {
            out.extend_from_slice(b"\r\nContent-ID: ");
            out.extend_from_slice(id.as_bytes());
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(p.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&delim[2..]);
    out.extend_from_slice(b"--\r\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_splits_back() {
        let parts = [
            Part {
                content_type: "application/vnd.3gpp.mcptt-info+xml",
                content_id: Some("<info@example.org>"),
                body: b"<mcpttinfo/>",
            },
            Part {
                content_type: "application/sdp",
                content_id: None,
                body: b"v=0\r\n",
            },
        ];
        let mut body = Vec::new();
        build("b0und", &parts, &mut body).unwrap();
        let got = split("multipart/mixed; boundary=\"b0und\"", &body).unwrap();
        assert_eq!(got, parts);
        assert!(
            build(
                "b0und",
                &[Part {
                    body: b"x\r\n--b0und",
                    ..parts[0]
                }],
                &mut Vec::new()
            )
            .is_err()
        );
    }

    #[test]
    fn refuses_broken_bodies() {
        let ct = "multipart/mixed;boundary=x";
        for body in [
            &b""[..],
            b"--x\r\n\r\nbody",
            b"--x--\r\n",
            b"no boundary",
            b"--xjunk\r\n\r\nb\r\n--x--",
        ] {
            assert!(
                split(ct, body).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(split("application/sdp", b"--x\r\n\r\nb\r\n--x--").is_err());
        assert_eq!(
            split(ct, b"pre\r\n--x\r\n\r\nb\r\n--x--").unwrap()[0].body,
            b"b"
        );
        let twice = "--x\r\nContent-ID: <a>\r\n\r\n1\r\n--x\r\nContent-ID: <a>\r\n\r\n2\r\n--x--";
        assert_eq!(
            split(ct, twice.as_bytes()),
            Err(Error::BadStructure("multipart parts share a Content-ID"))
        );
        let repeat = "--x\r\nContent-ID: <a>\r\nContent-ID: <b>\r\n\r\n1\r\n--x--";
        assert_eq!(
            split(ct, repeat.as_bytes()),
            Err(Error::BadStructure("multipart part repeats a header"))
        );
        let many = "--x\r\n\r\nb\r\n".repeat(MAX_PARTS + 1) + "--x--";
        assert_eq!(split(ct, many.as_bytes()).unwrap_err(), Error::TooLarge);
    }
}
