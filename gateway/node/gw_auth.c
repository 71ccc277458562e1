/*
 * gw_auth.c - token verification and authorization; see gw_auth.h.
 *
 * libjwt 1.10 verifies a signature with whatever algorithm the token's header names,
 * using the key it is given: an HS256 token "signed" with an RSA public key's PEM
 * text as the HMAC secret verifies against a gateway configured for RS256 (checked
 * against libjwt 1.10.2; "none" it refuses when given a key, but only then). So the
 * header is read here first and its
 * alg must be exactly the configured one before libjwt sees the token, and libjwt's
 * own view (jwt_get_alg) is checked again after. libjwt 1.10 checks no claims either:
 * exp/nbf/aud/iss and ours are read from the payload here, after the signature
 * verified.
 */
#include "gw_auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "pulse_alloc.h"
#include "pulse_channel.h"

#define KEY_FILE_MAX (64 * 1024)
#define HS_KEY_MIN 32    /* bytes: RFC 7518 3.2, a key at least as long as the hash */
#define ADMIN_KEY_MIN 16
#define CLAIM_PATS_MAX 256

typedef struct {
    char *prefix, *suffix; /* "feed:user-{sub}" -> "feed:user-", "" */
    char *glob;            /* prefix*suffix: the namespace */
} owner_rule;

struct gw_auth {
    jwt_alg_t alg;         /* JWT_ALG_NONE: auth off */
    unsigned char *key;    /* HMAC secret, or the PEM public key text (NUL-terminated) */
    size_t key_len;
    int leeway_s;
    char *audience, *issuer;
    owner_rule *owners;
    size_t n_owners;
    char **origins;
    size_t n_origins;
    unsigned char admin_digest[32];
    bool admin_key;
    int protect_reads; /* cfg->admin_protect_reads: -1 auto, 0, 1 */
};

static bool set(const char *s)
{
    return s && s[0];
}

/* ---- files ---- */

/* Reads a whole small file; trailing CR/LF/spaces are cut when trim. The error never
 * quotes the content. */
static int read_file(const char *what, const char *path, bool trim, unsigned char **out, size_t *len,
                     pulse_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pulse_error_set(err, PULSE_EIO, 0, "%s: cannot read %s: %s", what, path, strerror(errno));
    unsigned char *buf = pulse_xmalloc(KEY_FILE_MAX + 1);
    size_t n = fread(buf, 1, KEY_FILE_MAX + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > KEY_FILE_MAX) {
        free(buf);
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: %s: %s", what, path,
                               bad ? "read error" : "larger than 64 KiB");
    }
    while (trim && n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* ---- lists ---- */

static size_t split_list(const char *list, char ***out)
{
    size_t n = 0, cap = 0;
    char **v = NULL;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ",");
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 4;
                v = pulse_xrealloc(v, cap * sizeof(*v));
            }
            v[n] = pulse_xmalloc(len + 1);
            memcpy(v[n], p, len);
            v[n][len] = '\0';
            n++;
        }
        p += strcspn(p, ",");
    }
    *out = v;
    return n;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool channel_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("._:@-", c))
            return false;
    }
    return true;
}

static int parse_owners(gw_auth *a, const char *list, pulse_error *err)
{
    char **v;
    size_t n = split_list(list, &v);
    a->owners = n ? calloc(n, sizeof(*a->owners)) : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *t = v[i];
        const char *s = strstr(t, "{sub}");
        size_t pl = s ? (size_t)(s - t) : 0;
        const char *suf = s ? s + 5 : "";
        if (!s || strstr(suf, "{sub}") || !channel_chars(t, pl) || !channel_chars(suf, strlen(suf)) ||
            pl + strlen(suf) + 1 > PULSE_CHANNEL_MAX) {
            int rc = pulse_error_set(err, PULSE_EINVAL, 0,
                                     "config: auth.owner_pattern: '%.60s' must hold {sub} once, the rest "
                                     "channel characters [A-Za-z0-9._:@-]",
                                     t);
            free_list(v, n);
            return rc;
        }
        owner_rule *o = &a->owners[a->n_owners++];
        o->prefix = pulse_xmalloc(pl + 1);
        memcpy(o->prefix, t, pl);
        o->prefix[pl] = '\0';
        o->suffix = pulse_xstrdup(suf);
        o->glob = pulse_xmalloc(pl + strlen(suf) + 2);
        snprintf(o->glob, pl + strlen(suf) + 2, "%s*%s", o->prefix, o->suffix);
    }
    free_list(v, n);
    return 0;
}

