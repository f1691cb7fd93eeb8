/* The relay from C: a relay on an engine's key store, routes added and removed through
 * mcx_relay_*, a packet protected by a client engine crossing the relay over loopback and
 * opened by a server engine under the egress key; refusals; counters; the control line. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *CONFIG =
    "[relay]\n"
    "workers = 2\n"
    "io = \"mmsg\"\n"
    "control = \"\"\n"
    "pin = false\n"
    "[[leg]]\nname = \"clients\"\nlisten = \"127.0.0.1:0\"\n"
    "[[leg]]\nname = \"core\"\nlisten = \"127.0.0.1:0\"\n";

static int udp_socket(struct sockaddr_in *bound) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof *bound;
    getsockname(fd, (struct sockaddr *)bound, &len);
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static struct sockaddr_in parse(const char *s) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    char host[64];
    const char *colon = strrchr(s, ':');
    size_t n = (size_t)(colon - s);
    memcpy(host, s, n);
    host[n] = 0;
    inet_pton(AF_INET, host, &a.sin_addr);
    a.sin_port = htons((uint16_t)atoi(colon + 1));
    return a;
}

int main(void) {
    const uint8_t k_in[16] = {0x41, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const uint8_t s_in[12] = {0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    const uint8_t k_out[16] = {0x51, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const uint8_t s_out[12] = {0x52, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    const uint32_t csk = 0x20000301, spk = 0x30000301;

    mcx_engine *keys = NULL, *client = NULL, *server = NULL;
    CHECK_STATUS(mcx_engine_new(NULL, &keys), MCX_OK);
    CHECK_STATUS(mcx_engine_new(NULL, &client), MCX_OK);
    CHECK_STATUS(mcx_engine_new(NULL, &server), MCX_OK);
    CHECK_STATUS(mcx_key_install_srtp(keys, csk, k_in, 16, s_in, 12, 0), MCX_OK);
    CHECK_STATUS(mcx_key_install_srtp(keys, spk, k_out, 16, s_out, 12, 0), MCX_OK);
    CHECK_STATUS(mcx_key_install_srtp(client, csk, k_in, 16, s_in, 12, 0), MCX_OK);
    CHECK_STATUS(mcx_key_install_srtp(server, spk, k_out, 16, s_out, 12, 0), MCX_OK);

    mcx_relay *bad = NULL;
    CHECK_STATUS(mcx_relay_new(keys, "[relay]\nio = \"epoll\"\n", &bad), MCX_RELAY_CONFIG);
    CHECK(bad == NULL);
    CHECK_STATUS(mcx_relay_new(NULL, CONFIG, &bad), MCX_INVALID_ARGUMENT);

    mcx_relay *r = NULL;
    CHECK_STATUS(mcx_relay_new(keys, CONFIG, &r), MCX_OK);
    if (r == NULL) return REPORT("relay");

    char clients[48], tiny[4];
    CHECK_STATUS(mcx_relay_leg_addr(r, "clients", clients, sizeof clients), MCX_OK);
    CHECK_STATUS(mcx_relay_leg_addr(r, "clients", tiny, sizeof tiny), MCX_BUFFER_TOO_SMALL);
    CHECK_STATUS(mcx_relay_leg_addr(r, "nowhere", tiny, sizeof tiny), MCX_RELAY_REFUSED);

    struct sockaddr_in client_addr, sink_addr;
    int cfd = udp_socket(&client_addr);
    int sfd = udp_socket(&sink_addr);
    char sink[48];
    snprintf(sink, sizeof sink, "127.0.0.1:%u", (unsigned)ntohs(sink_addr.sin_port));

    CHECK_STATUS(mcx_relay_route_add(r, "clients", csk, "nowhere", sink, spk), MCX_RELAY_REFUSED);
    CHECK_STATUS(mcx_relay_route_add(r, "clients", 0x20000399, "core", sink, spk), MCX_RELAY_REFUSED);
    CHECK_STATUS(mcx_relay_route_add(r, "clients", csk, "core", "not an address", spk), MCX_INVALID_ARGUMENT);
    CHECK_STATUS(mcx_relay_route_add(r, "clients", csk, "core", sink, spk), MCX_OK);
    CHECK_STATUS(mcx_relay_route_add(r, "clients", csk, "core", sink, spk), MCX_RELAY_REFUSED);

    struct sockaddr_in to = parse(clients);
    const uint8_t rtcp[12] = {0x80, 0xcc, 0x00, 0x02, 0xca, 0xfe, 0x00, 0x01, 'M', 'C', 'P', 'T'};
    int through = 0;
    for (int i = 0; i < 5; i++) {
        uint8_t buf[128];
        size_t n = 0;
        memcpy(buf, rtcp, sizeof rtcp);
        CHECK_STATUS(mcx_srtcp_protect(client, csk, buf, sizeof rtcp, sizeof buf, &n), MCX_OK);
        sendto(cfd, buf, n, 0, (struct sockaddr *)&to, sizeof to);
        uint8_t got[128];
        ssize_t len = recv(sfd, got, sizeof got, 0);
        CHECK(len > 4);
        if (len <= 4) continue;
        CHECK(got[len - 4] == 0x30 && got[len - 1] == 0x01); /* egress MKI = SPK ID */
        size_t plain = 0;
        uint32_t kid = 0;
        CHECK_STATUS(mcx_srtcp_unprotect(server, got, (size_t)len, &plain, &kid), MCX_OK);
        CHECK(kid == spk && plain == sizeof rtcp && memcmp(got, rtcp, sizeof rtcp) == 0);
        through++;
    }
    CHECK(through == 5);

    /* Revoked on the engine: the relay refuses the next packet. */
    CHECK_STATUS(mcx_key_revoke(keys, csk), MCX_OK);
    {
        uint8_t buf[128];
        size_t n = 0;
        memcpy(buf, rtcp, sizeof rtcp);
        CHECK_STATUS(mcx_srtcp_protect(client, csk, buf, sizeof rtcp, sizeof buf, &n), MCX_OK);
        sendto(cfd, buf, n, 0, (struct sockaddr *)&to, sizeof to);
        struct timeval tv = {0, 300000};
        setsockopt(sfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        uint8_t got[128];
        CHECK(recv(sfd, got, sizeof got, 0) < 0);
    }

    mcx_relay_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    for (int i = 0; i < 50 && (st.sent < 5 || st.dropped < 1); i++) {
        struct timespec ms10 = {0, 10000000};
        nanosleep(&ms10, NULL);
        CHECK_STATUS(mcx_relay_stats_get(r, &st), MCX_OK);
    }
    CHECK(st.io == MCX_RELAY_IO_MMSG);
    CHECK(st.workers == 2);
    CHECK(st.received == 6 && st.sent == 5);
    CHECK(st.dropped == 1 && st.dropped_key_state == 1);

    char reply[4096];
    size_t written = 0;
    CHECK_STATUS(mcx_relay_control(r, "{\"op\":\"ping\"}", reply, sizeof reply, &written), MCX_OK);
    CHECK(strcmp(reply, "{\"ok\":true}") == 0 && written == strlen(reply));
    CHECK_STATUS(mcx_relay_control(r, "{\"op\":\"fly\"}", reply, sizeof reply, &written), MCX_RELAY_REFUSED);
    CHECK(strstr(reply, "unknown op") != NULL);
    CHECK_STATUS(mcx_relay_control(r, "{\"op\":\"stats\"}", reply, 8, &written), MCX_BUFFER_TOO_SMALL);
    CHECK(written > 8);

    CHECK_STATUS(mcx_relay_route_remove(r, "clients", csk), MCX_OK);
    CHECK_STATUS(mcx_relay_route_remove(r, "clients", csk), MCX_RELAY_REFUSED);

    mcx_relay_free(r);
    mcx_relay_free(NULL);
    close(cfd);
    close(sfd);
    mcx_engine_free(client);
    mcx_engine_free(server);
    mcx_engine_free(keys);
    return REPORT("relay");
}
