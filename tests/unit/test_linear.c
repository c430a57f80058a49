/*
** test_linear.c: unit tests of the linear-models plugin (plugins/linear),
** loaded through the host as the program loads it.
**
** Reference figures: Ridge and least squares are checked against the
** closed form (X'X + alpha I')^-1 X'y computed here in double. The other
** figures were computed once with scikit-learn 1.2.1 / numpy 1.24.2
** (Debian's /usr/bin/python3) on the bundled datasets, read with h5py and
** prepared exactly as this file prepares them:
**     X = h["X"][...].astype(np.float32).astype(np.float64)
**     std(X) = ((X - X.mean(0)) / X.std(0)).astype(np.float32).astype(np.float64)
** and the calls are quoted above each table. Tolerances are stated at each
** check: 1e-3 relative (on the largest coefficient's scale) for the
** iterative solvers, whose stopping rules differ from sklearn's.
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

#include "dataset.h"
#include "io.h"
#include "plugin.h"
#include "fixture.h"
#include "portable.h"

/* {====== helpers ======} */

static mb_registry reg;
static const mb_model_type *ltype;
static const mb_loaded_plugin *lowner;

static void progress_stderr(void *ud, double fraction, const char *msg, double tl, double vl)
{
    (void)ud;
    (void)vl;
    fprintf(stderr, "# %.3f %s (train loss %.10g)\n", fraction, msg, tl);
}

static mb_fit_context ctx1 = {sizeof(mb_fit_context), NULL, 2, 0, NULL, NULL, NULL};

static void log_stderr(mb_log_level level, const char *msg, void *ud)
{
    (void)ud;
    fprintf(stderr, "# log[%d] %s\n", (int)level, msg);
}

static int setup(void **state)
{
    (void)state;
    if (getenv("LINEAR_TEST_LOG")) { /* show the plugin's reports while debugging */
        mb_set_log(log_stderr, NULL);
        ctx1.progress = progress_stderr;
    }
    if (mbt_load_plugin(&reg, "linear") != 0)
        return -1;
    mb_error err;
    ltype = mb_registry_find(&reg, "linear", &lowner, &err);
    return ltype ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mb_registry_close(&reg);
    return 0;
}

/* A model with settings (NULL-terminated "key=value" list). */
static mb_model *model_new(const char *const *settings)
{
    size_t n = 0;
    while (settings && settings[n])
        n++;
    mb_params p;
    mb_error err;
    if (mb_params_parse(&p, ltype, settings, n, &err) != MB_OK)
        fail_msg("params: %s", err.msg);
    mb_model *m;
    if (mb_model_create(&m, ltype, lowner, &p, &err) != MB_OK)
        fail_msg("create: %s", err.msg);
    return m;
}

static void fit_ok(mb_model *m, const mb_dataset *d)
{
    mb_error err;
    ctx1.host = mb_host_services();
    if (mb_model_fit(m, d, NULL, &ctx1, &err) != MB_OK)
        fail_msg("fit: %s", err.msg);
}

static mb_linear_form form_of(mb_model *m)
{
    mb_portable pf;
    char err[MB_PLUGIN_ERRLEN] = "";
    assert_non_null(m->type->portable);
    if (m->type->portable(m->impl, &pf, err) != MB_PLUGIN_OK)
        fail_msg("portable: %s", err);
    assert_int_equal(pf.kind, MB_FORM_LINEAR);
    return pf.u.linear;
}

/* |got - want| <= rtol * scale for each of n values. */
static void check_vec(const char *what, const double *got, const double *want, size_t n, double rtol, double scale)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= rtol * scale))
            fail_msg("%s[%zu] = %.10g, want %.10g (tolerance %g)", what, i, got[i], want[i], rtol * scale);
}

static double maxabs(const double *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(v[i]));
    return m;
}

/* A bundled dataset, optionally standardised (as std() in the header). */
typedef struct dset {
    mb_frame *f;
    mb_data d;
    float *xs;
    mb_dataset ds;
} dset;

static void dset_load(dset *s, const char *name, int standardise)
{
    mb_error err;
    char path[256];
    memset(s, 0, sizeof *s);
    snprintf(path, sizeof path, "datasets/%s.h5", name);
    if (mb_open(path, &s->f, &err) != MB_OK || mb_data_from_frame(s->f, 0, &s->d, &err) != MB_OK)
        fail_msg("%s: %s", path, err.msg);
    s->ds = s->d.ds;
    if (!standardise)
        return;
    size_t n = s->ds.X.rows, p = s->ds.X.cols;
    s->xs = malloc(n * p * sizeof(float));
    for (size_t j = 0; j < p; j++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < n; i++)
            m += (double)s->ds.X.x[i * s->ds.X.ld + j];
        m /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double d = (double)s->ds.X.x[i * s->ds.X.ld + j] - m;
            v += d * d;
        }
        double sd = sqrt(v / (double)n);
        for (size_t i = 0; i < n; i++)
            s->xs[i * p + j] = (float)(((double)s->ds.X.x[i * s->ds.X.ld + j] - m) / sd);
    }
    s->ds.X = (mb_matrix){s->xs, n, p, p};
}

static void dset_free(dset *s)
{
    free(s->xs);
    mb_data_free(&s->d);
    mb_frame_free(&s->f);
}

/* Deterministic pseudo-random numbers in [0, 1). */
static double lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) * (1.0 / 9007199254740992.0);
}

/* A small regression problem: n x p, columns offset from 0 (so centring
** matters), y linear plus noise. */
typedef struct synth {
    float *x, *y, *w;
    mb_dataset ds;
} synth;

