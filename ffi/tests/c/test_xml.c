/*
 * C tests of the XML calls of libmcx (TS 33.180 §9.3, F.1.4): element encryption and
 * decryption round trip, the length query, tampering, hostile documents, signatures and
 * their checks, NULLs. The interop with xmlsec1 and lxml is in tests/tests/xml.rs.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char DOC[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<mcpttinfo xmlns=\"urn:3gpp:ns:mcpttInfo:1.0\">\n"
    "  <mcptt-Params>\n"
    "    <mcptt-request-uri type=\"Normal\"><mcpttURI>sip:group-0017@mcptt.example.org</mcpttURI></mcptt-request-uri>\n"
    "    <mcptt-calling-user-id type=\"Normal\"><mcpttURI>sip:alice@mcptt.example.org</mcpttURI></mcptt-calling-user-id>\n"
    "    <floor-state>floor-idle</floor-state>\n"
    "  </mcptt-Params>\n"
    "</mcpttinfo>\n";

static const char USER[] = "sip:alice@mcptt.example.org";

/* Where `needle` (n octets) first occurs in `hay` (len octets), or NULL (memmem is not C11). */
static uint8_t *find(uint8_t *hay, size_t len, const char *needle, size_t n) {
    for (size_t i = 0; n <= len && i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

int main(void) {
    uint8_t csk[16];
    for (int i = 0; i < 16; i++)
        csk[i] = (uint8_t)i;
    mcx_xml_key *k = NULL, *other = NULL;
    CHECK(mcx_xml_key_new(csk, 16, CSK(0xddd5bf0u), (const uint8_t *)USER, strlen(USER), &k) == MCX_OK);
    CHECK(mcx_xml_key_new(csk, 16, CSK(0xddd5bf1u), (const uint8_t *)USER, strlen(USER), &other) == MCX_OK);
    mcx_xml_key *bad = NULL;
    CHECK(mcx_xml_key_new(csk, 15, CSK(1), (const uint8_t *)USER, strlen(USER), &bad) == MCX_BAD_LENGTH);
    CHECK(mcx_xml_key_new(csk, 16, 0xf0000001u, (const uint8_t *)USER, strlen(USER), &bad) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_xml_key_new(csk, 16, CSK(1), (const uint8_t *)USER, strlen(USER), NULL) == MCX_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    mcx_xml_key_free(NULL);

    const uint8_t *doc = (const uint8_t *)DOC;
    size_t len = strlen(DOC), need = 0, count = 0;

    /* Length query: nothing written, the length needed comes back. */
    uint8_t small[8] = {0};
    CHECK(mcx_xml_protect(k, doc, len, NULL, small, sizeof small, &need, &count) == MCX_BUFFER_TOO_SMALL);
    CHECK(need > len && small[0] == 0);
    uint8_t *enc = malloc(need);
    size_t enc_len = 0;
    CHECK(mcx_xml_protect(k, doc, len, NULL, enc, need, &enc_len, &count) == MCX_OK);
    CHECK(enc_len == need && count == 2);
    CHECK(find(enc, enc_len, "alice@", 6) == NULL);
    CHECK(find(enc, enc_len, "<ds:KeyName>Ld1b8A==</ds:KeyName>", 33) != NULL);
    CHECK(find(enc, enc_len, "<floor-state>floor-idle</floor-state>", 37) != NULL);

    /* Only the listed element. */
    uint8_t one[4096];
    size_t one_len = 0;
    CHECK(mcx_xml_protect(k, doc, len, "mcptt-calling-user-id", one, sizeof one, &one_len, &count) == MCX_OK);
    CHECK(count == 1 && find(one, one_len, "group-0017", 10) != NULL);

    /* Back to the same octets. */
    uint8_t dec[4096];
    size_t dec_len = 0;
    CHECK(mcx_xml_unprotect(k, enc, enc_len, dec, sizeof dec, &dec_len, &count) == MCX_OK);
    CHECK(count == 2 && dec_len == len && memcmp(dec, doc, len) == 0);

    /* Another key, a flipped ciphertext character: refused, nothing written. */
    memset(dec, 0x55, sizeof dec);
    CHECK(mcx_xml_unprotect(other, enc, enc_len, dec, sizeof dec, &dec_len, NULL) == MCX_UNKNOWN_KEY);
    uint8_t *cv = find(enc, enc_len, "<xenc:CipherValue>", 18);
    CHECK(cv != NULL);
    if (cv) {
        cv[18 + 20] = cv[18 + 20] == 'A' ? 'B' : 'A';
        CHECK(mcx_xml_unprotect(k, enc, enc_len, dec, sizeof dec, &dec_len, NULL) == MCX_AUTHENTICATION_FAILED);
    }
    CHECK(dec[0] == 0x55 && dec[sizeof dec - 1] == 0x55);

    /* Hostile documents. */
    const char *dtd = "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>";
    CHECK(mcx_xml_protect(k, (const uint8_t *)dtd, strlen(dtd), NULL, dec, sizeof dec, &dec_len, NULL) == MCX_UNSUPPORTED);
    char deep[40 * 7 + 1] = {0};
    for (int i = 0; i < 40; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 40; i++)
        strcat(deep, "</a>");
    CHECK(mcx_xml_unprotect(k, (const uint8_t *)deep, strlen(deep), dec, sizeof dec, &dec_len, NULL) == MCX_LIMIT_EXCEEDED);
    CHECK(mcx_xml_protect(k, doc, len / 2, NULL, dec, sizeof dec, &dec_len, NULL) == MCX_MALFORMED_XML);
    CHECK(dec[0] == 0x55);

    /* Signatures body: length query, verify, changed body, wrong Content-ID. */
    CHECK(mcx_xml_sign(k, doc, len, "<info@mcptt.example.org>", NULL, 0, &need) == MCX_BUFFER_TOO_SMALL);
    uint8_t *sig = malloc(need);
    size_t sig_len = 0;
    CHECK(mcx_xml_sign(k, doc, len, "<info@mcptt.example.org>", sig, need, &sig_len) == MCX_OK);
    CHECK(sig_len == need && find(sig, sig_len, "cid:info@mcptt.example.org", 26) != NULL);
    CHECK(mcx_xml_verify(k, sig, sig_len, doc, len, "info@mcptt.example.org") == MCX_OK);
    CHECK(mcx_xml_verify(other, sig, sig_len, doc, len, "info@mcptt.example.org") == MCX_UNKNOWN_KEY);
    CHECK(mcx_xml_verify(k, sig, sig_len, doc, len, "other@mcptt.example.org") == MCX_UNSIGNED);
    char *changed = malloc(len + 1);
    memcpy(changed, DOC, len + 1);
    char *idle = strstr(changed, "idle");
    if (idle)
        memcpy(idle, "busy", 4);
    CHECK(mcx_xml_verify(k, sig, sig_len, (const uint8_t *)changed, len, "info@mcptt.example.org") == MCX_AUTHENTICATION_FAILED);
    CHECK(mcx_xml_sign(k, doc, len, "bad id", sig, sig_len, &need) == MCX_MALFORMED_XML);

    /* Two bodies in one signatures body: both must be given to verify. */
    static const char OTHER[] = "<location-info xmlns=\"urn:3gpp:ns:mcpttLocationInfo:1.0\"/>";
    mcx_xml_body two[2] = {
        {"<info@mcptt.example.org>", doc, len},
        {"<loc@mcptt.example.org>", (const uint8_t *)OTHER, strlen(OTHER)},
    };
    uint8_t sig2[4096];
    size_t sig2_len = 0;
    CHECK(mcx_xml_sign_bodies(k, two, 2, sig2, sizeof sig2, &sig2_len) == MCX_OK);
    CHECK(find(sig2, sig2_len, "Id=\"signature2\"", 15) != NULL);
    CHECK(mcx_xml_verify_bodies(k, sig2, sig2_len, two, 2) == MCX_OK);
    CHECK(mcx_xml_verify_bodies(k, sig2, sig2_len, two, 1) == MCX_UNSIGNED);
    CHECK(mcx_xml_verify(k, sig2, sig2_len, doc, len, "info@mcptt.example.org") == MCX_UNSIGNED);
    mcx_xml_body swapped[2] = {two[0], two[1]};
    swapped[1].data = doc;
    swapped[1].len = len;
    CHECK(mcx_xml_verify_bodies(k, sig2, sig2_len, swapped, 2) == MCX_AUTHENTICATION_FAILED);
    CHECK(mcx_xml_verify_bodies(k, sig2, sig2_len, NULL, 2) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_xml_verify_bodies(k, sig2, sig2_len, two, MCX_XML_MAX_BODIES + 1) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_xml_sign_bodies(k, two, 0, sig2, sizeof sig2, &sig2_len) == MCX_INVALID_ARGUMENT);

    /* NULLs and bad strings. */
    CHECK(mcx_xml_protect(NULL, doc, len, NULL, dec, sizeof dec, &dec_len, NULL) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_xml_protect(k, NULL, len, NULL, dec, sizeof dec, &dec_len, NULL) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_xml_protect(k, doc, len, NULL, dec, sizeof dec, NULL, NULL) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_xml_protect(k, doc, len, "\xff\xfe", dec, sizeof dec, &dec_len, NULL) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_xml_sign(k, doc, len, NULL, sig, sig_len, &need) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_xml_verify(k, NULL, 5, doc, len, "a@b") == MCX_INVALID_ARGUMENT);
    CHECK(strcmp(mcx_status_str(MCX_UNSIGNED), "XML bodies and signatures do not match") == 0);
    CHECK(MCX_MALFORMED_XML == 29 && strstr(mcx_status_str(MCX_MALFORMED_XML), "XML") != NULL);

    free(changed);
    free(sig);
    free(enc);
    mcx_xml_key_free(k);
    mcx_xml_key_free(other);
    return REPORT("C checks of the libmcx XML calls");
}
