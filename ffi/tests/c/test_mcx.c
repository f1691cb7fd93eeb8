/*
 * C tests of libmcx through mcx.h alone: every function's happy path, the error paths
 * (NULL arguments, small buffers, unknown MKI, revoked key, replay, wrong purpose, forged
 * packets, bad lengths), and several threads protecting and unprotecting through one
 * engine. Built and run by scripts/c-tests.sh plain, with -fsanitize=address,undefined, and
 * under valgrind. Prints a cargo-style "test result:" line for the test script's summary.
 */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CAP_SMALL = 20 };

static void test_basics(void) {
    CHECK(strcmp(mcx_version(), "") != 0);
    CHECK(strcmp(mcx_status_str(MCX_OK), "ok") == 0);
    CHECK(strcmp(mcx_status_str(MCX_REPLAYED), "replayed packet") == 0);
    CHECK(strcmp(mcx_status_str(-1), "unknown status") == 0);
    CHECK(strcmp(mcx_status_str(100000), "unknown status") == 0);
    CHECK(MCX_OK == 0 && MCX_INVALID_ARGUMENT == 1 && MCX_INTERNAL == 2);

    CHECK_STATUS(mcx_engine_new(NULL, NULL), MCX_INVALID_ARGUMENT);
    mcx_engine_config bad = {0};
    mcx_engine *e = NULL;
    CHECK_STATUS(mcx_engine_new(&bad, &e), MCX_INVALID_ARGUMENT); /* struct_size 0 */
    CHECK(e == NULL);
    mcx_engine_config small = {.struct_size = sizeof small, .replay_window = 8};
    CHECK_STATUS(mcx_engine_new(&small, &e), MCX_INVALID_ARGUMENT); /* window < 64 */
    /* An older, shorter config: only the fields it has are read. */
    mcx_engine_config old = {.struct_size = 8, .replay_window = 256};
    CHECK_STATUS(mcx_engine_new(&old, &e), MCX_OK);
    mcx_engine_free(e);
    e = NULL;
    CHECK_STATUS(mcx_engine_new(NULL, &e), MCX_OK);
    CHECK(e != NULL);
    const char *b = mcx_engine_backend(e);
    CHECK(b != NULL && (strcmp(b, "aesni") == 0 || strcmp(b, "vaes") == 0 ||
                        strcmp(b, "portable") == 0));
    CHECK(mcx_engine_backend(NULL) == NULL);
    mcx_engine_free(e);
    mcx_engine_free(NULL); /* a no-op */
}