static void synth_make(synth *s, size_t n, size_t p, mb_task task, size_t nclasses, uint64_t seed)
{
    s->x = malloc(n * p * sizeof(float));
    s->y = malloc(n * sizeof(float));
    s->w = NULL;
    for (size_t i = 0; i < n; i++) {
        double z = 0, best = -1e300;
        size_t cls = 0;
        for (size_t j = 0; j < p; j++) {
            double v = (lcg(&seed) - 0.5) * (1.0 + (double)j) + 3.0 * (double)j;
            s->x[i * p + j] = (float)v;
            z += (j % 2 ? -0.7 : 1.3) * (v - 3.0 * (double)j) / (1.0 + (double)j);
        }
        z += 0.5 * (lcg(&seed) - 0.5);
        if (task == MB_TASK_REGRESSION) {
            s->y[i] = (float)(2.0 + z);
        } else if (task == MB_TASK_BINARY) {
            s->y[i] = lcg(&seed) < 1.0 / (1.0 + exp(-3.0 * z)) ? 1.0f : 0.0f;
        } else {
            for (size_t c = 0; c < nclasses; c++) {
                double sc = z * ((double)c - 1.0) + lcg(&seed);
                if (sc > best) {
                    best = sc;
                    cls = c;
                }
            }
            s->y[i] = (float)cls;
        }
    }
    s->ds = (mb_dataset){{s->x, n, p, p}, s->y, NULL, task, task == MB_TASK_REGRESSION ? 0 : nclasses, NULL};
}

static void synth_free(synth *s)
{
    free(s->x);
    free(s->y);
    free(s->w);
}

/* Solve the n x n system A x = b in place (Gaussian elimination with
** partial pivoting); b gets x. */
static void gauss_solve(double *A, double *b, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(A[r * n + c]) > fabs(A[piv * n + c]))
                piv = r;
        for (size_t k = 0; k < n; k++) {
            double t = A[c * n + k];
            A[c * n + k] = A[piv * n + k];
            A[piv * n + k] = t;
        }
        double t = b[c];
        b[c] = b[piv];
        b[piv] = t;
        for (size_t r = c + 1; r < n; r++) {
            double f = A[r * n + c] / A[c * n + c];
            for (size_t k = c; k < n; k++)
                A[r * n + k] -= f * A[c * n + k];
            b[r] -= f * b[c];
        }
    }
    for (size_t c = n; c-- > 0;) {
        double s = b[c];
        for (size_t k = c + 1; k < n; k++)
            s -= A[c * n + k] * b[k];
        b[c] = s / A[c * n + c];
    }
}

/* Ridge in closed form: with an intercept, centre X and y and solve
** (Xc'Xc + alpha I) w = Xc'yc, b = ybar - xbar.w; without, solve on raw. */
static void ridge_reference(const mb_dataset *d, double alpha, int intercept, double *w, double *b)
{
    size_t n = d->X.rows, p = d->X.cols;
    double xm[16] = {0}, ym = 0, A[256] = {0};
    assert_true(p <= 16);
    if (intercept) {
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < p; j++)
                xm[j] += (double)d->X.x[i * d->X.ld + j] / (double)n;
            ym += (double)d->y[i] / (double)n;
        }
    }
    memset(w, 0, p * sizeof *w);
    for (size_t i = 0; i < n; i++) {
        const float *x = d->X.x + i * d->X.ld;
        for (size_t a = 0; a < p; a++) {
            for (size_t c = 0; c < p; c++)
                A[a * p + c] += ((double)x[a] - xm[a]) * ((double)x[c] - xm[c]);
            w[a] += ((double)x[a] - xm[a]) * ((double)d->y[i] - ym);
        }
    }
    for (size_t a = 0; a < p; a++)
        A[a * p + a] += alpha;
    gauss_solve(A, w, p);
    *b = ym;
    for (size_t j = 0; j < p; j++)
        *b -= xm[j] * w[j];
    if (!intercept)
        *b = 0;
}

/* Captured log lines (the plugin logs through the host). */
static char logbuf[4096];
static void log_capture(mb_log_level level, const char *msg, void *ud)
{
    (void)ud;
    size_t k = strlen(logbuf);
    snprintf(logbuf + k, sizeof logbuf - k, "[%d] %s\n", (int)level, msg);
}

/* {====== regression ======} */

static void test_ridge_closed_form(void **state)
{
    (void)state;
    synth s;
    synth_make(&s, 80, 5, MB_TASK_REGRESSION, 0, 7);
    static const struct {
        const char *set[6];
        double alpha;
        int icpt;
        double rtol;
    } cases[] = {
        {{"alpha=0.7", NULL}, 0.7, 1, 1e-9},
        {{"alpha=25", NULL}, 25, 1, 1e-9},
        {{"alpha=0.7", "fit_intercept=false", NULL}, 0.7, 0, 1e-9},
        {{"penalty=none", NULL}, 0, 1, 1e-9},
        /* the same objectives by the iterative solvers, to their tolerance */
        {{"alpha=0.7", "solver=lbfgs", "tol=1e-9", "max_iter=1000", NULL}, 0.7, 1, 1e-4},
        {{"alpha=0.7", "solver=cd", "tol=1e-12", NULL}, 0.7, 1, 1e-6},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double w[5], b;
        ridge_reference(&s.ds, cases[c].alpha, cases[c].icpt, w, &b);
        mb_model *m = model_new(cases[c].set);
        fit_ok(m, &s.ds);
        mb_linear_form f = form_of(m);
        assert_int_equal(f.noutputs, 1);
        assert_int_equal(f.link, MB_LINK_IDENTITY);
        double sc = maxabs(w, 5);
        check_vec(cases[c].set[0], f.coef, w, 5, cases[c].rtol, sc);
        check_vec("intercept", f.intercept, &b, 1, cases[c].rtol, fmax(sc, fabs(b)));
        mb_model_free(&m);
    }
    synth_free(&s);
}

