/*
** test_bundle.c: the model bundle: save -> load round trips of each
** portable form with identical scores, refusal of newer formats, and
** truncated or damaged files that must fail cleanly, never crash.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include "sha256.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "sign.h"

#include <sodium.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mb_bundle_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static const char *const feats[] = {"a", "b", "c"};
static const char *const classes[] = {"no", "yes", "maybe"};

/* A bundle around a hand-made portable form (no plugin involved). */
static mb_bundle *make_bundle(const mb_portable *p, mb_task task, size_t nclasses)
{
    mb_bundle *b = mb_calloc(1, sizeof *b);
    b->nfeatures = 3;
    b->features = mb_calloc(4, sizeof(char *));
    for (int i = 0; i < 3; i++)
        b->features[i] = mb_strdup(feats[i]);
    b->target = mb_strdup("t");
    b->task = task;
    b->nclasses = nclasses;
    b->classes = mb_calloc(nclasses + 1, sizeof(char *));
    for (size_t i = 0; i < nclasses; i++)
        b->classes[i] = mb_strdup(classes[i]);
    b->plugin = mb_strdup("handmade");
    b->plugin_version = mb_strdup("0");
    b->model = mb_strdup("form");
    b->form = p->kind;
    assert_int_equal(mb_portable_to_state(p, &b->portable_state, NULL), MB_OK);
    b->created = mb_strdup("2026-01-01T00:00:00Z");
    b->moonbench_version = mb_strdup(MB_VERSION);
    return b;
}

static const float X[] = {0.5f, -1, 2, NAN, 3, -2, 1, 1, 1, -4, 0.25f, 8};

/* Save, load, score from both and compare. */
static void round_trip(const mb_portable *p, mb_task task, size_t nclasses, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s.h5", dir, name);
    mb_bundle *b = make_bundle(p, task, nclasses), *c = NULL;
    mb_error err;
    assert_int_equal(mb_bundle_save(path, b, &err), MB_OK);
    assert_int_equal(mb_bundle_load(path, &c, &err), MB_OK);
    assert_int_equal(c->nfeatures, 3);
    assert_string_equal(c->features[2], "c");
    assert_int_equal(c->task, task);
    assert_int_equal(c->nclasses, nclasses);
    mb_matrix m = {X, 4, 3, 3};
    size_t k = nclasses ? nclasses : 1;
    float l1[4], l2[4], p1[12], p2[12];
    mb_scorer s1, s2;
    assert_int_equal(mb_scorer_open(&s1, b, NULL, &err), MB_OK);
    assert_int_equal(mb_scorer_open(&s2, c, NULL, &err), MB_OK);
    assert_int_equal(mb_scorer_predict(&s1, &m, l1, nclasses ? p1 : NULL, &err), MB_OK);
    assert_int_equal(mb_scorer_predict(&s2, &m, l2, nclasses ? p2 : NULL, &err), MB_OK);
    assert_memory_equal(l1, l2, sizeof l1);
    if (nclasses)
        assert_memory_equal(p1, p2, 4 * k * sizeof(float));
    mb_scorer_close(&s1);
    mb_scorer_close(&s2);
    mb_bundle_free(&b);
    mb_bundle_free(&c);
}

static void test_linear(void **state)
{
    (void)state;
    double coef[3] = {1, -2, 0.5}, b0[1] = {0.25};
    mb_portable p = {.kind = MB_FORM_LINEAR};
    p.u.linear = (mb_linear_form){3, 1, coef, b0, MB_LINK_IDENTITY};
    round_trip(&p, MB_TASK_REGRESSION, 0, "linear");
    /* and its value: row 0 = 0.25 + 0.5 + 2 + 1 = 3.75 */
    mb_matrix m = {X, 1, 3, 3};
    double out;
    assert_int_equal(mb_portable_predict(&p, &m, &out, NULL), MB_OK);
    assert_true(fabs(out - 3.75) < 1e-12);
}

