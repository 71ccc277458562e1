/*
 * check_auth.c - unit tests for gateway/gw_auth.c: JWT verification (valid, expired,
 * not yet valid with the leeway edges, wrong signature, wrong algorithm both ways,
 * alg none, malformed, missing, aud/iss), key loading errors, channel authorization
 * tables (claims, owner rule, patterns, publish), the admin key, Origin list, per-IP
 * count, command rate limit, the exposure rule, and the security config keys and
 * client ops they bring to gw_config and gw_proto.
 *
 * Every token is signed here at run time (tests/support/ts_jwt.h, OpenSSL libcrypto);
 * the RSA and EC keys are generated once per run in an unchecked fixture.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ts_check.h"
#include "../support/ts_jwt.h"
#include "gw_auth.h"
#include "gw_config.h"
#include "gw_limits.h"
#include "gw_proto.h"

static char dir[64];
static char secret_path[128], rsa_pub_path[128], ec_pub_path[128], rsa2_pub_path[128];
static EVP_PKEY *rsa, *rsa2, *ec;
static const char secret[] = "0123456789abcdef0123456789abcdef-test-secret";
static const char other_secret[] = "fedcba9876543210fedcba9876543210-other-secret";

static void keys_setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/pulse-auth-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(secret_path, sizeof secret_path, "%s/secret", dir);
    snprintf(rsa_pub_path, sizeof rsa_pub_path, "%s/rsa.pub", dir);
    snprintf(rsa2_pub_path, sizeof rsa2_pub_path, "%s/rsa2.pub", dir);
    snprintf(ec_pub_path, sizeof ec_pub_path, "%s/ec.pub", dir);
    /* a trailing newline, as an editor leaves it: trimmed by the loader */
    char line[sizeof(secret) + 1];
    snprintf(line, sizeof line, "%s\n", secret);
    ck_assert_int_eq(tsj_write_file(secret_path, line, strlen(line)), 0);
    rsa = EVP_RSA_gen(2048);
    rsa2 = EVP_RSA_gen(2048);
    ec = EVP_EC_gen("P-256");
    ck_assert(rsa && rsa2 && ec);
    ck_assert_int_eq(tsj_write_pubkey(rsa, rsa_pub_path), 0);
    ck_assert_int_eq(tsj_write_pubkey(rsa2, rsa2_pub_path), 0);
    ck_assert_int_eq(tsj_write_pubkey(ec, ec_pub_path), 0);
}

static void keys_teardown(void)
{
    unlink(secret_path);
    unlink(rsa_pub_path);
    unlink(rsa2_pub_path);
    unlink(ec_pub_path);
    rmdir(dir);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(ec);
}

/* A context from a config: secret or public key path, algorithm, audience, issuer. */
static gw_auth *make_auth(const char *secret_file, const char *pub, const char *alg, const char *aud,
                          const char *iss)
{
    gw_config cfg;
    pulse_error err = {0};
    gw_config_defaults(&cfg);
    cfg.auth_jwt_secret_file = secret_file ? strdup(secret_file) : NULL;
    cfg.auth_jwt_public_key = pub ? strdup(pub) : NULL;
    cfg.auth_algorithm = alg ? strdup(alg) : NULL;
    cfg.auth_audience = aud ? strdup(aud) : NULL;
    cfg.auth_issuer = iss ? strdup(iss) : NULL;
    gw_auth *a = NULL;
    int rc = gw_auth_new(&cfg, &a, &err);
    ck_assert_msg(rc == 0, "gw_auth_new: %s", err.text);
    gw_config_free(&cfg);
    return a;
}

static long now_s(void)
{
    return (long)time(NULL);
}

/* ---- verification ---- */

typedef struct {
    const char *name;
    const char *header_alg;
    tsj_sign_kind kind;
    int key;              /* 0: the secret, 1: another secret, 2: rsa, 3: rsa2, 4: ec, 5: rsa PEM text as HMAC key */
    long exp_off, nbf_off; /* relative to now; 0: absent */
    const char *extra;    /* more claims, ",\"k\":v" */
    int want;
} vcase;

static char *make_token(const vcase *c, long now)
{
    char payload[4096];
    int n = snprintf(payload, sizeof payload, "{\"sub\":\"42\"");
    if (c->exp_off)
        n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"exp\":%ld", now + c->exp_off);
    if (c->nbf_off)
        n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"nbf\":%ld", now + c->nbf_off);
    snprintf(payload + n, sizeof payload - (size_t)n, "%s}", c->extra ? c->extra : "");
    EVP_PKEY *pks[] = {NULL, NULL, rsa, rsa2, ec, NULL};
    if (c->key == 5) {
        size_t len = 0;
        char *pem = tsj_read_file(rsa_pub_path, &len);
        char *t = tsj_make(c->header_alg, payload, TSJ_HS256, pem, len, NULL);
        free(pem);
        return t;
    }
    const char *sec = c->key == 1 ? other_secret : secret;
    return tsj_make(c->header_alg, payload, c->kind, sec, strlen(sec), pks[c->key]);
}

