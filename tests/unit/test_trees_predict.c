/*
** test_trees_predict.c: the trees plugin's batch prediction
** (plugins/trees/ensemble.c, predict_simd.c), linked from the plugin's
** objects so that whole doubles can be compared: the AVX-512 walk, the
** scalar walk (MOONBENCH_TREES_SIMD=0) and a plain node-by-node reference
** written here give the same bits on hand-made ensembles with NaN sent
** left and right, leaves above a tree's depth (padding), +-inf thresholds
** and values, values equal to thresholds, depths 0 to 6 mixed (and 7, which
** the vector walk leaves to the scalar one), one output per tree (binary,
** regression, multiclass by tree_output) with the logistic, identity and
** softmax links, 1 to 70 features (over 64 the vector walk gathers every
** level), row counts around the vector walk's 16 and 128 rows and
** the 256-row block, a row stride wider than the row, blocks with and
** without NaN, and the threaded split of a large batch. Also binning's
** vector search (gbdt_simd.c) against mbt_bin_of, the logloss
** gradients' vector exp (exp_simd.c) against libm's exp, bit for bit, and
** the split search's skipping of bins (mbt_gb_gains_simd) against a scalar
** reference of its gains.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbdt.h"
#include "predict.h"
#include "fixture.h"

static void *xmalloc(size_t n) { return malloc(n); }
static void *xrealloc(void *p, size_t n) { return realloc(p, n); }
static void xfree(void *p) { free(p); }
static void xlog(int level, const char *msg)
{
    (void)level;
    (void)msg;
}
static const mb_host host = {sizeof(mb_host), MB_PLUGIN_ABI, xmalloc, xrealloc, xfree, xlog};

static uint64_t rs = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 11);
}

#define NTHR 12
static const float thresholds[NTHR] = {-2.5f, -1.0f, -0.25f, 0.0f, 0.125f, 0.5f, 1.0f, 1.75f, 3.0f, 10.0f,
                                       -INFINITY, INFINITY};

/* Node n becomes a random subtree of depth at most d (exactly d when full). */
static void grow(mbt_ensemble *e, int32_t n, int d, int full, size_t nf)
{
    if (d == 0 || (!full && rnd() % 5 == 0))
        return;
    int32_t l = mbt_ens_add_node(e, &host);
    grow(e, l, d - 1, full, nf);
    int32_t r = mbt_ens_add_node(e, &host);
    grow(e, r, d - 1, full, nf);
    assert_true(l > 0 && r > 0);
    e->feature[n] = (int32_t)(rnd() % nf);
    /* +inf with NaN right would be a split no trainer makes, but the walks
    ** must still agree on it */
    e->threshold[n] = thresholds[rnd() % NTHR];
    e->default_left[n] = (uint8_t)(rnd() & 1);
    e->left[n] = l;
    e->right[n] = r;
}

/* A fitted-looking model of ntrees random trees of depth up to maxd. */
static void make_model(mbt_model *m, size_t nf, size_t K, size_t ntrees, int maxd, mb_link link)
{
    memset(m, 0, sizeof *m);
    m->kind = MBT_GBDT;
    m->host = &host;
    m->nfeatures = nf;
    m->threads = 1;
    assert_int_equal(mbt_ens_init(&m->ens, &host, nf, K, 1), MB_PLUGIN_OK);
    mbt_ensemble *e = &m->ens;
    e->link = link;
    for (size_t k = 0; k < K; k++)
        e->base_score[k] = 0.1 * (double)k - 0.3;
    for (size_t t = 0; t < ntrees; t++) {
        int32_t ti = mbt_ens_add_tree(e, &host, (int32_t)(t % K));
        assert_true(ti >= 0);
        int d = (int)(rnd() % (unsigned)(maxd + 1));
        grow(e, e->root[ti], d, rnd() % 3 == 0, nf);
    }
    for (size_t i = 0; i < e->nnodes; i++)
        if (e->feature[i] < 0) /* leaf values of many magnitudes: the order of the sums shows */
            e->value[i] = ((double)(rnd() % 2000001) - 1e6) * pow(10.0, (double)(rnd() % 13) - 9.0);
    m->fitted = 1;
}

