//! Canonical XML 1.0 without comments (W3C REC-xml-c14n-20010315), the canonicalization the
//! MC signature uses for `SignedInfo` and for the signed XML body (TS 36.579-1 Table
//! 5.5.13.1-1; digest §4.2).
//!
//! Over the strict scanner: the XML declaration, comments and whitespace outside the root are
//! dropped; empty elements become start–end pairs; references are decoded and the text
//! re-escaped (`&amp; &lt; &gt; &#xD;` in text, `&amp; &lt; &quot; &#x9; &#xA; &#xD;` in
//! attributes); attribute values are normalized (literal tab, LF and CR become spaces, line
//! ends first become LF); namespace declarations an ancestor already rendered are dropped, the
//! rest come first, sorted by prefix, then the attributes sorted by namespace URI and local
//! name. A document subset is one element and its descendants ([`element`]): it renders the
//! namespace declarations and `xml:` attributes it inherits.

use core::ops::Range;

use super::scan::{self, Binding, Event, Reader, split_qname};
use super::{Error, Limits};

/// Appends the canonical form of the whole document `doc` to `out`. On an error `out` is as it
/// was.
pub fn document(doc: &[u8], limits: &Limits, out: &mut Vec<u8>) -> Result<(), Error> {
    let mark = out.len();
    let r = run(doc, limits, None, out);
    if r.is_err() {
        out.truncate(mark);
    }
    r
}

/// Appends the canonical form of the element whose start tag begins at octet `start` of `doc`
/// (with its descendants) to `out`. On an error `out` is as it was.
pub fn element(doc: &[u8], start: usize, limits: &Limits, out: &mut Vec<u8>) -> Result<(), Error> {
    let mark = out.len();
    let r = run(doc, limits, Some(start), out);
    if r.is_err() {
        out.truncate(mark);
    }
    r
}

/// Canonicalisations this thread has run (tests count work with it instead of timing it).
#[cfg(test)]
pub(crate) fn runs() -> usize {
    RUNS.with(core::cell::Cell::get)
}

