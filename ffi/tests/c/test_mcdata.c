/*
 * C tests of the MCData protected payload calls of libmcx (TS 33.180 §8.5.4): the engine's
 * independent AES-256 vector (Python cryptography; engine/src/mcdata/tests.rs) reproduced
 * and opened through the C ABI, fresh IVs, tampering, wrong keys and purposes, small buffers,
 * NULLs.
 */
#include "common.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const uint8_t VECTOR[81] = {
    0x43, 0x01, 0x02, 0x03, 0x04, 0x05, 0x0a, 0x0b, 0x0c, 0x0d, 0x08, 0x02, 0x20, 0x21,
    0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x1e, 0xad, 0xba, 0xad, 0x00, 0x00, 0x2e, 0xcd, 0x7e, 0x50, 0x56, 0x93, 0xbf, 0xcc,
    0xf7, 0x4e, 0xcf, 0x44, 0xcd, 0x28, 0x95, 0xbf, 0x7e, 0x91, 0xfd, 0xbd, 0x2e, 0x7b,
    0x26, 0x55, 0x1b, 0xb4, 0xae, 0x05, 0x5b, 0x32, 0xe0, 0x27, 0xdd, 0x19, 0x23, 0x45,
    0x1d, 0x47, 0xbb, 0xee, 0x48, 0x58, 0x83, 0x49, 0x84, 0xa6, 0x77};
static const char PLAIN[] = "MCData SDS: floor 2, status ok";

