//! A strict pull scanner for the XML bodies of SIP messages: XML 1.0 and UTF-8 only, no DTD,
//! no entities beyond the five predefined ones and character references, namespaces checked,
//! and every size bounded by [`Limits`]. It allocates no DOM: events are byte ranges of the
//! input, so callers can copy the document through unchanged and edit only what they must.
//!
//! Well-formedness follows XML 1.0 (fifth edition) and Namespaces in XML 1.0 closely enough
//! for signalling bodies: one root element, matched tags, unique attributes, bound prefixes,
//! no `<` in attribute values, no `]]>` in text, no C0 controls other than tab, LF and CR.
//! What it does not check (the full Unicode name-character tables) cannot smuggle markup.

use core::ops::Range;

use super::{Error, Limits};

const XML_NS: &[u8] = b"http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &[u8] = b"http://www.w3.org/2000/xmlns/";

/// One attribute of a start tag: qualified name and raw value (between the quotes, references
/// not decoded).
#[derive(Clone, Debug)]
pub(crate) struct Attr {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// What the scanner found next.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// `<?xml …?>` at the start of the document.
    Decl,
    /// A start tag (`empty` for `<a/>`); its attributes are [`Reader::attrs`].
    Start {
        /// The whole tag, `<` to `>`.
        span: Range<usize>,
        /// Qualified name.
        name: Range<usize>,
        /// `<a/>`: no end tag follows.
        empty: bool,
    },
    /// An end tag, or the implied end of an empty element (then `span` is empty).
    End {
        span: Range<usize>,
        name: Range<usize>,
    },
    /// Character data between markup, references not decoded.
    Text(Range<usize>),
    /// A CDATA section's content.
    CData { content: Range<usize> },
    /// A comment.
    Comment,
    /// A processing instruction: target, and data (leading whitespace removed).
    Pi {
        target: Range<usize>,
        data: Range<usize>,
    },
}

/// A namespace binding in scope: prefix (`None` for the default namespace) and URI.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Binding<'a> {
    pub prefix: Option<&'a [u8]>,
    pub uri: &'a [u8],
    /// Element depth that declared it (1 = root; 0 = inherited by a fragment).
    pub depth: usize,
}

/// The pull scanner. `next` yields events until the end of the document.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    limits: Limits,
    /// Open elements' qualified names.
    stack: Vec<Range<usize>>,
    /// Depth the scanner started at (a fragment inherits its place in the outer document).
    base_depth: usize,
    ns: Vec<Binding<'a>>,
    /// Bindings in scope around a fragment (searched after `ns`).
    inherited: &'a [Binding<'a>],
    attrs: Vec<Attr>,
    fragment: bool,
    seen_root: bool,
    /// An empty element's implied end is due next.
    pending_end: Option<Range<usize>>,
}