/* ---- the context ---- */

static bool alg_family(jwt_alg_t alg, char family)
{
    const char *s = jwt_alg_str(alg);
    return s && s[0] == family;
}

static int load_jwt_key(gw_auth *a, const gw_config *cfg, pulse_error *err)
{
    bool secret = set(cfg->auth_jwt_secret_file), pub = set(cfg->auth_jwt_public_key);
    jwt_alg_t want = JWT_ALG_NONE;
    if (set(cfg->auth_algorithm)) {
        want = jwt_str_alg(cfg->auth_algorithm);
        if (want == JWT_ALG_INVAL || want == JWT_ALG_NONE)
            return pulse_error_set(err, PULSE_EINVAL, 0,
                                   "config: auth.algorithm: must be HS256, HS384, HS512, RS256, RS384, RS512, "
                                   "ES256, ES384 or ES512 (got '%.20s')",
                                   cfg->auth_algorithm);
    }
    if (secret && pub)
        return pulse_error_set(err, PULSE_EINVAL, 0,
                               "config: set auth.jwt_secret_file or auth.jwt_public_key, not both");
    if (!secret && !pub) {
        if (want != JWT_ALG_NONE)
            return pulse_error_set(err, PULSE_EINVAL, 0,
                                   "config: auth.algorithm is set but there is no key (auth.jwt_secret_file or "
                                   "auth.jwt_public_key)");
        return 0; /* auth off */
    }
    if (secret) {
        if (want == JWT_ALG_NONE)
            want = JWT_ALG_HS256;
        if (!alg_family(want, 'H'))
            return pulse_error_set(err, PULSE_EINVAL, 0,
                                   "config: auth.algorithm %s needs auth.jwt_public_key, not a shared secret",
                                   jwt_alg_str(want));
        int rc = read_file("config: auth.jwt_secret_file", cfg->auth_jwt_secret_file, true, &a->key,
                           &a->key_len, err);
        if (rc != 0)
            return rc;
        if (a->key_len < HS_KEY_MIN)
            return pulse_error_set(err, PULSE_EINVAL, 0,
                                   "config: auth.jwt_secret_file: the secret must be at least %d bytes (has %zu)",
                                   HS_KEY_MIN, a->key_len);
        a->alg = want;
        return 0;
    }
    int rc = read_file("config: auth.jwt_public_key", cfg->auth_jwt_public_key, false, &a->key, &a->key_len, err);
    if (rc != 0)
        return rc;
    BIO *bio = BIO_new_mem_buf(a->key, (int)a->key_len);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pk)
        return pulse_error_set(err, PULSE_EINVAL, 0,
                               "config: auth.jwt_public_key: %s is not a PEM public key (BEGIN PUBLIC KEY)",
                               cfg->auth_jwt_public_key);
    int type = EVP_PKEY_base_id(pk);
    int bits = EVP_PKEY_bits(pk);
    EVP_PKEY_free(pk);
    char family = type == EVP_PKEY_RSA ? 'R' : type == EVP_PKEY_EC ? 'E' : '?';
    if (family == '?')
        return pulse_error_set(err, PULSE_EINVAL, 0, "config: auth.jwt_public_key: only RSA and EC keys are supported");
    if (want == JWT_ALG_NONE)
        want = family == 'R' ? JWT_ALG_RS256 : JWT_ALG_ES256;
    if (!alg_family(want, family))
        return pulse_error_set(err, PULSE_EINVAL, 0,
                               "config: auth.algorithm %s does not fit the %s key in auth.jwt_public_key",
                               jwt_alg_str(want), family == 'R' ? "RSA" : "EC");
    if (family == 'R' && bits < 2048)
        return pulse_error_set(err, PULSE_EINVAL, 0, "config: auth.jwt_public_key: RSA keys need 2048 bits or more");
    a->alg = want;
    return 0;
}

