/*
 * C tests of libmcx's limits and of the defects hostile use found: an SPK trunk with
 * thousands of SSRCs, receive state reclaimed when keys leave, a key ID reused after
 * revocation, the per-key stream limit over stripes and receivers, the index soft-limit
 * event, lock-free receivers steered by mcx_stream_shard, bulk install, install-time checks
 * and the AES-GCM provider in the config. Built and run by scripts/c-tests.sh plain, with
 * -fsanitize=address,undefined, and under valgrind.
 */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t MASTER_KEY[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
static const uint8_t MASTER_SALT[12] = {1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144};

static mcx_engine *engine_with(const mcx_engine_config *cfg) {
    mcx_engine *e = NULL;
    CHECK_STATUS(mcx_engine_new(cfg, &e), MCX_OK);
    return e;
}

static mcx_engine_config config(void) {
    mcx_engine_config c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    return c;
}

/* The README's CS-proxy hop: every client's packets toward the server under one SPK. */
static void spk_trunk(void) {
    mcx_engine *e = engine_with(NULL);
    CHECK_STATUS(mcx_key_install_srtp(e, SPK(1), MASTER_KEY, 16, MASTER_SALT, 12, 0), MCX_OK);
    uint8_t buf[16 + MCX_SRTCP_MAX_TRAILER];
    size_t out = 0;
    int ok = 0;
    for (uint32_t client = 0; client < 3000; client++) {
        size_t n = rtcp(buf, 0x10000000u + client, client);
        ok += mcx_srtcp_protect(e, SPK(1), buf, n, sizeof buf, &out) == MCX_OK;
    }
    CHECK(ok == 3000);
    mcx_engine_free(e);

    /* A configured limit: the 65th SSRC is refused, the first 64 go on. */
    mcx_engine_config c = config();
    c.tx_ssrcs_per_key = 64;
    e = engine_with(&c);
    CHECK_STATUS(mcx_key_install_srtp(e, SPK(1), MASTER_KEY, 16, MASTER_SALT, 12, 0), MCX_OK);
    for (uint32_t ssrc = 0; ssrc < 64; ssrc++) {
        size_t n = rtcp(buf, ssrc, 0);
        CHECK_STATUS(mcx_srtcp_protect(e, SPK(1), buf, n, sizeof buf, &out), MCX_OK);
    }
    size_t n = rtcp(buf, 64, 0);
    CHECK_STATUS(mcx_srtcp_protect(e, SPK(1), buf, n, sizeof buf, &out), MCX_TOO_MANY_STREAMS);
    n = rtcp(buf, 7, 1);
    CHECK_STATUS(mcx_srtcp_protect(e, SPK(1), buf, n, sizeof buf, &out), MCX_OK);
    mcx_engine_free(e);
    c.tx_ssrcs_per_key = 70000;
    mcx_engine *none = NULL;
    CHECK_STATUS(mcx_engine_new(&c, &none), MCX_INVALID_ARGUMENT);
    CHECK(none == NULL);
}

/* Install, use, revoke, many times: no receive state is left behind. */
static void reclaim(void) {
    mcx_engine *e = engine_with(NULL);
    mcx_receiver *r = NULL;
    CHECK_STATUS(mcx_receiver_new(e, &r), MCX_OK);
    uint8_t a[16 + MCX_SRTCP_MAX_TRAILER], b[sizeof a];
    size_t out = 0, got = 0;
    int ok = 0;
    mcx_stats st;
    size_t most = 0;
    for (uint32_t i = 0; i < 4000; i++) {
        uint32_t id = CSK(0x1000 + i);
        size_t n = rtcp(a, 0xc0000000u + i % 7, i);
        memcpy(b, a, n);
        ok += install(e, id, (uint8_t)i, "sip:cycle@example.org") == MCX_OK &&
              mcx_srtcp_protect(e, id, a, n, sizeof a, &out) == MCX_OK &&
              mcx_srtcp_unprotect(e, a, out, &got, NULL) == MCX_OK &&
              mcx_srtcp_protect(e, id, b, n, sizeof b, &out) == MCX_OK &&
              mcx_receiver_unprotect(r, b, out, 0, &got, NULL) == MCX_OK &&
              mcx_key_revoke(e, id) == MCX_OK;
        if (i % 500 == 0) {
            memset(&st, 0, sizeof st);
            st.struct_size = sizeof st;
            CHECK_STATUS(mcx_stats_get(e, &st), MCX_OK);
            most = st.rx_streams > most ? st.rx_streams : most;
        }
    }
    CHECK(ok == 4000);
    CHECK(most <= 1);
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_STATUS(mcx_stats_get(e, &st), MCX_OK);
    CHECK(st.keys == 0 && st.rx_streams == 0);
    CHECK(mcx_receiver_streams(r) == 0);
    CHECK(mcx_receiver_streams(NULL) == 0);
    mcx_receiver_free(r);
    mcx_receiver_free(NULL);
    mcx_engine_free(e);
}

/* A key ID installed again after revocation: its indices continue (no GCM IV repeats), and
 * the windows left by the old key neither refuse nor accept for the new one. */
static void reuse_after_revoke(void) {
    mcx_engine *e = engine_with(NULL);
    mcx_receiver *r = NULL;
    CHECK_STATUS(mcx_receiver_new(e, &r), MCX_OK);
    uint8_t first[16 + MCX_SRTCP_MAX_TRAILER], again[sizeof first];
    size_t n1 = 0, n2 = 0, got = 0;
    size_t n = rtcp(first, 0xabcd0001u, 42);
    memcpy(again, first, n);
    CHECK_STATUS(install(e, CSK(5), 0x11, "sip:carol@example.org"), MCX_OK);
    for (int i = 0; i < 3; i++) {
        uint8_t tmp[sizeof first];
        memcpy(tmp, first, n);
        size_t k = 0;
        CHECK_STATUS(mcx_srtcp_protect(e, CSK(5), tmp, n, sizeof tmp, &k), MCX_OK);
        CHECK_STATUS(mcx_receiver_unprotect(r, tmp, k, 0, &got, NULL), MCX_OK);
    }
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(5), first, n, sizeof first, &n1), MCX_OK);
    CHECK_STATUS(mcx_key_revoke(e, CSK(5)), MCX_OK);
    /* The same ID and the same material: refused, its old packets would open again. */
    CHECK_STATUS(install(e, CSK(5), 0x11, "sip:carol@example.org"), MCX_KEY_REUSED);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(5), again, n, sizeof again, &n2), MCX_REVOKED);
    /* The same ID with new material: its indices continue above the old key's. */
    CHECK_STATUS(install(e, CSK(5), 0x12, "sip:carol@example.org"), MCX_OK);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(5), again, n, sizeof again, &n2), MCX_OK);
    CHECK(n1 == n2 && memcmp(first, again, n1) != 0);
    CHECK(memcmp(first + n1 - 8, again + n2 - 8, 4) != 0); /* the E||index word: above */
    /* The old key's packet does not open under the new one; the new one's does. */
    uint8_t old[sizeof first];
    memcpy(old, first, n1);
    CHECK_STATUS(mcx_receiver_unprotect(r, old, n1, 0, &got, NULL), MCX_AUTHENTICATION_FAILED);
    CHECK_STATUS(mcx_receiver_unprotect(r, again, n2, 0, &got, NULL), MCX_OK);
    /* The new key's window is its own: the same packet again is a replay. */
    memcpy(first, again, n2);
    CHECK_STATUS(mcx_receiver_unprotect(r, first, n2, 0, &got, NULL), MCX_REPLAYED);
    mcx_receiver_free(r);
    mcx_engine_free(e);
}