impl<'a> Reader<'a> {
    /// A reader of a whole document.
    pub(crate) fn document(b: &'a [u8], limits: &Limits) -> Result<Reader<'a>, Error> {
        if b.len() > limits.max_document {
            return Err(Error::TooLarge);
        }
        check_chars(b)?;
        let mut r = Reader::new(b, limits, false);
        if b.starts_with(b"\xef\xbb\xbf") {
            r.pos = 3;
        }
        Ok(r)
    }

    /// A reader of element content (e.g. a decrypted `#Content`), nested at `depth` inside a
    /// document whose bindings `inherited` are in scope.
    pub(crate) fn fragment(
        b: &'a [u8],
        limits: &Limits,
        depth: usize,
        inherited: &'a [Binding<'a>],
    ) -> Result<Reader<'a>, Error> {
        if b.len() > limits.max_document {
            return Err(Error::TooLarge);
        }
        check_chars(b)?;
        let mut r = Reader::new(b, limits, true);
        r.base_depth = depth;
        r.inherited = inherited;
        Ok(r)
    }

    fn new(b: &'a [u8], limits: &Limits, fragment: bool) -> Reader<'a> {
        Reader {
            b,
            pos: 0,
            limits: *limits,
            stack: Vec::with_capacity(16),
            base_depth: 0,
            // Allocated on first use: many documents and fragments declare few namespaces.
            ns: Vec::new(),
            inherited: &[],
            attrs: Vec::new(),
            fragment,
            seen_root: false,
            pending_end: None,
        }
    }

    /// The input.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.b
    }

    /// Offset of the next event.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Attributes of the last start tag.
    pub(crate) fn attrs(&self) -> &[Attr] {
        &self.attrs
    }

    /// Depth of the element whose content the scanner is in (root's content = 1), counting the
    /// fragment's base depth.
    pub(crate) fn depth(&self) -> usize {
        self.base_depth + self.stack.len()
    }

    /// Bindings declared in this document, innermost last (a fragment's inherited ones are
    /// not included).
    pub(crate) fn bindings(&self) -> &[Binding<'a>] {
        &self.ns
    }

    /// The URI a prefix (`None`: the default namespace) is bound to; `Some(b"")` for an
    /// undeclared default namespace, `None` for an unbound prefix.
    pub(crate) fn resolve(&self, prefix: Option<&[u8]>) -> Option<&'a [u8]> {
        if prefix == Some(b"xml") {
            return Some(XML_NS);
        }
        for b in self.ns.iter().rev().chain(self.inherited.iter().rev()) {
            if b.prefix == prefix {
                return Some(b.uri);
            }
        }
        if prefix.is_none() { Some(b"") } else { None }
    }

    /// Namespace URI and local name of a qualified element name.
    pub(crate) fn element_name(&self, qname: &Range<usize>) -> (&'a [u8], &'a [u8]) {
        let q = &self.b[qname.clone()];
        let (p, local) = split_qname(q);
        // Bound: checked when the tag was read.
        (self.resolve(p).unwrap_or(b""), local)
    }

    /// Namespace URI and local name of an attribute name (unprefixed: no namespace).
    pub(crate) fn attr_name(&self, qname: &Range<usize>) -> (&'a [u8], &'a [u8]) {
        let q = &self.b[qname.clone()];
        match split_qname(q) {
            (None, local) if local == b"xmlns" => (XMLNS_NS, local),
            (None, local) => (b"", local),
            (Some(b"xmlns"), local) => (XMLNS_NS, local),
            (p, local) => (self.resolve(p).unwrap_or(b""), local),
        }
    }

    /// Skips the content and end of the element whose start tag was just returned.
    pub(crate) fn skip_element(&mut self, empty: bool) -> Result<(), Error> {
        if empty {
            // Its implied end is the next event.
            return self.next().map(drop);
        }
        let at = self.depth();
        while self.depth() >= at {
            if self.next()?.is_none() {
                return Err(Error::Malformed("unclosed element"));
            }
        }
        Ok(())
    }

    /// The next event, or `None` at the end of a complete document.
    pub(crate) fn next(&mut self) -> Result<Option<Event>, Error> {
        if let Some(name) = self.pending_end.take() {
            self.close_scope();
            let at = self.pos;
            return Ok(Some(Event::End { span: at..at, name }));
        }
        let b = self.b;
        let start = self.pos;
        if start >= b.len() {
            if !self.stack.is_empty() {
                return Err(Error::Malformed("unclosed element"));
            }
            if !self.fragment && !self.seen_root {
                return Err(Error::Malformed("no root element"));
            }
            return Ok(None);
        }
        if b[start] != b'<' {
            // One pass to the next '<', stopping at '&' and '>' on the way to check them.
            let mut end = start;
            loop {
                // Most text between tags is short (indentation, a value): a table loop over
                // the first octets, then a vector search for long text.
                let near = b.len().min(end + 32);
                let mut i = end;
                while i < near && STOP_TEXT[b[i] as usize] == 0 {
                    i += 1;
                }
                let hit = if i < near {
                    Some(i - end)
                } else if near == b.len() {
                    None
                } else {
                    memchr::memchr3(b'<', b'&', b'>', &b[near..]).map(|j| j + near - end)
                };
                match hit {
                    None => {
                        end = b.len();
                        break;
                    }
                    Some(i) => {
                        end += i;
                        match b[end] {
                            b'<' => break,
                            b'&' => end += reference(&b[end..])?.1,
                            _ => {
                                if end >= start + 2 && &b[end - 2..end] == b"]]" {
                                    return Err(Error::Malformed("']]>' in text"));
                                }
                                end += 1;
                            }
                        }
                    }
                }
            }
            self.pos = end;
            let text = &b[start..end];
            if self.stack.is_empty() && !self.fragment && !text.iter().all(|c| is_ws(*c)) {
                return Err(Error::Malformed("text outside the root element"));
            }
            return Ok(Some(Event::Text(start..end)));
        }
        match b.get(start + 1) {
            Some(b'/') => self.end_tag(start).map(Some),
            Some(b'?') => self.pi(start).map(Some),
            Some(b'!') => self.bang(start).map(Some),
            _ => self.start_tag(start).map(Some),
        }
    }

    /// `<!--`, `<![CDATA[`, or a DTD declaration (refused).
    fn bang(&mut self, start: usize) -> Result<Event, Error> {
        let b = self.b;
        let rest = &b[start..];
        if rest.starts_with(b"<!--") {
            let body = start + 4;
            let end = find(b, body, b"-->").ok_or(Error::Malformed("unterminated comment"))?;
            if memchr::memmem::find(&b[body..end], b"--").is_some()
                || (end > body && b[end - 1] == b'-')
            {
                return Err(Error::Malformed("'--' inside a comment"));
            }
            self.pos = end + 3;
            return Ok(Event::Comment);
        }
        if rest.starts_with(b"<![CDATA[") {
            if self.stack.is_empty() && !self.fragment {
                return Err(Error::Malformed("CDATA outside the root element"));
            }
            let body = start + 9;
            let end = find(b, body, b"]]>").ok_or(Error::Malformed("unterminated CDATA"))?;
            self.pos = end + 3;
            return Ok(Event::CData { content: body..end });
        }
        // <!DOCTYPE, <!ENTITY, <!ELEMENT …: no DTD processing, ever.
        Err(Error::Dtd)
    }

    fn pi(&mut self, start: usize) -> Result<Event, Error> {
        let b = self.b;
        let tstart = start + 2;
        let (tend, _) = self.name_end(tstart)?;
        let end =
            find(b, tend, b"?>").ok_or(Error::Malformed("unterminated processing instruction"))?;
        if tend < end && !is_ws(b[tend]) {
            return Err(Error::Malformed("bad processing instruction"));
        }
        let target = &b[tstart..tend];
        self.pos = end + 2;
        if target.eq_ignore_ascii_case(b"xml") {
            let bom = if b.starts_with(b"\xef\xbb\xbf") { 3 } else { 0 };
            if target != b"xml" || start != bom || self.fragment {
                return Err(Error::Malformed("misplaced XML declaration"));
            }
            check_decl(&b[tend..end])?;
            return Ok(Event::Decl);
        }
        let mut d = tend;
        while d < end && is_ws(b[d]) {
            d += 1;
        }
        Ok(Event::Pi {
            target: tstart..tend,
            data: d..end,
        })
    }

    #[inline(always)]
    fn end_tag(&mut self, start: usize) -> Result<Event, Error> {
        let b = self.b;
        let nstart = start + 2;
        let open = self
            .stack
            .pop()
            .ok_or(Error::Malformed("end tag without start tag"))?;
        // The name must be the open element's (already checked as a name), then a delimiter.
        let nend = nstart + open.len();
        if b.get(nstart..nend) != Some(&b[open]) || b.get(nend).is_some_and(|c| is_name_byte(*c)) {
            return Err(Error::Malformed("end tag does not match start tag"));
        }
        let mut p = nend;
        while p < b.len() && is_ws(b[p]) {
            p += 1;
        }
        if p >= b.len() || b[p] != b'>' {
            return Err(Error::Malformed("bad end tag"));
        }
        self.pos = p + 1;
        let depth = self.depth() + 1;
        if self.ns.last().is_some_and(|x| x.depth >= depth) {
            self.ns.retain(|x| x.depth < depth);
        }
        Ok(Event::End {
            span: start..p + 1,
            name: nstart..nend,
        })
    }

    fn close_scope(&mut self) {
        let depth = self.depth() + 1;
        if self.ns.last().is_some_and(|x| x.depth >= depth) {
            self.ns.retain(|x| x.depth < depth);
        }
    }

    fn start_tag(&mut self, start: usize) -> Result<Event, Error> {
        let b = self.b;
        if self.stack.is_empty() && !self.fragment && self.seen_root {
            return Err(Error::Malformed("more than one root element"));
        }
        if self.depth() >= self.limits.max_depth {
            return Err(Error::TooDeep);
        }
        let nstart = start + 1;
        let (nend, mut qualified) = self.name_end(nstart)?;
        self.attrs.clear();
        let mut p = nend;
        let empty;
        loop {
            let ws = p;
            while p < b.len() && is_ws(b[p]) {
                p += 1;
            }
            match b.get(p) {
                None => return Err(Error::Malformed("unterminated start tag")),
                Some(b'>') => {
                    empty = false;
                    p += 1;
                    break;
                }
                Some(b'/') if b.get(p + 1) == Some(&b'>') => {
                    empty = true;
                    p += 2;
                    break;
                }
                _ => {}
            }
            if p == ws {
                return Err(Error::Malformed(
                    "attributes must be separated by whitespace",
                ));
            }
            let an = p;
            let (ae, prefixed) = self.name_end(an)?;
            qualified |= prefixed || &b[an..ae] == b"xmlns";
            p = ae;
            while p < b.len() && is_ws(b[p]) {
                p += 1;
            }
            if b.get(p) != Some(&b'=') {
                return Err(Error::Malformed("attribute without value"));
            }
            p += 1;
            while p < b.len() && is_ws(b[p]) {
                p += 1;
            }
            let q = match b.get(p) {
                Some(&q @ (b'"' | b'\'')) => q,
                _ => return Err(Error::Malformed("attribute value not quoted")),
            };
            let vs = p + 1;
            // One pass to the closing quote, checking '<' and references on the way.
            let mut ve = vs;
            loop {
                let Some(&c) = b.get(ve) else {
                    return Err(Error::Malformed("unterminated attribute value"));
                };
                if STOP_ATTR[c as usize] == 0 {
                    ve += 1;
                    continue;
                }
                match c {
                    _ if c == q => break,
                    b'<' => return Err(Error::Malformed("'<' in an attribute value")),
                    b'&' => ve += reference(&b[ve..])?.1,
                    _ => ve += 1,
                }
            }
            if ve - vs > self.limits.max_attribute_value {
                return Err(Error::TooLarge);
            }
            if self.attrs.len() >= self.limits.max_attributes {
                return Err(Error::TooManyAttributes);
            }
            if self.attrs.iter().any(|a| b[a.name.clone()] == b[an..ae]) {
                return Err(Error::Malformed("duplicate attribute"));
            }
            self.attrs.push(Attr {
                name: an..ae,
                value: vs..ve,
            });
            p = ve + 1;
        }
        self.pos = p;
        self.seen_root = true;
        let depth = self.depth() + 1;
        if qualified {
            self.bind(depth)?;
            self.check_prefixes(nstart..nend)?;
        }
        if empty {
            self.pending_end = Some(nstart..nend);
        } else {
            self.stack.push(nstart..nend);
        }
        Ok(Event::Start {
            span: start..p,
            name: nstart..nend,
            empty,
        })
    }

    /// Records the `xmlns` attributes of the tag just read.
    fn bind(&mut self, depth: usize) -> Result<(), Error> {
        let b = self.b;
        for a in &self.attrs {
            let q = &b[a.name.clone()];
            let prefix = match split_qname(q) {
                (None, b"xmlns") => None,
                (Some(b"xmlns"), p) => Some(p),
                _ => continue,
            };
            let uri = &b[a.value.clone()];
            if find_byte(b'&', uri).is_some() {
                return Err(Error::Unsupported("references in a namespace URI"));
            }
            match prefix {
                Some(b"xmlns") => return Err(Error::Malformed("the xmlns prefix is reserved")),
                Some(b"xml") if uri != XML_NS => {
                    return Err(Error::Malformed("the xml prefix is reserved"));
                }
                Some(_) if uri.is_empty() => {
                    return Err(Error::Malformed("a prefix cannot be unbound"));
                }
                _ if uri == XMLNS_NS || (uri == XML_NS && prefix != Some(b"xml")) => {
                    return Err(Error::Malformed(
                        "a reserved namespace bound to another prefix",
                    ));
                }
                _ => {}
            }
            if uri.iter().any(|c| matches!(c, b'\t' | b'\n' | b'\r')) {
                return Err(Error::Unsupported("whitespace controls in a namespace URI"));
            }
            if self.ns.len()
                >= self
                    .limits
                    .max_attributes
                    .saturating_mul(self.limits.max_depth)
            {
                return Err(Error::TooManyAttributes);
            }
            self.ns.push(Binding { prefix, uri, depth });
        }
        Ok(())
    }

    fn check_prefixes(&self, name: Range<usize>) -> Result<(), Error> {
        let b = self.b;
        if let (Some(p), _) = split_qname(&b[name])
            && self.resolve(Some(p)).is_none()
        {
            return Err(Error::Malformed("unbound namespace prefix"));
        }
        for (i, a) in self.attrs.iter().enumerate() {
            match split_qname(&b[a.name.clone()]) {
                (Some(b"xmlns"), _) | (None, _) => {}
                (Some(p), local) => {
                    let Some(uri) = self.resolve(Some(p)) else {
                        return Err(Error::Malformed("unbound namespace prefix"));
                    };
                    // Namespaces in XML §6.3: no two attributes with the same expanded name.
                    let twin = self.attrs[..i].iter().any(|o| {
                        matches!(split_qname(&b[o.name.clone()]),
                            (Some(op), ol) if op != b"xmlns" && ol == local
                                && self.resolve(Some(op)) == Some(uri))
                    });
                    if twin {
                        return Err(Error::Malformed("duplicate attribute"));
                    }
                }
            }
        }
        Ok(())
    }

    /// End of the name starting at `p`, and whether it has a prefix.
    #[inline(always)]
    fn name_end(&self, p: usize) -> Result<(usize, bool), Error> {
        let b = self.b;
        let mut e = p;
        // At most 2 per octet of a slice: cannot overflow a usize.
        let mut kinds = 0usize;
        while let Some(&c) = b.get(e) {
            let k = NAME_BYTES[c as usize];
            if k == 0 {
                break;
            }
            kinds += usize::from(k);
            e += 1;
        }
        // Each colon counted 2, every other octet 1.
        let colons = kinds - (e - p);
        let last_colon = if colons == 1 {
            p + find_byte(b':', &b[p..e]).unwrap_or(0)
        } else {
            0
        };
        if e == p || matches!(b[p], b'-' | b'.' | b'0'..=b'9' | b':') {
            return Err(Error::Malformed("bad name"));
        }
        if e - p > self.limits.max_name {
            return Err(Error::TooLarge);
        }
        if colons > 1 || (colons == 1 && last_colon + 1 == e) {
            return Err(Error::Malformed("bad qualified name"));
        }
        Ok((e, colons == 1))
    }
}