static void test_trees(void **state)
{
    (void)state;
    /* one tree: x0 <= 1 ? (x2 <= 0 ? leaf 0.1 : leaf 0.2) : leaf 0.3; NaN goes right */
    int32_t root[1] = {0}, out[1] = {0};
    int32_t feature[5] = {0, 2, -1, -1, -1}, left[5] = {1, 2, -1, -1, -1}, right[5] = {4, 3, -1, -1, -1};
    float thr[5] = {1, 0, 0, 0, 0};
    uint8_t dl[5] = {0, 1, 0, 0, 0};
    double value[5] = {0, 0, 0.1, 0.2, 0.3}, base[1] = {-0.5};
    mb_portable p = {.kind = MB_FORM_TREES};
    p.u.trees = (mb_tree_form){3, 1, 1, 5, 1, root, out, feature, thr, dl, left, right, value, base, 0, MB_LINK_LOGISTIC, NULL};
    round_trip(&p, MB_TASK_BINARY, 2, "trees");
    mb_matrix m = {X, 4, 3, 3};
    double o[4];
    assert_int_equal(mb_portable_predict(&p, &m, o, NULL), MB_OK);
    /* row0: x0=.5<=1, x2=2>0 -> .2; row1: NaN -> right .3; row2: 1<=1, x2=1 -> .2; row3: -4, x2=8 -> .2 */
    assert_true(fabs(o[0] - 1 / (1 + exp(0.5 - 0.2))) < 1e-12);
    assert_true(fabs(o[1] - 1 / (1 + exp(0.5 - 0.3))) < 1e-12);
}

static void test_mlp(void **state)
{
    (void)state;
    float w0[6] = {1, 0, -1, 0.5f, 0.5f, 0.5f}, b0[2] = {0, -1};
    float w1[6] = {1, -1, 0.5f, 0.5f, -1, 2}, b1[3] = {0, 0.1f, -0.1f};
    mb_mlp_layer layers[2] = {{3, 2, w0, b0, MB_ACT_RELU, 0}, {2, 3, w1, b1, MB_ACT_IDENTITY, 0}};
    mb_portable p = {.kind = MB_FORM_MLP};
    p.u.mlp = (mb_mlp_form){2, layers, MB_LINK_SOFTMAX};
    round_trip(&p, MB_TASK_MULTICLASS, 3, "mlp");
}

static void test_newer_format_refused(void **state)
{
    (void)state;
    double coef[3] = {1, 2, 3}, b0[1] = {0};
    mb_portable p = {.kind = MB_FORM_LINEAR};
    p.u.linear = (mb_linear_form){3, 1, coef, b0, MB_LINK_IDENTITY};
    mb_bundle *b = make_bundle(&p, MB_TASK_REGRESSION, 0), *c = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/newer.h5", dir);
    mb_error err;
    assert_int_equal(mb_bundle_save(path, b, &err), MB_OK);
    /* bump format_version as a future moonbench would write it */
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    long long v = MB_BUNDLE_VERSION + 1;
    H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    H5Fclose(f);
    /* the edit breaks the seal: refused as damaged */
    assert_int_equal(mb_bundle_load(path, &c, &err), MB_EFORMAT);
    assert_non_null(strstr(err.msg, "damaged"));
    /* reseal it, as the newer moonbench would have: refused as newer */
    char hex[MB_SHA256_HEX], head[512] = "moonbench sealed file; sha256 of bytes 512..end: ";
    assert_int_equal(mb_sha256_file(path, 512, hex), 0);
    strcat(head, hex);
    strcat(head, "\n");
    FILE *fp = fopen(path, "r+b");
    assert_int_equal(fwrite(head, 1, sizeof head, fp), sizeof head);
    fclose(fp);
    assert_int_equal(mb_bundle_load(path, &c, &err), MB_EFORMAT);
    assert_non_null(strstr(err.msg, "written by a newer moonbench"));
    assert_null(c);
    mb_bundle_free(&b);
}