/* Least squares with a duplicated column: singular normal equations. The
** eigen fallback gives the minimum-norm solution, which splits the weight
** of the column equally between the copies (numpy.linalg.lstsq's answer). */
static void test_ols_singular(void **state)
{
    (void)state;
    synth s, one;
    synth_make(&s, 50, 3, MB_TASK_REGRESSION, 0, 9);
    synth_make(&one, 50, 2, MB_TASK_REGRESSION, 0, 9);
    for (size_t i = 0; i < 50; i++) {
        one.x[i * 2] = s.x[i * 3];
        one.x[i * 2 + 1] = s.x[i * 3 + 1];
        s.x[i * 3 + 2] = s.x[i * 3 + 1];
        one.y[i] = s.y[i];
    }
    static const char *const set[] = {"penalty=none", NULL};
    mb_model *a = model_new(set), *b = model_new(set);
    logbuf[0] = '\0';
    mb_set_log(log_capture, NULL);
    fit_ok(a, &s.ds);
    mb_set_log(getenv("LINEAR_TEST_LOG") ? log_stderr : NULL, NULL);
    assert_non_null(strstr(logbuf, "minimum-norm"));
    fit_ok(b, &one.ds);
    mb_linear_form fa = form_of(a), fb = form_of(b);
    double want[3] = {fb.coef[0], fb.coef[1] / 2, fb.coef[1] / 2};
    check_vec("singular coef", fa.coef, want, 3, 1e-6, maxabs(fb.coef, 2));
    check_vec("singular intercept", fa.intercept, fb.intercept, 1, 1e-6, fmax(1.0, fabs(fb.intercept[0])));
    mb_model_free(&a);
    mb_model_free(&b);
    synth_free(&s);
    synth_free(&one);
}

/* sklearn.linear_model.Lasso(alpha=1.0, tol=1e-12, max_iter=1000000).fit(X, y)
** and ElasticNet(alpha=1.0, l1_ratio=0.5, tol=1e-12, max_iter=1000000) on
** diabetes (raw, unscaled features). */
static const double lasso_coef[10] = {
    -1.9023558144618664e-02, -1.7476916025898188e+01, 5.8424604828768958e+00, 1.0915375837465309e+00,
    1.5653147924678071e-01,  -3.1555925897121667e-01, -1.1882287702970140e+00, 1.6105563938995315e-01,
    3.4214956980387740e+01,  3.2973369462500307e-01};
static const double lasso_icpt = -202.26321671348742;
static const double enet_coef[10] = {-0.03883655487678774, -5.750910700516239,  6.081001921212881,
                                     1.0527671012593594,   1.1859088568244944,  -1.3048483992407762,
                                     -2.0858129148379514,  0.24191595965879636, 2.823003541787717,
                                     0.3493980821132714};
static const double enet_icpt = -113.36717182075299;

static void test_lasso_enet_sklearn(void **state)
{
    (void)state;
    dset s;
    dset_load(&s, "diabetes", 0);
    static const char *const lasso_set[] = {"penalty=l1", "alpha=1", "tol=1e-12", "max_iter=1000000", NULL};
    static const char *const enet_set[] = {"penalty=elasticnet", "alpha=1", "l1_ratio=0.5", "tol=1e-12",
                                           "max_iter=1000000", NULL};
    mb_model *m = model_new(lasso_set);
    fit_ok(m, &s.ds);
    mb_linear_form f = form_of(m);
    /* 1e-6 of the largest coefficient: both solve the same problem to 1e-12 */
    check_vec("lasso coef", f.coef, lasso_coef, 10, 1e-6, maxabs(lasso_coef, 10));
    check_vec("lasso intercept", f.intercept, &lasso_icpt, 1, 1e-6, fabs(lasso_icpt));
    mb_model_free(&m);
    m = model_new(enet_set);
    fit_ok(m, &s.ds);
    f = form_of(m);
    check_vec("enet coef", f.coef, enet_coef, 10, 1e-6, maxabs(enet_coef, 10));
    check_vec("enet intercept", f.intercept, &enet_icpt, 1, 1e-6, fabs(enet_icpt));
    mb_model_free(&m);
    /* OWL-QN on the same lasso objective, to 1e-3 */
    static const char *const owl_set[] = {"penalty=l1", "alpha=1", "solver=lbfgs", "tol=1e-7", "max_iter=5000",
                                          NULL};
    m = model_new(owl_set);
    fit_ok(m, &s.ds);
    f = form_of(m);
    check_vec("lasso (owlqn) coef", f.coef, lasso_coef, 10, 1e-3, maxabs(lasso_coef, 10));
    mb_model_free(&m);
    dset_free(&s);
}

/* {====== classification ======} */

/* LogisticRegression(C=1.0, tol=1e-10, max_iter=100000).fit(std(X), y) on
** breast_cancer; the same with class_weight="balanced". */
static const double bc_l2[30] = {
    -0.36317074463384685, -0.3877028232597414,  -0.35111461923696363, -0.4355588474786662,  -0.1617647460826502,
    0.5625952643473155,   -0.859897494491309,   -0.962221678329866,   0.07616782420916846,  0.3221857873990724,
    -1.29103482415268,    0.2689252237459508,   -0.659886839247257,   -1.0125009346701386,  -0.27717054366918564,
    0.7362826039524574,   0.11052646403521718,  -0.3335099266730182,  0.2959022267874337,   0.6809152310236427,
    -1.0293609625449973,  -1.3145932271361418,  -0.8233171809247977,  -1.010593569694278,   -0.6707313350007861,
    0.04465896628883071,  -0.8733006725534157,  -0.9119581739207461,  -0.8878969777834484,  -0.4798314512890652};