static int load_admin_key(gw_auth *a, const gw_config *cfg, pulse_error *err)
{
    unsigned char *key = NULL;
    size_t len = 0;
    if (set(cfg->admin_api_key_file) && set(cfg->admin_api_key))
        return pulse_error_set(err, PULSE_EINVAL, 0,
                               "config: set admin.api_key_file or admin.api_key (PULSE_ADMIN_API_KEY), not both");
    if (set(cfg->admin_api_key_file)) {
        int rc = read_file("config: admin.api_key_file", cfg->admin_api_key_file, true, &key, &len, err);
        if (rc != 0)
            return rc;
    } else if (set(cfg->admin_api_key)) {
        key = (unsigned char *)pulse_xstrdup(cfg->admin_api_key);
        len = strlen(cfg->admin_api_key);
    } else {
        return 0;
    }
    if (len < ADMIN_KEY_MIN) {
        OPENSSL_cleanse(key, len);
        free(key);
        return pulse_error_set(err, PULSE_EINVAL, 0, "config: the admin API key must be at least %d bytes",
                               ADMIN_KEY_MIN);
    }
    EVP_Digest(key, len, a->admin_digest, NULL, EVP_sha256(), NULL);
    OPENSSL_cleanse(key, len);
    free(key);
    a->admin_key = true;
    return 0;
}

int gw_auth_new(const gw_config *cfg, gw_auth **out, pulse_error *err)
{
    gw_auth *a = pulse_xcalloc(1, sizeof(*a));
    a->alg = JWT_ALG_NONE;
    a->leeway_s = cfg->auth_leeway_s;
    a->audience = set(cfg->auth_audience) ? pulse_xstrdup(cfg->auth_audience) : NULL;
    a->issuer = set(cfg->auth_issuer) ? pulse_xstrdup(cfg->auth_issuer) : NULL;
    a->protect_reads = cfg->admin_protect_reads;
    a->n_origins = split_list(cfg->ws_allowed_origins, &a->origins);
    int rc = 0;
    if (set(cfg->tls_cert) != set(cfg->tls_key))
        rc = pulse_error_set(err, PULSE_EINVAL, 0, "config: tls_cert and tls_key go together (got only %s)",
                             set(cfg->tls_cert) ? "tls_cert" : "tls_key");
    else if (set(cfg->tls_cert) && (access(cfg->tls_cert, R_OK) != 0 || access(cfg->tls_key, R_OK) != 0))
        rc = pulse_error_set(err, PULSE_EIO, 0, "config: cannot read %.60s: %s",
                             access(cfg->tls_cert, R_OK) != 0 ? cfg->tls_cert : cfg->tls_key, strerror(errno));
    if (rc == 0)
        rc = load_jwt_key(a, cfg, err);
    if (rc == 0)
        rc = parse_owners(a, cfg->auth_owner_pattern, err);
    if (rc == 0)
        rc = load_admin_key(a, cfg, err);
    if (rc != 0) {
        gw_auth_free(a);
        *out = NULL;
        return rc;
    }
    *out = a;
    return 0;
}

void gw_auth_free(gw_auth *a)
{
    if (!a)
        return;
    if (a->key) {
        OPENSSL_cleanse(a->key, a->key_len);
        free(a->key);
    }
    free(a->audience);
    free(a->issuer);
    for (size_t i = 0; i < a->n_owners; i++) {
        free(a->owners[i].prefix);
        free(a->owners[i].suffix);
        free(a->owners[i].glob);
    }
    free(a->owners);
    free_list(a->origins, a->n_origins);
    OPENSSL_cleanse(a->admin_digest, sizeof(a->admin_digest));
    free(a);
}

bool gw_auth_enabled(const gw_auth *a)
{
    return a && a->alg != JWT_ALG_NONE;
}

const char *gw_auth_algorithm(const gw_auth *a)
{
    return gw_auth_enabled(a) ? jwt_alg_str(a->alg) : "off";
}

/* ---- verification ---- */

static int b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes unpadded base64url s[0..n) into out (n*3/4+1 bytes). -1 when invalid. */
static int b64url_decode(const char *s, size_t n, unsigned char *out, size_t *out_len)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *out_len = o;
    return 0;
}