/// Position of `needle` in `hay`: a plain loop for the short slices markup has (names,
/// attribute values), `memchr` for long text.
#[inline(always)]
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    if hay.len() < 64 {
        hay.iter().position(|c| *c == needle)
    } else {
        memchr::memchr(needle, hay)
    }
}

/// Octets that end a run of plain text: `<`, `&`, `>` (checked for `]]>`).
static STOP_TEXT: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'<' as usize] = 1;
    t[b'&' as usize] = 1;
    t[b'>' as usize] = 1;
    t
};

/// Octets that need a look inside an attribute value: both quotes, `<`, `&`.
static STOP_ATTR: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = 1;
    t[b'\'' as usize] = 1;
    t[b'<' as usize] = 1;
    t[b'&' as usize] = 1;
    t
};

/// Splits `p:local` into prefix and local name.
pub(crate) fn split_qname(q: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match find_byte(b':', q) {
        Some(i) => (Some(&q[..i]), &q[i + 1..]),
        None => (None, q),
    }
}

/// `s` without XML whitespace at either end.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let a = s.iter().position(|c| !is_ws(*c)).unwrap_or(s.len());
    let e = s.iter().rposition(|c| !is_ws(*c)).map_or(a, |e| e + 1);
    &s[a..e]
}

pub(crate) fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Octets that may appear in a name: ASCII letters, digits, `_ - .` (1), `:` (2), and every
/// octet of a non-ASCII UTF-8 character (1). A `static` so the loop is one load per octet.
static NAME_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        if c >= 0x80 || c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.') {
            t[i] = 1;
        }
        i += 1;
    }
    t[b':' as usize] = 2;
    t
};