/* Rows x cols at stride ld: thresholds themselves, NaN, +-inf, and others. */
static float *make_rows(size_t rows, size_t cols, size_t ld, int nan)
{
    float *x = malloc(rows * ld * sizeof *x);
    for (size_t i = 0; i < rows * ld; i++) {
        uint32_t u = rnd() % 100;
        x[i] = u < 30 ? thresholds[rnd() % 10] : u < 34 ? -INFINITY : u < 38 ? INFINITY
             : ((float)(rnd() % 20001) - 10000.0f) / 2000.0f;
        if (nan && u >= 90)
            x[i] = NAN;
    }
    (void)cols;
    return x;
}

/* The plain walk: node by node, NaN its default way, trees in order, then
** predict_rows's base score, average and link. */
static void reference(const mbt_model *m, const float *x, double *o)
{
    const mbt_ensemble *e = &m->ens;
    size_t K = e->noutputs;
    double s[32] = {0};
    for (size_t t = 0; t < e->ntrees; t++) {
        int32_t n = e->root[t];
        while (e->feature[n] >= 0) {
            float v = x[e->feature[n]];
            n = v <= e->threshold[n] || (isnan(v) && e->default_left[n]) ? e->left[n] : e->right[n];
        }
        s[e->tree_output[t]] += e->value[n];
    }
    for (size_t k = 0; k < K; k++)
        o[k] = e->base_score[k] + s[k];
    if (e->link == MB_LINK_LOGISTIC) {
        o[0] = 1.0 / (1.0 + exp(-o[0]));
    } else if (e->link == MB_LINK_SOFTMAX) {
        double mx = o[0], sum = 0.0;
        for (size_t k = 1; k < K; k++)
            mx = o[k] > mx ? o[k] : mx;
        for (size_t k = 0; k < K; k++)
            sum += (o[k] = exp(o[k] - mx));
        for (size_t k = 0; k < K; k++)
            o[k] /= sum;
    }
}

/* One model over several batch shapes: vector (when the CPU has it),
** scalar and reference outputs bit for bit. */
static void check_model(size_t nf, size_t K, size_t ntrees, int maxd, mb_link link, int threads)
{
    mbt_model m;
    make_model(&m, nf, K, ntrees, maxd, link);
    m.threads = threads;
    unsetenv("MOONBENCH_TREES_SIMD");
    assert_int_equal(mbt_prepare_predict(&m), MB_PLUGIN_OK);
    int vec = m.pred->vt != NULL;
    int deep = 0;
    for (size_t t = 0; t < m.ens.ntrees; t++)
        deep |= m.pred->trees[t].depth > 6;
    /* the vector walk takes every ensemble that suits it (otherwise the
    ** comparison below would prove nothing) and no other */
    assert_int_equal(vec, mbt_cpu_avx512() && !deep && K <= 16);
    mbt_model s = m; /* the same ensemble, its own predictor without the vector walk */
    s.pred = NULL;
    setenv("MOONBENCH_TREES_SIMD", "0", 1);
    assert_int_equal(mbt_prepare_predict(&s), MB_PLUGIN_OK);
    unsetenv("MOONBENCH_TREES_SIMD");
    assert_null(s.pred->vt);
    static const size_t counts[] = {16, 17, 31, 63, 64, 65, 100, 255, 256, 257, 700, 5000};
    char err[MB_PLUGIN_ERRLEN];
    for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
        for (int nan = 0; nan <= 1; nan++) {
            size_t rows = counts[ci], ld = nf + (ci % 3);
            float *x = make_rows(rows, nf, ld, nan);
            mb_matrix X = {x, rows, nf, ld};
            double *a = malloc(rows * K * sizeof *a), *b = malloc(rows * K * sizeof *b),
                   *r = malloc(rows * K * sizeof *r);
            assert_int_equal(mbt_predict_out(&m, &X, a, err), MB_PLUGIN_OK);
            assert_int_equal(mbt_predict_out(&s, &X, b, err), MB_PLUGIN_OK);
            for (size_t i = 0; i < rows; i++)
                reference(&m, x + i * ld, r + i * K);
            for (size_t i = 0; i < rows * K; i++) {
                if (memcmp(&a[i], &b[i], sizeof a[i]))
                    fail_msg("K %zu depth %d rows %zu nan %d: output %zu: %s %.17g, scalar %.17g", K, maxd,
                             rows, nan, i, vec ? "vector" : "default", a[i], b[i]);
                if (memcmp(&b[i], &r[i], sizeof b[i]))
                    fail_msg("K %zu depth %d rows %zu nan %d: output %zu: scalar %.17g, reference %.17g", K,
                             maxd, rows, nan, i, b[i], r[i]);
            }
            free(a);
            free(b);
            free(r);
            free(x);
        }
    }
    mbt_predictor_free(&host, &s.pred);
    mbt_model_clear(&m);
}