static const double bc_l2_icpt = 0.2145657358227074;
static const double bc_bal[30] = {
    -0.3015483771022105,  -0.3353391365942139,  -0.2946754533451821,  -0.39040434307337807, -0.16848290428865953,
    0.6546493206288942,   -0.8494232297627562,  -0.9813368752033749,  0.09879788129924823,  0.28887806991436205,
    -1.3578939615160999,  0.2509978771702329,   -0.6396161358758299,  -1.0379952730056894,  -0.2615283488345033,
    0.7400456816777076,   0.13681741314698706,  -0.3641464709340775,  0.30556199238730014,  0.6885616660739083,
    -1.0599792897805522,  -1.3428042584970292,  -0.8282298500859309,  -1.0357822984273772,  -0.5941828907110042,
    0.0296139981582545,   -0.8422021857985902,  -0.9403840660891462,  -0.863840162754333,   -0.5540749402368637};
static const double bc_bal_icpt = -0.227593942120336;
/* LogisticRegression(C=0.5, penalty="l1", solver="saga", tol=1e-12, max_iter=1000000) */
static const double bc_l1[30] = {
    0, -0.22216019138042836, 0, 0, 0, 0, 0, -0.7463779082211184, 0, 0.08661864693875611,
    -1.8417797166327912, 0, 0, 0, -0.06629677151946317, 0.3442887677954365, 0, 0, 0, 0.22081683675522115,
    -3.6996671027106958, -1.1160310577122747, 0, 0, -0.5853110736869396, 0, -0.7428118100273357,
    -1.147043753396867, -0.40653961087778684, 0};
static const double bc_l1_icpt = 0.42288981316600815;
/* LogisticRegression(C=0.5, penalty="elasticnet", l1_ratio=0.5, solver="saga", tol=1e-12,
** max_iter=1000000) */
static const double bc_enet[30] = {
    -0.2764250009741842, -0.36479356459804985, -0.22719947348929787, -0.3092029283852497, 0, 0,
    -0.48090978148657865, -0.7513443832459025, 0, 0.22650329810659986, -1.1677952329847723,
    0.09470041331894681, -0.3984996801691057, -0.686294113107238, -0.12230442863564013, 0.5674848443438908, 0,
    -0.00509141300037306, 0.15465717552106686, 0.2632149231200317, -1.0074258212433214, -1.0293538414625882,
    -0.7712455628720551, -0.8815708759388236, -0.670175990198224, 0, -0.6767377662079753, -0.9520499087387159,
    -0.6220540436684431, 0};
static const double bc_enet_icpt = 0.30169862854797863;

static void test_logistic_binary_sklearn(void **state)
{
    (void)state;
    dset s;
    dset_load(&s, "breast_cancer", 1);
    static const struct {
        const char *set[7];
        const double *coef, *icpt;
    } cases[] = {
        {{"alpha=1", "tol=1e-8", "max_iter=1000", NULL}, bc_l2, &bc_l2_icpt},
        {{"alpha=1", "tol=1e-8", "max_iter=1000", "class_weight=balanced", NULL}, bc_bal, &bc_bal_icpt},
        {{"alpha=2", "penalty=l1", "tol=1e-8", "max_iter=5000", NULL}, bc_l1, &bc_l1_icpt},
        {{"alpha=2", "penalty=elasticnet", "l1_ratio=0.5", "tol=1e-8", "max_iter=5000", NULL}, bc_enet,
         &bc_enet_icpt},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mb_model *m = model_new(cases[c].set);
        fit_ok(m, &s.ds);
        mb_linear_form f = form_of(m);
        assert_int_equal(f.noutputs, 1);
        assert_int_equal(f.link, MB_LINK_LOGISTIC);
        double sc = maxabs(cases[c].coef, 30);
        /* 1e-3 of the largest coefficient */
        char label[64];
        snprintf(label, sizeof label, "case %zu (%s) coef", c, cases[c].set[c >= 2 ? 1 : 3]);
        check_vec(label, f.coef, cases[c].coef, 30, 1e-3, sc);
        check_vec("intercept", f.intercept, cases[c].icpt, 1, 1e-3, sc);
        /* exact zeros of the l1 fits are zeros here too */
        for (size_t j = 0; c >= 2 && j < 30; j++)
            if ((cases[c].coef[j] == 0) != (f.coef[j] == 0) && fabs(cases[c].coef[j] - f.coef[j]) > 1e-4)
                fail_msg("case %zu: coef[%zu] = %g, sklearn %g", c, j, f.coef[j], cases[c].coef[j]);
        mb_model_free(&m);
    }
    dset_free(&s);
}

/* LogisticRegression(C=1.0, tol=1e-10, max_iter=100000).fit(std(X), y) on
** iris (multinomial by default for lbfgs): coef_ (3 x 4), intercept_. */
static const double iris_coef[12] = {-1.074041428854632,  1.160063368693141,   -1.9306286714912508,
                                     -1.8116888218312555, 0.5878004440982192,  -0.3618237250969102,
                                     -0.36346276229751967, -0.8261927707767346, 0.48624098475641286,
                                     -0.7982396435962317, 2.2940914337887715,  2.63788159260799};