static void test_keys(void) {
    mcx_engine *e = NULL;
    CHECK_STATUS(mcx_engine_new(NULL, &e), MCX_OK);
    CHECK_STATUS(install(e, CSK(1), 0x11, "sip:alice@example.org"), MCX_OK);
    CHECK_STATUS(install(e, CSK(1), 0x12, "sip:bob@example.org"), MCX_DUPLICATE_KEY_ID);
    CHECK_STATUS(install(e, 0x70000001u, 0x13, "sip:x@example.org"), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_key_install(NULL, NULL), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_key_install(e, NULL), MCX_INVALID_ARGUMENT);

    uint8_t key[16] = {0};
    mcx_key_material km;
    memset(&km, 0, sizeof km);
    km.struct_size = sizeof km;
    km.key_id = CSK(2);
    km.key = key;
    km.key_len = 15; /* not an MC key length */
    km.rand = RAND;
    km.rand_len = sizeof RAND;
    km.owner_user_id = "sip:carol@example.org";
    km.peer = "sip:mcptt-server.example.org";
    km.cs_id = -1;
    CHECK_STATUS(mcx_key_install(e, &km), MCX_BAD_LENGTH);
    km.key_len = 16;
    km.owner_user_id = NULL;
    CHECK_STATUS(mcx_key_install(e, &km), MCX_INVALID_ARGUMENT);
    km.owner_user_id = "sip:carol@example.org";
    km.service = 9;
    CHECK_STATUS(mcx_key_install(e, &km), MCX_INVALID_ARGUMENT);
    km.service = MCX_SERVICE_MCPTT;
    km.struct_size = 8; /* too short to carry the required fields */
    CHECK_STATUS(mcx_key_install(e, &km), MCX_INVALID_ARGUMENT);
    km.struct_size = sizeof km;
    km.key_id = SPK(2); /* no CS-ID in Table E.1.3-1 for an SPK */
    CHECK_STATUS(mcx_key_install(e, &km), MCX_NO_CS_ID);
    km.cs_id = 6;
    CHECK_STATUS(mcx_key_install(e, &km), MCX_OK);

    uint8_t mk[16] = {9}, salt[12] = {8}, short_salt[11] = {0};
    CHECK_STATUS(mcx_key_install_srtp(e, SPK(3), mk, 16, salt, 12, 0), MCX_OK);
    CHECK_STATUS(mcx_key_install_srtp(e, SPK(4), mk, 16, short_salt, 11, 0), MCX_BAD_LENGTH);
    CHECK_STATUS(mcx_key_install_srtp(e, SPK(5), NULL, 16, salt, 12, 0), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_key_install_srtp(NULL, SPK(5), mk, 16, salt, 12, 0), MCX_INVALID_ARGUMENT);

    CHECK_STATUS(mcx_key_revoke(e, SPK(3)), MCX_OK);
    CHECK_STATUS(mcx_key_revoke(e, SPK(3)), MCX_UNKNOWN_KEY);
    CHECK_STATUS(mcx_key_revoke(NULL, SPK(3)), MCX_INVALID_ARGUMENT);

    mcx_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_STATUS(mcx_stats_get(e, &st), MCX_OK);
    CHECK(st.keys == 2);
    CHECK_STATUS(mcx_stats_get(e, NULL), MCX_INVALID_ARGUMENT);
    mcx_engine_free(e);
}