#[inline]
fn is_name_byte(c: u8) -> bool {
    NAME_BYTES[c as usize] != 0
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(&b[from..], needle).map(|i| from + i)
}

/// UTF-8, and no characters XML 1.0 forbids (C0 controls but tab, LF, CR; U+FFFE, U+FFFF).
fn check_chars(b: &[u8]) -> Result<(), Error> {
    // One branch-free pass over 64-octet chunks (it vectorizes): C0 controls other than tab,
    // LF and CR, and whether any octet is non-ASCII; UTF-8 validation only in that case.
    let mut bad = false;
    let mut high = 0u8;
    for c in b.chunks(64) {
        let (mut ctl, mut hi) = (false, 0u8);
        for &x in c {
            ctl |= x < 0x20 && x != b'\t' && x != b'\n' && x != b'\r';
            hi |= x;
        }
        bad |= ctl;
        high |= hi;
    }
    if high >= 0x80 {
        core::str::from_utf8(b).map_err(|_| Error::Encoding)?;
    }
    if bad {
        return Err(Error::Malformed("control character"));
    }
    if high < 0x80 {
        return Ok(());
    }
    // U+FFFE and U+FFFF are EF BF BE / EF BF BF.
    for (i, _) in b.iter().enumerate().filter(|(_, c)| **c == 0xef) {
        if b.get(i + 1) == Some(&0xbf) && matches!(b.get(i + 2), Some(0xbe | 0xbf)) {
            return Err(Error::Malformed("non-character"));
        }
    }
    Ok(())
}

