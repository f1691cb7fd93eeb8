/* The floor under the relay bench: a minimal UDP forwarder with no crypto, no routing, no
 * counters. One socket in, one socket out; recvmmsg (MSG_WAITFORONE, up to 32 datagrams),
 * then the batch to the one destination as a GSO train (UDP_SEGMENT) when the datagrams are
 * of one size, else sendmmsg. benches/benches/relay.rs runs it under relay_load beside the
 * relay, so that the kernel's own cost per packet on this machine is measured in the same run.
 *
 * usage: min_forwarder DEST_PORT    (listens on 127.0.0.1, prints "ready PORT", sends to
 *                                    127.0.0.1:DEST_PORT; runs until killed) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define BATCH 32

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: min_forwarder DEST_PORT\n");
        return 2;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int in = socket(AF_INET, SOCK_DGRAM, 0), out = socket(AF_INET, SOCK_DGRAM, 0);
    if (in < 0 || out < 0 || bind(in, (struct sockaddr *)&a, sizeof a) < 0) return 1;
    socklen_t len = sizeof a;
    getsockname(in, (struct sockaddr *)&a, &len);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                              .sin_port = htons((uint16_t)atoi(argv[1]))};
    printf("ready %u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);

    static unsigned char bufs[BATCH][2048];
    struct mmsghdr rx[BATCH], tx[BATCH];
    struct iovec iov[BATCH];
    char cmsg[CMSG_SPACE(sizeof(uint16_t))];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
            memset(&rx[i], 0, sizeof rx[i]);
            rx[i].msg_hdr.msg_iov = &iov[i];
            rx[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(in, rx, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) continue;
        int same = 1;
        for (int i = 0; i < n; i++) {
            iov[i].iov_len = rx[i].msg_len;
            if (rx[i].msg_len != rx[0].msg_len) same = 0;
        }
        if (same && n > 1) {
            struct msghdr m = {.msg_name = &dst, .msg_namelen = sizeof dst, .msg_iov = iov,
                               .msg_iovlen = (size_t)n, .msg_control = cmsg,
                               .msg_controllen = sizeof cmsg};
            struct cmsghdr *c = CMSG_FIRSTHDR(&m);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t seg = (uint16_t)rx[0].msg_len;
            memcpy(CMSG_DATA(c), &seg, sizeof seg);
            sendmsg(out, &m, 0);
        } else {
            for (int i = 0; i < n; i++) {
                memset(&tx[i], 0, sizeof tx[i]);
                tx[i].msg_hdr.msg_name = &dst;
                tx[i].msg_hdr.msg_namelen = sizeof dst;
                tx[i].msg_hdr.msg_iov = &iov[i];
                tx[i].msg_hdr.msg_iovlen = 1;
            }
            sendmmsg(out, tx, (unsigned)n, 0);
        }
    }
}