static void test_binary(void **state)
{
    (void)state;
    check_model(33, 1, 200, 6, MB_LINK_LOGISTIC, 1);
    check_model(5, 1, 37, 3, MB_LINK_LOGISTIC, 1);
    check_model(70, 1, 50, 6, MB_LINK_IDENTITY, 1); /* over 64 features: no transposed rows */
}

static void test_regression(void **state)
{
    (void)state;
    check_model(12, 1, 120, 6, MB_LINK_IDENTITY, 1);
    check_model(1, 1, 9, 6, MB_LINK_IDENTITY, 1); /* one feature */
    check_model(7, 1, 1, 0, MB_LINK_IDENTITY, 1);  /* a single leaf */
}

static void test_multiclass(void **state)
{
    (void)state;
    check_model(20, 3, 90, 6, MB_LINK_SOFTMAX, 1);
    check_model(9, 16, 48, 5, MB_LINK_SOFTMAX, 1);
    check_model(9, 17, 51, 4, MB_LINK_SOFTMAX, 1); /* over 16 outputs: the scalar walk */
}

static void test_deep_and_threads(void **state)
{
    (void)state;
    check_model(10, 1, 40, 8, MB_LINK_LOGISTIC, 1); /* depth 7-8 trees: the scalar walk */
    check_model(33, 1, 60, 6, MB_LINK_LOGISTIC, 2); /* 5000 rows on two threads */
}

/* Binning (binning.c, and its vector search in gbdt_simd.c): both paths
** and mbt_bin_of agree on every value, for features of 1 to 255 bins and
** a width that is not a multiple of 16, with values equal to edges, NaN,
** +-inf and -0. */
static void test_binning(void **state)
{
    (void)state;
    size_t F = 37, n = 3001, ld = F + 3;
    mbt_bins b = {F, malloc((F + 1) * sizeof(int32_t)), NULL};
    b.offset[0] = 0;
    for (size_t f = 0; f < F; f++)
        b.offset[f + 1] = b.offset[f] + (f == 0 ? 1 : f == 1 ? 255 : f == 2 ? 2 : 1 + (int32_t)(rnd() % 255));
    b.edges = malloc((size_t)b.offset[F] * sizeof(float));
    for (size_t f = 0; f < F; f++) {
        float v = -50.0f + (float)(rnd() % 100);
        for (int32_t i = b.offset[f]; i < b.offset[f + 1] - 1; i++)
            b.edges[i] = (v += 0.001f + (float)(rnd() % 1000) / 100.0f);
        if (f == 3 && b.offset[f + 1] - b.offset[f] > 2)
            b.edges[b.offset[f]] = -0.0f;
        b.edges[b.offset[f + 1] - 1] = INFINITY;
    }
    float *x = malloc(n * ld * sizeof *x);
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < ld; f++) {
            size_t ff = f < F ? f : 0, nb = (size_t)(b.offset[ff + 1] - b.offset[ff]);
            uint32_t u = rnd() % 100;
            x[r * ld + f] = u < 40 ? b.edges[b.offset[ff] + (int32_t)(rnd() % nb)]
                          : u < 44 ? NAN : u < 47 ? -INFINITY : u < 50 ? INFINITY : u < 53 ? 0.0f
                          : -200.0f + (float)(rnd() % 400000) / 1000.0f;
        }
    mb_matrix X = {x, n, F, ld};
    mbt_binned d[2];
    char err[MB_PLUGIN_ERRLEN];
    for (int k = 0; k < 2; k++) {
        if (k)
            setenv("MOONBENCH_TREES_SIMD", "0", 1);
        assert_int_equal(mbt_bin_data(&d[k], &host, &b, &X, 1, 1, NULL, err), MB_PLUGIN_OK);
        unsetenv("MOONBENCH_TREES_SIMD");
    }
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < F; f++) {
            uint8_t want = mbt_bin_of(&b, f, x[r * ld + f]);
            if (d[0].rowbins[r * F + f] != want || d[0].colbins[f * n + r] != want ||
                d[1].rowbins[r * F + f] != want || d[1].colbins[f * n + r] != want)
                fail_msg("row %zu feature %zu (%.9g, %d bins): %d %d %d %d, want %d", r, f, (double)x[r * ld + f],
                         (int)d[0].nb[f], d[0].rowbins[r * F + f], d[0].colbins[f * n + r], d[1].rowbins[r * F + f],
                         d[1].colbins[f * n + r], want);
        }
    mbt_binned_free(&d[0], &host);
    mbt_binned_free(&d[1], &host);
    free(x);
    free(b.offset);
    free(b.edges);
}