#[cfg(test)]
thread_local! {
    static RUNS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

fn run(doc: &[u8], limits: &Limits, apex: Option<usize>, out: &mut Vec<u8>) -> Result<(), Error> {
    #[cfg(test)]
    RUNS.with(|n| n.set(n.get() + 1));
    let mut r = Reader::document(doc, limits)?;
    let whole = apex.is_none();
    // Depth (reader depth of the apex's content) while inside the output; 0 = not yet.
    let mut inside: usize = 0;
    let mut done = false;
    let mut after_root = false;
    // xml:* attributes of the open ancestors (only needed before the apex).
    let mut xml_attrs: Vec<(usize, Range<usize>, Range<usize>)> = Vec::new();
    let mut scratch = Vec::new();
    while let Some(ev) = r.next()? {
        if done {
            continue;
        }
        let emitting = whole || inside > 0;
        match ev {
            Event::Start { span, name, empty } => {
                let depth = r.depth() + usize::from(empty);
                let is_apex = !whole && inside == 0 && Some(span.start) == apex;
                if emitting || is_apex {
                    if is_apex {
                        inside = depth;
                    }
                    let top = whole && depth == 1 || is_apex;
                    let inherited: &[(usize, Range<usize>, Range<usize>)] =
                        if is_apex { &xml_attrs } else { &[] };
                    start_tag(&r, name.clone(), depth, top, inherited, &mut scratch, out)?;
                    if empty {
                        out.extend_from_slice(b"</");
                        out.extend_from_slice(&doc[name]);
                        out.push(b'>');
                        if is_apex {
                            done = true;
                        }
                    }
                } else if !whole {
                    let b = r.bytes();
                    xml_attrs.retain(|(d, _, _)| *d < depth);
                    if !empty {
                        for a in r.attrs() {
                            if let (Some(b"xml"), _) = split_qname(&b[a.name.clone()]) {
                                xml_attrs.push((depth, a.name.clone(), a.value.clone()));
                            }
                        }
                    }
                }
            }
            Event::End { span, name } => {
                if emitting {
                    if !span.is_empty() {
                        out.extend_from_slice(b"</");
                        out.extend_from_slice(&doc[name]);
                        out.push(b'>');
                    }
                    if !whole && r.depth() + 1 == inside {
                        done = true;
                    }
                    if whole && r.depth() == 0 {
                        after_root = true;
                    }
                } else {
                    let depth = r.depth() + 1;
                    xml_attrs.retain(|(d, _, _)| *d < depth);
                }
            }
            Event::Text(t) if emitting && (!whole || r.depth() > 0) => {
                // Line ends on the raw text first, then references: a `&#13;` stays a CR.
                text_out(&doc[t], out)?;
            }
            Event::CData { content, .. } if emitting => {
                escape_text_literal(&doc[content], out);
            }
            Event::Pi { target, data, .. } if emitting => {
                let root_level = whole && r.depth() == 0;
                if root_level && after_root {
                    out.push(b'\n');
                }
                out.extend_from_slice(b"<?");
                out.extend_from_slice(&doc[target]);
                if !data.is_empty() {
                    out.push(b' ');
                    push_line_normalized(&doc[data], out);
                }
                out.extend_from_slice(b"?>");
                if root_level && !after_root {
                    out.push(b'\n');
                }
            }
            _ => {}
        }
    }
    if !whole && !done {
        return Err(Error::BadStructure("no element starts at the given offset"));
    }
    Ok(())
}

/// An attribute to sort: namespace URI, local name, qualified name, raw value.
type SortedAttr<'a> = (&'a [u8], &'a [u8], Range<usize>, Range<usize>);

/// Writes a canonical start tag for the element the reader has just returned.
fn start_tag(
    r: &Reader<'_>,
    name: Range<usize>,
    depth: usize,
    top: bool,
    inherited_xml: &[(usize, Range<usize>, Range<usize>)],
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let b = r.bytes();
    out.push(b'<');
    out.extend_from_slice(&b[name]);

    // Namespace declarations to render: the apex renders every binding in scope (the nearest
    // per prefix); others render their own declarations that change what the parent had.
    let bindings = r.bindings();
    let mut decls: Vec<(Option<&[u8]>, &[u8])> = Vec::new();
    if top {
        for (i, x) in bindings.iter().enumerate() {
            let shadowed = bindings[i + 1..].iter().any(|y| y.prefix == x.prefix);
            let undeclared_default = x.prefix.is_none() && x.uri.is_empty();
            if !shadowed && !undeclared_default {
                decls.push((x.prefix, x.uri));
            }
        }
    } else {
        for x in bindings.iter().filter(|x| x.depth == depth) {
            let parent = parent_binding(bindings, x.prefix, depth);
            if parent != x.uri {
                decls.push((x.prefix, x.uri));
            }
        }
    }
    // The xml prefix is bound implicitly and never rendered (libxml2 and xmlsec agree).
    decls.retain(|(p, _)| *p != Some(b"xml"));
    // C14N 1.0 §2.3: a relative namespace URI makes canonicalization fail.
    if decls
        .iter()
        .any(|(_, u)| !u.is_empty() && !u.contains(&b':'))
    {
        return Err(Error::Unsupported("relative namespace URI"));
    }
    decls.sort_by(|a, c| a.0.cmp(&c.0));
    for (prefix, uri) in decls {
        match prefix {
            None => out.extend_from_slice(b" xmlns=\""),
            Some(p) => {
                out.extend_from_slice(b" xmlns:");
                out.extend_from_slice(p);
                out.extend_from_slice(b"=\"");
            }
        }
        // URIs hold no references (the scanner refuses them); escape what needs it.
        escape_attr(uri, out);
        out.push(b'"');
    }

    // Attributes: by namespace URI, then local name.
    let mut attrs: Vec<SortedAttr<'_>> = Vec::new();
    for a in r.attrs() {
        let q = &b[a.name.clone()];
        if q == b"xmlns" || q.starts_with(b"xmlns:") {
            continue;
        }
        let (ns, local) = r.attr_name(&a.name);
        attrs.push((ns, local, a.name.clone(), a.value.clone()));
    }
    for (_, n, v) in inherited_xml {
        let q = &b[n.clone()];
        let own = attrs.iter().any(|a| &b[a.2.clone()] == q);
        // The nearest ancestor's value wins: later entries are nearer.
        let nearer = inherited_xml
            .iter()
            .rev()
            .find(|(_, n2, _)| &b[n2.clone()] == q)
            .is_some_and(|(_, n2, _)| n2 != n);
        if !own && !nearer {
            let (_, local) = split_qname(q);
            attrs.push((
                b"http://www.w3.org/XML/1998/namespace",
                local,
                n.clone(),
                v.clone(),
            ));
        }
    }
    attrs.sort_by(|a, c| (a.0, a.1).cmp(&(c.0, c.1)));
    for (_, _, n, v) in attrs {
        out.push(b' ');
        out.extend_from_slice(&b[n]);
        out.extend_from_slice(b"=\"");
        scratch.clear();
        normalize_attr(&b[v], scratch)?;
        escape_attr(scratch, out);
        out.push(b'"');
    }
    out.push(b'>');
    Ok(())
}

/// The URI `prefix` had in the parent of the element at `depth` (`b""` for none).
fn parent_binding<'a>(bindings: &[Binding<'a>], prefix: Option<&[u8]>, depth: usize) -> &'a [u8] {
    if prefix == Some(b"xml") {
        return b"http://www.w3.org/XML/1998/namespace";
    }
    bindings
        .iter()
        .rev()
        .find(|x| x.depth < depth && x.prefix == prefix)
        .map_or(b"", |x| x.uri)
}