int main(void) {
    uint8_t dppk[32];
    for (int i = 0; i < 32; i++)
        dppk[i] = (uint8_t)i;
    mcx_mcdata_key *k = NULL;
    CHECK(mcx_mcdata_key_new(dppk, 32, 0x1eadbaadu, &k) == MCX_OK);
    CHECK(mcx_mcdata_key_new(dppk, 20, 0x1eadbaadu, &k) == MCX_BAD_LENGTH);
    CHECK(mcx_mcdata_key_new(dppk, 32, 0xfeadbaadu, &k) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_mcdata_key_new(dppk, 32, 0x1eadbaadu, NULL) == MCX_INVALID_ARGUMENT);
    /* The DPPK is a PCK (purpose 1) or a GMK (0): a CSK-ID or MuSiK-ID is refused. */
    mcx_mcdata_key *wrong = NULL;
    CHECK(mcx_mcdata_key_new(dppk, 32, CSK(0xeadbaadu), &wrong) == MCX_WRONG_PURPOSE);
    CHECK(mcx_mcdata_key_new(dppk, 32, MUSIK(0xeadbaadu), &wrong) == MCX_WRONG_PURPOSE);
    CHECK(wrong == NULL);
    CHECK(mcx_mcdata_key_new(dppk, 32, GMK(0xeadbaadu), &wrong) == MCX_OK && wrong != NULL);
    mcx_mcdata_key_free(wrong);

    /* Reproduce the vector byte for byte with its IV, given explicitly. */
    mcx_mcdata_header h;
    memset(&h, 0, sizeof h);
    h.struct_size = sizeof h;
    h.flags = MCX_MCDATA_GIVEN_IV;
    h.message_type = 0x43;
    h.date_time = 0x0102030405ull;
    h.payload_id = 0x0a0b0c0d;
    h.sequence = 8;
    for (int i = 0; i < 16; i++)
        h.iv[i] = (uint8_t)(0x20 + i);
    uint8_t out[128];
    size_t n = 0, plen = strlen(PLAIN);
    CHECK(mcx_mcdata_protect(k, &h, (const uint8_t *)PLAIN, plen, out, sizeof out, &n) == MCX_OK);
    CHECK(n == sizeof VECTOR && memcmp(out, VECTOR, n) == 0);

    /* Open it; the header comes back. */
    uint8_t back[64];
    mcx_mcdata_header got;
    memset(&got, 0, sizeof got);
    got.struct_size = sizeof got;
    CHECK(mcx_mcdata_unprotect(k, VECTOR, sizeof VECTOR, back, sizeof back, &n, &got) == MCX_OK);
    CHECK(n == plen && memcmp(back, PLAIN, plen) == 0);
    CHECK(got.sequence == 8 && got.payload_id == 0x0a0b0c0d && got.date_time == 0x0102030405ull);
    CHECK(got.struct_size == sizeof got);

    /* A fresh IV each time; both open. */
    h.flags = MCX_MCDATA_FRESH_IV;
    uint8_t a[128], b[128];
    size_t na = 0, nb = 0;
    CHECK(mcx_mcdata_protect(k, &h, (const uint8_t *)PLAIN, plen, a, sizeof a, &na) == MCX_OK);
    uint8_t iv_a[16];
    memcpy(iv_a, h.iv, 16);
    CHECK(mcx_mcdata_protect(k, &h, (const uint8_t *)PLAIN, plen, b, sizeof b, &nb) == MCX_OK);
    CHECK(memcmp(iv_a, h.iv, 16) != 0 && memcmp(a + 12, iv_a, 16) == 0);
    CHECK(mcx_mcdata_unprotect(k, b, nb, back, sizeof back, &n, NULL) == MCX_OK && n == plen);

    /* A zero-initialised header (flags 0) draws a fresh IV too, never its all-zero one. */
    static const uint8_t zero_iv[16];
    mcx_mcdata_header z;
    memset(&z, 0, sizeof z);
    z.struct_size = sizeof z;
    CHECK(mcx_mcdata_protect(k, &z, (const uint8_t *)PLAIN, plen, a, sizeof a, &na) == MCX_OK);
    CHECK(memcmp(a + 12, zero_iv, 16) != 0 && memcmp(a + 12, z.iv, 16) == 0);
    memset(&z, 0, sizeof z);
    z.struct_size = sizeof z;
    CHECK(mcx_mcdata_protect(k, &z, (const uint8_t *)PLAIN, plen, b, sizeof b, &nb) == MCX_OK);
    CHECK(memcmp(b + 12, zero_iv, 16) != 0 && memcmp(a + 12, b + 12, 16) != 0);
    CHECK(mcx_mcdata_unprotect(k, a, na, back, sizeof back, &n, NULL) == MCX_OK && n == plen);
    /* A short struct_size (no flags field) defaults the same way. */
    memset(&z, 0, sizeof z);
    z.struct_size = 8;
    CHECK(mcx_mcdata_protect(k, &z, (const uint8_t *)PLAIN, plen, a, sizeof a, &na) == MCX_OK);
    CHECK(mcx_mcdata_protect(k, &z, (const uint8_t *)PLAIN, plen, b, sizeof b, &nb) == MCX_OK);
    CHECK(memcmp(a + 12, zero_iv, 16) != 0 && memcmp(a + 12, b + 12, 16) != 0);
    /* Both IV flags, or a given IV past struct_size: refused. */
    memset(&z, 0, sizeof z);
    z.struct_size = sizeof z;
    z.flags = MCX_MCDATA_FRESH_IV | MCX_MCDATA_GIVEN_IV;
    CHECK(mcx_mcdata_protect(k, &z, (const uint8_t *)PLAIN, plen, a, sizeof a, &na) ==
          MCX_INVALID_ARGUMENT);
    z.flags = MCX_MCDATA_GIVEN_IV;
    z.struct_size = (uint32_t)offsetof(mcx_mcdata_header, iv) + 8;
    CHECK(mcx_mcdata_protect(k, &z, (const uint8_t *)PLAIN, plen, a, sizeof a, &na) ==
          MCX_INVALID_ARGUMENT);

    /* The IEI octet (after the 32 header octets) is not authenticated (mcx.h): an altered
     * one opens and is reported as received. */
    b[32] ^= 0x40;
    memset(&got, 0, sizeof got);
    got.struct_size = sizeof got;
    CHECK(mcx_mcdata_unprotect(k, b, nb, back, sizeof back, &n, &got) == MCX_OK);
    CHECK(got.iei == (uint8_t)(h.iei ^ 0x40));

    /* Tampered: refused, nothing written. */
    a[40] ^= 1;
    memset(back, 0x5a, sizeof back);
    CHECK(mcx_mcdata_unprotect(k, a, na, back, sizeof back, &n, NULL) ==
          MCX_AUTHENTICATION_FAILED);
    int untouched = 1;
    for (size_t i = 0; i < sizeof back; i++)
        untouched &= back[i] == 0x5a;
    CHECK(untouched);
    /* Another DPPK-ID, short input, small buffers, bad flags, NULLs. */
    mcx_mcdata_key *other = NULL;
    CHECK(mcx_mcdata_key_new(dppk, 32, 0x1000beefu, &other) == MCX_OK);
    CHECK(mcx_mcdata_unprotect(other, VECTOR, sizeof VECTOR, back, sizeof back, &n, NULL) ==
          MCX_UNKNOWN_KEY);
    CHECK(mcx_mcdata_unprotect(k, VECTOR, 40, back, sizeof back, &n, NULL) == MCX_MALFORMED);
    CHECK(mcx_mcdata_unprotect(k, VECTOR, sizeof VECTOR, back, 10, &n, NULL) ==
          MCX_BUFFER_TOO_SMALL);
    CHECK(mcx_mcdata_protect(k, &h, (const uint8_t *)PLAIN, plen, out, 60, &n) ==
          MCX_BUFFER_TOO_SMALL);
    h.flags = 0x80;
    CHECK(mcx_mcdata_protect(k, &h, (const uint8_t *)PLAIN, plen, out, sizeof out, &n) ==
          MCX_INVALID_ARGUMENT);
    CHECK(mcx_mcdata_protect(NULL, &h, (const uint8_t *)PLAIN, plen, out, sizeof out, &n) ==
          MCX_INVALID_ARGUMENT);
    CHECK(mcx_mcdata_unprotect(k, NULL, 81, back, sizeof back, &n, NULL) == MCX_INVALID_ARGUMENT);
    CHECK(MCX_MCDATA_OVERHEAD == 51);
    mcx_mcdata_key_free(other);
    mcx_mcdata_key_free(k);
    mcx_mcdata_key_free(NULL);

    return REPORT("C checks of the libmcx MCData calls");
}