/// Checks the XML declaration's pseudo-attributes, `d` being what follows `<?xml` (XML 1.0
/// §2.8 `XMLDecl`): `version`, then optionally `encoding` and `standalone`, in that order,
/// each `name = "value"` after whitespace. Only version 1.0 and UTF-8 are accepted.
fn check_decl(d: &[u8]) -> Result<(), Error> {
    const BAD: Error = Error::Malformed("bad XML declaration");
    const NO_VERSION: Error = Error::Malformed("XML declaration without version");
    let skip_ws = |s: &[u8]| -> usize { s.iter().take_while(|c| is_ws(**c)).count() };
    let mut rest = d;
    // The last pseudo-attribute read: 0 none, 1 version, 2 encoding, 3 standalone.
    let mut last = 0;
    loop {
        let ws = skip_ws(rest);
        rest = &rest[ws..];
        if rest.is_empty() {
            break;
        }
        if ws == 0 {
            return Err(BAD);
        }
        let n = rest.iter().take_while(|c| c.is_ascii_lowercase()).count();
        let (name, r) = rest.split_at(n);
        let r = &r[skip_ws(r)..];
        let r = r.strip_prefix(b"=").ok_or(BAD)?;
        let r = &r[skip_ws(r)..];
        let (&q, r) = r.split_first().ok_or(BAD)?;
        if q != b'"' && q != b'\'' {
            return Err(BAD);
        }
        let e = r.iter().position(|c| *c == q).ok_or(BAD)?;
        let value = &r[..e];
        rest = &r[e + 1..];
        let order = match name {
            b"version" => 1,
            b"encoding" => 2,
            b"standalone" => 3,
            _ => return Err(BAD),
        };
        if last == 0 && order != 1 {
            return Err(NO_VERSION);
        }
        if order <= last {
            return Err(BAD);
        }
        last = order;
        match order {
            1 if value != b"1.0" => return Err(Error::Unsupported("XML version other than 1.0")),
            2 if !value.eq_ignore_ascii_case(b"utf-8") && !value.eq_ignore_ascii_case(b"utf8") => {
                return Err(Error::Encoding);
            }
            3 if value != b"yes" && value != b"no" => return Err(BAD),
            _ => {}
        }
    }
    if last == 0 {
        return Err(NO_VERSION);
    }
    Ok(())
}