static void test_truncated_everywhere(void **state)
{
    (void)state;
    float w0[6] = {1, 0, -1, 0.5f, 0.5f, 0.5f}, b0[2] = {0, -1};
    mb_mlp_layer layers[1] = {{3, 2, w0, b0, MB_ACT_TANH, 0}};
    mb_portable p = {.kind = MB_FORM_MLP};
    p.u.mlp = (mb_mlp_form){1, layers, MB_LINK_SOFTMAX};
    mb_bundle *b = make_bundle(&p, MB_TASK_BINARY, 2);
    /* a 2-output softmax MLP for a binary task is still a valid form */
    char path[128], cut[128];
    snprintf(path, sizeof path, "%s/whole.h5", dir);
    snprintf(cut, sizeof cut, "%s/cut.h5", dir);
    mb_error err;
    assert_int_equal(mb_bundle_save(path, b, &err), MB_OK);
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    rewind(fp);
    unsigned char *buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    /* every truncation and every flipped byte is found by the seal */
    for (long n = 0; n < size; n += size / 40 + 1) {
        FILE *o = fopen(cut, "wb");
        fwrite(buf, 1, (size_t)n, o);
        fclose(o);
        mb_bundle *c = NULL;
        assert_int_not_equal(mb_bundle_load(cut, &c, &err), MB_OK);
        assert_non_null(strstr(err.msg, "cut.h5"));
        assert_null(c);
    }
    srand(7);
    for (int trial = 0; trial < 60; trial++) {
        unsigned char *d = malloc((size_t)size);
        memcpy(d, buf, (size_t)size);
        for (int k = 0; k < 4; k++)
            d[(size_t)rand() % (size_t)size] ^= (unsigned char)(1 + rand() % 255);
        FILE *o = fopen(cut, "wb");
        fwrite(d, 1, (size_t)size, o);
        fclose(o);
        free(d);
        mb_bundle *c = NULL;
        assert_int_equal(mb_bundle_load(cut, &c, &err), MB_EFORMAT);
        /* a flip inside the seal's own tag reads as an unsealed file */
        assert_true(strstr(err.msg, "damaged") || strstr(err.msg, "not a moonbench model bundle"));
        assert_null(c);
    }
    free(buf);
    mb_bundle_free(&b);
}