/* exp_simd.c against libm's exp, compared as bits: arguments over the
** gradients' range, next to the table's steps (k ln2/128, where the
** rounding of k turns), every exponent and raw bit patterns (inf, NaN,
** subnormals, overflow), in place and not, every length mod 8. */
static void test_exp(void **state)
{
    (void)state;
    if (!mbt_exp_simd_ok()) {
        printf("note: the vector exp is off here (no AVX-512, or its probe disagrees with this libm)\n");
        return;
    }
    size_t n = 1u << 22;
    double *x = malloc(n * sizeof *x), *e = malloc(n * sizeof *e);
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(s >> 11) * 0x1.0p-53;
        switch (i % 4) {
        case 0: /* the scores of a fit */
            x[i] = -40.0 + 80.0 * u;
            break;
        case 1: { /* near k ln2/128 */
            double k = floor(-70000.0 + 140000.0 * u);
            x[i] = nextafter(k * 0x1.62e42fefa39efp-1 / 128.0 + 0.5 * 0x1.62e42fefa39efp-1 / 128.0,
                             s & 1 ? INFINITY : -INFINITY);
            break;
        }
        case 2: /* every exponent up to 2^10 */
            x[i] = (s & 1 ? -1.0 : 1.0) * ldexp(1.0 + u, (int)((s >> 1) % 1100) - 1090);
            break;
        default: { /* any bits */
            uint64_t b = s ^ (s >> 29) * 0xbf58476d1ce4e5b9ULL;
            memcpy(&x[i], &b, sizeof b);
        }
        }
    }
    size_t bad = 0;
    for (size_t len = 1; len <= 17; len++) {
        size_t off = (len * 977) % (n - 17);
        mbt_exp_simd(x + off, e, len);
        for (size_t i = 0; i < len; i++) {
            double want = exp(x[off + i]);
            bad += memcmp(&want, &e[i], sizeof want) != 0;
        }
    }
    mbt_exp_simd(x, e, n);
    for (size_t i = 0; i < n; i++) {
        double want = exp(x[i]);
        if (memcmp(&want, &e[i], sizeof want) != 0 && bad++ < 5)
            printf("exp(%a): libm %a, vector %a\n", x[i], want, e[i]);
    }
    memcpy(e, x, 4096 * sizeof *e);
    mbt_exp_simd(e, e, 4096); /* in place */
    for (size_t i = 0; i < 4096; i++) {
        double want = exp(x[i]);
        bad += memcmp(&want, &e[i], sizeof want) != 0;
    }
    assert_int_equal(bad, 0);
    setenv("MOONBENCH_TREES_SIMD", "0", 1);
    assert_false(mbt_exp_simd_ok());
    unsetenv("MOONBENCH_TREES_SIMD");
    free(x);
    free(e);
}

static int same_or_below(double got, double exact, double best)
{
    return got == exact || (isnan(got) && isnan(exact)) || (got == -HUGE_VAL && !(exact > best));
}

/* find_split's scalar gain of the prefix sums ql (its oracle: the vector
** gains are the same IEEE operations, test_trees_fit compares the models) */
static double gain_ref(const gain_ctx *c, hbin ql)
{
    double GL = (double)q_g(ql) * c->ig, HL = (double)q_h(ql) * c->ih, GR = c->G - GL, HR = c->Hs - HL;
    if (!(HL >= c->mcw && HR >= c->mcw && HL * c->cf >= c->min_cnt && HR * c->cf >= c->min_cnt))
        return -HUGE_VAL;
    double tl = mbt_gb_thresh_l1(GL, c->l1), tr = mbt_gb_thresh_l1(GR, c->l1);
    return tl * tl / (HL + c->l2) + tr * tr / (HR + c->l2) - c->parent;
}

