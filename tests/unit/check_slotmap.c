/*
 * check_slotmap.c - the slot map (gateway/redis/gw_slotmap.c): CLUSTER SHARDS and
 * CLUSTER SLOTS replies recorded byte for byte from a real 3-primary/3-replica Redis
 * 7.0.15 cluster on this machine (before and after a primary was killed and its
 * replica promoted), turned into redisReply trees by hiredis's own reader, then
 * parsed; malformed replies each with the error they must give; MOVED/ASK parsing;
 * needed primaries, moved channels and MOVED applied to a map.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_slotmap.h"
#include "ts_check.h"

/* ---- recorded replies (fuzz/corpus/fuzz_slotmap/ holds the same bytes) ---- */

static const char shards_resp[] =
    "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n"
    "$40\r\nfd43fd77b18c77274f8ca0a7486adf7faaef53c4\r\n$4\r\nport\r\n:45777\r\n$2\r\nip\r\n"
    "$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
    "$18\r\nreplication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n"
    "$40\r\n61cfedbf9cc2bfea7c430fd351d329a8af268b96\r\n$4\r\nport\r\n:38610\r\n$2\r\nip\r\n"
    "$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n"
    "$18\r\nreplication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n"
    "*2\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "f23dde5a1be01675a125d3d6a152ebfe08a695a2\r\n$4\r\nport\r\n:23975\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "e27b2080db974121d5099cbd490194327e51723d\r\n$4\r\nport\r\n:26789\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "4cf1e2cb5ec35a66277bd9e1307ec0d4657ca4ab\r\n$4\r\nport\r\n:46222\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "ab2a8bc241f9f13c2e8277808a123bb046ae197e\r\n$4\r\nport\r\n:28862\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";

static const char slots_resp[] =
    "*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:45777\r\n$40\r\n"
    "fd43fd77b18c77274f8ca0a7486adf7faaef53c4\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:38610\r\n"
    "$40\r\n61cfedbf9cc2bfea7c430fd351d329a8af268b96\r\n*0\r\n*4\r\n:5461\r\n:10922\r\n*4\r\n"
    "$9\r\n127.0.0.1\r\n:23975\r\n$40\r\nf23dde5a1be01675a125d3d6a152ebfe08a695a2\r\n*0\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:26789\r\n$40\r\ne27b2080db974121d5099cbd490194327e51723d\r\n"
    "*0\r\n*4\r\n:10923\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:46222\r\n$40\r\n"
    "4cf1e2cb5ec35a66277bd9e1307ec0d4657ca4ab\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:28862\r\n"
    "$40\r\nab2a8bc241f9f13c2e8277808a123bb046ae197e\r\n*0\r\n";

/* after SIGKILL of 45777: 38610 promoted; the dead node is a slot-less shard, health fail */
static const char shards_failover_resp[] =
    "*4\r\n*4\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\n"
    "id\r\n$40\r\nf23dde5a1be01675a125d3d6a152ebfe08a695a2\r\n$4\r\nport\r\n:23975\r\n$2\r\n"
    "ip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\n"
    "master\r\n$18\r\nreplication-offset\r\n:350\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n"
    "$2\r\nid\r\n$40\r\ne27b2080db974121d5099cbd490194327e51723d\r\n$4\r\nport\r\n:26789\r\n"
    "$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\n"
    "replica\r\n$18\r\nreplication-offset\r\n:350\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n"
    "$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "4cf1e2cb5ec35a66277bd9e1307ec0d4657ca4ab\r\n$4\r\nport\r\n:46222\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:350\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "ab2a8bc241f9f13c2e8277808a123bb046ae197e\r\n$4\r\nport\r\n:28862\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:350\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*0\r\n"
    "$5\r\nnodes\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "fd43fd77b18c77274f8ca0a7486adf7faaef53c4\r\n$4\r\nport\r\n:45777\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:350\r\n$6\r\nhealth\r\n$4\r\nfail\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":0\r\n:5460\r\n$5\r\nnodes\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "61cfedbf9cc2bfea7c430fd351d329a8af268b96\r\n$4\r\nport\r\n:38610\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:350\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";