/* A form that does not fit its schema (3 outputs, 2 classes; or another
** feature count) is refused at load: scorers size their buffers by it. */
static void test_form_schema_mismatch(void **state)
{
    (void)state;
    double coef[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, b0[3] = {0, 0, 0};
    mb_portable p = {.kind = MB_FORM_LINEAR};
    p.u.linear = (mb_linear_form){3, 3, coef, b0, MB_LINK_SOFTMAX};
    mb_bundle *b = make_bundle(&p, MB_TASK_MULTICLASS, 2), *c = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/mismatch.h5", dir);
    mb_error err;
    assert_int_equal(mb_bundle_save(path, b, &err), MB_OK);
    assert_int_equal(mb_bundle_load(path, &c, &err), MB_EFORMAT);
    assert_non_null(strstr(err.msg, "does not fit /schema: 3 outputs and 3 features for a multiclass model with 2 classes"));
    assert_null(c);
    mb_bundle_free(&b);
}

/* The signature as docs/model-format.md specifies it, checked with
** libsodium directly (not through sign.c): Ed25519 over the domain string,
** a NUL and the SHA-256 of bytes 512..end, in the user block's second line,
** by the key of the .pub file. Then the loader: trusted -> loads; one byte
** changed and the seal recomputed -> refused; an empty trust list -> refused. */
static void test_signature_format(void **state)
{
    (void)state;
    double coef[3] = {1, 2, 3}, b0[1] = {0.5};
    mb_portable p = {.kind = MB_FORM_LINEAR};
    p.u.linear = (mb_linear_form){3, 1, coef, b0, MB_LINK_IDENTITY};
    mb_bundle *b = make_bundle(&p, MB_TASK_REGRESSION, 0), *c = NULL;
    char path[128], base[128], *sec = NULL, *pub = NULL, *signer = NULL;
    snprintf(path, sizeof path, "%s/signed.h5", dir);
    snprintf(base, sizeof base, "%s/k", dir);
    mb_error err;
    assert_int_equal(mb_bundle_save(path, b, &err), MB_OK);
    assert_int_equal(mb_keygen(base, &sec, &pub, &err), MB_OK);
    assert_int_equal(mb_bundle_sign(path, sec, &signer, &err), MB_OK);

    /* the oracle: libsodium on the documented bytes */
    assert_true(sodium_init() >= 0);
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    unsigned char *bytes = malloc((size_t)n);
    assert_int_equal(fread(bytes, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    unsigned char msg[sizeof "moonbench-bundle-signature v1" + 32], pk[32], pk2[32], sig[64];
    memcpy(msg, "moonbench-bundle-signature v1", sizeof "moonbench-bundle-signature v1");
    crypto_hash_sha256(msg + sizeof "moonbench-bundle-signature v1", bytes + 512, (unsigned long long)(n - 512));
    const char *line = memchr(bytes, '\n', 512);
    assert_non_null(line);
    char kb[64], sb[128], pubtext[256];
    assert_int_equal(sscanf(line + 1, "moonbench signature v1 ed25519 %63s %127s", kb, sb), 2);
    assert_string_equal(kb, signer);
    assert_int_equal(sodium_base642bin(pk, 32, kb, strlen(kb), NULL, NULL, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(sodium_base642bin(sig, 64, sb, strlen(sb), NULL, NULL, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);
    fp = fopen(pub, "r");
    assert_int_equal(fread(pubtext, 1, sizeof pubtext - 1, fp) > 0, 1);
    fclose(fp);
    assert_int_equal(sscanf(pubtext, "moonbench-ed25519-public v1\n%63s", kb), 1);
    assert_int_equal(sodium_base642bin(pk2, 32, kb, strlen(kb), NULL, NULL, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
    assert_memory_equal(pk, pk2, 32);

    /* the loader */
    const char *files[] = {pub};
    mb_bundle_options o = {.trust_files = files, .ntrust_files = 1};
    assert_int_equal(mb_bundle_load_opts(path, &o, &c, &err), MB_OK);
    mb_bundle_free(&c);
    mb_trust none = {0};
    mb_bundle_options empty = {.trust = &none};
    assert_int_equal(mb_bundle_load_opts(path, &empty, &c, &err), MB_EARG);
    assert_non_null(strstr(err.msg, "no trusted keys"));
    /* change one byte of the model (the intercept's last byte) and reseal */
    for (long i = 512; i + 8 <= n; i++)
        if (memcmp(bytes + i, b0, 8) == 0) {
            bytes[i + 7] ^= 0x01;
            break;
        }
    unsigned char d[32];
    char hex[65];
    crypto_hash_sha256(d, bytes + 512, (unsigned long long)(n - 512));
    sodium_bin2hex(hex, sizeof hex, d, 32);
    memcpy(bytes + strlen("moonbench sealed file; sha256 of bytes 512..end: "), hex, 64);
    fp = fopen(path, "wb");
    assert_int_equal(fwrite(bytes, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    assert_int_equal(mb_bundle_load(path, &c, &err), MB_OK); /* the seal is fine... */
    assert_true(c->portable_state.n > 0);
    mb_bundle_free(&c);
    assert_int_equal(mb_bundle_load_opts(path, &o, &c, &err), MB_EFORMAT); /* ...the signature is not */
    assert_non_null(strstr(err.msg, "bad signature"));
    assert_non_null(strstr(err.msg, path));
    assert_null(c);
    free(bytes);
    mb_free(sec);
    mb_free(pub);
    mb_free(signer);
    mb_bundle_free(&b);
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_trees),
        cmocka_unit_test(test_mlp),
        cmocka_unit_test(test_newer_format_refused),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_form_schema_mismatch),
        cmocka_unit_test(test_signature_format),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