static void test_srtcp(void) {
    mcx_engine *e = NULL;
    CHECK_STATUS(mcx_engine_new(NULL, &e), MCX_OK);
    CHECK_STATUS(install(e, CSK(1), 0x21, "sip:alice@example.org"), MCX_OK);
    CHECK_STATUS(install(e, MUSIK(1), 0x22, "group-1"), MCX_OK);

    uint8_t buf[16 + MCX_SRTCP_MAX_TRAILER], plain[16], copy[sizeof buf];
    size_t n = rtcp(buf, 0xcafe0001u, 7), out = 0;
    memcpy(plain, buf, n);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(1), buf, n, sizeof buf, &out), MCX_OK);
    CHECK(out == 16 + 16 + 4 + 4);
    CHECK(buf[out - 4] == 0x20 && buf[out - 1] == 0x01); /* MKI = CSK-ID */
    memcpy(copy, buf, out);

    /* Tampered: refused, and the buffer is left as it was. */
    buf[10] ^= 1;
    uint8_t before[sizeof buf];
    memcpy(before, buf, out);
    size_t got = 0;
    uint32_t kid = 0;
    CHECK_STATUS(mcx_srtcp_unprotect(e, buf, out, &got, &kid), MCX_AUTHENTICATION_FAILED);
    CHECK(memcmp(before, buf, out) == 0);
    buf[10] ^= 1;

    CHECK_STATUS(mcx_srtcp_unprotect(e, buf, out, &got, &kid), MCX_OK);
    CHECK(got == n && kid == CSK(1) && memcmp(buf, plain, n) == 0);
    /* The same packet again: a replay. */
    memcpy(buf, copy, out);
    CHECK_STATUS(mcx_srtcp_unprotect(e, buf, out, &got, NULL), MCX_REPLAYED);

    /* Error paths. */
    n = rtcp(buf, 0xcafe0001u, 8);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(1), buf, n, n + 4, &out), MCX_BUFFER_TOO_SMALL);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(1), buf, n, n - 1, &out), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(1), NULL, n, sizeof buf, &out), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(1), buf, n, sizeof buf, NULL), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_srtcp_protect(NULL, CSK(1), buf, n, sizeof buf, &out), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(9), buf, n, sizeof buf, &out), MCX_UNKNOWN_KEY);
    CHECK_STATUS(mcx_srtcp_unprotect(e, NULL, 40, &got, NULL), MCX_INVALID_ARGUMENT);
    /* Too short to carry an MKI: malformed, not an unknown key. */
    CHECK_STATUS(mcx_srtcp_unprotect(e, buf, 3, &got, NULL), MCX_MALFORMED);
    CHECK_STATUS(mcx_srtcp_unprotect(e, buf, 31, &got, NULL), MCX_MALFORMED);

    /* A revoked key: protect under it, revoke it; the engine says so. */
    CHECK_STATUS(install(e, CSK(2), 0x23, "sip:bob@example.org"), MCX_OK);
    n = rtcp(buf, 0xcafe0002u, 1);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(2), buf, n, sizeof buf, &out), MCX_OK);
    CHECK_STATUS(mcx_key_revoke(e, CSK(2)), MCX_OK);
    CHECK_STATUS(mcx_srtcp_unprotect(e, buf, out, &got, NULL), MCX_REVOKED);
    n = rtcp(buf, 0xcafe0002u, 2);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(2), buf, n, sizeof buf, &out), MCX_REVOKED);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(3), buf, n, sizeof buf, &out), MCX_UNKNOWN_KEY);

    /* Wrong purpose: a fan-out for unicast may not use a MuSiK. */
    uint8_t t1[16 + MCX_SRTCP_MAX_TRAILER], t2[sizeof t1];
    mcx_packet targets[2];
    memset(targets, 0, sizeof targets);
    targets[0].buf = t1;
    targets[0].cap = sizeof t1;
    targets[0].key_id = CSK(1);
    targets[1].buf = t2;
    targets[1].cap = sizeof t2;
    targets[1].key_id = MUSIK(1);
    n = rtcp(plain, 0xcafe0003u, 3);
    CHECK_STATUS(mcx_srtcp_fan_out(e, MCX_USE_UNICAST, plain, n, targets, 2), MCX_OK);
    CHECK_STATUS(targets[0].status, MCX_OK);
    CHECK(targets[0].out_key_id == CSK(1) && targets[0].out_len == 40);
    CHECK_STATUS(targets[1].status, MCX_WRONG_PURPOSE);
    CHECK_STATUS(mcx_srtcp_fan_out(e, 77, plain, n, targets, 2), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_srtcp_fan_out(e, MCX_USE_MULTICAST, plain, n, targets + 1, 1), MCX_OK);
    CHECK_STATUS(targets[1].status, MCX_OK);
    CHECK_STATUS(mcx_srtcp_unprotect(e, t2, targets[1].out_len, &got, &kid), MCX_OK);
    CHECK(kid == MUSIK(1) && got == n && memcmp(t2, plain, n) == 0);

    /* Batches: 8 packets, one of them under an unknown key. */
    enum { N = 8 };
    uint8_t bufs[N][16 + MCX_SRTCP_MAX_TRAILER];
    mcx_packet p[N];
    memset(p, 0, sizeof p);
    for (int i = 0; i < N; i++) {
        p[i].buf = bufs[i];
        p[i].len = rtcp(bufs[i], 0xbeef0000u + (uint32_t)i, (uint32_t)i);
        p[i].cap = sizeof bufs[i];
        p[i].key_id = i == 5 ? CSK(77) : CSK(1);
    }
    CHECK_STATUS(mcx_srtcp_protect_batch(e, p, N), MCX_OK);
    for (int i = 0; i < N; i++) {
        CHECK_STATUS(p[i].status, i == 5 ? MCX_UNKNOWN_KEY : MCX_OK);
        p[i].len = i == 5 ? p[i].len : p[i].out_len;
    }
    bufs[3][20] ^= 0x40; /* forge one */
    CHECK_STATUS(mcx_srtcp_unprotect_batch(e, p, N), MCX_OK);
    for (int i = 0; i < N; i++) {
        /* Packet 5 was never protected: shorter than any keyed SRTCP packet. */
        mcx_status want = i == 3 ? MCX_AUTHENTICATION_FAILED : i == 5 ? MCX_MALFORMED : MCX_OK;
        CHECK_STATUS(p[i].status, want);
        if (want == MCX_OK) {
            uint8_t expect[16];
            rtcp(expect, 0xbeef0000u + (uint32_t)i, (uint32_t)i);
            CHECK(p[i].out_len == 16 && memcmp(bufs[i], expect, 16) == 0);
        }
    }
    CHECK_STATUS(mcx_srtcp_protect_batch(e, NULL, 3), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_srtcp_unprotect_batch(e, NULL, 0), MCX_OK);

    mcx_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_STATUS(mcx_stats_get(e, &st), MCX_OK);
    CHECK(st.protected_packets >= 10 && st.unprotected_packets >= 8 && st.unprotect_failed >= 5);
    CHECK(st.rx_streams >= 8);
    /* An older, shorter stats struct gets only what it has room for. */
    struct { uint32_t struct_size; uint32_t keys; uint64_t guard; } small_st = {8, 0, 0xabcd};
    CHECK_STATUS(mcx_stats_get(e, (mcx_stats *)(void *)&small_st), MCX_OK);
    CHECK(small_st.keys == 2 && small_st.guard == 0xabcd);
    mcx_engine_free(e);
}