static json_t *decode_part(const char *s, size_t n)
{
    unsigned char *buf = pulse_xmalloc(n * 3 / 4 + 2);
    size_t len = 0;
    json_t *j = NULL;
    if (n > 0 && b64url_decode(s, n, buf, &len) == 0)
        j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* A claim holding an array of channel patterns: 0 (count in *n), or -1. */
static int claim_patterns(json_t *payload, const char *name, size_t *n, size_t *bytes)
{
    json_t *v = json_object_get(payload, name);
    *n = 0;
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > CLAIM_PATS_MAX)
        return -1;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        bool pat;
        if (!json_is_string(e) || json_string_length(e) > PULSE_CHANNEL_MAX ||
            pulse_channel_validate_pattern(json_string_value(e), json_string_length(e), &pat) != 0)
            return -1;
        *bytes += json_string_length(e) + 1;
    }
    *n = json_array_size(v);
    return 0;
}

int64_t gw_auth_deadline_ms(int64_t exp, int64_t leeway_s, int64_t now_s, int64_t now_mono_ms)
{
    if (!exp)
        return 0;
    int64_t left_s;
    if (__builtin_add_overflow(exp, leeway_s, &left_s) || __builtin_sub_overflow(left_s, now_s, &left_s))
        left_s = exp > 0 ? INT64_MAX : 0;
    if (left_s <= 0)
        return now_mono_ms;
    int64_t left_ms, at;
    if (__builtin_mul_overflow(left_s, 1000, &left_ms) || __builtin_add_overflow(now_mono_ms, left_ms, &at))
        return INT64_MAX;
    return at;
}

static int claims(const gw_auth *a, json_t *payload, int64_t now_s, gw_principal **out)
{
    json_t *exp = json_object_get(payload, "exp"), *nbf = json_object_get(payload, "nbf");
    json_t *sub = json_object_get(payload, "sub");
    if ((exp && !json_is_number(exp)) || (nbf && !json_is_number(nbf)) || (sub && !json_is_string(sub)) ||
        (sub && json_string_length(sub) > PULSE_CHANNEL_MAX))
        return GW_AUTH_ECLAIMS;
    double exp_v = exp ? json_number_value(exp) : 0;
    if (exp && (double)now_s >= exp_v + a->leeway_s)
        return GW_AUTH_EEXPIRED;
    if (nbf && (double)now_s < json_number_value(nbf) - a->leeway_s)
        return GW_AUTH_ENOTYET;
    if (a->issuer) {
        json_t *iss = json_object_get(payload, "iss");
        if (!json_is_string(iss) || strcmp(json_string_value(iss), a->issuer) != 0)
            return GW_AUTH_EISS;
    }
    if (a->audience) {
        json_t *aud = json_object_get(payload, "aud");
        bool ok = json_is_string(aud) && strcmp(json_string_value(aud), a->audience) == 0;
        size_t i;
        json_t *e;
        if (json_is_array(aud))
            json_array_foreach(aud, i, e) ok = ok || (json_is_string(e) && strcmp(json_string_value(e), a->audience) == 0);
        if (!ok)
            return GW_AUTH_EAUD;
    }
    size_t nch, npub, bytes = sub ? json_string_length(sub) + 1 : 0;
    if (claim_patterns(payload, "channels", &nch, &bytes) != 0 || claim_patterns(payload, "publish", &npub, &bytes) != 0)
        return GW_AUTH_ECLAIMS;
    json_t *info = json_object_get(payload, "info");
    char *info_s = NULL;
    if (info) {
        info_s = json_is_object(info) ? json_dumps(info, JSON_COMPACT) : NULL;
        if (!info_s || strlen(info_s) > GW_AUTH_INFO_MAX) {
            free(info_s);
            return GW_AUTH_ECLAIMS;
        }
        bytes += strlen(info_s) + 1;
    }

    size_t head = sizeof(gw_principal) + (nch + npub) * sizeof(char *);
    gw_principal *p = pulse_xmalloc(head + bytes);
    char *str = (char *)p + head;
    /* exp_v > now - leeway here; clamp before the cast (a double past int64 is UB) */
    p->exp = !exp ? 0 : exp_v >= (double)GW_AUTH_EXP_MAX ? GW_AUTH_EXP_MAX : (int64_t)exp_v;
    if (exp && p->exp == 0)
        p->exp = 1; /* exp 0 is long past; keep 0 to mean "none" */
    p->sub = NULL;
    if (sub) {
        memcpy(str, json_string_value(sub), json_string_length(sub) + 1);
        p->sub = str;
        str += json_string_length(sub) + 1;
    }
    p->info = NULL;
    if (info_s) {
        size_t il = strlen(info_s) + 1;
        memcpy(str, info_s, il);
        p->info = str;
        str += il;
        free(info_s);
    }
    p->n_channels = (uint16_t)nch;
    p->n_publish = (uint16_t)npub;
    const char *names[2] = {"channels", "publish"};
    size_t k = 0;
    for (int c = 0; c < 2; c++) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(payload, names[c]), i, e) {
            size_t len = json_string_length(e) + 1;
            memcpy(str, json_string_value(e), len);
            p->pats[k++] = str;
            str += len;
        }
    }
    *out = p;
    return 0;
}

