#!/usr/bin/python3
"""Independent XML Signature and C14N checks for the engine's tests, with lxml (libxml2's
Canonical XML 1.0) and Python's hmac/hashlib; shares no code with the engine.

  xmldsig_check.py verify KEYHEX SIGNATURES BODY CONTENT_ID   -> prints "OK n" or fails
  xmldsig_check.py sign KEYHEX KEYNAME BODY CONTENT_ID        -> prints a signatures body
  xmldsig_check.py c14n FILE                                  -> prints the canonical form
"""
import base64, copy, hashlib, hmac, sys
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
NS = {"ds": DS}


def c14n_doc(data):
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.tostring(etree.fromstring(data, parser).getroottree(), method="c14n", with_comments=False)


def c14n_subtree(el):
    """Inclusive C14N 1.0 of one element with the namespaces it inherits. (lxml's in-place
    `tostring(el, method="c14n", with_comments=False)` of a non-root element in a default namespace writes stray
    xmlns="" on its descendants, so rebuild the element as a root with its whole nsmap.)"""
    root = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)
    root.text = el.text
    for child in el:
        root.append(copy.deepcopy(child))
    return etree.tostring(root, method="c14n", with_comments=False)


def verify(key, sigs, body, cid):
    root = etree.fromstring(sigs)
    assert root.tag == "{urn:3gpp:ns:mcpttSignedDoc:1.0}signatures", root.tag
    n = 0
    for sig in root.findall("ds:Signature", NS):
        si = sig.find("ds:SignedInfo", NS)
        assert si.find("ds:CanonicalizationMethod", NS).get("Algorithm") == C14N
        assert si.find("ds:SignatureMethod", NS).get("Algorithm") == \
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
        ref = si.find("ds:Reference", NS)
        assert ref.get("URI") == "cid:" + cid.strip("<>"), ref.get("URI")
        assert [t.get("Algorithm") for t in ref.findall("ds:Transforms/ds:Transform", NS)] == [C14N]
        assert ref.find("ds:DigestMethod", NS).get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#sha256"
        digest = base64.b64decode(ref.find("ds:DigestValue", NS).text)
        assert digest == hashlib.sha256(c14n_doc(body)).digest(), "digest"
        value = base64.b64decode(sig.find("ds:SignatureValue", NS).text)
        want = hmac.new(key, c14n_subtree(si), hashlib.sha256).digest()
        assert hmac.compare_digest(value, want), "signature value"
        n += 1
    assert n > 0
    print("OK", n)


def sign(key, keyname, body, cid):
    # Another signer's style: ds: prefix, whitespace between elements, declaration.
    digest = base64.b64encode(hashlib.sha256(c14n_doc(body)).digest()).decode()
    signed_info = (
        '<ds:SignedInfo>\n    <ds:CanonicalizationMethod Algorithm="%s"/>\n'
        '    <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"/>\n'
        '    <ds:Reference URI="cid:%s"><ds:Transforms><ds:Transform Algorithm="%s"/></ds:Transforms>\n'
        '      <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>\n'
        '      <ds:DigestValue>%s</ds:DigestValue></ds:Reference>\n  </ds:SignedInfo>'
        % (C14N, cid.strip("<>"), C14N, digest))
    doc = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<signatures xmlns="urn:3gpp:ns:mcpttSignedDoc:1.0" xmlns:ds="%s">\n'
           '  <ds:Signature Id="ue-sig">\n  %s\n  <ds:SignatureValue>SIG</ds:SignatureValue>\n'
           '  <ds:KeyInfo><ds:KeyName>%s</ds:KeyName></ds:KeyInfo>\n  </ds:Signature>\n</signatures>\n'
           % (DS, signed_info, keyname))
    si = etree.fromstring(doc.encode()).find("ds:Signature/ds:SignedInfo", NS)
    value = hmac.new(key, c14n_subtree(si), hashlib.sha256).digest()
    sys.stdout.write(doc.replace("SIG", base64.b64encode(value).decode()))


def main():
    mode = sys.argv[1]
    if mode == "verify":
        verify(bytes.fromhex(sys.argv[2]), open(sys.argv[3], "rb").read(),
               open(sys.argv[4], "rb").read(), sys.argv[5])
    elif mode == "sign":
        sign(bytes.fromhex(sys.argv[2]), sys.argv[3], open(sys.argv[4], "rb").read(), sys.argv[5])
    elif mode == "c14n":
        sys.stdout.buffer.write(c14n_doc(open(sys.argv[2], "rb").read()))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