static const double iris_icpt[3] = {-0.2053169029073597, 2.074865309248792, -1.869548406341427};

static void test_logistic_multinomial_sklearn(void **state)
{
    (void)state;
    dset s;
    dset_load(&s, "iris", 1);
    static const char *const set[] = {"tol=1e-8", "max_iter=1000", NULL};
    mb_model *m = model_new(set);
    fit_ok(m, &s.ds);
    mb_linear_form f = form_of(m);
    assert_int_equal(f.noutputs, 3);
    assert_int_equal(f.link, MB_LINK_SOFTMAX);
    double sc = maxabs(iris_coef, 12);
    check_vec("iris coef", f.coef, iris_coef, 12, 1e-3, sc);
    check_vec("iris intercept", f.intercept, iris_icpt, 3, 1e-3, sc);
    /* probabilities sum to 1, classes are their argmax */
    size_t n = s.ds.X.rows;
    float *pr = malloc(n * 3 * sizeof(float)), *cl = malloc(n * sizeof(float));
    mb_error err;
    assert_int_equal(mb_model_predict_proba(m, &s.ds.X, pr, &err), MB_OK);
    assert_int_equal(mb_model_predict(m, &s.ds.X, cl, &err), MB_OK);
    for (size_t i = 0; i < n; i++) {
        float *q = pr + 3 * i;
        assert_true(fabs((double)(q[0] + q[1] + q[2]) - 1.0) < 1e-5);
        size_t best = q[1] > q[0] ? 1 : 0;
        if (q[2] > q[best])
            best = 2;
        assert_true(cl[i] == (float)best);
    }
    free(pr);
    free(cl);
    mb_model_free(&m);
    dset_free(&s);
}

/* {====== weights ======} */

/* A weight of 2 on a row gives the model of that row written twice. */
static void test_sample_weights_duplicate(void **state)
{
    (void)state;
    static const struct {
        mb_task task;
        size_t k;
        const char *set[5];
        double rtol;
    } cases[] = {
        {MB_TASK_REGRESSION, 0, {"alpha=3", NULL}, 1e-9},
        {MB_TASK_REGRESSION, 0, {"penalty=l1", "alpha=0.05", "tol=1e-12", NULL}, 1e-6},
        {MB_TASK_BINARY, 2, {"alpha=0.5", "tol=1e-8", "max_iter=1000", NULL}, 1e-4},
        {MB_TASK_MULTICLASS, 3, {"alpha=0.5", "tol=1e-8", "max_iter=1000", NULL}, 1e-4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = 60, p = 4, extra = 0;
        synth s;
        synth_make(&s, n, p, cases[c].task, cases[c].k, 11 + c);
        s.w = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            s.w[i] = i % 3 == 0 ? 2.0f : i % 7 == 0 ? 0.0f : 1.0f;
            extra += i % 3 == 0;
        }
        s.ds.w = s.w;
        /* the duplicated copy: weight-2 rows twice, weight-0 rows dropped */
        float *x2 = malloc((n + extra) * p * sizeof(float)), *y2 = malloc((n + extra) * sizeof(float));
        size_t r = 0;
        for (size_t i = 0; i < n; i++)
            for (int t = 0; t < (int)s.w[i]; t++, r++) {
                memcpy(x2 + r * p, s.x + i * p, p * sizeof(float));
                y2[r] = s.y[i];
            }
        mb_dataset d2 = s.ds;
        d2.X = (mb_matrix){x2, r, p, p};
        d2.y = y2;
        d2.w = NULL;
        mb_model *a = model_new(cases[c].set), *b = model_new(cases[c].set);
        fit_ok(a, &s.ds);
        fit_ok(b, &d2);
        mb_linear_form fa = form_of(a), fb = form_of(b);
        size_t k = fa.noutputs;
        double sc = maxabs(fb.coef, k * p);
        check_vec("weighted coef", fa.coef, fb.coef, k * p, cases[c].rtol, sc);
        check_vec("weighted intercept", fa.intercept, fb.intercept, k, cases[c].rtol, fmax(1.0, sc));
        mb_model_free(&a);
        mb_model_free(&b);
        free(x2);
        free(y2);
        synth_free(&s);
    }
}

/* class_weight=balanced equals sample weights n / (k n_c). */
static void test_class_weight_balanced(void **state)
{
    (void)state;
    size_t n = 90, p = 3, k = 3;
    synth s;
    synth_make(&s, n, p, MB_TASK_MULTICLASS, k, 5);
    size_t cnt[3] = {0};
    for (size_t i = 0; i < n; i++)
        cnt[(size_t)s.y[i]]++;
    assert_true(cnt[0] != cnt[1] || cnt[1] != cnt[2]);
    s.w = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        s.w[i] = (float)((double)n / ((double)k * (double)cnt[(size_t)s.y[i]]));
    static const char *const bal[] = {"class_weight=balanced", "tol=1e-8", "max_iter=1000", NULL};
    static const char *const plain[] = {"tol=1e-8", "max_iter=1000", NULL};
    mb_model *a = model_new(bal), *b = model_new(plain);
    fit_ok(a, &s.ds);
    mb_dataset dw = s.ds;
    dw.w = s.w;
    fit_ok(b, &dw);
    mb_linear_form fa = form_of(a), fb = form_of(b);
    check_vec("balanced coef", fa.coef, fb.coef, k * p, 1e-4, maxabs(fb.coef, k * p));
    check_vec("balanced intercept", fa.intercept, fb.intercept, k, 1e-4, maxabs(fb.coef, k * p));
    mb_model_free(&a);
    mb_model_free(&b);
    synth_free(&s);
}

