/*
 * The receive path from C: nanoseconds per packet for mcx_receiver_unprotect (one thread's
 * receiver: no lock, time passed in) and for the engine-level mcx_srtcp_unprotect (16
 * mutex stripes), on the workload of benches/examples/rx_handle.rs, which measures the
 * Rust handle (`Engine::srtcp_unprotect`) the same way: 64 keys (raw SRTP master keys, IDs
 * 0x20001000 + i), 256 streams (4 SSRCs per key), RTCP packets of an 8-octet header and 64
 * payload octets, AEAD_AES_128_GCM, E=1, 4-octet MKI. Each round protects 2048 packets
 * (untimed), then unprotects them in place (timed); the figure is the median over the
 * rounds. scripts/bench-c-abi.sh builds and runs both and prints the ratio.
 *
 * Usage: rx_bench [rounds]   (default 201)
 */
#define _POSIX_C_SOURCE 200809L
#include "mcx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { KEYS = 64, SSRCS = 4, PER_ROUND = 2048, PLAIN = 72, CAP = PLAIN + MCX_SRTCP_MAX_TRAILER };

static uint8_t bufs[PER_ROUND][CAP];
static size_t lens[PER_ROUND];

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fail(const char *what, mcx_status s) {
    fprintf(stderr, "rx_bench: %s: %s\n", what, mcx_status_str(s));
    exit(1);
}

/* Packet j of a round: key j % 64, SSRC (j / 64) % 4, payload from j. */
static void make_round(mcx_engine *e) {
    for (int j = 0; j < PER_ROUND; j++) {
        uint8_t *b = bufs[j];
        uint32_t ssrc = 0x10000u + (uint32_t)((j / KEYS) % SSRCS);
        b[0] = 0x80;
        b[1] = 201;
        b[2] = 0;
        b[3] = PLAIN / 4 - 1;
        for (int i = 0; i < 4; i++) b[4 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
        for (int i = 8; i < PLAIN; i++) b[i] = (uint8_t)(i + j);
        mcx_status s = mcx_srtcp_protect_at(e, 0x20001000u + (uint32_t)(j % KEYS), b, PLAIN, CAP, 1,
                                            &lens[j]);
        if (s != MCX_OK) fail("protect", s);
    }
}

static double median_ns(mcx_engine *e, mcx_receiver *r, int rounds) {
    double *t = calloc((size_t)rounds, sizeof *t);
    size_t out = 0;
    uint32_t kid = 0;
    for (int k = 0; k < rounds; k++) {
        make_round(e);
        double t0 = now_ns();
        for (int j = 0; j < PER_ROUND; j++) {
            mcx_status s = r ? mcx_receiver_unprotect(r, bufs[j], lens[j], 1, &out, &kid)
                             : mcx_srtcp_unprotect(e, bufs[j], lens[j], &out, &kid);
            if (s != MCX_OK) fail("unprotect", s);
        }
        t[k] = (now_ns() - t0) / PER_ROUND;
    }
    qsort(t, (size_t)rounds, sizeof *t, cmp);
    double m = t[rounds / 2];
    free(t);
    return m;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 201;
    if (rounds < 1) rounds = 1;
    mcx_engine *e = NULL;
    mcx_status s = mcx_engine_new(NULL, &e);
    if (s != MCX_OK) fail("engine", s);
    uint8_t key[16], salt[12];
    memset(salt, 1, sizeof salt);
    for (int i = 0; i < KEYS; i++) {
        memset(key, i, sizeof key);
        s = mcx_key_install_srtp(e, 0x20001000u + (uint32_t)i, key, 16, salt, 12, 0);
        if (s != MCX_OK) fail("install", s);
    }
    mcx_receiver *r = NULL;
    s = mcx_receiver_new(e, &r);
    if (s != MCX_OK) fail("receiver", s);
    double rx = median_ns(e, r, rounds);
    double locked = median_ns(e, NULL, rounds);
    printf("c mcx_receiver_unprotect %.1f ns/packet\n", rx);
    printf("c mcx_srtcp_unprotect %.1f ns/packet\n", locked);
    printf("backend %s\n", mcx_engine_backend(e));
    mcx_receiver_free(r);
    mcx_engine_free(e);
    return 0;
}
