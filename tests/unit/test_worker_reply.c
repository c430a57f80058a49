/*
** test_worker_reply.c: the worker's arena reply objects
** (src/deploy/worker_reply.c) against hiredis's own reader as the oracle:
** the same RESP bytes give the same tree (types, integers, strings byte
** for byte, element counts), fed whole or a byte at a time; a reply kept
** alive is not overwritten by replies made and freed after it; the arena
** is reused once every reply is freed; a protocol error or freeing the
** reader mid-reply frees the partial reply (ASan: nothing leaks).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "worker.h"

/* An XREADGROUP-like reply: [[stream, [[id, [f, v, ...]] x n, [id, nil]]]];
** one value is empty and one holds a NUL byte. */
static size_t xread_resp(char *buf, size_t cap, int n)
{
    static const char nul_value[] = "$3\r\na\0b\r\n";
    size_t len = (size_t)snprintf(buf, cap, "*1\r\n*2\r\n$4\r\nrows\r\n*%d\r\n", n + 1);
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "*2\r\n$%d\r\n%d-0\r\n*4\r\n$1\r\nx\r\n$10\r\n0.%08d\r\n"
                                "$0\r\n\r\n", snprintf(NULL, 0, "%d-0", i), i, i);
        memcpy(buf + len, nul_value, sizeof nul_value - 1);
        len += sizeof nul_value - 1;
    }
    len += (size_t)snprintf(buf + len, cap - len, "*2\r\n$3\r\n9-9\r\n*-1\r\n");
    return len;
}

static const char other[] = ":-42\r\n+OK\r\n-ERR no\r\n$-1\r\n*0\r\n*3\r\n:7\r\n*1\r\n$2\r\nhi\r\n$-1\r\n";

static void same(const redisReply *a, const redisReply *b)
{
    assert_int_equal(a->type, b->type);
    assert_true(a->integer == b->integer);
    assert_int_equal(a->len, b->len);
    if (a->str || b->str) {
        assert_non_null(a->str), assert_non_null(b->str);
        assert_memory_equal(a->str, b->str, a->len + 1);
    }
    assert_int_equal(a->elements, b->elements);
    for (size_t i = 0; i < a->elements; i++)
        same(a->element[i], b->element[i]);
}

static redisReader *arena_reader(mbwk_replies *a)
{
    redisReader *r = redisReaderCreate();
    mbwk_replies_use(r, a);
    return r;
}

/* Each reply of bytes (fed `step` bytes at a time) equals hiredis's own. */
static void compare_all(const char *bytes, size_t len, size_t step, int expect)
{
    mbwk_replies *a = mbwk_replies_new();
    redisReader *ref = redisReaderCreate(), *r = arena_reader(a);
    assert_int_equal(redisReaderFeed(ref, bytes, len), REDIS_OK);
    int got = 0;
    for (size_t off = 0; off < len; off += step) {
        assert_int_equal(redisReaderFeed(r, bytes + off, off + step > len ? len - off : step), REDIS_OK);
        void *x;
        while (redisReaderGetReply(r, &x) == REDIS_OK && x) {
            void *y = NULL;
            assert_int_equal(redisReaderGetReply(ref, &y), REDIS_OK);
            assert_non_null(y);
            same(y, x);
            freeReplyObject(y);
            mbwk_reply_free(x);
            got++;
        }
    }
    assert_int_equal(got, expect);
    redisReaderFree(r);
    redisReaderFree(ref);
    mbwk_replies_free(&a);
}

static void test_same_trees_as_hiredis(void **state)
{
    (void)state;
    static char buf[1 << 20];
    size_t len = xread_resp(buf, sizeof buf, 3000); /* several 64 KiB chunks */
    memcpy(buf + len, other, sizeof other - 1);
    len += sizeof other - 1;
    compare_all(buf, len, len, 7);
    compare_all(buf, len, 1, 7);
    compare_all(buf, len, 977, 7);
}

static void test_live_reply_kept_and_arena_reused(void **state)
{
    (void)state;
    static char buf[1 << 16];
    size_t len = xread_resp(buf, sizeof buf, 64);
    mbwk_replies *a = mbwk_replies_new();
    redisReader *r = arena_reader(a), *ref = redisReaderCreate();
    void *big, *small, *ref_big;
    assert_int_equal(redisReaderFeed(r, buf, len), REDIS_OK);
    assert_int_equal(redisReaderFeed(ref, buf, len), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &big), REDIS_OK);
    assert_int_equal(redisReaderGetReply(ref, &ref_big), REDIS_OK);
    /* the XADD replies read while the batch is held */
    for (int i = 0; i < 200; i++) {
        char id[64];
        int n = snprintf(id, sizeof id, "$%d\r\n%d-%d\r\n", (int)snprintf(NULL, 0, "%d-%d", i, i), i, i);
        assert_int_equal(redisReaderFeed(r, id, (size_t)n), REDIS_OK);
        assert_int_equal(redisReaderGetReply(r, &small), REDIS_OK);
        assert_non_null(small);
        mbwk_reply_free(small);
    }
    same(ref_big, big);
    mbwk_reply_free(big);
    /* nothing live: the next reply starts the arena again */
    assert_int_equal(redisReaderFeed(r, buf, len), REDIS_OK);
    void *again;
    assert_int_equal(redisReaderGetReply(r, &again), REDIS_OK);
    assert_ptr_equal(again, big);
    same(ref_big, again);
    mbwk_reply_free(again);
    mbwk_reply_free(NULL);
    freeReplyObject(ref_big);
    redisReaderFree(ref);
    redisReaderFree(r);
    mbwk_replies_free(&a);
}

static void test_partial_replies_are_freed(void **state)
{
    (void)state;
    static char buf[1 << 16];
    size_t len = xread_resp(buf, sizeof buf, 10);
    mbwk_replies *a = mbwk_replies_new();
    /* a protocol error in the middle of a reply */
    redisReader *r = arena_reader(a);
    void *x = NULL;
    assert_int_equal(redisReaderFeed(r, buf, len / 2), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &x), REDIS_OK);
    assert_null(x);
    assert_int_equal(redisReaderFeed(r, "?bad\r\n", 6), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &x), REDIS_ERR);
    redisReaderFree(r);
    /* the reader freed with half a reply in it (a lost connection) */
    r = arena_reader(a);
    assert_int_equal(redisReaderFeed(r, buf, len / 3), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &x), REDIS_OK);
    assert_null(x);
    redisReaderFree(r);
    /* both counted as freed: a new reply starts the arena again */
    r = arena_reader(a);
    assert_int_equal(redisReaderFeed(r, ":1\r\n:2\r\n", 8), REDIS_OK);
    void *one, *two;
    assert_int_equal(redisReaderGetReply(r, &one), REDIS_OK);
    mbwk_reply_free(one);
    assert_int_equal(redisReaderGetReply(r, &two), REDIS_OK);
    assert_ptr_equal(one, two);
    assert_int_equal(((redisReply *)two)->integer, 2);
    mbwk_reply_free(two);
    redisReaderFree(r);
    mbwk_replies_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_trees_as_hiredis),
        cmocka_unit_test(test_live_reply_kept_and_arena_reused),
        cmocka_unit_test(test_partial_replies_are_freed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