/* The rest of the error paths: key times, E=0, GMK rules, flags, NULL arguments. */
static void test_edges(void) {
    mcx_engine *e = NULL;
    mcx_engine_config cfg = {.struct_size = sizeof cfg, .flags = 0x80};
    CHECK_STATUS(mcx_engine_new(&cfg, &e), MCX_INVALID_ARGUMENT); /* unknown flag */
    CHECK_STATUS(mcx_engine_new(NULL, &e), MCX_OK);
    uint8_t key[16] = {3}, buf[16 + MCX_SRTCP_MAX_TRAILER], before[sizeof buf];
    size_t n, out = 0, got = 0;
    uint32_t kid = 0;

    mcx_key_material km;
    memset(&km, 0, sizeof km);
    km.struct_size = sizeof km;
    km.key = key;
    km.key_len = 16;
    km.rand = RAND;
    km.rand_len = sizeof RAND;
    km.owner_user_id = "sip:dave@example.org";
    km.peer = "sip:mcptt-server.example.org";
    km.cs_id = -1;
    /* Not yet valid, and expired. */
    km.key_id = CSK(10);
    km.valid_from_ms = 4102444800000ull; /* 2100-01-01 */
    CHECK_STATUS(mcx_key_install(e, &km), MCX_OK);
    memset(buf, 0, sizeof buf);
    n = rtcp(buf, 0xd0d0, 1);
    memcpy(before, buf, sizeof buf);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(10), buf, n, sizeof buf, &out), MCX_NOT_YET_VALID);
    CHECK(memcmp(before, buf, sizeof buf) == 0); /* a failed protect changes nothing */
    km.key_id = CSK(11);
    km.owner_user_id = "sip:erin@example.org";
    km.valid_from_ms = 0;
    /* Expires 300 ms from now (an already expired key is dropped at install). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    km.valid_until_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 300u;
    CHECK_STATUS(mcx_key_install(e, &km), MCX_OK);
    struct timespec nap = {0, 400 * 1000 * 1000};
    nanosleep(&nap, NULL);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(11), buf, n, sizeof buf, &out), MCX_EXPIRED);
    /* Authenticated only (E=0): the body stays clear, and the packet opens. */
    km.key_id = CSK(12);
    km.owner_user_id = "sip:frank@example.org";
    km.valid_until_ms = 0;
    km.flags = MCX_SRTCP_AUTH_ONLY;
    CHECK_STATUS(mcx_key_install(e, &km), MCX_OK);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(12), buf, n, sizeof buf, &out), MCX_OK);
    CHECK(memcmp(buf, before, n) == 0 && (buf[n + 16] & 0x80) == 0); /* clear, E=0 */
    CHECK_STATUS(mcx_srtcp_unprotect(e, buf, out, &got, &kid), MCX_OK);
    CHECK(got == n && kid == CSK(12));
    km.flags = 0x10;
    km.key_id = CSK(13);
    CHECK_STATUS(mcx_key_install(e, &km), MCX_INVALID_ARGUMENT); /* unknown flag */
    km.flags = 0;
    km.cs_id = 99;
    CHECK_STATUS(mcx_key_install(e, &km), MCX_INVALID_ARGUMENT); /* no such CS-ID */
    km.cs_id = -1;
    km.rand = NULL;
    CHECK_STATUS(mcx_key_install(e, &km), MCX_INVALID_ARGUMENT);
    km.rand = RAND;
    km.owner_user_id = "sip:\xff@example.org"; /* not UTF-8 */
    CHECK_STATUS(mcx_key_install(e, &km), MCX_INVALID_ARGUMENT);
    km.owner_user_id = "group-7";
    /* GMKs need off-network use enabled, and a GUK-ID. */
    km.key_id = GMK(1);
    km.guk_id = 0x00000abc;
    CHECK_STATUS(mcx_key_install(e, &km), MCX_OFF_NETWORK_DISABLED);
    mcx_engine *off = NULL;
    mcx_engine_config oc = {.struct_size = sizeof oc, .flags = MCX_ENGINE_OFF_NETWORK};
    CHECK_STATUS(mcx_engine_new(&oc, &off), MCX_OK);
    km.struct_size = (uint32_t)offsetof(mcx_key_material, guk_id); /* ends before guk_id */
    CHECK_STATUS(mcx_key_install(off, &km), MCX_MISSING_GUK_ID);
    km.struct_size = sizeof km;
    CHECK_STATUS(mcx_key_install(off, &km), MCX_OK);
    mcx_engine_free(off);

    /* Raw SRTP keys: bad key ID, NULL salt, unknown flag. */
    uint8_t salt[12] = {1};
    CHECK_STATUS(mcx_key_install_srtp(e, 0xf0000001u, key, 16, salt, 12, 0), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_key_install_srtp(e, SPK(9), key, 16, NULL, 12, 0), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_key_install_srtp(e, SPK(9), key, 16, salt, 12, 0x8), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_key_revoke(e, 0xf0000001u), MCX_UNKNOWN_KEY);

    /* NULL arguments. */
    CHECK_STATUS(mcx_srtcp_unprotect(e, buf, out, NULL, NULL), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_srtcp_unprotect(NULL, buf, out, &got, NULL), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_srtcp_protect_batch(NULL, NULL, 0), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_srtcp_fan_out(e, MCX_USE_UNICAST, NULL, 16, NULL, 0), MCX_INVALID_ARGUMENT);
    mcx_stats st = {.struct_size = sizeof st};
    CHECK_STATUS(mcx_stats_get(NULL, &st), MCX_INVALID_ARGUMENT);
    st.struct_size = 2;
    CHECK_STATUS(mcx_stats_get(e, &st), MCX_INVALID_ARGUMENT);

    /* Per-packet argument errors in a batch fail alone; a fan-out target whose key is
     * refused, or whose buffer is too small, holds no plaintext. */
    uint8_t b0[CAP_SMALL], b1[sizeof buf], b2[sizeof buf];
    mcx_packet p[3];
    memset(p, 0, sizeof p);
    p[0].buf = b0;
    p[0].cap = sizeof b0;
    p[0].key_id = CSK(12);
    p[1].buf = b1;
    p[1].cap = sizeof b1;
    p[1].key_id = CSK(10); /* not yet valid */
    p[2].buf = b2;
    p[2].cap = sizeof b2;
    p[2].key_id = CSK(12);
    memset(b1, 0xee, sizeof b1);
    n = rtcp(buf, 0xd0d1, 2);
    CHECK_STATUS(mcx_srtcp_fan_out(e, MCX_USE_UNICAST, buf, n, p, 3), MCX_OK);
    CHECK_STATUS(p[0].status, MCX_BUFFER_TOO_SMALL);
    CHECK_STATUS(p[1].status, MCX_NOT_YET_VALID);
    CHECK_STATUS(p[2].status, MCX_OK);
    int leaked = 0;
    for (size_t i = 0; i + 4 <= n; i++)
        leaked |= memcmp(b1 + i, "MCPT", 4) == 0;
    CHECK(!leaked);
    p[0].buf = NULL;
    p[0].len = 4;
    p[0].cap = 8;
    p[1].len = 40;
    p[1].cap = 20; /* len > cap */
    CHECK_STATUS(mcx_srtcp_protect_batch(e, p, 2), MCX_OK);
    CHECK_STATUS(p[0].status, MCX_INVALID_ARGUMENT);
    CHECK_STATUS(p[1].status, MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_srtcp_unprotect_batch(e, p, 1), MCX_OK);
    CHECK_STATUS(p[0].status, MCX_INVALID_ARGUMENT);
    mcx_engine_free(e);
}