/* max_streams_per_key holds for the key, over every stripe and receiver. */
static void stream_limit(void) {
    mcx_engine_config c = config();
    c.max_streams_per_key = 4;
    mcx_engine *e = engine_with(&c);
    CHECK_STATUS(install(e, CSK(9), 0x22, "sip:dave@example.org"), MCX_OK);
    uint8_t buf[16 + MCX_SRTCP_MAX_TRAILER];
    size_t out = 0, got = 0;
    int ok = 0, refused = 0;
    for (uint32_t ssrc = 0; ssrc < 64; ssrc++) {
        size_t n = rtcp(buf, 0x5000u + ssrc, 0);
        mcx_status s = mcx_srtcp_protect(e, CSK(9), buf, n, sizeof buf, &out);
        if (s == MCX_OK) s = mcx_srtcp_unprotect(e, buf, out, &got, NULL);
        ok += s == MCX_OK;
        refused += s == MCX_TOO_MANY_STREAMS;
    }
    CHECK(ok == 4 && refused == 60);
    mcx_receiver *r = NULL;
    CHECK_STATUS(mcx_receiver_new(e, &r), MCX_OK);
    size_t n = rtcp(buf, 0x6000u, 0);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(9), buf, n, sizeof buf, &out), MCX_OK);
    CHECK_STATUS(mcx_receiver_unprotect(r, buf, out, 0, &got, NULL), MCX_TOO_MANY_STREAMS);
    /* A forgery over the limit reads as a forgery. */
    n = rtcp(buf, 0x6001u, 0);
    CHECK_STATUS(mcx_srtcp_protect(e, CSK(9), buf, n, sizeof buf, &out), MCX_OK);
    buf[10] ^= 1;
    CHECK_STATUS(mcx_receiver_unprotect(r, buf, out, 0, &got, NULL), MCX_AUTHENTICATION_FAILED);
    mcx_receiver_free(r);
    mcx_engine_free(e);
}

