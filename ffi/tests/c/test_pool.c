/*
 * C tests of the pool calls of libmcx: submit protect / unprotect / fan-out jobs on the
 * caller's memory and poll their completions, from two submitter threads at once;
 * back-pressure (MCX_BUSY), shutdown (MCX_CLOSED, completions kept), NULL arguments.
 * Built and run by scripts/c-tests.sh (plain, ASan+UBSan, valgrind).
 */
#define MCX_TEST_OWN_CHECK
#include "common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks, failures;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The condition is evaluated before the lock is taken: it may block (pthread_join). */
#define CHECK(cond)                                                            \
    do {                                                                       \
        int ok_ = (cond);                                                      \
        pthread_mutex_lock(&lock);                                             \
        checks++;                                                              \
        if (!ok_) {                                                            \
            failures++;                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
        pthread_mutex_unlock(&lock);                                           \
    } while (0)

enum { KEYS = 16, BATCH = 32, ROUNDS = 50, CAP = 16 + MCX_SRTCP_MAX_TRAILER };

struct sub_job {
    mcx_pool *pool;
    uint32_t ssrc_base;
    int protected_ok, opened_ok;
};

/* One submitter thread: ROUNDS batches protected through the pool, then opened through
 * the pool, each checked against the plaintext. */
static void *submit_thread(void *arg) {
    struct sub_job *j = arg;
    mcx_submitter *s = NULL;
    CHECK(mcx_submitter_new(j->pool, &s) == MCX_OK);
    static _Thread_local uint8_t bufs[BATCH][CAP];
    mcx_packet pkts[BATCH];
    for (int r = 0; r < ROUNDS; r++) {
        memset(pkts, 0, sizeof pkts);
        for (int i = 0; i < BATCH; i++) {
            pkts[i].buf = bufs[i];
            pkts[i].len = rtcp(bufs[i], j->ssrc_base + (uint32_t)(i % 4), (uint32_t)(r * BATCH + i));
            pkts[i].cap = CAP;
            pkts[i].key_id = CSK(1 + (uint32_t)(i % KEYS));
        }
        uint64_t t = UINT64_MAX, got = UINT64_MAX - 1;
        mcx_status st;
        while ((st = mcx_pool_submit(s, MCX_JOB_PROTECT, MCX_USE_ANY, NULL, 0, pkts, BATCH, &t)) ==
               MCX_BUSY)
            ;
        CHECK(st == MCX_OK);
        CHECK(mcx_pool_poll(s, -1, &got) == MCX_OK && got == t);
        for (int i = 0; i < BATCH; i++) {
            if (pkts[i].status == MCX_OK && pkts[i].out_len == 40 &&
                pkts[i].out_key_id == CSK(1 + (uint32_t)(i % KEYS)))
                j->protected_ok++;
            pkts[i].len = pkts[i].out_len;
        }
        CHECK(mcx_pool_submit(s, MCX_JOB_UNPROTECT, MCX_USE_ANY, NULL, 0, pkts, BATCH, &t) ==
              MCX_OK);
        CHECK(mcx_pool_poll(s, -1, &got) == MCX_OK && got == t);
        for (int i = 0; i < BATCH; i++) {
            uint8_t want[16];
            rtcp(want, j->ssrc_base + (uint32_t)(i % 4), (uint32_t)(r * BATCH + i));
            if (pkts[i].status == MCX_OK && pkts[i].out_len == 16 && memcmp(bufs[i], want, 16) == 0)
                j->opened_ok++;
        }
    }
    mcx_submitter_free(s);
    return NULL;
}

int main(void) {
    mcx_engine *e = NULL;
    CHECK(mcx_engine_new(NULL, &e) == MCX_OK);
    for (uint32_t k = 1; k <= KEYS; k++) {
        char owner[64];
        snprintf(owner, sizeof owner, "sip:user%u@example.org", k);
        CHECK(install(e, CSK(k), (uint8_t)k, owner) == MCX_OK);
    }
    CHECK(install(e, MUSIK(1), 0x61, "group-1") == MCX_OK);

    CHECK(mcx_pool_new(NULL, NULL, NULL) == MCX_INVALID_ARGUMENT);
    mcx_pool_config bad = {0};
    mcx_pool *pool = NULL;
    CHECK(mcx_pool_new(e, &bad, &pool) == MCX_INVALID_ARGUMENT); /* struct_size 0 */
    mcx_pool_config badw = {.struct_size = sizeof badw, .replay_window = 3};
    CHECK(mcx_pool_new(e, &badw, &pool) == MCX_INVALID_ARGUMENT);
    mcx_pool_config badf = {.struct_size = sizeof badf, .flags = 0x40};
    CHECK(mcx_pool_new(e, &badf, &pool) == MCX_INVALID_ARGUMENT);
    mcx_pool_config cfg = {.struct_size = sizeof cfg, .workers = 2, .flags = MCX_POOL_NO_PIN,
                           .completion_capacity = 4};
    CHECK(mcx_pool_new(e, &cfg, &pool) == MCX_OK);

    /* Two submitter threads at once. */
    pthread_t th[2];
    struct sub_job jobs[2] = {{pool, 0x1000, 0, 0}, {pool, 0x2000, 0, 0}};
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, submit_thread, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK(jobs[i].protected_ok == ROUNDS * BATCH);
        CHECK(jobs[i].opened_ok == ROUNDS * BATCH);
    }

    /* Fan-out: one plaintext to four CSKs and, refused for unicast, the MuSiK. */
    mcx_submitter *s = NULL;
    CHECK(mcx_submitter_new(NULL, &s) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_submitter_new(pool, &s) == MCX_OK);
    uint8_t plain[16], out[5][CAP];
    size_t n = rtcp(plain, 0xf00d, 1);
    mcx_packet rec[5];
    memset(rec, 0, sizeof rec);
    for (int i = 0; i < 5; i++) {
        rec[i].buf = out[i];
        rec[i].cap = CAP;
        rec[i].key_id = i < 4 ? CSK(1 + (uint32_t)i) : MUSIK(1);
    }
    uint64_t t = UINT64_MAX, got = UINT64_MAX - 1;
    CHECK(mcx_pool_poll(s, 0, &got) == MCX_NOT_READY);
    CHECK(mcx_pool_poll(s, -1, &got) == MCX_NOT_READY); /* nothing in flight: no wait */
    CHECK(mcx_pool_poll(NULL, 0, &got) == MCX_INVALID_ARGUMENT);
    /* An empty job completes at once; the ticket out-parameter may be NULL. */
    CHECK(mcx_pool_submit(s, MCX_JOB_PROTECT, MCX_USE_ANY, NULL, 0, NULL, 0, NULL) == MCX_OK);
    CHECK(mcx_pool_poll(s, 0, NULL) == MCX_OK);
    CHECK(mcx_pool_submit(s, MCX_JOB_PROTECT, MCX_USE_ANY, NULL, 0, rec,
                          (size_t)MCX_MAX_JOB_PACKETS + 1, &t) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_pool_submit(s, MCX_JOB_PROTECT, 42, NULL, 0, rec, 1, &t) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_pool_submit(s, MCX_JOB_FAN_OUT, MCX_USE_UNICAST, plain, n, rec, 5, &t) == MCX_OK);
    CHECK(mcx_pool_poll(s, 10000, &got) == MCX_OK && got == t);
    for (int i = 0; i < 4; i++) {
        CHECK(rec[i].status == MCX_OK && rec[i].out_key_id == CSK(1 + (uint32_t)i));
        size_t len = 0;
        uint32_t kid = 0;
        CHECK(mcx_srtcp_unprotect(e, out[i], rec[i].out_len, &len, &kid) == MCX_OK);
        CHECK(len == n && kid == CSK(1 + (uint32_t)i) && memcmp(out[i], plain, n) == 0);
    }
    CHECK(rec[4].status == MCX_WRONG_PURPOSE);
    CHECK(mcx_pool_submit(s, MCX_JOB_FAN_OUT, MCX_USE_ANY, plain, n, rec, 5, &t) ==
          MCX_INVALID_ARGUMENT); /* a fan-out names its use */
    CHECK(mcx_pool_submit(s, 9, MCX_USE_ANY, NULL, 0, rec, 5, &t) == MCX_INVALID_ARGUMENT);
    CHECK(mcx_pool_submit(s, MCX_JOB_PROTECT, MCX_USE_ANY, NULL, 0, NULL, 3, &t) ==
          MCX_INVALID_ARGUMENT);
    CHECK(mcx_pool_submit(NULL, MCX_JOB_PROTECT, MCX_USE_ANY, NULL, 0, rec, 1, &t) ==
          MCX_INVALID_ARGUMENT);

    /* Back-pressure: completion_capacity 4 parts; a fifth job waits for a poll. */
    static uint8_t bp_bufs[8][CAP];
    mcx_packet bp[8];
    memset(bp, 0, sizeof bp);
    int accepted = 0, busy = 0;
    for (int i = 0; i < 8; i++) {
        bp[i].buf = bp_bufs[i];
        bp[i].len = rtcp(bp_bufs[i], 0xb0000 + (uint32_t)i, 0);
        bp[i].cap = CAP;
        bp[i].key_id = CSK(1);
        mcx_status st = mcx_pool_submit(s, MCX_JOB_PROTECT, MCX_USE_ANY, NULL, 0, &bp[i], 1, &t);
        if (st == MCX_OK)
            accepted++;
        else if (st == MCX_BUSY)
            busy++;
    }
    CHECK(accepted == 4 && busy == 4);
    int reported = 0;
    while (mcx_pool_poll(s, 1000, &got) == MCX_OK)
        reported++;
    CHECK(reported == accepted);

    /* A submitter freed with a job in flight waits for it: the results are in the array. */
    mcx_submitter *s2 = NULL;
    CHECK(mcx_submitter_new(pool, &s2) == MCX_OK);
    bp[5].len = rtcp(bp_bufs[5], 0xb0005, 1);
    CHECK(mcx_pool_submit(s2, MCX_JOB_PROTECT, MCX_USE_ANY, NULL, 0, &bp[5], 1, &t) == MCX_OK);
    mcx_submitter_free(s2);
    CHECK(bp[5].status == MCX_OK && bp[5].out_len == 40);

    /* Shutdown: a job accepted before mcx_pool_free completes; later submits are refused. */
    CHECK(mcx_pool_submit(s, MCX_JOB_PROTECT, MCX_USE_ANY, NULL, 0, &bp[7], 1, &t) == MCX_OK);
    mcx_pool_free(pool);
    CHECK(mcx_pool_poll(s, 0, &got) == MCX_OK && got == t && bp[7].status == MCX_OK);
    CHECK(mcx_pool_submit(s, MCX_JOB_PROTECT, MCX_USE_ANY, NULL, 0, &bp[6], 1, &t) == MCX_CLOSED);
    mcx_submitter_free(s);
    mcx_submitter_free(NULL);
    mcx_pool_free(NULL);

    /* The engine may go first: a pool keeps using its keys. */
    mcx_pool *p2 = NULL;
    CHECK(mcx_pool_new(e, &cfg, &p2) == MCX_OK);
    mcx_engine_free(e);
    CHECK(mcx_submitter_new(p2, &s) == MCX_OK);
    bp[4].len = rtcp(bp_bufs[4], 0xb0004, 2);
    CHECK(mcx_pool_submit(s, MCX_JOB_PROTECT, MCX_USE_ANY, NULL, 0, &bp[4], 1, &t) == MCX_OK);
    CHECK(bp[4].status == MCX_NOT_READY); /* until the completion is polled */
    CHECK(mcx_pool_poll(s, -1, &got) == MCX_OK && got == t && bp[4].status == MCX_OK);
    mcx_submitter_free(s);
    mcx_pool_free(p2);

    return REPORT("C checks of the libmcx pool");
}
