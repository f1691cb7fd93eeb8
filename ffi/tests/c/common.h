/* Helpers shared by the C tests of libmcx. */
#ifndef MCX_TEST_COMMON_H
#define MCX_TEST_COMMON_H

#include "mcx.h"

#include <stdio.h>
#include <string.h>

#ifndef MCX_TEST_OWN_CHECK
static int checks, failures;

/* Counts a check; prints the failed condition. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        checks++;                                                              \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

/* Counts a check that `call` returns the status `want`; prints both when not. */
#define CHECK_STATUS(call, want)                                               \
    do {                                                                       \
        mcx_status got_ = (call);                                              \
        checks++;                                                              \
        if (got_ != (want)) {                                                  \
            failures++;                                                        \
            fprintf(stderr, "%s:%d: %s returned %d (%s), want %s\n", __FILE__, \
                    __LINE__, #call, (int)got_, mcx_status_str(got_), #want);  \
        }                                                                      \
    } while (0)
#endif

/* The cargo-style summary line scripts/test.sh adds up; the exit status. */
#define REPORT(what)                                                           \
    (printf("test result: %s. %d passed; %d failed; (%s)\n",                  \
            failures ? "FAILED" : "ok", checks - failures, failures, what),    \
     failures ? 1 : 0)

/* Key IDs: the 4 top bits are the purpose (digest §1): 0 GMK, 2 CSK, 3 SPK, 6 MuSiK. */
#define GMK(n) (0x00000000u | (n))
#define CSK(n) (0x20000000u | (n))
#define SPK(n) (0x30000000u | (n))
#define MUSIK(n) (0x60000000u | (n))

static const uint8_t RAND[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* Installs a 16-octet MC key of `key_id` filled with `fill`, owned by `owner`, MCPTT. */
static inline mcx_status install(mcx_engine *e, uint32_t key_id, uint8_t fill,
                                 const char *owner) {
    uint8_t key[16];
    memset(key, fill, sizeof key);
    mcx_key_material km;
    memset(&km, 0, sizeof km);
    km.struct_size = sizeof km;
    km.key_id = key_id;
    km.key = key;
    km.key_len = sizeof key;
    km.rand = RAND;
    km.rand_len = sizeof RAND;
    km.service = MCX_SERVICE_MCPTT;
    km.owner_user_id = owner;
    km.peer = "sip:mcptt-server.example.org";
    km.cs_id = -1;
    return mcx_key_install(e, &km);
}

/* An RTCP APP packet (PT 204) of 16 octets: header, SSRC, name "MCPT", one data word. */
static inline size_t rtcp(uint8_t *buf, uint32_t ssrc, uint32_t word) {
    const uint8_t head[4] = {0x80, 0xcc, 0x00, 0x03};
    memcpy(buf, head, 4);
    for (int i = 0; i < 4; i++) {
        buf[4 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
        buf[12 + i] = (uint8_t)(word >> (24 - 8 * i));
    }
    memcpy(buf + 8, "MCPT", 4);
    return 16;
}

#endif