/* mbt_gb_gains_simd leaves out eight bins only when none of their gains
** is above the best so far, and what it computes is the exact gain (or
** -inf for one that cannot beat the best). Random histograms, penalties
** and limits, and bests at, just below and well below the largest gain. */
static void test_gain_skip(void **state)
{
    (void)state;
    if (!mbt_avx512_ok())
        return;
    size_t skipped = 0, blocks = 0;
    for (int rep = 0; rep < 400; rep++) {
        int nb = 1 + (int)(rnd() % 255);
        hbin qs[HSTRIDE + 8], acc = 0;
        int64_t hs = 0, gs = 0;
        for (int b = 0; b < nb; b++) {
            int64_t g = (int64_t)(rnd() % 20001) - 10000, h = rep % 5 == 0 ? 0 : (int64_t)(rnd() % 5000);
            gs += g;
            hs += h;
            qs[b] = acc += q_pack(g, h);
        }
        for (int b = nb; b < nb + 8; b++)
            qs[b] = 0;
        hbin qn = rep % 3 ? q_pack((int64_t)(rnd() % 2001) - 1000, rnd() % 300) : 0;
        double ig = 1.0 / (1 + rnd() % 4000), ih = 1.0 / (1 + rnd() % 4000);
        double l1 = rep % 4 == 1 ? (double)(rnd() % 50) : 0.0, l2 = rep % 4 == 2 ? (double)(rnd() % 10) : 0.0;
        double G = (double)(gs + q_g(qn)) * ig, Hs = (double)(hs + q_h(qn)) * ih;
        double t = mbt_gb_thresh_l1(G, l1);
        gain_ctx c = {G, Hs, t * t / (Hs + l2), ig, ih, Hs > 0 ? 1000.0 / Hs : 0.0,
                      rep % 7 == 3 ? 50.0 : -0.5, rep % 6 == 4 ? 3.0 : 0.0, l1, l2};
        double gr0[HSTRIDE + 8], gl0[HSTRIDE + 8], gr[HSTRIDE + 8], gl[HSTRIDE + 8], mx = -HUGE_VAL;
        for (int b = 0; b < nb; b++) {
            gr0[b] = gain_ref(&c, qs[b]);
            gl0[b] = gain_ref(&c, qs[b] + qn);
            mx = gr0[b] > mx ? gr0[b] : mx;
            mx = gl0[b] > mx ? gl0[b] : mx;
        }
        const double bests[] = {-HUGE_VAL, mx, nextafter(mx, -HUGE_VAL), mx * 0.999999, mx * 0.5, mx - 1.0, 0.0, 1e-12};
        for (size_t k = 0; k < sizeof bests / sizeof *bests; k++) {
            double best = bests[k];
            if (isnan(best) || (k > 0 && !(mx > -HUGE_VAL)))
                continue;
            uint32_t bl = mbt_gb_gains_simd(&c, qs, qn, nb, gr, gl, best);
            for (int b = 0; b < nb; b++) {
                if (bl >> (b / 8) & 1) {
                    if (!same_or_below(gr[b], gr0[b], best))
                        fail_msg("rep %d bin %d: gr %a, exact %a", rep, b, gr[b], gr0[b]);
                    if (!same_or_below(gl[b], gl0[b], best))
                        fail_msg("rep %d bin %d: gl %a, exact %a", rep, b, gl[b], gl0[b]);
                } else if (gr0[b] > best || gl0[b] > best) {
                    fail_msg("rep %d bin %d left out, but its gain %a / %a beats %a", rep, b, gr0[b], gl0[b], best);
                }
            }
            for (int b = 0; b < nb; b += 8, blocks++)
                skipped += !(bl >> (b / 8) & 1);
        }
    }
    printf("note: %zu of %zu blocks of eight bins left out\n", skipped, blocks);
    assert_true(skipped > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binning),
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_gain_skip),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_multiclass),
        cmocka_unit_test(test_deep_and_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