static void soft_limit_event(void) {
    mcx_engine_config c = config();
    c.index_soft_limit = 3;
    mcx_engine *e = engine_with(&c);
    CHECK_STATUS(install(e, CSK(3), 0x33, "sip:erin@example.org"), MCX_OK);
    mcx_event ev;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    CHECK_STATUS(mcx_event_poll(e, &ev), MCX_NOT_READY);
    uint8_t buf[16 + MCX_SRTCP_MAX_TRAILER];
    size_t out = 0;
    for (int i = 0; i < 6; i++) {
        size_t n = rtcp(buf, 0x77u, (uint32_t)i);
        CHECK_STATUS(mcx_srtcp_protect(e, CSK(3), buf, n, sizeof buf, &out), MCX_OK);
    }
    /* Too small to tell the event: refused, and the event stays. */
    mcx_event tiny = {.struct_size = 8};
    CHECK_STATUS(mcx_event_poll(e, &tiny), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_event_poll(e, &ev), MCX_OK);
    CHECK(ev.struct_size == sizeof ev && ev.kind == MCX_EVENT_INDEX_SOFT_LIMIT);
    CHECK(ev.key_id == CSK(3) && ev.ssrc == 0x77u && ev.index == 3);
    CHECK_STATUS(mcx_event_poll(e, &ev), MCX_NOT_READY);
    mcx_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_STATUS(mcx_stats_get(e, &st), MCX_OK);
    CHECK(st.events_raised == 1);
    CHECK_STATUS(mcx_event_poll(NULL, &ev), MCX_INVALID_ARGUMENT);
    mcx_engine_free(e);
}

/* Receivers on two threads, each stream steered to one of them by mcx_stream_shard. */
enum { STREAMS = 64, PER_STREAM = 40, RECEIVERS = 2 };

struct lane {
    mcx_receiver *r;
    uint8_t (*pkts)[16 + MCX_SRTCP_MAX_TRAILER];
    size_t *lens;
    int count;
    int ok;
};

static void *receive(void *arg) {
    struct lane *l = arg;
    for (int i = 0; i < l->count; i++) {
        size_t got = 0;
        uint32_t kid = 0;
        l->ok += mcx_receiver_unprotect(l->r, l->pkts[i], l->lens[i], 1, &got, &kid) == MCX_OK &&
                 got == 16 && kid == CSK(1);
    }
    return NULL;
}