int gw_auth_verify(const gw_auth *a, const char *token, size_t len, int64_t now_s, gw_principal **out)
{
    *out = NULL;
    if (!gw_auth_enabled(a))
        return GW_AUTH_EALG;
    if (!token || len == 0)
        return GW_AUTH_EMISSING;
    if (len > GW_AUTH_TOKEN_MAX || memchr(token, '\0', len))
        return GW_AUTH_EMALFORMED;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return GW_AUTH_EMALFORMED;
    json_t *header = decode_part(token, (size_t)(d1 - token));
    json_t *payload = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
    int rc = 0;
    if (!header || !payload) {
        rc = GW_AUTH_EMALFORMED;
        goto done;
    }
    /* The pinned algorithm, before libjwt looks at anything. */
    json_t *alg = json_object_get(header, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), jwt_alg_str(a->alg)) != 0 ||
        json_object_get(header, "crit")) {
        rc = GW_AUTH_EALG;
        goto done;
    }
    size_t siglen = len - (size_t)(d2 + 1 - token);
    if (siglen == 0) {
        rc = GW_AUTH_ESIG;
        goto done;
    }
    char *copy = pulse_xmalloc(len + 1);
    memcpy(copy, token, len);
    copy[len] = '\0';
    jwt_t *jwt = NULL;
    int jrc = jwt_decode(&jwt, copy, a->key, (int)a->key_len);
    free(copy);
    if (jrc != 0 || !jwt || jwt_get_alg(jwt) != a->alg)
        rc = GW_AUTH_ESIG;
    jwt_free(jwt);
    if (rc == 0)
        rc = claims(a, payload, now_s, out);
done:
    json_decref(header);
    json_decref(payload);
    return rc;
}

const char *gw_auth_reason(int code)
{
    switch (code) {
    case 0: return "ok";
    case GW_AUTH_EMISSING: return "token required";
    case GW_AUTH_EMALFORMED: return "malformed token";
    case GW_AUTH_EALG: return "token algorithm not accepted";
    case GW_AUTH_ESIG: return "invalid token signature";
    case GW_AUTH_EEXPIRED: return "token expired";
    case GW_AUTH_ENOTYET: return "token not yet valid";
    case GW_AUTH_EAUD: return "token audience not accepted";
    case GW_AUTH_EISS: return "token issuer not accepted";
    case GW_AUTH_ECLAIMS: return "token claims malformed";
    case GW_AUTH_ESUB: return "refresh token is for another subject";
    default: return "invalid token";
    }
}

void gw_auth_principal_free(gw_principal *p)
{
    free(p);
}

/* ---- authorization ---- */

bool gw_auth_pattern_covers(const char *outer, const char *inner)
{
    /* outer's literals never match inner's '*' (a literal is never '*'), while outer's
     * '*' may swallow it: a textual match of inner by outer means containment. */
    return pulse_channel_match(outer, inner);
}