/* One reply tree from RESP bytes, through hiredis's reader (which does no I/O). */
static redisReply *resp(const char *bytes, size_t len)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(redisReaderFeed(rd, bytes, len), REDIS_OK);
    ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
    ck_assert_msg(reply != NULL, "incomplete RESP in the test: %.60s", bytes);
    redisReaderFree(rd);
    return reply;
}
#define RESP(lit) resp((lit), sizeof(lit) - 1)

typedef int (*map_parser)(gw_slotmap **, const struct redisReply *, pulse_error *);

static gw_slotmap *parse_with(map_parser parse, const char *bytes, size_t len)
{
    redisReply *r = resp(bytes, len);
    gw_slotmap *m = NULL;
    pulse_error err = {0};
    int rc = parse(&m, r, &err);
    ck_assert_msg(rc == 0, "reply refused: %s", err.text);
    freeReplyObject(r);
    return m;
}

static gw_slotmap *parse_shards(const char *bytes, size_t len)
{
    return parse_with(gw_slotmap_from_shards, bytes, len);
}

static gw_slotmap *parse_slots(const char *bytes, size_t len)
{
    return parse_with(gw_slotmap_from_slots, bytes, len);
}

static void assert_three_shards(const gw_slotmap *m)
{
    char buf[300];
    ck_assert_uint_eq(m->nshards, 3);
    ck_assert_uint_eq(m->uncovered, 0);
    const gw_cshard *a = gw_slotmap_shard(m, 0), *b = gw_slotmap_shard(m, 5461),
                    *c = gw_slotmap_shard(m, 16383);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(gw_slotmap_shard(m, 5460), a);
    ck_assert_ptr_eq(gw_slotmap_shard(m, 10922), b);
    ck_assert_ptr_eq(gw_slotmap_shard(m, 10923), c);
    ck_assert_ptr_null(gw_slotmap_shard(m, 16384));
    ck_assert_str_eq(gw_cnode_addr(&a->primary, buf, sizeof buf), "127.0.0.1:45777");
    ck_assert_str_eq(a->primary.id, "fd43fd77b18c77274f8ca0a7486adf7faaef53c4");
    ck_assert_uint_eq(a->nslots, 5461);
    ck_assert_uint_eq(a->nreplicas, 1);
    ck_assert_int_eq(a->replicas[0].port, 38610);
    ck_assert_str_eq(a->replicas[0].id, "61cfedbf9cc2bfea7c430fd351d329a8af268b96");
    ck_assert_int_eq(b->primary.port, 23975);
    ck_assert_uint_eq(b->nslots, 5462);
    ck_assert_int_eq(c->primary.port, 46222);
    ck_assert_uint_eq(c->nslots, 5461);
    ck_assert(a->primary.online && b->primary.online && c->primary.online);
    /* "foo" -> 12182 (CLUSTER KEYSLOT) -> 46222, as the recorded MOVED said */
    ck_assert_int_eq(gw_slotmap_shard(m, 12182)->primary.port, 46222);
}

START_TEST(test_shards_real_reply)
{
    gw_slotmap *m = parse_shards(shards_resp, sizeof shards_resp - 1);
    assert_three_shards(m);
    gw_slotmap_free(m);
}
END_TEST

START_TEST(test_slots_real_reply_same_map)
{
    gw_slotmap *a = parse_slots(slots_resp, sizeof slots_resp - 1);
    gw_slotmap *b = parse_shards(shards_resp, sizeof shards_resp - 1);
    assert_three_shards(a);
    for (unsigned s = 0; s < GW_SLOTS; s++)
        ck_assert(!gw_slotmap_slot_moved(a, b, s));
    gw_slotmap_free(a);
    gw_slotmap_free(b);
}
END_TEST

