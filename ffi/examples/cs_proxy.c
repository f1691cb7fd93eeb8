/*
 * cs_proxy.c: one hop of a CS proxy with libmcx.
 *
 * A client's floor-control packet arrives protected with the client's CSK (the MKI names
 * it); the proxy unprotects it, and protects it again toward the MCX server with the SPK of
 * that interconnection. Three engines stand in for the three parties: the client (alice's
 * UE), the proxy, and the MCX server.
 *
 * Build (installed library):  cc cs_proxy.c $(pkg-config --cflags --libs mcx) -o cs_proxy
 */
#include <mcx.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define CSK_ALICE UINT32_C(0x2a11ce01) /* purpose tag 2: CSK */
#define SPK_SERVER UINT32_C(0x3000beef) /* purpose tag 3: SPK */

static int fail(const char *what, mcx_status s) {
    fprintf(stderr, "cs_proxy: %s: %s\n", what, mcx_status_str(s));
    return 1;
}

/* alice's CSK as the CSK upload delivered it (TS 33.180 §5.4): key, key ID, MIKEY RAND. */
static mcx_status install_alice(mcx_engine *e) {
    static const uint8_t csk[16] = {0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};
    static const uint8_t rand[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                     0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00};
    mcx_key_material km;
    memset(&km, 0, sizeof km);
    km.struct_size = sizeof km;
    km.key_id = CSK_ALICE;
    km.key = csk;
    km.key_len = sizeof csk;
    km.rand = rand;
    km.rand_len = sizeof rand;
    km.service = MCX_SERVICE_MCPTT;
    km.owner_user_id = "sip:alice@example.org";
    km.owner_impu = "sip:+441234@ims.example.org";
    km.peer = "sip:mcptt-server.example.org";
    km.cs_id = -1; /* Table E.1.3-1: CSK for SRTCP in MCPTT */
    return mcx_key_install(e, &km);
}

/* The SPK toward the MCX server, configured as an SRTP master key and salt. */
static mcx_status install_spk(mcx_engine *e) {
    static const uint8_t master_key[16] = {0xc0, 0xff, 0xee, 0x00, 0x01, 0x02, 0x03, 0x04,
                                           0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
    static const uint8_t master_salt[12] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
                                            0x01, 0x23, 0x45, 0x67, 0x89, 0xab};
    return mcx_key_install_srtp(e, SPK_SERVER, master_key, sizeof master_key, master_salt,
                                sizeof master_salt, 0);
}

int main(void) {
    mcx_engine *client = NULL, *proxy = NULL, *server = NULL;
    mcx_status s;
    if ((s = mcx_engine_new(NULL, &client)) != MCX_OK ||
        (s = mcx_engine_new(NULL, &proxy)) != MCX_OK ||
        (s = mcx_engine_new(NULL, &server)) != MCX_OK)
        return fail("mcx_engine_new", s);
    if ((s = install_alice(client)) != MCX_OK || (s = install_alice(proxy)) != MCX_OK)
        return fail("install alice's CSK", s);
    if ((s = install_spk(proxy)) != MCX_OK || (s = install_spk(server)) != MCX_OK)
        return fail("install the SPK", s);

    /* alice's UE: a Floor Request (TS 24.380 §8.2: RTCP APP, subtype 0, name "MCPT"). */
    const uint8_t floor_request[16] = {0x80, 0xcc, 0x00, 0x03, 0x0a, 0x11, 0xce, 0x01,
                                       'M',  'C',  'P',  'T',  0x00, 0x00, 0x00, 0x00};
    uint8_t packet[sizeof floor_request + MCX_SRTCP_MAX_TRAILER];
    size_t len = sizeof floor_request;
    memcpy(packet, floor_request, len);
    if ((s = mcx_srtcp_protect(client, CSK_ALICE, packet, len, sizeof packet, &len)) != MCX_OK)
        return fail("client protect", s);
    printf("client -> proxy: %zu octets of SRTCP under CSK %08" PRIx32 "\n", len, CSK_ALICE);

    /* The proxy hop: unprotect with the key the MKI names, then protect toward the server. */
    uint32_t key_id = 0;
    if ((s = mcx_srtcp_unprotect(proxy, packet, len, &len, &key_id)) != MCX_OK)
        return fail("proxy unprotect", s);
    if (key_id != CSK_ALICE)
        return fail("proxy: packet not under alice's CSK", MCX_UNKNOWN_KEY);
    printf("proxy: opened %zu octets of RTCP under key %08" PRIx32 "\n", len, key_id);
    if ((s = mcx_srtcp_protect(proxy, SPK_SERVER, packet, len, sizeof packet, &len)) != MCX_OK)
        return fail("proxy protect", s);
    printf("proxy -> server: %zu octets of SRTCP under SPK %08" PRIx32 "\n", len, SPK_SERVER);

    /* The MCX server opens it with the SPK. */
    if ((s = mcx_srtcp_unprotect(server, packet, len, &len, &key_id)) != MCX_OK)
        return fail("server unprotect", s);
    int same = len == sizeof floor_request && memcmp(packet, floor_request, len) == 0;
    printf("server: opened %zu octets under key %08" PRIx32 ": %s\n", len, key_id,
           same ? "the client's Floor Request" : "MISMATCH");

    /* A replayed copy of the proxy's packet would be refused by the server. */
    mcx_engine_free(client);
    mcx_engine_free(proxy);
    mcx_engine_free(server);
    return same && key_id == SPK_SERVER ? 0 : 1;
}