/// Decodes the reference at the start of `t` (which begins with `&`): the character and the
/// reference's length.
pub(crate) fn reference(t: &[u8]) -> Result<(char, usize), Error> {
    let semi = t
        .iter()
        .take(12)
        .position(|c| *c == b';')
        .ok_or(Error::Entity)?;
    let body = &t[1..semi];
    let c = match body {
        b"lt" => '<',
        b"gt" => '>',
        b"amp" => '&',
        b"apos" => '\'',
        b"quot" => '"',
        [b'#', b'x', hex @ ..] if !hex.is_empty() => char_ref(hex, 16)?,
        [b'#', dec @ ..] if !dec.is_empty() => char_ref(dec, 10)?,
        _ => return Err(Error::Entity),
    };
    Ok((c, semi + 1))
}

fn char_ref(digits: &[u8], radix: u32) -> Result<char, Error> {
    let mut v: u32 = 0;
    for &d in digits {
        let x = (d as char).to_digit(radix).ok_or(Error::Entity)?;
        v = v
            .checked_mul(radix)
            .and_then(|v| v.checked_add(x))
            .ok_or(Error::Entity)?;
    }
    let c = char::from_u32(v).ok_or(Error::Entity)?;
    let allowed = matches!(c, '\t' | '\n' | '\r')
        || ('\u{20}'..='\u{d7ff}').contains(&c)
        || ('\u{e000}'..='\u{fffd}').contains(&c)
        || c >= '\u{10000}';
    if allowed { Ok(c) } else { Err(Error::Entity) }
}