static const vcase hs_cases[] = {
    {"valid", "HS256", TSJ_HS256, 0, 60, 0, NULL, 0},
    {"valid without exp", "HS256", TSJ_HS256, 0, 0, 0, NULL, 0},
    {"expired long ago", "HS256", TSJ_HS256, 0, -3600, 0, NULL, GW_AUTH_EEXPIRED},
    {"expired 29 s ago: inside the 30 s leeway", "HS256", TSJ_HS256, 0, -29, 0, NULL, 0},
    {"expired 30 s ago: leeway used up", "HS256", TSJ_HS256, 0, -30, 0, NULL, GW_AUTH_EEXPIRED},
    {"expired 31 s ago", "HS256", TSJ_HS256, 0, -31, 0, NULL, GW_AUTH_EEXPIRED},
    {"nbf in 29 s: inside the leeway", "HS256", TSJ_HS256, 0, 600, 29, NULL, 0},
    {"nbf in 30 s: the leeway's edge", "HS256", TSJ_HS256, 0, 600, 30, NULL, 0},
    {"nbf in 31 s: not yet valid", "HS256", TSJ_HS256, 0, 600, 31, NULL, GW_AUTH_ENOTYET},
    {"wrong secret", "HS256", TSJ_HS256, 1, 60, 0, NULL, GW_AUTH_ESIG},
    {"RS256 token at an HS256 gateway", "RS256", TSJ_RS256, 2, 60, 0, NULL, GW_AUTH_EALG},
    {"ES256 token at an HS256 gateway", "ES256", TSJ_ES256, 4, 60, 0, NULL, GW_AUTH_EALG},
    {"HS512 header", "HS512", TSJ_HS256, 0, 60, 0, NULL, GW_AUTH_EALG},
    {"alg none, unsigned", "none", TSJ_UNSIGNED, 0, 60, 0, NULL, GW_AUTH_EALG},
    {"alg None, unsigned", "None", TSJ_UNSIGNED, 0, 60, 0, NULL, GW_AUTH_EALG},
    {"alg hs256 (case)", "hs256", TSJ_HS256, 0, 60, 0, NULL, GW_AUTH_EALG},
    {"HS256 header, no signature", "HS256", TSJ_UNSIGNED, 0, 60, 0, NULL, GW_AUTH_ESIG},
    {"channels not an array", "HS256", TSJ_HS256, 0, 60, 0, ",\"channels\":\"events.*\"", GW_AUTH_ECLAIMS},
    {"a bad channel pattern", "HS256", TSJ_HS256, 0, 60, 0, ",\"channels\":[\"a b\"]", GW_AUTH_ECLAIMS},
    {"publish not an array", "HS256", TSJ_HS256, 0, 60, 0, ",\"publish\":1", GW_AUTH_ECLAIMS},
    {"exp a string", "HS256", TSJ_HS256, 0, 0, 0, ",\"exp\":\"soon\"", GW_AUTH_ECLAIMS},
    {"sub a number", "HS256", TSJ_HS256, 0, 60, 0, ",\"subject\":1,\"sub\":7", GW_AUTH_EMALFORMED},
    {"info not an object", "HS256", TSJ_HS256, 0, 60, 0, ",\"info\":\"Ann\"", GW_AUTH_ECLAIMS},
};

START_TEST(test_verify_hs256)
{
    const vcase *c = &hs_cases[_i];
    gw_auth *a = make_auth(secret_path, NULL, NULL, NULL, NULL);
    ck_assert_str_eq(gw_auth_algorithm(a), "HS256");
    long now = now_s();
    char *tok = make_token(c, now);
    ck_assert_ptr_nonnull(tok);
    gw_principal *p = NULL;
    int rc = gw_auth_verify(a, tok, strlen(tok), now, &p);
    ck_assert_msg(rc == c->want, "%s: got %d (%s), want %d (%s)", c->name, rc, gw_auth_reason(rc), c->want,
                  gw_auth_reason(c->want));
    ck_assert(rc == 0 ? p != NULL : p == NULL);
    if (p) {
        ck_assert_str_eq(p->sub, "42");
        ck_assert_int_eq(p->exp, c->exp_off ? now + c->exp_off : 0);
    }
    /* the reason never carries the key */
    ck_assert_ptr_null(strstr(gw_auth_reason(rc), "0123456789abcdef"));
    gw_auth_principal_free(p);
    free(tok);
    gw_auth_free(a);
}
END_TEST

START_TEST(test_verify_claims_copied)
{
    gw_auth *a = make_auth(secret_path, NULL, "HS256", NULL, NULL);
    vcase c = {"claims", "HS256", TSJ_HS256, 0, 60, 0,
               ",\"channels\":[\"events.*\",\"prices.btc\"],\"publish\":[\"chat.*\"],\"name\":\"x\"", 0};
    char *tok = make_token(&c, now_s());
    gw_principal *p = NULL;
    ck_assert_int_eq(gw_auth_verify(a, tok, strlen(tok), now_s(), &p), 0);
    ck_assert_int_eq(p->n_channels, 2);
    ck_assert_int_eq(p->n_publish, 1);
    ck_assert_str_eq(p->pats[0], "events.*");
    ck_assert_str_eq(p->pats[1], "prices.btc");
    ck_assert_str_eq(p->pats[2], "chat.*");
    ck_assert_ptr_null(p->info);
    free(tok);
    gw_auth_principal_free(p);
    /* "info" (presence entries carry it): kept as compact JSON, bounded */
    c.extra = ",\"info\":{ \"name\" : \"Ann\", \"n\": [1, 2] }";
    tok = make_token(&c, now_s());
    ck_assert_int_eq(gw_auth_verify(a, tok, strlen(tok), now_s(), &p), 0);
    ck_assert_str_eq(p->info, "{\"name\":\"Ann\",\"n\":[1,2]}");
    ck_assert_str_eq(p->sub, "42");
    free(tok);
    gw_auth_principal_free(p);
    char big[GW_AUTH_INFO_MAX + 64];
    snprintf(big, sizeof big, ",\"info\":{\"x\":\"%0*d\"}", GW_AUTH_INFO_MAX, 0);
    c.extra = big;
    tok = make_token(&c, now_s());
    ck_assert_int_eq(gw_auth_verify(a, tok, strlen(tok), now_s(), &p), GW_AUTH_ECLAIMS);
    p = NULL;
    free(tok);
    gw_auth_principal_free(p);
    gw_auth_free(a);
}
END_TEST

