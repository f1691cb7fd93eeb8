/* srtp_shim.c - a thin C layer over libsrtp 2 for the interop tests.
 *
 * It builds one libsrtp session whose RTCP policy is AEAD_AES_128_GCM or AEAD_AES_256_GCM
 * (RFC 7714), encrypted (E=1) or authenticated only (E=0), from a master key, a 12-octet
 * master salt and an optional MKI, and exposes protect/unprotect of SRTCP packets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <srtp2/srtp.h>

struct mcx_shim_session {
    srtp_t srtp;
    int use_mki;
    unsigned char key[64];
    unsigned char mki[16];
    srtp_master_key_t mk;
    srtp_master_key_t *mks[1];
};

int mcx_shim_init(void) { return (int)srtp_init(); }

const char *mcx_shim_version(void) { return srtp_get_version_string(); }

/* Returns NULL on error and sets *err to the libsrtp status. */
struct mcx_shim_session *mcx_shim_session_new(int inbound, const uint8_t *key, size_t key_len,
                                              const uint8_t *salt, size_t salt_len,
                                              const uint8_t *mki, size_t mki_len,
                                              int auth_only, int *err) {
    struct mcx_shim_session *s;
    srtp_policy_t pol;
    srtp_err_status_t st;

    *err = 0;
    if ((key_len != 16 && key_len != 32) || salt_len != 12 || mki_len > sizeof s->mki) {
        *err = -1;
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        *err = -2;
        return NULL;
    }
    memcpy(s->key, key, key_len);
    memcpy(s->key + key_len, salt, salt_len);

    memset(&pol, 0, sizeof pol);
    if (key_len == 16) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
    } else {
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol.rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol.rtcp);
    }
    if (auth_only)
        pol.rtcp.sec_serv = sec_serv_auth;
    pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    if (mki_len > 0) {
        memcpy(s->mki, mki, mki_len);
        s->mk.key = s->key;
        s->mk.mki_id = s->mki;
        s->mk.mki_size = (unsigned int)mki_len;
        s->mks[0] = &s->mk;
        pol.keys = s->mks;
        pol.num_master_keys = 1;
        s->use_mki = 1;
    } else {
        pol.key = s->key;
    }
    pol.window_size = 128;
    pol.allow_repeat_tx = 0;
    pol.next = NULL;
    st = srtp_create(&s->srtp, &pol);
    if (st != srtp_err_status_ok) {
        *err = (int)st;
        free(s);
        return NULL;
    }
    return s;
}

void mcx_shim_session_free(struct mcx_shim_session *s) {
    if (!s)
        return;
    srtp_dealloc(s->srtp);
    memset(s->key, 0, sizeof s->key);
    free(s);
}

/* buf holds *len octets of RTCP and has room for the trailer; *len becomes the SRTCP length. */
int mcx_shim_protect_rtcp(struct mcx_shim_session *s, uint8_t *buf, int *len) {
    if (s->use_mki)
        return (int)srtp_protect_rtcp_mki(s->srtp, buf, len, 1, 0);
    return (int)srtp_protect_rtcp(s->srtp, buf, len);
}

int mcx_shim_unprotect_rtcp(struct mcx_shim_session *s, uint8_t *buf, int *len) {
    if (s->use_mki)
        return (int)srtp_unprotect_rtcp_mki(s->srtp, buf, len, 1);
    return (int)srtp_unprotect_rtcp(s->srtp, buf, len);
}