/* {====== state, portable form, importance ======} */

static void test_save_load_portable(void **state)
{
    (void)state;
    static const struct {
        mb_task task;
        size_t k;
    } cases[] = {{MB_TASK_REGRESSION, 0}, {MB_TASK_BINARY, 2}, {MB_TASK_MULTICLASS, 4}};
    for (size_t c = 0; c < 3; c++) {
        size_t n = 50, p = 6;
        synth s;
        synth_make(&s, n, p, cases[c].task, cases[c].k, 21 + c);
        static const char *const set[] = {"alpha=0.3", NULL};
        mb_model *a = model_new(set), *b = model_new(set);
        fit_ok(a, &s.ds);
        mb_state st = {0};
        mb_state_writer w = mb_state_writer_for(&st);
        mb_state_reader r = mb_state_reader_for(&st);
        char err[MB_PLUGIN_ERRLEN] = "";
        assert_int_equal(a->type->save(a->impl, &w, err), MB_PLUGIN_OK);
        assert_int_equal(b->type->load(b->impl, &r, err), MB_PLUGIN_OK);
        b->task = a->task;
        b->nfeatures = a->nfeatures;
        b->nclasses = a->nclasses;
        size_t k = cases[c].task == MB_TASK_MULTICLASS ? cases[c].k : cases[c].task == MB_TASK_BINARY ? 2 : 1;
        float *pa = malloc(n * k * sizeof(float)), *pb = malloc(n * k * sizeof(float));
        double *pp = malloc(n * k * sizeof(double));
        mb_error e;
        for (int proba = 0; proba < 2; proba++) {
            if (proba && cases[c].task == MB_TASK_REGRESSION)
                continue;
            size_t nk = proba ? k : 1;
            mb_status sa = proba ? mb_model_predict_proba(a, &s.ds.X, pa, &e) : mb_model_predict(a, &s.ds.X, pa, &e);
            mb_status sb = proba ? mb_model_predict_proba(b, &s.ds.X, pb, &e) : mb_model_predict(b, &s.ds.X, pb, &e);
            assert_int_equal(sa, MB_OK);
            assert_int_equal(sb, MB_OK);
            assert_memory_equal(pa, pb, n * nk * sizeof(float));
        }
        /* the portable form scores like the plugin: raw value, P(class 1)
        ** or class probabilities */
        mb_portable pf;
        assert_int_equal(a->type->portable(a->impl, &pf, err), MB_PLUGIN_OK);
        assert_int_equal(mb_portable_check(&pf, &e), MB_OK);
        assert_int_equal(mb_portable_predict(&pf, &s.ds.X, pp, &e), MB_OK);
        if (cases[c].task == MB_TASK_REGRESSION)
            mb_model_predict(a, &s.ds.X, pa, &e);
        else
            mb_model_predict_proba(a, &s.ds.X, pa, &e);
        for (size_t i = 0; i < n; i++) {
            size_t no = pf.u.linear.noutputs;
            for (size_t o = 0; o < no; o++) {
                double want = cases[c].task == MB_TASK_BINARY ? (double)pa[2 * i + 1] : (double)pa[i * no + o];
                if (!(fabs(pp[i * no + o] - want) <= 1e-5 * fmax(1.0, fabs(want))))
                    fail_msg("portable row %zu output %zu: %.9g, plugin %.9g", i, o, pp[i * no + o], want);
            }
        }
        /* importance is |coef| (summed over classes) */
        double imp[6];
        assert_int_equal(a->type->importance(a->impl, 0, imp, err), MB_PLUGIN_OK);
        for (size_t j = 0; j < p; j++) {
            double want = 0;
            for (size_t o = 0; o < pf.u.linear.noutputs; o++)
                want += fabs(pf.u.linear.coef[o * p + j]);
            assert_true(fabs(imp[j] - want) < 1e-12);
        }
        /* a single row predicts like the batch (the no-BLAS path) */
        mb_matrix one = {s.ds.X.x + 3 * p, 1, p, p};
        float o1[4];
        assert_int_equal(mb_model_predict(a, &one, o1, &e), MB_OK);
        mb_model_predict(a, &s.ds.X, pa, &e);
        assert_true(fabs((double)(o1[0] - pa[3])) <= 1e-5 * fmax(1.0, fabs((double)pa[3])));
        /* truncated state is refused */
        mb_state bad = {0};
        mb_state_writer bw = mb_state_writer_for(&bad);
        int64_t info[7] = {1, (int64_t)cases[c].task, 6, 1, 0, 0, 0};
        bw.put(bw.ud, "info", MB_DT_I64, info, 7);
        mb_state_reader br = mb_state_reader_for(&bad);
        mb_model *z = model_new(set);
        assert_int_equal(z->type->load(z->impl, &br, err), MB_PLUGIN_EFORMAT);
        mb_model_free(&z);
        mb_state_clear(&bad);
        mb_state_clear(&st);
        free(pa);
        free(pb);
        free(pp);
        mb_model_free(&a);
        mb_model_free(&b);
        synth_free(&s);
    }
}

/* {====== bad input, convergence, progress ======} */