/// Calls `f` with each octet of literal `raw`, a CRLF or lone CR as one LF (XML 1.0 §2.11).
fn line_normalized(raw: &[u8], mut f: impl FnMut(u8)) {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' {
            f(b'\n');
            if raw.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
        } else {
            f(raw[i]);
        }
        i += 1;
    }
}

/// A stretch of raw text or attribute value: literal octets (line ends not yet normalized),
/// or the character a reference stands for.
enum Piece<'r> {
    Literal(&'r [u8]),
    Char(char),
}

/// Splits raw text or an attribute value at its references.
fn with_references(raw: &[u8], mut f: impl FnMut(Piece<'_>)) -> Result<(), Error> {
    let mut from = 0;
    while let Some(i) = scan::find_byte(b'&', &raw[from..]) {
        f(Piece::Literal(&raw[from..from + i]));
        let (c, len) = scan::reference(&raw[from + i..])?;
        f(Piece::Char(c));
        from += i + len;
    }
    f(Piece::Literal(&raw[from..]));
    Ok(())
}

fn push_char(c: char, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// One octet of canonical text: `& < >` and CR escaped (other octets, UTF-8 included, as
/// they are).
fn text_byte(c: u8, out: &mut Vec<u8>) {
    match c {
        b'&' => out.extend_from_slice(b"&amp;"),
        b'<' => out.extend_from_slice(b"&lt;"),
        b'>' => out.extend_from_slice(b"&gt;"),
        b'\r' => out.extend_from_slice(b"&#xD;"),
        c => out.push(c),
    }
}

/// Attribute-value normalization (XML 1.0 §3.3.3, CDATA): literal line ends become LF, then
/// literal whitespace becomes a space; references are decoded after (so `&#xA;` stays LF).
fn normalize_attr(raw: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    with_references(raw, |p| match p {
        Piece::Literal(s) => {
            line_normalized(s, |c| {
                out.push(if c == b'\n' || c == b'\t' { b' ' } else { c })
            });
        }
        Piece::Char(c) => push_char(c, out),
    })
}

/// Writes raw text: literal line ends become LF, references are decoded, and the result is
/// escaped for canonical text.
fn text_out(raw: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    with_references(raw, |p| match p {
        Piece::Literal(s) => line_normalized(s, |c| text_byte(c, out)),
        Piece::Char(c) if c.is_ascii() => text_byte(c as u8, out),
        Piece::Char(c) => push_char(c, out),
    })
}

/// CDATA content: line ends normalized, then escaped as text.
fn escape_text_literal(raw: &[u8], out: &mut Vec<u8>) {
    line_normalized(raw, |c| text_byte(c, out));
}

fn push_line_normalized(raw: &[u8], out: &mut Vec<u8>) {
    line_normalized(raw, |c| out.push(c));
}

fn escape_attr(v: &[u8], out: &mut Vec<u8>) {
    for &c in v {
        match c {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\t' => out.extend_from_slice(b"&#x9;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(doc: &str) -> String {
        let mut out = Vec::new();
        document(doc.as_bytes(), &Limits::default(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    // W3C REC-xml-c14n-20010315 §3.1 (PIs, comments, outside the document element), without
    // comments; the DOCTYPE of the original example is left out (this scanner refuses DTDs).
    #[test]
    fn rec_example_3_1() {
        let doc = "<?xml version=\"1.0\"?>\n\n<?xml-stylesheet   href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n\n<doc>Hello, world!<!-- Comment 1 --></doc>\n\n<?pi-without-data     ?>\n\n<!-- Comment 2 -->\n\n<!-- Comment 3 -->";
        assert_eq!(
            c14n(doc),
            "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!</doc>\n<?pi-without-data?>"
        );
    }

    // W3C REC-xml-c14n-20010315 §3.3 (start and end tags), without the DTD-defaulted
    // attributes of the original (no DTD here).
    #[test]
    fn rec_example_3_3() {
        let doc = r#"<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>"#;
        let want = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6 xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9 xmlns:a="http://www.ietf.org"></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
        assert_eq!(c14n(doc), want);
    }

    // W3C REC-xml-c14n-20010315 §3.4 (character modifications), the parts without a DTD.
    #[test]
    fn rec_example_3_4_without_dtd() {
        let doc = "<doc>\r\n   <text>First line&#x0d;&#10;Second line</text>\r\n   <value>&#x32;</value>\r\n   <compute><![CDATA[value>\"0\" && value<\"10\" ?\"valid\":\"error\"]]></compute>\r\n   <compute expr='value>\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"'>valid</compute>\r\n   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>\r\n</doc>";
        let want = "<doc>\n   <text>First line&#xD;\nSecond line</text>\n   <value>2</value>\n   <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>\n   <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>\n   <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>\n</doc>";
        assert_eq!(c14n(doc), want);
    }

    #[test]
    fn refuses_relative_namespaces_and_drops_the_xml_declaration() {
        let mut out = Vec::new();
        let r = document(b"<a xmlns='rel'/>", &Limits::default(), &mut out);
        assert_eq!(r, Err(Error::Unsupported("relative namespace URI")));
        assert!(out.is_empty());
        assert_eq!(
            c14n("<a xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>"),
            "<a xml:lang=\"en\"></a>"
        );
    }

    #[test]
    fn subset_inherits_namespaces_and_xml_attributes() {
        let doc =
            b"<a xmlns='urn:u' xmlns:p='urn:q' xml:lang='en'><b xml:space='preserve'><c p:x='1'/></b></a>";
        let start = doc.windows(2).position(|w| w == b"<c").unwrap();
        let mut out = Vec::new();
        element(doc, start, &Limits::default(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<c xmlns=\"urn:u\" xmlns:p=\"urn:q\" xml:lang=\"en\" xml:space=\"preserve\" p:x=\"1\"></c>"
        );
        let mut out = Vec::new();
        assert!(element(doc, 1, &Limits::default(), &mut out).is_err());
        assert!(out.is_empty());
    }
}