/* Several threads through one engine: each sends on its own SSRC under a shared CSK and
 * opens its own packets; one more pair of threads races on a second key. */
enum { THREADS = 4, PER_THREAD = 2000 };

struct job {
    mcx_engine *e;
    uint32_t key;
    uint32_t ssrc;
    int ok;
};

static void *worker(void *arg) {
    struct job *j = arg;
    uint8_t buf[16 + MCX_SRTCP_MAX_TRAILER], plain[16];
    for (int i = 0; i < PER_THREAD; i++) {
        size_t n = rtcp(buf, j->ssrc, (uint32_t)i), out = 0, got = 0;
        memcpy(plain, buf, n);
        if (mcx_srtcp_protect(j->e, j->key, buf, n, sizeof buf, &out) != MCX_OK)
            continue;
        uint32_t kid = 0;
        if (mcx_srtcp_unprotect(j->e, buf, out, &got, &kid) == MCX_OK && got == n &&
            kid == j->key && memcmp(buf, plain, n) == 0)
            j->ok++;
    }
    return NULL;
}

static void test_threads(void) {
    mcx_engine *e = NULL;
    CHECK_STATUS(mcx_engine_new(NULL, &e), MCX_OK);
    CHECK_STATUS(install(e, CSK(1), 0x31, "sip:alice@example.org"), MCX_OK);
    CHECK_STATUS(install(e, CSK(2), 0x32, "sip:bob@example.org"), MCX_OK);
    pthread_t t[THREADS];
    struct job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct job){e, i % 2 ? CSK(2) : CSK(1), 0x10000u + (uint32_t)i, 0};
        CHECK(pthread_create(&t[i], NULL, worker, &jobs[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(jobs[i].ok == PER_THREAD);
    }
    mcx_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_STATUS(mcx_stats_get(e, &st), MCX_OK);
    CHECK(st.protected_packets == THREADS * PER_THREAD && st.unprotected_packets == THREADS * PER_THREAD);
    CHECK(st.rx_streams == THREADS);
    mcx_engine_free(e);
}

int main(void) {
    test_basics();
    test_keys();
    test_srtcp();
    test_edges();
    test_threads();
    return REPORT("C checks of libmcx");
}