static void test_bad_input(void **state)
{
    (void)state;
    const char *const solvers[][3] = {{"solver=cholesky", NULL}, {"solver=cd", "penalty=l1", NULL}, {NULL}};
    for (int task = 0; task < 2; task++) {
        for (size_t c = 0; c < 3; c++) {
            if (task == 1 && c < 2)
                continue;
            synth s;
            synth_make(&s, 40, 5, task ? MB_TASK_BINARY : MB_TASK_REGRESSION, 2, 3);
            s.x[17 * 5 + 2] = NAN;
            mb_model *m = model_new(solvers[c]);
            mb_error err;
            assert_int_not_equal(mb_model_fit(m, &s.ds, NULL, &ctx1, &err), MB_OK);
            if (!strstr(err.msg, "row 17, column 2") || !strstr(err.msg, "NaN"))
                fail_msg("unclear NaN message: %s", err.msg);
            s.x[17 * 5 + 2] = INFINITY;
            assert_int_not_equal(mb_model_fit(m, &s.ds, NULL, &ctx1, &err), MB_OK);
            if (!strstr(err.msg, "row 17, column 2") || !strstr(err.msg, "infinite"))
                fail_msg("unclear inf message: %s", err.msg);
            mb_model_free(&m);
            synth_free(&s);
        }
    }
    /* a bad label, a negative weight, a solver that cannot do the task */
    synth s;
    synth_make(&s, 40, 3, MB_TASK_BINARY, 2, 4);
    mb_model *m = model_new(NULL);
    mb_error err;
    s.y[5] = 2;
    assert_int_not_equal(mb_model_fit(m, &s.ds, NULL, &ctx1, &err), MB_OK);
    assert_non_null(strstr(err.msg, "row 5"));
    s.y[5] = 1;
    s.w = calloc(40, sizeof(float));
    s.w[9] = -1;
    s.ds.w = s.w;
    assert_int_not_equal(mb_model_fit(m, &s.ds, NULL, &ctx1, &err), MB_OK);
    assert_non_null(strstr(err.msg, "row 9"));
    s.ds.w = NULL;
    mb_model_free(&m);
    static const char *const chol[] = {"solver=cholesky", NULL};
    m = model_new(chol);
    assert_int_not_equal(mb_model_fit(m, &s.ds, NULL, &ctx1, &err), MB_OK);
    assert_non_null(strstr(err.msg, "cholesky"));
    mb_model_free(&m);
    /* predicting before fitting; the wrong number of features (the host) */
    m = model_new(NULL);
    float out[40];
    assert_int_not_equal(mb_model_predict(m, &s.ds.X, out, &err), MB_OK);
    fit_ok(m, &s.ds);
    mb_matrix wrong = {s.x, 10, 2, 3};
    assert_int_equal(mb_model_predict(m, &wrong, out, &err), MB_ESHAPE);
    mb_model_free(&m);
    /* unknown parameter values are refused by the host */
    mb_params p;
    const char *badp[] = {"penalty=l3"};
    assert_int_not_equal(mb_params_parse(&p, ltype, badp, 1, &err), MB_OK);
    synth_free(&s);
}

typedef struct prog {
    int calls;
    double last;
    char msg[128];
} prog;

static void on_progress(void *ud, double fraction, const char *msg, double tl, double vl)
{
    prog *pr = ud;
    (void)tl;
    (void)vl;
    pr->calls++;
    pr->last = fraction;
    snprintf(pr->msg, sizeof pr->msg, "%s", msg);
}

static void test_convergence_report(void **state)
{
    (void)state;
    dset s;
    dset_load(&s, "breast_cancer", 0); /* raw features: far from converged in 2 iterations */
    static const char *const set[] = {"max_iter=2", NULL};
    mb_model *m = model_new(set);
    prog pr = {0};
    mb_fit_context ctx = {sizeof ctx, mb_host_services(), 1, 0, on_progress, &pr, NULL};
    mb_error err;
    logbuf[0] = '\0';
    mb_set_log(log_capture, NULL);
    assert_int_equal(mb_model_fit(m, &s.ds, NULL, &ctx, &err), MB_OK);
    if (!strstr(logbuf, "did not converge") || !strstr(logbuf, "2 iterations"))
        fail_msg("log: %s", logbuf);
    assert_true(pr.calls >= 2 && pr.last == 1.0);
    assert_non_null(strstr(pr.msg, "did not converge"));
    /* converged fits say so (on standardised features: the raw ones make
    ** a badly conditioned problem that takes thousands of iterations) */
    mb_model_free(&m);
    dset_free(&s);
    dset_load(&s, "breast_cancer", 1);
    m = model_new(NULL);
    logbuf[0] = '\0';
    assert_int_equal(mb_model_fit(m, &s.ds, &s.ds, &ctx, &err), MB_OK);
    if (!strstr(logbuf, "converged after"))
        fail_msg("log: %s", logbuf);
    mb_set_log(getenv("LINEAR_TEST_LOG") ? log_stderr : NULL, NULL);
    /* cancellation */
    volatile int stop = 1;
    ctx.cancel = &stop;
    assert_int_equal(mb_model_fit(m, &s.ds, NULL, &ctx, &err), MB_ECANCELLED);
    mb_model_free(&m);
    dset_free(&s);
}

/* {====== fit_info ======} */

/* The value named name in fi, or fail. */
static double info_value(const mb_fit_info *fi, const char *name)
{
    for (size_t i = 0; i < fi->n; i++)
        if (strcmp(fi->names[i], name) == 0)
            return fi->values[i];
    fail_msg("fit_info has no '%s' (%zu values)", name, fi->n);
    return NAN;
}

/* A copy of st without the array named drop (a state saved before it). */
static void state_without(const mb_state *st, const char *drop, mb_state *out)
{
    mb_state_writer w = mb_state_writer_for(out);
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->arrays[i].name, drop) != 0)
            assert_int_equal(w.put(w.ud, st->arrays[i].name, st->arrays[i].type, st->arrays[i].data,
                                   st->arrays[i].count), MB_PLUGIN_OK);
}