START_TEST(test_shards_after_failover)
{
    gw_slotmap *before = parse_shards(shards_resp, sizeof shards_resp - 1);
    gw_slotmap *after = parse_shards(shards_failover_resp, sizeof shards_failover_resp - 1);
    ck_assert_uint_eq(after->nshards, 4); /* the dead primary is a shard of its own */
    ck_assert_uint_eq(after->uncovered, 0);
    const gw_cshard *s0 = gw_slotmap_shard(after, 0);
    ck_assert_int_eq(s0->primary.port, 38610);
    ck_assert_uint_eq(s0->nreplicas, 0);
    int dead = gw_slotmap_find_primary(after, "127.0.0.1", 45777);
    ck_assert_int_ge(dead, 0);
    ck_assert_uint_eq(after->shards[dead].nslots, 0);
    ck_assert(!after->shards[dead].primary.online);
    /* exactly slots 0..5460 moved */
    for (unsigned s = 0; s < GW_SLOTS; s++)
        ck_assert_int_eq(gw_slotmap_slot_moved(before, after, s), s <= 5460);
    /* channels: "a" 15495, "bar" 5061, "foo" 12182, "alerts.cpu" 2510 */
    const char *names[] = {"a", "bar", "foo", "alerts.cpu"};
    size_t moved[4];
    ck_assert_uint_eq(gw_slotmap_moved(before, after, names, NULL, 4, moved), 2);
    ck_assert_uint_eq(moved[0], 1);
    ck_assert_uint_eq(moved[1], 3);
    ck_assert_uint_eq(gw_slotmap_moved(NULL, after, names, NULL, 4, moved), 4);
    gw_slotmap_free(before);
    gw_slotmap_free(after);
}
END_TEST

START_TEST(test_needed_primaries)
{
    gw_slotmap *m = parse_shards(shards_resp, sizeof shards_resp - 1);
    bool need[3] = {false, false, false};
    const char *names[] = {"foo", "a"}; /* both on 46222 */
    ck_assert_uint_eq(gw_slotmap_needed(m, names, NULL, 2, need), 0);
    int c = gw_slotmap_find_primary(m, "127.0.0.1", 46222);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(need[i], i == c);
    const char *more[] = {"bar"}; /* 5061 -> 45777 */
    gw_slotmap_needed(m, more, NULL, 1, need);
    ck_assert(need[gw_slotmap_find_primary(m, "127.0.0.1", 45777)]);
    ck_assert(!need[gw_slotmap_find_primary(m, "127.0.0.1", 23975)]);
    gw_slotmap_free(m);
}
END_TEST

START_TEST(test_partial_coverage)
{
    /* one shard serving 0..99 and 200..299 only */
    static const char one[] =
        "*1\r\n*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:99\r\n:200\r\n:299\r\n$5\r\nnodes\r\n*1\r\n"
        "*8\r\n$2\r\nid\r\n$3\r\nabc\r\n$4\r\nport\r\n:7000\r\n$8\r\nendpoint\r\n$0\r\n\r\n"
        "$4\r\nrole\r\n$6\r\nmaster\r\n";
    gw_slotmap *m = parse_shards(one, sizeof one - 1);
    ck_assert_uint_eq(m->uncovered, GW_SLOTS - 200);
    ck_assert_ptr_nonnull(gw_slotmap_shard(m, 250));
    ck_assert_ptr_null(gw_slotmap_shard(m, 150));
    ck_assert(!m->shards[0].primary.online); /* no health field */
    /* empty endpoint: "the address you asked"; filled in by the caller */
    ck_assert_str_eq(m->shards[0].primary.host, "");
    ck_assert_int_eq(gw_slotmap_fill_host(m, "10.1.2.3"), 0);
    ck_assert_str_eq(m->shards[0].primary.host, "10.1.2.3");
    bool need[1] = {false};
    const char *names[] = {"a", "foo"};
    ck_assert_uint_eq(gw_slotmap_needed(m, names, NULL, 2, need), 2);
    ck_assert(!need[0]);
    gw_slotmap_free(m);
}
END_TEST

/* ---- malformed replies: each refused with a reason naming the problem ---- */