/// Appends `raw` (text or attribute value) with its references decoded.
pub(crate) fn unescape_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'&', &raw[from..]) {
        let at = from + i;
        out.extend_from_slice(&raw[from..at]);
        let (c, len) = reference(&raw[at..])?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        from = at + len;
    }
    out.extend_from_slice(&raw[from..]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(doc: &str) -> Result<Vec<String>, Error> {
        let mut r = Reader::document(doc.as_bytes(), &Limits::default())?;
        let mut v = Vec::new();
        while let Some(e) = r.next()? {
            v.push(match e {
                Event::Decl => "decl".to_string(),
                Event::Start { name, empty, .. } => {
                    format!("<{}{}", &doc[name], if empty { "/" } else { "" })
                }
                Event::End { name, .. } => format!(">{}", &doc[name]),
                Event::Text(t) => format!("t{}", &doc[t]),
                Event::CData { content, .. } => format!("c{}", &doc[content]),
                Event::Comment => "comment".to_string(),
                Event::Pi { target, .. } => format!("pi{}", &doc[target]),
            });
        }
        Ok(v)
    }

    #[test]
    fn scans_a_small_document() {
        assert_eq!(events("<a><!----></a>").unwrap(), ["<a", "comment", ">a"]);
        let v = events(
            "<?xml version=\"1.0\"?>\n<a x='1'><b/>t&amp;<![CDATA[<]]><!--c--><?p d?></a>\n",
        )
        .unwrap();
        assert_eq!(
            v,
            [
                "decl", "t\n", "<a", "<b/", ">b", "tt&amp;", "c<", "comment", "pip", ">a", "t\n"
            ]
        );
    }

    #[test]
    fn refuses_what_it_must() {
        let cases: &[(&str, Error)] = &[
            ("<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>", Error::Dtd),
            ("<a>&x;</a>", Error::Entity),
            ("<a>&#0;</a>", Error::Entity),
            ("<a>&#x110000;</a>", Error::Entity),
            ("<a x='&bogus;'/>", Error::Entity),
            (
                "<a></b>",
                Error::Malformed("end tag does not match start tag"),
            ),
            ("<a>", Error::Malformed("unclosed element")),
            ("<a/><b/>", Error::Malformed("more than one root element")),
            ("x<a/>", Error::Malformed("text outside the root element")),
            ("<a x='1' x='2'/>", Error::Malformed("duplicate attribute")),
            ("<a x='<'/>", Error::Malformed("'<' in an attribute value")),
            ("<p:a/>", Error::Malformed("unbound namespace prefix")),
            ("<a p:x='1'/>", Error::Malformed("unbound namespace prefix")),
            ("<a>\u{1}</a>", Error::Malformed("control character")),
            ("<a>]]></a>", Error::Malformed("']]>' in text")),
            (
                "<a><!-- a -- b --></a>",
                Error::Malformed("'--' inside a comment"),
            ),
            (
                "<?xml version='1.0' encoding='ISO-8859-1'?><a/>",
                Error::Encoding,
            ),
            (
                "<a/><?xml version='1.0'?>",
                Error::Malformed("misplaced XML declaration"),
            ),
            ("", Error::Malformed("no root element")),
            ("<a x=1/>", Error::Malformed("attribute value not quoted")),
            (
                "<a x='1'y='2'/>",
                Error::Malformed("attributes must be separated by whitespace"),
            ),
        ];
        for (doc, want) in cases {
            assert_eq!(events(doc).unwrap_err(), *want, "{doc}");
        }
        assert_eq!(
            Reader::document(b"<a>\xff</a>", &Limits::default()).err(),
            Some(Error::Encoding)
        );
    }

    // Only XML 1.0 is accepted (1.1 has other name and line-end rules), and the
    // declaration's pseudo-attributes are parsed.
    #[test]
    fn only_xml_1_0_is_accepted() {
        let v = Error::Unsupported("XML version other than 1.0");
        let bad = Error::Malformed("bad XML declaration");
        let cases: &[(&str, Error)] = &[
            ("<?xml version=\"1.1\"?><a/>", v),
            ("<?xml version='1.1' encoding='UTF-8'?><a/>", v),
            ("<?xml version='2.0'?><a/>", v),
            ("<?xml version='1.0 '?><a/>", v),
            ("<?xml version=1.0?><a/>", bad),
            ("<?xml version='1.0\"?><a/>", bad),
            (
                "<?xml encoding='UTF-8' version='1.0'?><a/>",
                Error::Malformed("XML declaration without version"),
            ),
            ("<?xml version='1.0'encoding='UTF-8'?><a/>", bad),
            (
                "<?xml version='1.0' encoding='UTF-8' version='1.1'?><a/>",
                bad,
            ),
            ("<?xml version='1.0' standalone='maybe'?><a/>", bad),
            ("<?xml version='1.0' other='x'?><a/>", bad),
            (
                "<?xml encoding='UTF-8'?><a/>",
                Error::Malformed("XML declaration without version"),
            ),
        ];
        for (doc, want) in cases {
            assert_eq!(events(doc).unwrap_err(), *want, "{doc}");
        }
        for doc in [
            "<?xml version=\"1.0\"?><a/>",
            "<?xml version = '1.0' ?><a/>",
            "<?xml version='1.0' encoding='utf-8' standalone='yes'?><a/>",
            "<?xml version='1.0' standalone=\"no\"?><a/>",
        ] {
            assert!(events(doc).is_ok(), "{doc}");
        }
    }

    #[test]
    fn limits_hold() {
        let l = Limits::default();
        let deep = "<a>".repeat(l.max_depth + 1) + &"</a>".repeat(l.max_depth + 1);
        assert_eq!(events(&deep).unwrap_err(), Error::TooDeep);
        let ok = "<a>".repeat(l.max_depth) + &"</a>".repeat(l.max_depth);
        assert!(events(&ok).is_ok());
        let attrs: String = (0..=l.max_attributes)
            .map(|i| format!(" a{i}='1'"))
            .collect();
        assert_eq!(
            events(&format!("<a{attrs}/>")).unwrap_err(),
            Error::TooManyAttributes
        );
        let long = "n".repeat(l.max_name + 1);
        assert_eq!(events(&format!("<{long}/>")).unwrap_err(), Error::TooLarge);
        let big = format!("<a>{}</a>", "x".repeat(l.max_document));
        assert_eq!(events(&big).unwrap_err(), Error::TooLarge);
    }

    #[test]
    fn namespaces_resolve_and_go_out_of_scope() {
        let doc = b"<a xmlns='u1' xmlns:p='u2'><p:b p:x='1'/><c xmlns='u3'/><d/></a>";
        let mut r = Reader::document(doc, &Limits::default()).unwrap();
        let mut seen = Vec::new();
        while let Some(e) = r.next().unwrap() {
            if let Event::Start { name, .. } = e {
                let (ns, local) = r.element_name(&name);
                seen.push(format!(
                    "{}:{}",
                    String::from_utf8_lossy(ns),
                    String::from_utf8_lossy(local)
                ));
            }
        }
        assert_eq!(seen, ["u1:a", "u2:b", "u3:c", "u1:d"]);
    }

    #[test]
    fn references_decode() {
        let mut out = Vec::new();
        unescape_into(b"a&lt;&#x41;&#66;&amp;&quot;&apos;&gt;", &mut out).unwrap();
        assert_eq!(out, b"a<AB&\"'>");
    }
}