/* issue 13.6: a far-future exp (any double) is clamped, and the deadline saturates */
START_TEST(test_far_future_exp)
{
    gw_auth *a = make_auth(secret_path, NULL, "HS256", NULL, NULL);
    const char *exps[] = {"9200000000000000000", "1e19", "1e300", "1.8e19"};
    for (size_t i = 0; i < sizeof exps / sizeof exps[0]; i++) {
        char extra[64];
        snprintf(extra, sizeof extra, ",\"exp\":%s", exps[i]);
        vcase c = {"far", "HS256", TSJ_HS256, 0, 0, 0, extra, 0};
        char *tok = make_token(&c, now_s());
        gw_principal *p = NULL;
        ck_assert_msg(gw_auth_verify(a, tok, strlen(tok), now_s(), &p) == 0, "exp %s refused", exps[i]);
        ck_assert_msg(p->exp == GW_AUTH_EXP_MAX, "exp %s kept as %lld", exps[i], (long long)p->exp);
        free(tok);
        gw_auth_principal_free(p);
    }
    gw_auth_free(a);
    const int64_t mono = 5000, now = 1700000000;
    ck_assert_int_eq(gw_auth_deadline_ms(0, 30, now, mono), 0);
    ck_assert_int_eq(gw_auth_deadline_ms(now + 10, 30, now, mono), mono + 40000);
    ck_assert_int_eq(gw_auth_deadline_ms(now - 100, 30, now, mono), mono);
    ck_assert(gw_auth_deadline_ms(GW_AUTH_EXP_MAX, 30, now, mono) > mono + (GW_AUTH_EXP_MAX - now) * 999);
    ck_assert_int_eq(gw_auth_deadline_ms(INT64_MAX, INT64_MAX, now, mono), INT64_MAX);
    ck_assert_int_eq(gw_auth_deadline_ms(INT64_MAX / 1000, 0, 0, INT64_MAX - 10), INT64_MAX);
    ck_assert_int_eq(gw_auth_deadline_ms(INT64_MIN + 1, 30, now, mono), mono);
}
END_TEST