bool gw_auth_patterns_overlap(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > PULSE_CHANNEL_MAX || m > PULSE_CHANNEL_MAX)
        return true; /* refuse what we cannot judge */
    /* ok[i][j]: a[i..] and b[j..] have a common expansion; filled from the ends. */
    static _Thread_local bool ok[PULSE_CHANNEL_MAX + 2][PULSE_CHANNEL_MAX + 2];
    for (size_t i = n + 1; i-- > 0;) {
        for (size_t j = m + 1; j-- > 0;) {
            bool r;
            if (i == n && j == m)
                r = true;
            else if (i < n && a[i] == '*')
                r = ok[i + 1][j] || (j < m && ok[i][j + 1]);
            else if (j < m && b[j] == '*')
                r = ok[i][j + 1] || (i < n && ok[i + 1][j]);
            else
                r = i < n && j < m && a[i] == b[j] && ok[i + 1][j + 1];
            ok[i][j] = r;
        }
    }
    return ok[0][0];
}

/* 1: channel is p's own (an owner pattern filled with p's sub); -1: it lies in an
 * owner namespace but is not p's; 0: no owner pattern concerns it. */
static int owner_rule_for(const gw_auth *a, const gw_principal *p, const char *channel)
{
    int verdict = 0;
    size_t cl = strlen(channel);
    for (size_t i = 0; i < a->n_owners; i++) {
        const owner_rule *o = &a->owners[i];
        if (!pulse_channel_match(o->glob, channel))
            continue;
        size_t pl = strlen(o->prefix), sl = strlen(o->suffix);
        if (p && p->sub && p->sub[0] && cl == pl + strlen(p->sub) + sl &&
            memcmp(channel + pl, p->sub, strlen(p->sub)) == 0)
            return 1;
        verdict = -1;
    }
    return verdict;
}

static bool any_match(const char *const *pats, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (pulse_channel_match(pats[i], name))
            return true;
    return false;
}

bool gw_auth_may_subscribe(const gw_auth *a, const gw_principal *p, const char *name, bool is_pattern)
{
    if (!gw_auth_enabled(a))
        return true;
    if (!p)
        return false;
    if (is_pattern) {
        for (size_t i = 0; i < a->n_owners; i++)
            if (gw_auth_patterns_overlap(a->owners[i].glob, name))
                return false;
        return any_match(p->pats, p->n_channels, name); /* covers: see gw_auth_pattern_covers */
    }
    int own = owner_rule_for(a, p, name);
    if (own != 0)
        return own > 0;
    return any_match(p->pats, p->n_channels, name);
}

bool gw_auth_may_publish(const gw_auth *a, const gw_principal *p, const char *channel)
{
    if (!gw_auth_enabled(a) || !p || strchr(channel, '*'))
        return false; /* off unless a token grants it */
    if (owner_rule_for(a, p, channel) < 0)
        return false;
    return any_match(p->pats + p->n_channels, p->n_publish, channel);
}

/* ---- admin key ---- */

bool gw_auth_admin_has_key(const gw_auth *a)
{
    return a && a->admin_key;
}

int gw_auth_admin_check(const gw_auth *a, const char *authorization, bool is_write)
{
    if (!a || !a->admin_key || (!is_write && a->protect_reads == 0))
        return 0;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return -1;
    const char *k = authorization + 7;
    while (*k == ' ')
        k++;
    size_t n = strlen(k);
    while (n > 0 && k[n - 1] == ' ')
        n--;
    unsigned char d[32];
    EVP_Digest(k, n, d, NULL, EVP_sha256(), NULL);
    /* Equal-length digests compared in constant time: neither the key's length nor
     * how much of it matched shows in the timing. */
    int diff = CRYPTO_memcmp(d, a->admin_digest, sizeof(d));
    OPENSSL_cleanse(d, sizeof(d));
    return diff == 0 ? 0 : -1;
}

/* ---- origins ---- */

bool gw_auth_origin_allowed(const gw_auth *a, const char *origin)
{
    if (!a || a->n_origins == 0 || !origin || !origin[0])
        return true;
    for (size_t i = 0; i < a->n_origins; i++)
        if (strcmp(a->origins[i], "*") == 0 || strcasecmp(a->origins[i], origin) == 0)
            return true;
    return false;
}

/* ---- admin requests ---- */

