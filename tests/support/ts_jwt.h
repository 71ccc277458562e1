/*
 * ts_jwt.h - JSON Web Tokens made at test time with OpenSSL's libcrypto (no token is
 * ever hard-coded): HS256 with a secret, RS256/ES256 with a key generated in the
 * test, "none", and deliberately wrong ones (an alg header that lies about the
 * signature). Header-only (static functions) so that the unit tests (tests/unit) and
 * the integration tests share it; the including binary links libcrypto.
 */
#ifndef PULSE_TS_JWT_H
#define PULSE_TS_JWT_H

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    TSJ_HS256, /* HMAC-SHA256 with secret */
    TSJ_RS256, /* RSASSA-PKCS1-v1_5 SHA-256 with pk (an RSA private key) */
    TSJ_ES256, /* ECDSA P-256 SHA-256 with pk, signature as JWS R||S */
    TSJ_UNSIGNED, /* empty signature (for "alg":"none") */
} tsj_sign_kind;

/* base64url without padding; malloc'd. */
static inline char *tsj_b64url(const unsigned char *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n * 4 / 3 + 4);
    size_t o = 0, i;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)d[i] << 16;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
    }
    out[o] = '\0';
    return out;
}

/* A token: header {"alg":header_alg,"typ":"JWT"}, the payload JSON as given, signed
 * by kind (secret for HS256, pk for RS256/ES256). malloc'd, NULL on failure. */
static inline char *tsj_make(const char *header_alg, const char *payload_json, tsj_sign_kind kind,
                      const void *secret, size_t secret_len, EVP_PKEY *pk)
{
    char header[128];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", header_alg);
    char *h = tsj_b64url((const unsigned char *)header, strlen(header));
    char *p = tsj_b64url((const unsigned char *)payload_json, strlen(payload_json));
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *in = malloc(in_len + 1);
    snprintf(in, in_len + 1, "%s.%s", h, p);
    free(h);
    free(p);

    unsigned char sig[1024] = {0};
    size_t sig_len = 0;
    if (kind == TSJ_HS256) {
        unsigned int n = 0;
        HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)in, in_len, sig, &n);
        sig_len = n;
    } else if (kind == TSJ_RS256 || kind == TSJ_ES256) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char der[1024];
        size_t der_len = sizeof der;
        int ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
                 EVP_DigestSign(md, der, &der_len, (const unsigned char *)in, in_len) == 1;
        EVP_MD_CTX_free(md);
        if (!ok) {
            free(in);
            return NULL;
        }
        if (kind == TSJ_RS256) {
            memcpy(sig, der, der_len);
            sig_len = der_len;
        } else {
            /* JWS wants R||S, 32 bytes each, not DER */
            const unsigned char *q = der;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
            const BIGNUM *r, *s;
            ECDSA_SIG_get0(es, &r, &s);
            BN_bn2binpad(r, sig, 32);
            BN_bn2binpad(s, sig + 32, 32);
            ECDSA_SIG_free(es);
            sig_len = 64;
        }
    }
    char *sg = tsj_b64url(sig, sig_len);
    size_t total = in_len + 1 + strlen(sg) + 1;
    char *tok = malloc(total);
    snprintf(tok, total, "%s.%s", in, sg);
    free(in);
    free(sg);
    return tok;
}

/* Writes pk's public half as PEM (BEGIN PUBLIC KEY) to path. 0 or -1. */
static inline int tsj_write_pubkey(EVP_PKEY *pk, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = PEM_write_PUBKEY(f, pk);
    fclose(f);
    return ok == 1 ? 0 : -1;
}

/* Writes len bytes to path. 0 or -1. */
/* A self-signed certificate for localhost and 127.0.0.1, made by the openssl command
 * line: dir/cert.pem and dir/key.pem, their paths in cert and key (cap bytes each).
 * 0, or -1 when openssl failed. */
static inline int tsj_make_cert(const char *dir, char *cert, size_t cert_cap, char *key, size_t key_cap)
{
    char cmd[2048];
    snprintf(cert, cert_cap, "%s/cert.pem", dir);
    snprintf(key, key_cap, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 1 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    return system(cmd) == 0 ? 0 : -1;
}

static inline int tsj_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    fclose(f);
    return n == len ? 0 : -1;
}

/* Reads a small text file (a PEM) into a malloc'd string; NULL on failure. */
static inline char *tsj_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = malloc(65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

#endif