static const struct {
    bool shards; /* CLUSTER SHARDS, else CLUSTER SLOTS */
    const char *resp;
    const char *want; /* substring of err.text */
} bad_cases[] = {
    {true, "-ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP.\r\n", "Redis answered an error: ERR unknown subcommand"},
    {true, "-ERR This instance has cluster support disabled\r\n", "cluster support disabled"},
    {true, "+OK\r\n", "reply is a status, expected an array"},
    {true, ":3\r\n", "reply is an integer"},
    {true, "*1\r\n:1\r\n", "shard 0 is an integer"},
    {true, "*1\r\n*1\r\n$5\r\nslots\r\n", "shard 0 is an odd-length array"},
    {true, "*1\r\n*2\r\n$5\r\nnodes\r\n*0\r\n", "slots is nothing"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*1\r\n:1\r\n$5\r\nnodes\r\n*0\r\n", "slots is an odd-length array"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n$1\r\n1\r\n:2\r\n$5\r\nnodes\r\n*0\r\n", "slot bound 0 is a string"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:1\r\n:2\r\n$5\r\nnodes\r\n$0\r\n\r\n", "nodes is a string"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:1\r\n:2\r\n$5\r\nnodes\r\n*0\r\n", "serves slots but has no primary"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n:5\r\n", "node 0 is an integer"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*2\r\n:1\r\n:2\r\n", "field name is an integer"},
    /* a node without id / with a bad id / port / role / host */
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*6\r\n$4\r\nport\r\n:1\r\n$2\r\nip\r\n$1\r\nh\r\n$4\r\nrole\r\n$6\r\nmaster\r\n", "no id"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*2\r\n$2\r\nid\r\n$3\r\na b\r\n", "bad id"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*4\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:70000\r\n", "port (an integer, out of range)"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*4\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n$4\r\n6379\r\n", "bad port (a string)"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*4\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nrole\r\n$6\r\nmaster\r\n", "no plaintext port"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*4\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:1\r\n", "no role"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*6\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:1\r\n$4\r\nrole\r\n$4\r\nboss\r\n", "unknown role"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*6\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n", "no usable endpoint or ip"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*8\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$2\r\nip\r\n$3\r\na\nb\r\n", "bad host"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*2\r\n"
           "*8\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$2\r\nip\r\n$1\r\nh\r\n"
           "*8\r\n$2\r\nid\r\n$1\r\nb\r\n$4\r\nport\r\n:2\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$2\r\nip\r\n$1\r\nh\r\n",
     "two primaries"},
    /* slot ranges: out of range, reversed, claimed twice */
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16384\r\n$5\r\nnodes\r\n*1\r\n*8\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$2\r\nip\r\n$1\r\nh\r\n", "bad slot range 0-16384"},
    {true, "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:9\r\n:3\r\n$5\r\nnodes\r\n*1\r\n*8\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$2\r\nip\r\n$1\r\nh\r\n", "bad slot range 9-3"},
    {true, "*2\r\n"
           "*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:10\r\n$5\r\nnodes\r\n*1\r\n*8\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$2\r\nip\r\n$1\r\nh\r\n"
           "*4\r\n$5\r\nslots\r\n*2\r\n:10\r\n:20\r\n$5\r\nnodes\r\n*1\r\n*8\r\n$2\r\nid\r\n$1\r\nb\r\n$4\r\nport\r\n:2\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$2\r\nip\r\n$1\r\nh\r\n",
     "shard 1: slot 10 is claimed by two shards"},
    /* CLUSTER SLOTS */
    {false, "-ERR This instance has cluster support disabled\r\n", "CLUSTER SLOTS: Redis answered an error"},
    {false, "$3\r\nabc\r\n", "reply is a string"},
    {false, "*1\r\n*2\r\n:0\r\n:1\r\n", "range 0 is a short array"},
    {false, "*1\r\n*3\r\n$1\r\n0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n", "start and end must be integers"},
    {false, "*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\nh\r\n", "primary is a short array"},
    {false, "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n", "primary: bad port"},
    {false, "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$-1\r\n:1\r\n", "primary: endpoint unknown"},
    {false, "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n:5\r\n:1\r\n", "primary: bad host (an integer)"},
    {false, "*1\r\n*3\r\n:0\r\n:1\r\n*3\r\n$1\r\nh\r\n:1\r\n$2\r\n!!\r\n", "primary: bad id"},
    {false, "*1\r\n*4\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n:7\r\n", "replica 0 is an integer"},
    {false, "*1\r\n*3\r\n:-1\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n", "bad slot range -1-1"},
    {false, "*2\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n*3\r\n:5\r\n:9\r\n*2\r\n$1\r\nh\r\n:2\r\n", "slot 5 is claimed by two shards"},
};