static void test_fit_info(void **state)
{
    (void)state;
    mb_error err;
    char perr[MB_PLUGIN_ERRLEN] = "";
    mb_fit_info fi;
    dset s;
    dset_load(&s, "breast_cancer", 1);
    mb_model *m = model_new(NULL);
    assert_non_null(m->type->fit_info);
    /* nothing before the fit */
    assert_int_equal(m->type->fit_info(m->impl, &fi, perr), MB_PLUGIN_OK);
    assert_int_equal(fi.n, 0);
    fit_ok(m, &s.ds);
    assert_int_equal(mb_model_fit_info(m, &fi, &err), MB_OK);
    assert_int_equal(fi.n, 3);
    assert_string_equal(fi.names[0], "iterations");
    assert_string_equal(fi.names[1], "converged");
    assert_string_equal(fi.names[2], "train_loss");
    double it = info_value(&fi, "iterations"), tl = info_value(&fi, "train_loss");
    assert_true(info_value(&fi, "converged") == 1.0);
    assert_true(it > 0 && it <= 100 && it == floor(it));
    assert_true(tl > 0 && tl < log(2.0)); /* mean log loss, below the constant model's */

    /* saved and loaded: the same figures; a state saved before train_loss
    ** existed loads and reports iterations and converged only */
    mb_state st = {0}, old = {0};
    mb_state_writer w = mb_state_writer_for(&st);
    assert_int_equal(m->type->save(m->impl, &w, perr), MB_PLUGIN_OK);
    mb_model *b = model_new(NULL);
    mb_state_reader r = mb_state_reader_for(&st);
    assert_int_equal(b->type->load(b->impl, &r, perr), MB_PLUGIN_OK);
    mb_fit_info fb;
    assert_int_equal(b->type->fit_info(b->impl, &fb, perr), MB_PLUGIN_OK);
    assert_int_equal(fb.n, 3);
    assert_memory_equal(fb.values, fi.values, 3 * sizeof(double));
    state_without(&st, "train_loss", &old);
    r = mb_state_reader_for(&old);
    assert_int_equal(b->type->load(b->impl, &r, perr), MB_PLUGIN_OK);
    assert_int_equal(b->type->fit_info(b->impl, &fb, perr), MB_PLUGIN_OK);
    assert_int_equal(fb.n, 2);
    assert_true(info_value(&fb, "iterations") == it && info_value(&fb, "converged") == 1.0);
    mb_state_clear(&st);
    mb_state_clear(&old);
    mb_model_free(&b);

    /* not converged in 2 iterations on the raw features */
    dset_free(&s);
    dset_load(&s, "breast_cancer", 0);
    static const char *const two[] = {"max_iter=2", NULL};
    mb_model *m2 = model_new(two);
    fit_ok(m2, &s.ds);
    assert_int_equal(mb_model_fit_info(m2, &fi, &err), MB_OK);
    assert_true(info_value(&fi, "converged") == 0.0 && info_value(&fi, "iterations") == 2.0);
    mb_model_free(&m2);
    dset_free(&s);

    /* regression: the closed form is one iteration; train_loss is the
    ** training MSE, the same whichever solver reaches the minimum */
    dset_load(&s, "diabetes", 0);
    static const char *const chol[] = {"alpha=1", "solver=cholesky", NULL};
    static const char *const lbfgs[] = {"alpha=1", "solver=lbfgs", "max_iter=2000", "tol=1e-10", NULL};
    mb_model *rc = model_new(chol), *rl = model_new(lbfgs);
    fit_ok(rc, &s.ds);
    fit_ok(rl, &s.ds);
    mb_fit_info fc, fl;
    assert_int_equal(mb_model_fit_info(rc, &fc, &err), MB_OK);
    assert_int_equal(mb_model_fit_info(rl, &fl, &err), MB_OK);
    assert_true(info_value(&fc, "iterations") == 1.0 && info_value(&fc, "converged") == 1.0);
    double mc = info_value(&fc, "train_loss"), ml = info_value(&fl, "train_loss");
    double mse = 0;
    float *pred = malloc(s.ds.X.rows * sizeof(float));
    assert_int_equal(mb_model_predict(rc, &s.ds.X, pred, &err), MB_OK);
    for (size_t i = 0; i < s.ds.X.rows; i++)
        mse += ((double)pred[i] - (double)s.ds.y[i]) * ((double)pred[i] - (double)s.ds.y[i]);
    mse /= (double)s.ds.X.rows;
    if (!(fabs(mc - mse) <= 1e-4 * mse) || !(fabs(ml - mc) <= 1e-3 * mc))
        fail_msg("train_loss: cholesky %.10g, lbfgs %.10g, MSE of the predictions %.10g", mc, ml, mse);
    free(pred);
    mb_model_free(&rc);
    mb_model_free(&rl);
    mb_model_free(&m);
    dset_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ridge_closed_form),
        cmocka_unit_test(test_ols_singular),
        cmocka_unit_test(test_lasso_enet_sklearn),
        cmocka_unit_test(test_logistic_binary_sklearn),
        cmocka_unit_test(test_logistic_multinomial_sklearn),
        cmocka_unit_test(test_sample_weights_duplicate),
        cmocka_unit_test(test_class_weight_balanced),
        cmocka_unit_test(test_save_load_portable),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_convergence_report),
        cmocka_unit_test(test_fit_info),
    };
    return cmocka_run_group_tests_name("linear", tests, setup, teardown);
}