static void receivers(void) {
    mcx_engine *e = engine_with(NULL);
    CHECK_STATUS(install(e, CSK(1), 0x44, "sip:frank@example.org"), MCX_OK);
    struct lane lanes[RECEIVERS];
    memset(lanes, 0, sizeof lanes);
    for (int k = 0; k < RECEIVERS; k++) {
        CHECK_STATUS(mcx_receiver_new(e, &lanes[k].r), MCX_OK);
        lanes[k].pkts = calloc(STREAMS * PER_STREAM, sizeof *lanes[k].pkts);
        lanes[k].lens = calloc(STREAMS * PER_STREAM, sizeof *lanes[k].lens);
    }
    int agree = 0;
    for (int i = 0; i < PER_STREAM; i++) {
        for (uint32_t s = 0; s < STREAMS; s++) {
            uint8_t plain[16];
            size_t n = rtcp(plain, 0x9000u + s, (uint32_t)i);
            uint32_t want = mcx_stream_shard_rtcp(CSK(1), plain, n, RECEIVERS);
            struct lane *l = &lanes[want];
            memcpy(l->pkts[l->count], plain, n);
            size_t out = 0;
            agree += mcx_srtcp_protect(e, CSK(1), l->pkts[l->count], n,
                                       sizeof l->pkts[l->count], &out) == MCX_OK &&
                     mcx_stream_shard(l->pkts[l->count], out, RECEIVERS) == want;
            l->lens[l->count++] = out;
        }
    }
    CHECK(agree == STREAMS * PER_STREAM);
    CHECK(lanes[0].count > 0 && lanes[1].count > 0);
    pthread_t t[RECEIVERS];
    for (int k = 0; k < RECEIVERS; k++) CHECK(pthread_create(&t[k], NULL, receive, &lanes[k]) == 0);
    for (int k = 0; k < RECEIVERS; k++) pthread_join(t[k], NULL);
    CHECK(lanes[0].ok + lanes[1].ok == STREAMS * PER_STREAM);
    /* A batch through a receiver: each packet again is a replay. */
    mcx_packet p[8];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 8; i++) {
        p[i].buf = lanes[0].pkts[i];
        p[i].len = 16; /* the plaintext left in place: too short for an MKI */
    }
    CHECK_STATUS(mcx_receiver_unprotect_batch(lanes[0].r, p, 8, 0), MCX_OK);
    for (int i = 0; i < 8; i++) CHECK_STATUS(p[i].status, MCX_MALFORMED);
    /* The receivers' counts are the engine's, before and after they are freed. */
    mcx_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_STATUS(mcx_stats_get(e, &st), MCX_OK);
    CHECK(st.unprotected_packets == STREAMS * PER_STREAM && st.unprotect_failed == 8);
    CHECK(mcx_stream_shard(NULL, 0, 4) == 0 && mcx_stream_shard(lanes[0].pkts[0], 3, 4) == 0);
    CHECK(mcx_stream_shard(lanes[0].pkts[0], lanes[0].lens[0], 0) == 0);
    for (int k = 0; k < RECEIVERS; k++) {
        CHECK(mcx_receiver_streams(lanes[k].r) > 0);
        mcx_receiver_free(lanes[k].r);
        free(lanes[k].pkts);
        free(lanes[k].lens);
    }
    CHECK_STATUS(mcx_stats_get(e, &st), MCX_OK);
    CHECK(st.unprotected_packets == STREAMS * PER_STREAM && st.unprotect_failed == 8);
    mcx_engine_free(e);
}