START_TEST(test_malformed)
{
    redisReply *r = resp(bad_cases[_i].resp, strlen(bad_cases[_i].resp));
    gw_slotmap *m = (gw_slotmap *)1;
    pulse_error err = {0};
    int rc = bad_cases[_i].shards ? gw_slotmap_from_shards(&m, r, &err) : gw_slotmap_from_slots(&m, r, &err);
    ck_assert_int_eq(rc, PULSE_EINVAL);
    ck_assert_int_eq(err.code, PULSE_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.text, bad_cases[_i].want) != NULL, "case %d: error \"%s\" lacks \"%s\"", _i,
                  err.text, bad_cases[_i].want);
    freeReplyObject(r);
}
END_TEST

START_TEST(test_slots_variants)
{
    /* Redis 3.0 shape (no ids), a replica with unknown endpoint left out, two ranges of
     * one primary merged into one shard, an IPv6 host */
    static const char v[] =
        "*3\r\n"
        "*4\r\n:0\r\n:99\r\n*2\r\n$3\r\n::1\r\n:7000\r\n*2\r\n$1\r\n?\r\n:7003\r\n"
        "*3\r\n:100\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:7001\r\n"
        "*4\r\n:200\r\n:199\r\n*2\r\n$3\r\n::1\r\n:7000\r\n*2\r\n$3\r\n::1\r\n:7004\r\n";
    redisReply *r = resp(v, sizeof v - 1);
    gw_slotmap *m = NULL;
    pulse_error err = {0};
    /* 200-199 is reversed: refused */
    ck_assert_int_eq(gw_slotmap_from_slots(&m, r, &err), PULSE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "range 2: bad slot range 200-199"));
    freeReplyObject(r);
    static const char ok[] =
        "*3\r\n"
        "*4\r\n:0\r\n:99\r\n*2\r\n$3\r\n::1\r\n:7000\r\n*2\r\n$1\r\n?\r\n:7003\r\n"
        "*3\r\n:100\r\n:199\r\n*2\r\n$9\r\n127.0.0.1\r\n:7001\r\n"
        "*4\r\n:200\r\n:16383\r\n*2\r\n$3\r\n::1\r\n:7000\r\n*2\r\n$3\r\n::1\r\n:7004\r\n";
    m = parse_slots(ok, sizeof ok - 1);
    ck_assert_uint_eq(m->nshards, 2);
    ck_assert_uint_eq(m->uncovered, 0);
    const gw_cshard *a = gw_slotmap_shard(m, 0);
    ck_assert_ptr_eq(gw_slotmap_shard(m, 300), a);
    ck_assert_uint_eq(a->nslots, GW_SLOTS - 100);
    ck_assert_uint_eq(a->nreplicas, 1); /* "?" left out, 7004 kept */
    ck_assert_int_eq(a->replicas[0].port, 7004);
    char buf[300];
    ck_assert_str_eq(gw_cnode_addr(&a->primary, buf, sizeof buf), "[::1]:7000");
    ck_assert_str_eq(a->primary.id, "");
    gw_slotmap_free(m);
}
END_TEST

/* Limits: more than GW_CLUSTER_SHARDS_MAX primaries or GW_SHARD_REPLICAS_MAX replicas
 * is refused (a hostile reply could otherwise make the parse quadratic). */
