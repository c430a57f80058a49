/*
** worker_reply.c: hiredis reply objects for the worker's connection made
** in an arena instead of one malloc per object. A batch's XREADGROUP reply
** is ~70 objects an entry (a redisReply and a string buffer each for every
** field name and value); hiredis's default makes and frees each with
** malloc/calloc/free, ~50% of the worker's instructions in callgrind.
**
** The objects keep hiredis's own layout (redisReply), so the code reading
** them is unchanged; only freeing differs: mbwk_reply_free, never
** freeReplyObject, on a reply of such a connection. Each top-level reply
** counts as live from its creation to its free (by the caller, or by the
** reader itself on a protocol error or redisFree); when none is live the
** arena is rewound. The worker frees a batch's reply before it reads the
** next one (even the one it read ahead, worker.c), so the arena holds at
** most the largest reply (a --batch of entries) and the few XADD and XINFO
** replies read while it is held; its chunks are kept for reuse and freed
** with the arena.
*/
#include <stdint.h>
#include <string.h>

#include "worker.h"

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    max_align_t data[];
} chunk;

struct mbwk_replies {
    chunk *head, *cur;
    size_t live; /* top-level replies not yet freed */
};

/* Before each top-level reply: its arena, for freeObject (which gets only
** the reply). */
typedef struct top {
    mbwk_replies *a;
    max_align_t pad[];
} top;

/* A new chunk, at the end of the list, for at least n bytes. */
static void *arena_grow(mbwk_replies *a, size_t n)
{
    while (a->cur && a->cur->size - a->cur->used < n)
        a->cur = a->cur->next; /* later chunks are empty after a rewind */
    if (!a->cur) {
        size_t size = n > (size_t)1 << 16 ? n : (size_t)1 << 16;
        chunk *c = mb_malloc(sizeof *c + size);
        c->size = size, c->used = 0, c->next = NULL;
        chunk **end = &a->head;
        while (*end)
            end = &(*end)->next;
        *end = c;
        a->cur = c;
    }
    void *p = (char *)a->cur->data + a->cur->used;
    a->cur->used += n;
    return p;
}

/* n bytes, max_align_t-aligned: the common case (room in the current
** chunk) inline, a bump of one counter */
static inline void *arena_alloc(mbwk_replies *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    chunk *c = a->cur;
    if (c && c->size - c->used >= n) {
        void *p = (char *)c->data + c->used;
        c->used += n;
        return p;
    }
    return arena_grow(a, n);
}

static void rewind_arena(mbwk_replies *a)
{
    for (chunk *c = a->head; c; c = c->next)
        c->used = 0;
    a->cur = a->head;
}

/* A reply object of type `type` for task t, linked into its parent, with
** `extra` bytes after it (a string's: one allocation, not two). */
static redisReply *create(const redisReadTask *t, int type, size_t extra)
{
    mbwk_replies *a = t->privdata;
    redisReply *r;
    if (!t->parent) {
        top *h = arena_alloc(a, sizeof(top) + sizeof(redisReply) + extra);
        h->a = a;
        r = (redisReply *)(void *)(h + 1);
        a->live++;
    } else {
        r = arena_alloc(a, sizeof *r + extra);
        redisReply *parent = t->parent->obj;
        parent->element[t->idx] = r;
    }
    *r = (redisReply){.type = type};
    return r;
}

static void *create_string(const redisReadTask *t, char *s, size_t len)
{
    redisReply *r = create(t, t->type, len + 1);
    r->str = (char *)(r + 1);
    memcpy(r->str, s, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *create_array(const redisReadTask *t, int n)
{
    redisReply *r = create(t, REDIS_REPLY_ARRAY, 0);
    if (n > 0) {
        r->element = arena_alloc(t->privdata, (size_t)n * sizeof *r->element);
        memset(r->element, 0, (size_t)n * sizeof *r->element);
    }
    r->elements = n > 0 ? (size_t)n : 0;
    return r;
}

static void *create_integer(const redisReadTask *t, long long v)
{
    redisReply *r = create(t, REDIS_REPLY_INTEGER, 0);
    r->integer = v;
    return r;
}

static void *create_nil(const redisReadTask *t) { return create(t, REDIS_REPLY_NIL, 0); }

void mbwk_reply_free(void *reply)
{
    if (!reply)
        return;
    top *h = (top *)(void *)((char *)reply - sizeof(top));
    mbwk_replies *a = h->a;
    if (a->live && --a->live == 0)
        rewind_arena(a);
}

static redisReplyObjectFunctions fns = {create_string, create_array, create_integer, create_nil, mbwk_reply_free};

mbwk_replies *mbwk_replies_new(void) { return mb_calloc(1, sizeof(mbwk_replies)); }

void mbwk_replies_free(mbwk_replies **a)
{
    if (!*a)
        return;
    for (chunk *c = (*a)->head, *next; c; c = next) {
        next = c->next;
        mb_free(c);
    }
    mb_free(*a);
    *a = NULL;
}

void mbwk_replies_use(redisReader *r, mbwk_replies *a)
{
    r->fn = &fns;
    r->privdata = a;
}