static void bulk_and_checks(void) {
    mcx_engine_config c = config();
    c.flags = MCX_ENGINE_OFF_NETWORK;
    c.aead_provider = MCX_AEAD_PORTABLE;
    mcx_engine *e = engine_with(&c);
    CHECK(strcmp(mcx_engine_backend(e), "portable") == 0);
    enum { KEYS = 1000 };
    static mcx_key_material kms[KEYS];
    static const mcx_key_material *ptrs[KEYS];
    static char owners[KEYS][32];
    static uint8_t key[16] = {7};
    int32_t statuses[KEYS];
    for (int i = 0; i < KEYS; i++) {
        memset(&kms[i], 0, sizeof kms[i]);
        kms[i].struct_size = sizeof kms[i];
        kms[i].key_id = CSK(0x100 + (uint32_t)i);
        kms[i].key = key;
        kms[i].key_len = sizeof key;
        kms[i].rand = RAND;
        kms[i].rand_len = sizeof RAND;
        kms[i].service = MCX_SERVICE_MCPTT;
        snprintf(owners[i], sizeof owners[i], "sip:bulk%d@example.org", i);
        kms[i].owner_user_id = owners[i];
        kms[i].peer = "sip:mcptt-server.example.org";
        kms[i].cs_id = -1;
        ptrs[i] = &kms[i];
    }
    kms[7].key_id = kms[6].key_id; /* a duplicate */
    kms[9].key_len = 15;           /* a bad length */
    CHECK_STATUS(mcx_key_install_many(e, ptrs, KEYS, statuses), MCX_OK);
    int ok = 0;
    for (int i = 0; i < KEYS; i++) ok += statuses[i] == MCX_OK;
    CHECK(ok == KEYS - 2);
    CHECK_STATUS(statuses[7], MCX_DUPLICATE_KEY_ID);
    CHECK_STATUS(statuses[9], MCX_BAD_LENGTH);
    CHECK_STATUS(mcx_key_install_many(e, NULL, 3, statuses), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_key_install_many(e, ptrs, 0, NULL), MCX_OK);

    /* A GUK-ID without the GMK tag in its 4 top bits could never be unprotected. */
    mcx_key_material g = kms[0];
    g.key_id = GMK(0x0abcdef);
    g.guk_id = 0x20001234u;
    g.owner_user_id = "group-1";
    CHECK_STATUS(mcx_key_install(e, &g), MCX_MISSING_GUK_ID);
    g.guk_id = 0x00001234u;
    CHECK_STATUS(mcx_key_install(e, &g), MCX_OK);
    /* Validity: empty, or already over. */
    mcx_key_material v = kms[1];
    v.key_id = CSK(0x9999);
    v.owner_user_id = "sip:late@example.org";
    v.valid_from_ms = 2000;
    v.valid_until_ms = 1000;
    CHECK_STATUS(mcx_key_install(e, &v), MCX_INVALID_ARGUMENT);
    v.valid_from_ms = 0;
    v.valid_until_ms = 1000; /* 1970 */
    CHECK_STATUS(mcx_key_install(e, &v), MCX_EXPIRED);
    /* Time passed in: before a key's activation it does not protect. */
    v.valid_from_ms = 4102444800000ull; /* 2100 */
    v.valid_until_ms = 0;
    CHECK_STATUS(mcx_key_install(e, &v), MCX_OK);
    uint8_t buf[16 + MCX_SRTCP_MAX_TRAILER];
    size_t out = 0;
    size_t n = rtcp(buf, 1, 1);
    CHECK_STATUS(mcx_srtcp_protect_at(e, CSK(0x9999), buf, n, sizeof buf, 0, &out),
                 MCX_NOT_YET_VALID);
    CHECK_STATUS(mcx_srtcp_protect_at(e, CSK(0x9999), buf, n, sizeof buf, 4102444800001ull, &out),
                 MCX_OK);
    /* Purge: a key whose validity is over leaves at the time given. */
    mcx_key_material x = kms[2];
    x.key_id = CSK(0x9998);
    x.owner_user_id = "sip:brief@example.org";
    x.valid_until_ms = 4102444800000ull;
    CHECK_STATUS(mcx_key_install(e, &x), MCX_OK);
    size_t removed = 99;
    CHECK_STATUS(mcx_key_purge(e, 0, &removed), MCX_OK);
    CHECK(removed == 0);
    CHECK_STATUS(mcx_key_purge(e, 4102444800000ull, &removed), MCX_OK);
    CHECK(removed == 1);
    CHECK_STATUS(mcx_srtcp_protect_at(e, CSK(0x9998), buf, n, sizeof buf, 1, &out), MCX_EXPIRED);
    CHECK_STATUS(mcx_key_purge(NULL, 0, NULL), MCX_INVALID_ARGUMENT);
    mcx_engine_free(e);

    c.aead_provider = 99;
    mcx_engine *bad = NULL;
    CHECK_STATUS(mcx_engine_new(&c, &bad), MCX_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    c.aead_provider = MCX_AEAD_DEFAULT;
    c.index_soft_limit = 0x80000000u;
    CHECK_STATUS(mcx_engine_new(&c, &bad), MCX_INVALID_ARGUMENT);
    CHECK(bad == NULL);
}

int main(void) {
    spk_trunk();
    reclaim();
    reuse_after_revoke();
    stream_limit();
    soft_limit_event();
    receivers();
    bulk_and_checks();
    return REPORT("C checks of libmcx limits, receivers and reclaimed state");
}