/* host[:port] or [v6][:port] -> the host part in out (brackets dropped). */
static void host_part(const char *host, char *out, size_t cap)
{
    const char *start = host, *end;
    if (host[0] == '[') {
        start = host + 1;
        end = strchr(start, ']');
        if (!end)
            end = start + strlen(start);
    } else {
        end = strchr(host, ':');
        if (!end || strchr(end + 1, ':'))
            end = host + strlen(host); /* no port, or a bare IPv6 literal */
    }
    size_t n = (size_t)(end - start);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, start, n);
    out[n] = '\0';
}

static bool literal_is_loopback(const char *addr)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, addr, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
    return false;
}

static bool same_literal(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    if (inet_pton(AF_INET, a, x) == 1)
        return inet_pton(AF_INET, b, y) == 1 && memcmp(x, y, 4) == 0;
    return inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1 && memcmp(x, y, 16) == 0;
}

bool gw_auth_admin_health_protected(const gw_auth *a)
{
    return a && a->protect_reads > 0;
}

bool gw_auth_owner_channel(const gw_auth *a, const char *channel)
{
    return a && owner_rule_for(a, NULL, channel) != 0;
}

bool gw_auth_admin_host_ok(const char *bind, const char *host)
{
    if (!host)
        return true;
    if (!bind || !bind[0] || strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0 || strcmp(bind, "*") == 0)
        return true;
    char h[256], b[256];
    host_part(host, h, sizeof(h));
    host_part(bind, b, sizeof(b));
    return strcasecmp(h, "localhost") == 0 || literal_is_loopback(h) || same_literal(h, b);
}

bool gw_auth_admin_origin_ok(const char *origin, const char *host)
{
    if (!origin)
        return true;
    if (!host)
        return false;
    const char *rest = strncasecmp(origin, "http://", 7) == 0 ? origin + 7
                       : strncasecmp(origin, "https://", 8) == 0 ? origin + 8
                                                                 : NULL;
    return rest && strcasecmp(rest, host) == 0;
}

void gw_auth_csp_host(const char *host, char *out, size_t cap)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-";
    size_t n = host ? strcspn(host, ":") : 0;
    if (n > 0 && n < cap && n < 256 && strspn(host, ok) >= n)
        snprintf(out, cap, "%.*s", (int)n, host);
    else
        snprintf(out, cap, "*");
}

/* ---- exposure ---- */

bool gw_auth_is_loopback(const char *addr)
{
    if (!addr || !addr[0])
        return false;
    char h[256];
    host_part(addr, h, sizeof(h));
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, h, &v4) == 1 || inet_pton(AF_INET6, h, &v6) == 1)
        return literal_is_loopback(h);
    /* a name: loopback only when every address it resolves to is (127.evil.example
     * is whatever its DNS says) */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(h, NULL, &hints, &res) != 0 || !res)
        return false;
    bool all = true;
    for (struct addrinfo *r = res; r && all; r = r->ai_next) {
        char text[INET6_ADDRSTRLEN] = "";
        const void *a = r->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)r->ai_addr)->sin_addr
                                                 : (const void *)&((struct sockaddr_in6 *)r->ai_addr)->sin6_addr;
        all = (r->ai_family == AF_INET || r->ai_family == AF_INET6) &&
              inet_ntop(r->ai_family, a, text, sizeof(text)) && literal_is_loopback(text);
    }
    freeaddrinfo(res);
    return all;
}

int gw_auth_check_exposure(const gw_config *cfg, const gw_auth *a, pulse_error *err)
{
    if (cfg->insecure)
        return 0;
    if (!gw_auth_is_loopback(cfg->bind) && !gw_auth_enabled(a))
        return pulse_error_set(err, PULSE_EINVAL, 0,
                               "refusing to listen on %.40s with auth off: set --jwt-secret-file or --jwt-public-key, "
                               "or --insecure (PULSE_INSECURE=1) if intended",
                               cfg->bind);
    if (!gw_auth_is_loopback(cfg->admin_bind) && !gw_auth_admin_has_key(a))
        return pulse_error_set(err, PULSE_EINVAL, 0,
                               "refusing admin HTTP on %.40s without an API key: set admin.api_key_file or "
                               "PULSE_ADMIN_API_KEY, or --insecure (PULSE_INSECURE=1)",
                               cfg->admin_bind);
    return 0;
}