static char *slots_reply(int ranges, int replicas)
{
    size_t cap = (size_t)(ranges + 1) * (size_t)(replicas + 2) * 64;
    char *buf = malloc(cap);
    size_t off = (size_t)snprintf(buf, cap, "*%d\r\n", ranges);
    for (int r = 0; r < ranges; r++) {
        off += (size_t)snprintf(buf + off, cap - off, "*%d\r\n:%d\r\n:%d\r\n*2\r\n$1\r\nh\r\n:%d\r\n",
                                3 + replicas, r, r, 1 + r);
        for (int k = 0; k < replicas; k++)
            off += (size_t)snprintf(buf + off, cap - off, "*2\r\n$1\r\nr\r\n:%d\r\n", 20000 + k);
    }
    return buf;
}

START_TEST(test_limits)
{
    static const struct {
        int ranges, replicas;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {GW_CLUSTER_SHARDS_MAX, 1, NULL},
        {GW_CLUSTER_SHARDS_MAX + 1, 0, "range 1024: more than 1024 shards"},
        {1, GW_SHARD_REPLICAS_MAX, NULL},
        {1, GW_SHARD_REPLICAS_MAX + 1, "range 0: more than 64 replicas"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = slots_reply(cases[i].ranges, cases[i].replicas);
        redisReply *r = resp(text, strlen(text));
        gw_slotmap *m = NULL;
        pulse_error err = {0};
        int rc = gw_slotmap_from_slots(&m, r, &err);
        if (cases[i].want == NULL) {
            ck_assert_msg(rc == 0, "case %zu: %s", i, err.text);
            ck_assert_uint_eq(m->nshards, (size_t)cases[i].ranges);
            ck_assert_uint_eq(m->shards[0].nreplicas, (size_t)cases[i].replicas);
        } else {
            ck_assert_int_eq(rc, PULSE_EINVAL);
            ck_assert_msg(strstr(err.text, cases[i].want) != NULL, "case %zu: %s", i, err.text);
        }
        gw_slotmap_free(m);
        freeReplyObject(r);
        free(text);
    }
}
END_TEST

/* ---- MOVED / ASK ---- */

static const struct {
    const char *text;
    int rc;
    int kind;
    unsigned slot;
    const char *host;
    int port;
    const char *why; /* for EINVAL */
} redirect_cases[] = {
    {"MOVED 12182 127.0.0.1:46222", 0, GW_REDIRECT_MOVED, 12182, "127.0.0.1", 46222, NULL},
    {"ASK 0 10.0.0.1:7000", 0, GW_REDIRECT_ASK, 0, "10.0.0.1", 7000, NULL},
    {"MOVED 16383 :6380", 0, GW_REDIRECT_MOVED, 16383, "", 6380, NULL},
    {"MOVED 5 ::1:7000", 0, GW_REDIRECT_MOVED, 5, "::1", 7000, NULL},
    {"MOVED 5 [::1]:7000", 0, GW_REDIRECT_MOVED, 5, "::1", 7000, NULL},
    {"MOVED 5 redis-0.example:6379", 0, GW_REDIRECT_MOVED, 5, "redis-0.example", 6379, NULL},
    {"ERR unknown command", PULSE_ENOENT, 0, 0, NULL, 0, NULL},
    {"CROSSSLOT Keys in request don't hash to the same slot", PULSE_ENOENT, 0, 0, NULL, 0, NULL},
    {"MOVEDX 1 h:1", PULSE_ENOENT, 0, 0, NULL, 0, NULL},
    {"", PULSE_ENOENT, 0, 0, NULL, 0, NULL},
    {"MOVED 16384 h:1", PULSE_EINVAL, 0, 0, NULL, 0, "MOVED: bad slot"},
    {"MOVED  1 h:1", PULSE_EINVAL, 0, 0, NULL, 0, "MOVED: bad slot"},
    {"MOVED -1 h:1", PULSE_EINVAL, 0, 0, NULL, 0, "MOVED: bad slot"},
    {"MOVED 1", PULSE_EINVAL, 0, 0, NULL, 0, "MOVED: bad slot"},
    {"ASK 1 host", PULSE_EINVAL, 0, 0, NULL, 0, "ASK: address has no port"},
    {"ASK 1 host:", PULSE_EINVAL, 0, 0, NULL, 0, "ASK: bad port"},
    {"ASK 1 host:0", PULSE_EINVAL, 0, 0, NULL, 0, "ASK: bad port"},
    {"ASK 1 host:65536", PULSE_EINVAL, 0, 0, NULL, 0, "ASK: bad port"},
    {"ASK 1 host:12 ", PULSE_EINVAL, 0, 0, NULL, 0, "ASK: bad port"},
    {"ASK 1 a b:12", PULSE_EINVAL, 0, 0, NULL, 0, "ASK: bad host"},
};

START_TEST(test_redirect_parse)
{
    gw_redirect r;
    pulse_error err = {0};
    const char *t = redirect_cases[_i].text;
    int rc = gw_redirect_parse(t, strlen(t), &r, &err);
    ck_assert_msg(rc == redirect_cases[_i].rc, "\"%s\": rc %d, want %d", t, rc, redirect_cases[_i].rc);
    if (rc == 0) {
        ck_assert_int_eq(r.kind, redirect_cases[_i].kind);
        ck_assert_uint_eq(r.slot, redirect_cases[_i].slot);
        ck_assert_str_eq(r.host, redirect_cases[_i].host);
        ck_assert_int_eq(r.port, redirect_cases[_i].port);
    } else if (rc == PULSE_EINVAL) {
        ck_assert_str_eq(err.text, redirect_cases[_i].why);
    }
}
END_TEST

START_TEST(test_apply_redirect)
{
    gw_slotmap *m = parse_shards(shards_resp, sizeof shards_resp - 1);
    gw_redirect r;
    ck_assert_int_eq(gw_redirect_parse("MOVED 0 127.0.0.1:46222", 23, &r, NULL), 0);
    ck_assert_int_eq(gw_slotmap_apply_redirect(m, &r), 0);
    ck_assert_int_eq(gw_slotmap_shard(m, 0)->primary.port, 46222);
    ck_assert_uint_eq(gw_slotmap_shard(m, 1)->primary.port, 45777);
    ck_assert_uint_eq(gw_slotmap_shard(m, 0)->nslots, 5462);
    ck_assert_uint_eq(gw_slotmap_shard(m, 1)->nslots, 5460);
    /* unknown target, ASK, empty host: the map is left alone */
    ck_assert_int_eq(gw_redirect_parse("MOVED 1 127.0.0.1:9", 19, &r, NULL), 0);
    ck_assert_int_eq(gw_slotmap_apply_redirect(m, &r), PULSE_ENOENT);
    ck_assert_int_eq(gw_redirect_parse("ASK 1 127.0.0.1:46222", 21, &r, NULL), 0);
    ck_assert_int_eq(gw_slotmap_apply_redirect(m, &r), PULSE_ENOENT);
    ck_assert_int_eq(gw_redirect_parse("MOVED 1 :46222", 14, &r, NULL), 0);
    ck_assert_int_eq(gw_slotmap_apply_redirect(m, &r), PULSE_ENOENT);
    ck_assert_uint_eq(gw_slotmap_shard(m, 1)->primary.port, 45777);
    gw_slotmap_free(m);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("slotmap");
    TCase *tc = ts_tcase(s, "slotmap", 0);
    ts_add_tests(tc, test_shards_real_reply, test_slots_real_reply_same_map,
                 test_shards_after_failover, test_needed_primaries, test_partial_coverage);
    tcase_add_loop_test(tc, test_malformed, 0, N_ELEMS(bad_cases));
    ts_add_tests(tc, test_slots_variants, test_limits);
    tcase_add_loop_test(tc, test_redirect_parse, 0, N_ELEMS(redirect_cases));
    tcase_add_test(tc, test_apply_redirect);
    return s;
}