/* issue 13.7: Host (DNS rebinding) and Origin (cross-site) of admin requests */
START_TEST(test_admin_host_origin)
{
    static const struct { const char *bind, *host; bool ok; } hosts[] = {
        {"127.0.0.1", NULL, true},           {"127.0.0.1", "127.0.0.1:9090", true},
        {"127.0.0.1", "localhost:9090", true}, {"127.0.0.1", "LOCALHOST", true},
        {"127.0.0.1", "[::1]:9090", true},   {"127.0.0.1", "127.8.9.10", true},
        {"127.0.0.1", "rebind.evil.example", false}, {"127.0.0.1", "127.evil.example:9090", false},
        {"127.0.0.1", "10.0.0.5:9090", false}, {"127.0.0.1", "", false},
        {"10.0.0.5", "10.0.0.5:9090", true}, {"10.0.0.5", "10.0.0.6:9090", false},
        {"0.0.0.0", "gateway-1:9090", true}, {"::", "anything", true},
        {"::1", "[::1]", true},              {"::1", "[::2]:1", false},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        ck_assert_msg(gw_auth_admin_host_ok(hosts[i].bind, hosts[i].host) == hosts[i].ok, "bind %s host %s",
                      hosts[i].bind, hosts[i].host ? hosts[i].host : "(none)");
    ck_assert(gw_auth_admin_origin_ok(NULL, "127.0.0.1:9090"));
    ck_assert(gw_auth_admin_origin_ok("http://127.0.0.1:9090", "127.0.0.1:9090"));
    ck_assert(!gw_auth_admin_origin_ok("https://evil.example", "127.0.0.1:9090"));
    ck_assert(!gw_auth_admin_origin_ok("null", "127.0.0.1:9090"));
    ck_assert(!gw_auth_admin_origin_ok("http://127.0.0.1:9090", NULL));
    ck_assert(!gw_auth_admin_origin_ok("http://127.0.0.1:9091", "127.0.0.1:9090"));

    /* the admin page's CSP names the host it was loaded from, or any host */
    static const struct { const char *host, *want; } csp[] = {
        {"127.0.0.1:9090", "127.0.0.1"}, {"localhost", "localhost"}, {"gw-1.example:1", "gw-1.example"},
        {"[::1]:9090", "*"}, {NULL, "*"}, {"", "*"}, {":9090", "*"}, {"a b", "*"}, {"evil'; x", "*"},
        {"h\"x", "*"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof csp / sizeof csp[0]; i++) {
        gw_auth_csp_host(csp[i].host, out, sizeof out);
        ck_assert_msg(strcmp(out, csp[i].want) == 0, "csp host %s: %s", csp[i].host ? csp[i].host : "(none)", out);
    }
    gw_auth_csp_host("abcdefgh.example", out, 8); /* does not fit */
    ck_assert_str_eq(out, "*");
}
END_TEST

START_TEST(test_verify_malformed_and_missing)
{
    gw_auth *a = make_auth(secret_path, NULL, NULL, NULL, NULL);
    vcase c = {"valid", "HS256", TSJ_HS256, 0, 60, 0, NULL, 0};
    char *good = make_token(&c, now_s());
    gw_principal *p = NULL;
    ck_assert_int_eq(gw_auth_verify(a, "", 0, now_s(), &p), GW_AUTH_EMISSING);
    ck_assert_int_eq(gw_auth_verify(a, NULL, 0, now_s(), &p), GW_AUTH_EMISSING);
    const char *bad[] = {"abc", "a.b", "a.b.c.d", "!!!.###.$$$", "e30", "e30.e30", "...",
                         /* header not JSON / payload an array */
                         "bm90IGpzb24.e30.c2ln", "e30.W10.c2ln"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(gw_auth_verify(a, bad[i], strlen(bad[i]), now_s(), &p) == GW_AUTH_EMALFORMED, "%s", bad[i]);
    /* a good token with a byte of payload changed: signature fails */
    char *tampered = strdup(good);
    char *dot = strchr(tampered, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    int rc = gw_auth_verify(a, tampered, strlen(tampered), now_s(), &p);
    ck_assert_msg(rc == GW_AUTH_ESIG || rc == GW_AUTH_EMALFORMED, "tampered: %d", rc);
    /* a token with an embedded NUL, or over the size cap */
    ck_assert_int_eq(gw_auth_verify(a, good, strlen(good) + 1, now_s(), &p), GW_AUTH_EMALFORMED);
    char *huge = calloc(GW_AUTH_TOKEN_MAX + 10, 1);
    memset(huge, 'a', GW_AUTH_TOKEN_MAX + 5);
    ck_assert_int_eq(gw_auth_verify(a, huge, strlen(huge), now_s(), &p), GW_AUTH_EMALFORMED);
    ck_assert_int_eq(gw_auth_verify(a, good, strlen(good), now_s(), &p), 0);
    gw_auth_principal_free(p);
    free(huge);
    free(tampered);
    free(good);
    gw_auth_free(a);
}
END_TEST

static const vcase rs_cases[] = {
    {"valid RS256", "RS256", TSJ_RS256, 2, 60, 0, NULL, 0},
    {"another RSA key", "RS256", TSJ_RS256, 3, 60, 0, NULL, GW_AUTH_ESIG},
    {"HS256 signed with the public key's PEM (confusion)", "HS256", TSJ_HS256, 5, 60, 0, NULL, GW_AUTH_EALG},
    {"HS256 with a secret", "HS256", TSJ_HS256, 0, 60, 0, NULL, GW_AUTH_EALG},
    {"ES256 token", "ES256", TSJ_ES256, 4, 60, 0, NULL, GW_AUTH_EALG},
    {"alg none", "none", TSJ_UNSIGNED, 0, 60, 0, NULL, GW_AUTH_EALG},
    {"RS256 header, ES signature", "RS256", TSJ_ES256, 4, 60, 0, NULL, GW_AUTH_ESIG},
    {"expired", "RS256", TSJ_RS256, 2, -100, 0, NULL, GW_AUTH_EEXPIRED},
};

START_TEST(test_verify_rs256)
{
    const vcase *c = &rs_cases[_i];
    gw_auth *a = make_auth(NULL, rsa_pub_path, NULL, NULL, NULL);
    ck_assert_str_eq(gw_auth_algorithm(a), "RS256");
    long now = now_s();
    char *tok = make_token(c, now);
    gw_principal *p = NULL;
    int rc = gw_auth_verify(a, tok, strlen(tok), now, &p);
    ck_assert_msg(rc == c->want, "%s: got %d (%s), want %d", c->name, rc, gw_auth_reason(rc), c->want);
    gw_auth_principal_free(p);
    free(tok);
    gw_auth_free(a);
}
END_TEST

START_TEST(test_verify_es256)
{
    gw_auth *a = make_auth(NULL, ec_pub_path, NULL, NULL, NULL);
    ck_assert_str_eq(gw_auth_algorithm(a), "ES256");
    vcase ok = {"valid ES256", "ES256", TSJ_ES256, 4, 60, 0, NULL, 0};
    vcase rs = {"RS256 at ES", "RS256", TSJ_RS256, 2, 60, 0, NULL, GW_AUTH_EALG};
    const vcase *cs[] = {&ok, &rs};
    for (int i = 0; i < 2; i++) {
        char *tok = make_token(cs[i], now_s());
        gw_principal *p = NULL;
        int rc = gw_auth_verify(a, tok, strlen(tok), now_s(), &p);
        ck_assert_msg(rc == cs[i]->want, "%s: got %d (%s)", cs[i]->name, rc, gw_auth_reason(rc));
        gw_auth_principal_free(p);
        free(tok);
    }
    gw_auth_free(a);
}
END_TEST

START_TEST(test_verify_aud_iss)
{
    gw_auth *a = make_auth(secret_path, NULL, NULL, "pulse", "https://issuer.test");
    struct {
        const char *extra;
        int want;
    } t[] = {
        {",\"aud\":\"pulse\",\"iss\":\"https://issuer.test\"", 0},
        {",\"aud\":[\"x\",\"pulse\"],\"iss\":\"https://issuer.test\"", 0},
        {",\"aud\":\"other\",\"iss\":\"https://issuer.test\"", GW_AUTH_EAUD},
        {",\"iss\":\"https://issuer.test\"", GW_AUTH_EAUD},
        {",\"aud\":\"pulse\",\"iss\":\"https://evil.test\"", GW_AUTH_EISS},
        {",\"aud\":\"pulse\"", GW_AUTH_EISS},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        vcase c = {"aud/iss", "HS256", TSJ_HS256, 0, 60, 0, t[i].extra, 0};
        char *tok = make_token(&c, now_s());
        gw_principal *p = NULL;
        int rc = gw_auth_verify(a, tok, strlen(tok), now_s(), &p);
        ck_assert_msg(rc == t[i].want, "%s: got %d want %d", t[i].extra, rc, t[i].want);
        gw_auth_principal_free(p);
        free(tok);
    }
    gw_auth_free(a);
}
END_TEST

/* ---- key loading errors ---- */

START_TEST(test_key_errors)
{
    char short_path[160];
    snprintf(short_path, sizeof short_path, "%s/short", dir);
    ck_assert_int_eq(tsj_write_file(short_path, "tooshort\n", 9), 0);
    struct {
        const char *secret, *pub, *alg, *owner, *cert, *key, *want;
    } t[] = {
        {short_path, NULL, NULL, NULL, NULL, NULL, "at least 32 bytes"},
        {secret_path, rsa_pub_path, NULL, NULL, NULL, NULL, "not both"},
        {secret_path, NULL, "RS256", NULL, NULL, NULL, "needs auth.jwt_public_key"},
        {NULL, rsa_pub_path, "HS256", NULL, NULL, NULL, "does not fit the RSA key"},
        {NULL, rsa_pub_path, "ES256", NULL, NULL, NULL, "does not fit the RSA key"},
        {NULL, ec_pub_path, "RS256", NULL, NULL, NULL, "does not fit the EC key"},
        {NULL, secret_path, NULL, NULL, NULL, NULL, "not a PEM public key"},
        {NULL, NULL, "HS256", NULL, NULL, NULL, "there is no key"},
        {secret_path, NULL, "none", NULL, NULL, NULL, "must be HS256"},
        {"/nonexistent/secret", NULL, NULL, NULL, NULL, NULL, "cannot read"},
        {secret_path, NULL, NULL, "feed:user-", NULL, NULL, "{sub} once"},
        {secret_path, NULL, NULL, "feed:*-{sub}", NULL, NULL, "{sub} once"},
        {NULL, NULL, NULL, NULL, secret_path, NULL, "go together"},
        {NULL, NULL, NULL, NULL, "/nonexistent/cert", "/nonexistent/key", "cannot read"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        gw_config cfg;
        pulse_error err = {0};
        gw_config_defaults(&cfg);
        cfg.auth_jwt_secret_file = t[i].secret ? strdup(t[i].secret) : NULL;
        cfg.auth_jwt_public_key = t[i].pub ? strdup(t[i].pub) : NULL;
        cfg.auth_algorithm = t[i].alg ? strdup(t[i].alg) : NULL;
        if (t[i].owner) {
            free(cfg.auth_owner_pattern);
            cfg.auth_owner_pattern = strdup(t[i].owner);
        }
        cfg.tls_cert = t[i].cert ? strdup(t[i].cert) : NULL;
        cfg.tls_key = t[i].key ? strdup(t[i].key) : NULL;
        gw_auth *a = (gw_auth *)1;
        int rc = gw_auth_new(&cfg, &a, &err);
        ck_assert_msg(rc < 0 && a == NULL, "case %zu: want an error", i);
        ck_assert_msg(strstr(err.text, t[i].want) != NULL, "case %zu: '%s' lacks '%s'", i, err.text, t[i].want);
        ck_assert_ptr_null(strstr(err.text, "0123456789abcdef"));
        gw_config_free(&cfg);
    }
    unlink(short_path);
    /* auth off: a context all the same, everything open but WebSocket publishing */
    gw_config cfg;
    pulse_error err = {0};
    gw_config_defaults(&cfg);
    gw_auth *a = NULL;
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert(!gw_auth_enabled(a));
    ck_assert_str_eq(gw_auth_algorithm(a), "off");
    ck_assert(gw_auth_may_subscribe(a, NULL, "anything", false));
    ck_assert(gw_auth_may_subscribe(a, NULL, "*", true));
    ck_assert(!gw_auth_may_publish(a, NULL, "chat.x"));
    gw_auth_free(a);
    gw_config_free(&cfg);
}
END_TEST

/* ---- authorization ---- */

static gw_principal *principal(gw_auth *a, const char *claims)
{
    char payload[1024];
    snprintf(payload, sizeof payload, "{\"exp\":%ld%s}", now_s() + 600, claims);
    char *tok = tsj_make("HS256", payload, TSJ_HS256, secret, strlen(secret), NULL);
    gw_principal *p = NULL;
    int rc = gw_auth_verify(a, tok, strlen(tok), now_s(), &p);
    ck_assert_msg(rc == 0, "token for %s: %s", claims, gw_auth_reason(rc));
    free(tok);
    return p;
}

START_TEST(test_authorize_subscribe)
{
    gw_auth *a = make_auth(secret_path, NULL, NULL, NULL, NULL);
    gw_principal *p = principal(a, ",\"sub\":\"42\",\"channels\":[\"events.*\",\"prices.btc\",\"feed:*\"]");
    struct {
        const char *name;
        bool pattern, want;
    } t[] = {
        {"events.critical", false, true},
        {"events.", false, true},
        {"alerts.disk", false, false},
        {"prices.btc", false, true},
        {"prices.eth", false, false},
        {"feed:general", false, true},          /* feed:* granted, not an owned channel */
        {"feed:user-42", false, true},          /* owner */
        {"feed:user-43", false, false},         /* owner rule beats the feed:* grant */
        {"feed:user-4", false, false},
        {"feed:user-420", false, false},
        {"feed:user-", false, false},           /* the empty sub is nobody's */
        {"notifications:user-42", false, true}, /* owner, no claim needed */
        {"notifications:user-7", false, false},
        {"events.*", true, true},               /* exactly the grant */
        {"events.crit*", true, true},           /* narrower */
        {"events.*.x", true, true},
        {"ev*", true, false},                   /* wider than events.* */
        {"*", true, false},
        {"prices.*", true, false},
        {"feed:*", true, false},                /* could reach feed:user-43 */
        {"feed:user-42*", true, false},         /* reaches feed:user-420 */
        {"feed:g*", true, true},                /* cannot reach feed:user-* */
        {"notifications:*", true, false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        ck_assert_msg(gw_auth_may_subscribe(a, p, t[i].name, t[i].pattern) == t[i].want, "%s%s: want %s",
                      t[i].name, t[i].pattern ? " (pattern)" : "", t[i].want ? "allowed" : "forbidden");
    /* not authenticated: nothing */
    ck_assert(!gw_auth_may_subscribe(a, NULL, "events.critical", false));
    gw_auth_principal_free(p);

    /* no sub: owned channels are nobody's; no channels claim: nothing else either */
    p = principal(a, ",\"channels\":[\"*\"]");
    ck_assert(!gw_auth_may_subscribe(a, p, "feed:user-42", false));
    ck_assert(gw_auth_may_subscribe(a, p, "anything.else", false));
    ck_assert(!gw_auth_may_subscribe(a, p, "*", true));
    ck_assert(gw_auth_may_subscribe(a, p, "events.*", true));
    gw_auth_principal_free(p);
    p = principal(a, ",\"sub\":\"42\"");
    ck_assert(!gw_auth_may_subscribe(a, p, "events.critical", false));
    ck_assert(gw_auth_may_subscribe(a, p, "feed:user-42", false));
    gw_auth_principal_free(p);
    gw_auth_free(a);
}
END_TEST

START_TEST(test_authorize_owner_pattern_config)
{
    gw_config cfg;
    pulse_error err = {0};
    gw_config_defaults(&cfg);
    cfg.auth_jwt_secret_file = strdup(secret_path);
    free(cfg.auth_owner_pattern);
    cfg.auth_owner_pattern = strdup("user.{sub}.inbox, dm:{sub}");
    gw_auth *a = NULL;
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    gw_principal *p = principal(a, ",\"sub\":\"ann\",\"channels\":[\"*\"]");
    ck_assert(gw_auth_may_subscribe(a, p, "user.ann.inbox", false));
    ck_assert(!gw_auth_may_subscribe(a, p, "user.bob.inbox", false));
    ck_assert(gw_auth_may_subscribe(a, p, "dm:ann", false));
    ck_assert(!gw_auth_may_subscribe(a, p, "dm:bob", false));
    ck_assert(gw_auth_may_subscribe(a, p, "feed:user-9", false)); /* default rule replaced */
    ck_assert(!gw_auth_may_subscribe(a, p, "user.*", true));
    gw_auth_principal_free(p);
    gw_auth_free(a);
    gw_config_free(&cfg);

    /* "" turns the owner rule off */
    gw_config_defaults(&cfg);
    cfg.auth_jwt_secret_file = strdup(secret_path);
    free(cfg.auth_owner_pattern);
    cfg.auth_owner_pattern = strdup("");
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    p = principal(a, ",\"sub\":\"42\",\"channels\":[\"feed:*\"]");
    ck_assert(gw_auth_may_subscribe(a, p, "feed:user-43", false));
    ck_assert(gw_auth_may_subscribe(a, p, "feed:*", true));
    gw_auth_principal_free(p);
    gw_auth_free(a);
    gw_config_free(&cfg);
}
END_TEST

START_TEST(test_authorize_publish)
{
    gw_auth *a = make_auth(secret_path, NULL, NULL, NULL, NULL);
    gw_principal *p = principal(a, ",\"sub\":\"42\",\"channels\":[\"*\"],\"publish\":[\"chat.*\",\"feed:*\"]");
    ck_assert(gw_auth_may_publish(a, p, "chat.room1"));
    ck_assert(!gw_auth_may_publish(a, p, "chat.*"));           /* never a pattern */
    ck_assert(!gw_auth_may_publish(a, p, "events.critical"));  /* subscribe grant is not publish */
    ck_assert(gw_auth_may_publish(a, p, "feed:user-42"));
    ck_assert(!gw_auth_may_publish(a, p, "feed:user-43"));     /* owner rule */
    ck_assert(!gw_auth_may_publish(a, NULL, "chat.room1"));
    gw_auth_principal_free(p);
    p = principal(a, ",\"sub\":\"42\",\"channels\":[\"*\"]");
    ck_assert(!gw_auth_may_publish(a, p, "chat.room1"));       /* off unless granted */
    ck_assert(!gw_auth_may_publish(a, p, "feed:user-42"));
    gw_auth_principal_free(p);
    gw_auth_free(a);
}
END_TEST

START_TEST(test_pattern_relations)
{
    struct {
        const char *outer, *inner;
        bool covers, overlap;
    } t[] = {
        {"events.*", "events.*", true, true},
        {"events.*", "events.a*", true, true},
        {"events.*", "events.a", true, true},
        {"events.*", "ev*", false, true},
        {"events.*", "*", false, true},
        {"*", "anything*", true, true},
        {"a*b", "a*x*b", true, true},
        {"a*b", "a*", false, true},
        {"feed:user-*", "feed:*", false, true},
        {"feed:user-*", "feed:g*", false, false},
        {"feed:user-*", "feed:user-42*", true, true},
        {"feed:user-*", "*:user-*", false, true},
        {"abc", "abd", false, false},
        {"a*", "b*", false, false},
        {"*x", "y*", false, true},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ck_assert_msg(gw_auth_pattern_covers(t[i].outer, t[i].inner) == t[i].covers, "covers(%s, %s)",
                      t[i].outer, t[i].inner);
        ck_assert_msg(gw_auth_patterns_overlap(t[i].outer, t[i].inner) == t[i].overlap, "overlap(%s, %s)",
                      t[i].outer, t[i].inner);
        ck_assert_msg(gw_auth_patterns_overlap(t[i].inner, t[i].outer) == t[i].overlap, "overlap(%s, %s)",
                      t[i].inner, t[i].outer);
    }
}
END_TEST

/* ---- admin key, origins, per-IP, rate ---- */

START_TEST(test_admin_key)
{
    gw_config cfg;
    pulse_error err = {0};
    gw_config_defaults(&cfg);
    gw_auth *a = NULL;
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert(!gw_auth_admin_has_key(a));
    ck_assert_int_eq(gw_auth_admin_check(a, NULL, true), 0); /* no key: loopback-only, open */
    gw_auth_free(a);

    cfg.admin_api_key = strdup("short");
    ck_assert_int_lt(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert_ptr_null(strstr(err.text, "short"));
    free(cfg.admin_api_key);
    cfg.admin_api_key = strdup("k3y-k3y-k3y-k3y-k3y-k3y");
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert(gw_auth_admin_has_key(a));
    ck_assert_int_eq(gw_auth_admin_check(a, NULL, true), -1);
    ck_assert_int_eq(gw_auth_admin_check(a, "Bearer wrong", true), -1);
    ck_assert_int_eq(gw_auth_admin_check(a, "Bearer k3y-k3y-k3y-k3y-k3y-k3", true), -1);
    ck_assert_int_eq(gw_auth_admin_check(a, "Bearer k3y-k3y-k3y-k3y-k3y-k3yy", true), -1);
    ck_assert_int_eq(gw_auth_admin_check(a, "Basic k3y-k3y-k3y-k3y-k3y-k3y", true), -1);
    ck_assert_int_eq(gw_auth_admin_check(a, "k3y-k3y-k3y-k3y-k3y-k3y", true), -1);
    ck_assert_int_eq(gw_auth_admin_check(a, "Bearer k3y-k3y-k3y-k3y-k3y-k3y", true), 0);
    ck_assert_int_eq(gw_auth_admin_check(a, "bearer  k3y-k3y-k3y-k3y-k3y-k3y ", true), 0);
    /* issue 13.8: with a key, reads need it by default (/healthz aside) */
    ck_assert_int_eq(gw_auth_admin_check(a, NULL, false), -1);
    ck_assert(!gw_auth_admin_health_protected(a));
    gw_auth_free(a);

    cfg.admin_protect_reads = 0;
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert_int_eq(gw_auth_admin_check(a, NULL, false), 0); /* opened on purpose */
    gw_auth_free(a);

    cfg.admin_protect_reads = 1;
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert(gw_auth_admin_health_protected(a));
    ck_assert_int_eq(gw_auth_admin_check(a, NULL, false), -1);
    ck_assert_int_eq(gw_auth_admin_check(a, "Bearer k3y-k3y-k3y-k3y-k3y-k3y", false), 0);
    gw_auth_free(a);

    /* a file and a value at once: refused */
    char kp[160];
    snprintf(kp, sizeof kp, "%s/admin.key", dir);
    ck_assert_int_eq(tsj_write_file(kp, "file-key-file-key-file-key\n", 27), 0);
    cfg.admin_api_key_file = strdup(kp);
    ck_assert_int_lt(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.text, "not both"));
    free(cfg.admin_api_key);
    cfg.admin_api_key = NULL;
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert_int_eq(gw_auth_admin_check(a, "Bearer file-key-file-key-file-key", false), 0);
    gw_auth_free(a);
    unlink(kp);
    gw_config_free(&cfg);
}
END_TEST

START_TEST(test_origins_ip_rate)
{
    gw_config cfg;
    pulse_error err = {0};
    gw_config_defaults(&cfg);
    gw_auth *a = NULL;
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert(gw_auth_origin_allowed(a, "https://evil.example")); /* no list: any */
    gw_limits *l = gw_limits_new(cfg.max_connections_per_ip);
    ck_assert(!gw_limits_ip_full(l, "10.0.0.1"));
    ck_assert_uint_eq(gw_limits_ip_acquire(l, "10.0.0.1"), 0); /* off: not counted */
    gw_limits_free(l);
    gw_auth_free(a);

    cfg.ws_allowed_origins = strdup("https://app.example, http://localhost:3000");
    cfg.max_connections_per_ip = 2;
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert(gw_auth_origin_allowed(a, "https://app.example"));
    ck_assert(gw_auth_origin_allowed(a, "HTTPS://APP.EXAMPLE"));
    ck_assert(gw_auth_origin_allowed(a, "http://localhost:3000"));
    ck_assert(!gw_auth_origin_allowed(a, "https://app.example.evil"));
    ck_assert(!gw_auth_origin_allowed(a, "http://localhost"));
    ck_assert(gw_auth_origin_allowed(a, NULL)); /* no Origin: not a browser */

    l = gw_limits_new(cfg.max_connections_per_ip);
    uint64_t k1 = gw_limits_ip_acquire(l, "10.0.0.1");
    ck_assert(!gw_limits_ip_full(l, "10.0.0.1"));
    uint64_t k2 = gw_limits_ip_acquire(l, "10.0.0.1");
    ck_assert(gw_limits_ip_full(l, "10.0.0.1"));
    ck_assert(!gw_limits_ip_full(l, "10.0.0.2"));
    gw_limits_ip_release(l, k1);
    ck_assert(!gw_limits_ip_full(l, "10.0.0.1"));
    gw_limits_ip_release(l, k2);
    gw_limits_ip_release(l, k2); /* a stray release stays harmless */
    ck_assert(!gw_limits_ip_full(l, "10.0.0.1"));
    gw_limits_free(l);
    gw_auth_free(a);
    gw_config_free(&cfg);

    /* 5 per second: a burst of 10, then refusals, refilled at 5 per second */
    gw_ratelimit rl = {0};
    int64_t t = 1000000;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(gw_ratelimit_take(&rl, 5, t), GW_RL_OK);
    ck_assert_int_eq(gw_ratelimit_take(&rl, 5, t), GW_RL_LIMITED);
    t += 1000;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(gw_ratelimit_take(&rl, 5, t), GW_RL_OK);
    ck_assert_int_eq(gw_ratelimit_take(&rl, 5, t), GW_RL_LIMITED);
    /* sustained: refusals pile up past 2 x rate + 10 -> abuse */
    int verdict = GW_RL_OK;
    for (int i = 0; i < 100 && verdict != GW_RL_ABUSE; i++)
        verdict = gw_ratelimit_take(&rl, 5, t);
    ck_assert_int_eq(verdict, GW_RL_ABUSE);
    gw_ratelimit off = {0};
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(gw_ratelimit_take(&off, 0, t), GW_RL_OK);
}
END_TEST

START_TEST(test_exposure)
{
    gw_config cfg;
    pulse_error err = {0};
    gw_config_defaults(&cfg);
    gw_auth *a = NULL;
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert_int_eq(gw_auth_check_exposure(&cfg, a, &err), 0); /* loopback: fine */
    free(cfg.bind);
    cfg.bind = strdup("0.0.0.0");
    ck_assert_int_lt(gw_auth_check_exposure(&cfg, a, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.text, "auth off"));
    ck_assert_ptr_nonnull(strstr(err.text, "--insecure"));
    cfg.insecure = 1;
    ck_assert_int_eq(gw_auth_check_exposure(&cfg, a, &err), 0);
    cfg.insecure = 0;
    gw_auth_free(a);
    cfg.auth_jwt_secret_file = strdup(secret_path);
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert_int_eq(gw_auth_check_exposure(&cfg, a, &err), 0); /* auth on */
    free(cfg.admin_bind);
    cfg.admin_bind = strdup("10.1.2.3");
    ck_assert_int_lt(gw_auth_check_exposure(&cfg, a, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.text, "admin"));
    gw_auth_free(a);
    cfg.admin_api_key = strdup("k3y-k3y-k3y-k3y-k3y-k3y");
    ck_assert_int_eq(gw_auth_new(&cfg, &a, &err), 0);
    ck_assert_int_eq(gw_auth_check_exposure(&cfg, a, &err), 0);
    gw_auth_free(a);
    gw_config_free(&cfg);
    ck_assert(gw_auth_is_loopback("127.0.0.1"));
    ck_assert(gw_auth_is_loopback("127.1.2.3"));
    ck_assert(gw_auth_is_loopback("::1"));
    ck_assert(gw_auth_is_loopback("localhost"));
    ck_assert(gw_auth_is_loopback("[::1]"));
    ck_assert(gw_auth_is_loopback("::ffff:127.0.0.1"));
    ck_assert(!gw_auth_is_loopback("127.evil.example")); /* a name, not an address */
    ck_assert(!gw_auth_is_loopback("128.0.0.1"));
    ck_assert(!gw_auth_is_loopback(""));
    ck_assert(!gw_auth_is_loopback("0.0.0.0"));
    ck_assert(!gw_auth_is_loopback("*"));
    ck_assert(!gw_auth_is_loopback("::"));
    ck_assert(!gw_auth_is_loopback("192.168.1.1"));
}
END_TEST

/* ---- what this adds to gw_config and gw_proto ---- */

START_TEST(test_config_keys)
{
    gw_config cfg;
    pulse_error err = {0};
    gw_config_defaults(&cfg);
    ck_assert_int_eq(cfg.auth_leeway_s, 30);
    ck_assert_int_eq(cfg.auth_handshake_timeout_ms, 5000);
    ck_assert_int_eq(cfg.commands_per_second, 50);
    ck_assert_int_eq(cfg.max_connections_per_ip, 0);
    ck_assert_int_eq(cfg.insecure, 0);
    ck_assert_str_eq(cfg.auth_owner_pattern, "feed:user-{sub},notifications:user-{sub}");
    char conf[160];
    snprintf(conf, sizeof conf, "%s/pulse.conf", dir);
    const char text[] = "auth = { leeway_s = 5; audience = \"pulse\"; };\n"
                        "admin = { protect_reads = true; };\n"
                        "ws = { allowed_origins = \"https://a.example\"; };\n"
                        "limits = { commands_per_second = 7; max_connections_per_ip = 3; };\n"
                        "insecure = false;\n";
    ck_assert_int_eq(tsj_write_file(conf, text, strlen(text)), 0);
    const char *env[] = {"PULSE_INSECURE=1", "PULSE_ADMIN_API_KEY=from-env-from-env-1", NULL};
    const char *argv[] = {"pulse-gateway", "--config", conf, "--jwt-secret-file", secret_path, "--tls-cert=/c",
                    "--tls-key", "/k", "--auth.algorithm", "HS256", NULL};
    int rc = gw_config_load(&cfg, NULL, (char *const *)env, 10, (char *const *)argv, &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    ck_assert_int_eq(cfg.auth_leeway_s, 5);
    ck_assert_str_eq(cfg.auth_audience, "pulse");
    ck_assert_int_eq(cfg.admin_protect_reads, 1);
    ck_assert_str_eq(cfg.ws_allowed_origins, "https://a.example");
    ck_assert_int_eq(cfg.commands_per_second, 7);
    ck_assert_int_eq(cfg.max_connections_per_ip, 3);
    ck_assert_int_eq(cfg.insecure, 1); /* env over file */
    ck_assert_str_eq(cfg.admin_api_key, "from-env-from-env-1");
    ck_assert_str_eq(cfg.auth_jwt_secret_file, secret_path);
    ck_assert_str_eq(cfg.auth_algorithm, "HS256");
    ck_assert_str_eq(cfg.tls_cert, "/c");
    ck_assert_str_eq(cfg.tls_key, "/k");
    /* a bare --insecure, and --insecure=false */
    const char *argv2[] = {"pulse-gateway", "--insecure=false", NULL};
    ck_assert_int_eq(gw_config_load(&cfg, NULL, NULL, 2, (char *const *)argv2, &err), 0);
    ck_assert_int_eq(cfg.insecure, 0);
    const char *argv3[] = {"pulse-gateway", "--insecure", "--port", "1", NULL};
    ck_assert_int_eq(gw_config_load(&cfg, NULL, NULL, 4, (char *const *)argv3, &err), 0);
    ck_assert_int_eq(cfg.insecure, 1);
    ck_assert_int_eq(cfg.port, 1);
    const char *bad[] = {"PULSE_INSECURE=maybe", NULL};
    ck_assert_int_lt(gw_config_load(&cfg, NULL, (char *const *)bad, 1, (char *const *)argv, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.text, "true or false"));
    gw_config_free(&cfg);
    unlink(conf);
}
END_TEST

START_TEST(test_proto_ops)
{
    gw_command cmd;
    const char *code;
    char reason[200];
    const char a[] = "{\"op\":\"auth\",\"token\":\"x.y.z\"}";
    ck_assert_int_eq(gw_proto_parse(a, strlen(a), &cmd, &code, reason, sizeof reason), 0);
    ck_assert_int_eq(cmd.op, GW_OP_AUTH);
    ck_assert_str_eq(cmd.arg, "x.y.z");
    ck_assert_uint_eq(cmd.arg_len, 5);
    gw_command_release(&cmd);
    const char r[] = "{\"op\":\"refresh\",\"token\":\"t\"}";
    ck_assert_int_eq(gw_proto_parse(r, strlen(r), &cmd, &code, reason, sizeof reason), 0);
    ck_assert_int_eq(cmd.op, GW_OP_REFRESH);
    gw_command_release(&cmd);
    const char p[] = "{\"op\":\"publish\",\"channel\":\"chat.1\",\"data\":{\"a\": [1, 2]}}";
    ck_assert_int_eq(gw_proto_parse(p, strlen(p), &cmd, &code, reason, sizeof reason), 0);
    ck_assert_int_eq(cmd.op, GW_OP_PUBLISH);
    ck_assert_str_eq(cmd.channel, "chat.1");
    ck_assert_str_eq(cmd.arg, "{\"a\":[1,2]}");
    gw_command_release(&cmd);
    const char *bad[] = {"{\"op\":\"auth\"}", "{\"op\":\"auth\",\"token\":5}", "{\"op\":\"auth\",\"token\":\"\"}",
                         "{\"op\":\"publish\",\"channel\":\"c\"}", "{\"op\":\"publish\",\"channel\":\"c*\",\"data\":1}",
                         "{\"op\":\"publish\",\"data\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(gw_proto_parse(bad[i], strlen(bad[i]), &cmd, &code, reason, sizeof reason) == -1, "%s", bad[i]);
        ck_assert_ptr_null(cmd.arg);
    }
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = ts_tcase(s, "verify", 30);
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_loop_test(tc, test_verify_hs256, 0, N_ELEMS(hs_cases));
    ts_add_tests(tc, test_verify_claims_copied, test_far_future_exp, test_admin_host_origin,
                 test_verify_malformed_and_missing);
    tcase_add_loop_test(tc, test_verify_rs256, 0, N_ELEMS(rs_cases));
    ts_add_tests(tc, test_verify_es256, test_verify_aud_iss, test_key_errors,
                 test_authorize_subscribe, test_authorize_owner_pattern_config,
                 test_authorize_publish, test_pattern_relations, test_admin_key,
                 test_origins_ip_rate, test_exposure, test_config_keys, test_proto_ops);
    return s;
}
