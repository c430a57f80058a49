/*
** mlp_net.c: the MLP's network: parameter layout, initialisation, the
** forward and backward passes over a mini-batch, the losses, and the
** one-row path used for low-latency prediction.
**
** DESIGN
** ------
** Activations are row-major (rows x width) and weights are out x in
** row-major (the portable form's and PyTorch's layout), so a layer is one
** cblas_sgemm  Z = A W^T  and its gradients are  dW = D^T A  and  dA = D W.
** Everything between the matrix products is one pass over memory: the bias
** add, the activation and the dropout mask in the forward pass; the
** activation derivative, the mask and the bias-gradient column sums in the
** backward pass. Nothing here allocates: the caller (mlp_train.c) owns the
** buffers, allocated once at fit start. In training, with AVX-512, the
** products are mlp_gemm.c's instead (no packing; bias + relu and relu
** backward fused into their stores; the same sums' order), given the
** weights transposed (mbmlp_forward_t); prediction keeps cblas_sgemm and
** OpenBLAS's threads.
**
** The one-row path does not call BLAS (whose threading costs more than the
** arithmetic for one row): it walks transposed weights (in x out), so each
** input adds a contiguous, vectorisable axpy, and zero inputs (common after
** relu) are skipped.
*/
#include "mlp.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* The widest layer input whose forward product starts from the biases
** (see mbmlp_forward). */
#define MBMLP_PREFILL_K 256

/* {====== layout ======} */

int mbmlp_net_alloc(mbmlp_net *n, const mb_host *h, size_t nlayers, const size_t *width)
{
    size_t off = 0;
    n->nlayers = nlayers;
    for (size_t l = 0; l <= nlayers; l++)
        n->width[l] = width[l];
    for (size_t l = 0; l < nlayers; l++) {
        size_t fi = width[l], fo = width[l + 1];
        if (fi && fo > SIZE_MAX / 4 / fi)
            return MB_PLUGIN_ENOMEM;
        n->woff[l] = off;
        off += fi * fo;
        n->boff[l] = off;
        off += fo;
        /* keep every weight block 64-byte aligned for the vector kernels */
        off = (off + 15) & ~(size_t)15;
    }
    n->nparams = off;
    n->params = h->xmalloc(off * sizeof(float) + 64);
    if (!n->params)
        return MB_PLUGIN_ENOMEM;
    memset(n->params, 0, off * sizeof(float));
    return MB_PLUGIN_OK;
}

void mbmlp_net_free(mbmlp_net *n, const mb_host *h)
{
    if (n->params)
        h->xfree(n->params);
    n->params = NULL;
}

size_t mbmlp_maxwidth(const mbmlp_net *n)
{
    size_t w = 0;
    for (size_t l = 0; l <= n->nlayers; l++)
        w = n->width[l] > w ? n->width[l] : w;
    return w;
}

/* {====== random numbers ======} */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void mbmlp_rng_seed(mbmlp_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mbmlp_rng_next(mbmlp_rng *r)
{
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

double mbmlp_rng_uniform(mbmlp_rng *r) { return (double)(mbmlp_rng_next(r) >> 11) * 0x1.0p-53; }

double mbmlp_rng_normal(mbmlp_rng *r)
{
    double u = mbmlp_rng_uniform(r), v = mbmlp_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

/* {====== initialisation ======} */

void mbmlp_net_init(mbmlp_net *n, int init, mbmlp_rng *r)
{
    memset(n->params, 0, n->nparams * sizeof(float));
    for (size_t l = 0; l < n->nlayers; l++) {
        size_t fi = n->width[l], fo = n->width[l + 1];
        int hidden = l + 1 < n->nlayers;
        /* auto is Glorot, as scikit-learn does for every activation: on the
        ** multi_200k benchmark (256-128 relu, 5 epochs) it reached 94.4% test
        ** accuracy where He reached 93.1-93.3% */
        int he = init == MBMLP_INIT_HE;
        float *W = n->params + n->woff[l];
        if (he) {
            double sd = sqrt(2.0 / (double)fi);
            for (size_t k = 0; k < fi * fo; k++)
                W[k] = (float)(sd * mbmlp_rng_normal(r));
        } else {
            double bound = sqrt(6.0 / (double)(fi + fo));
            if (n->act == MB_ACT_SIGMOID && hidden)
                bound *= 4; /* Glorot & Bengio's factor for the logistic */
            for (size_t k = 0; k < fi * fo; k++)
                W[k] = (float)(bound * (2 * mbmlp_rng_uniform(r) - 1));
        }
    }
}

/* {====== kernels ======} */

static inline float gelu(float z) { return 0.5f * z * (1.0f + erff(z * 0.70710678118654752f)); }

static inline float gelu_grad(float z)
{
    float cdf = 0.5f * (1.0f + erff(z * 0.70710678118654752f));
    float pdf = 0.39894228040143268f * expf(-0.5f * z * z);
    return cdf + z * pdf;
}

static inline float sigmoidf(float z) { return 1.0f / (1.0f + expf(-z)); }

/* One row: v = z + b, act, optional dropout. z may alias a. */
static void bias_act_row(const float *z, float *zkeep, float *a, const float *b, size_t w,
                         mb_activation act, float alpha)
{
    switch (act) {
    case MB_ACT_RELU:
        for (size_t o = 0; o < w; o++) {
            float v = z[o] + b[o];
            a[o] = v > 0 ? v : 0;
        }
        break;
    case MB_ACT_LEAKY_RELU:
        for (size_t o = 0; o < w; o++) {
            float v = z[o] + b[o];
            a[o] = v > 0 ? v : alpha * v;
        }
        break;
    case MB_ACT_TANH:
        for (size_t o = 0; o < w; o++)
            a[o] = tanhf(z[o] + b[o]);
        break;
    case MB_ACT_SIGMOID:
        for (size_t o = 0; o < w; o++)
            a[o] = sigmoidf(z[o] + b[o]);
        break;
    case MB_ACT_GELU:
        for (size_t o = 0; o < w; o++) {
            float v = z[o] + b[o];
            if (zkeep)
                zkeep[o] = v;
            a[o] = gelu(v);
        }
        break;
    default:
        for (size_t o = 0; o < w; o++)
            a[o] = z[o] + b[o];
        break;
    }
}

static void dropout_row(float *a, float *mask, size_t w, float keep, mbmlp_rng *r)
{
    uint32_t thr = (uint32_t)((double)keep * 4294967295.0);
    float scale = 1.0f / keep;
    for (size_t o = 0; o < w; o += 2) {
        uint64_t x = mbmlp_rng_next(r);
        mask[o] = (uint32_t)x < thr ? scale : 0.0f;
        if (o + 1 < w)
            mask[o + 1] = (uint32_t)(x >> 32) < thr ? scale : 0.0f;
    }
    for (size_t o = 0; o < w; o++)
        a[o] *= mask[o];
}

void mbmlp_forward(const mbmlp_net *n, const float *X, size_t ldx, size_t rows, float **acts,
                   float **pre, float **masks, float keep, mbmlp_rng *r)
{
    mbmlp_forward_t(n, NULL, X, ldx, rows, acts, pre, masks, keep, r);
}

void mbmlp_forward_t(const mbmlp_net *n, const float *wt, const float *X, size_t ldx, size_t rows,
                     float **acts, float **pre, float **masks, float keep, mbmlp_rng *r)
{
    int own = wt && mbmlp_gemm_on();
    const float *in = X;
    size_t ldin = ldx;
    for (size_t l = 0; l < n->nlayers; l++) {
        size_t fi = n->width[l], fo = n->width[l + 1];
        const float *W = n->params + n->woff[l], *b = n->params + n->boff[l];
        int hidden = l + 1 < n->nlayers;
        float *a = acts[l];
        float *zk = hidden && n->act == MB_ACT_GELU && pre ? pre[l] : NULL;
        float *mk = hidden && masks && keep < 1.0f ? masks[l] : NULL;
        mb_activation act = hidden ? n->act : MB_ACT_IDENTITY;
        /* identity and relus: a starts as the biases and sgemm adds A W^T
        ** (beta 1), which spares OpenBLAS's zeroing pass (beta 0) and the
        ** bias add after it. The same bits as zeroing and adding b after:
        ** while K (the layer's input width) fits in one of OpenBLAS's K
        ** blocks the kernel adds its finished dot product to C once, so
        ** b + AW^T is rounded once either way. Wider inputs are summed
        ** into C block by block, which would move b's rounding: they keep
        ** beta 0 (Zen's block is 320..383; test_mlp checks 256 on the
        ** running kernel). */
        int relus = act == MB_ACT_IDENTITY || act == MB_ACT_RELU || act == MB_ACT_LEAKY_RELU;
        int kind = act == MB_ACT_RELU ? 1 : act == MB_ACT_LEAKY_RELU ? 2 : 0;
        int prefill = fi <= MBMLP_PREFILL_K && relus;
        if (own && fi <= MBMLP_GEMM_MAX_K) {
            /* mlp_gemm.c: the same sums, with the bias and relu in its
            ** store (b + AW^T rounded once, as with the prefill) */
            if (relus)
                mbmlp_gemm_bias_act(rows, fo, fi, in, ldin, 1, wt + n->woff[l], fo, a, fo, b, kind, n->alpha);
            else
                mbmlp_gemm_plain(rows, fo, fi, in, ldin, 1, wt + n->woff[l], fo, a, fo);
        } else {
            if (prefill)
                for (size_t i = 0; i < rows; i++)
                    memcpy(a + i * fo, b, fo * sizeof *a);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)fo, (int)fi, 1.0f, in,
                        (int)ldin, W, (int)fi, prefill ? 1.0f : 0.0f, a, (int)fo);
            if (relus)
                mbmlp_k_bias_act(a, prefill ? NULL : b, rows, fo, kind, n->alpha);
        }
        for (size_t i = 0; i < rows; i++) {
            float *ai = a + i * fo;
            if (!relus)
                bias_act_row(ai, zk ? zk + i * fo : NULL, ai, b, fo, act, n->alpha);
            if (mk)
                dropout_row(ai, mk + i * fo, fo, keep, r);
        }
        in = a;
        ldin = fo;
    }
}

void mbmlp_link(const mbmlp_net *n, float *out, size_t rows)
{
    size_t k = mbmlp_nout(n);
    if (n->out == MBMLP_OUT_SOFTMAX) {
        for (size_t i = 0; i < rows; i++) {
            float *z = out + i * k, mx = z[0], s = 0;
            for (size_t c = 1; c < k; c++)
                mx = z[c] > mx ? z[c] : mx;
            for (size_t c = 0; c < k; c++)
                s += z[c] = expf(z[c] - mx);
            for (size_t c = 0; c < k; c++)
                z[c] /= s;
        }
    } else if (n->out == MBMLP_OUT_SIGMOID) {
        for (size_t i = 0; i < rows; i++)
            out[i] = sigmoidf(out[i]);
    }
}

double mbmlp_loss(const mbmlp_net *n, const float *raw, const float *y, const float *w, size_t rows,
                  double scale, float *delta, double huber_delta, double *metric)
{
    size_t k = mbmlp_nout(n);
    double total = 0, met = 0;
    for (size_t i = 0; i < rows; i++) {
        double wi = w ? (double)w[i] : 1.0, li;
        float g = (float)(wi * scale);
        const float *z = raw + i * k;
        if (n->out == MBMLP_OUT_SOFTMAX) {
            size_t yi = (size_t)y[i], am = 0;
            float mx = z[0];
            for (size_t c = 1; c < k; c++)
                if (z[c] > mx) {
                    mx = z[c];
                    am = c;
                }
            /* each exponential once: kept in delta's row for the gradient */
            float *e = delta ? delta + i * k : NULL;
            double s = 0;
            for (size_t c = 0; c < k; c++) {
                float ec = expf(z[c] - mx);
                if (e)
                    e[c] = ec;
                s += (double)ec;
            }
            li = log(s) + (double)(mx - z[yi]);
            met += am == yi;
            if (delta) {
                float inv = (float)(1.0 / s);
                for (size_t c = 0; c < k; c++)
                    e[c] = g * e[c] * inv;
                e[yi] -= g;
            }
        } else if (n->out == MBMLP_OUT_SIGMOID) {
            double zz = (double)z[0], yy = (double)y[i];
            li = (zz > 0 ? zz : 0) - zz * yy + log1p(exp(-fabs(zz)));
            met += (zz > 0) == (yy > 0.5);
            if (delta)
                delta[i] = g * (float)(1.0 / (1.0 + exp(-zz)) - yy);
        } else {
            double r = (double)z[0] - (double)y[i], d;
            if (n->out == MBMLP_OUT_HUBER && fabs(r) > huber_delta) {
                li = huber_delta * (fabs(r) - 0.5 * huber_delta);
                d = r > 0 ? huber_delta : -huber_delta;
            } else {
                li = 0.5 * r * r;
                d = r;
            }
            met += wi * r * r;
            if (delta)
                delta[i] = g * (float)d;
        }
        total += wi * li;
    }
    if (metric)
        *metric += met;
    return total;
}

/* delta (rows x w) *= f'(.) * mask, in place, and bias gradient gb = column sums. */
static void act_backward(float *d, const float *a, const float *z, const float *mask, size_t rows,
                         size_t w, mb_activation act, float alpha, float *gb)
{
    if (!mask && (act == MB_ACT_RELU || act == MB_ACT_LEAKY_RELU)) {
        mbmlp_k_relu_back(d, a, rows, w, act == MB_ACT_LEAKY_RELU, alpha, gb);
        return;
    }
    memset(gb, 0, w * sizeof *gb);
    for (size_t i = 0; i < rows; i++) {
        float *di = d + i * w;
        const float *ai = a + i * w, *mi = mask ? mask + i * w : NULL;
        switch (act) {
        case MB_ACT_RELU:
            /* a > 0 exactly where the unit is active (and kept by dropout) */
            for (size_t o = 0; o < w; o++)
                di[o] = ai[o] > 0 ? di[o] : 0;
            break;
        case MB_ACT_LEAKY_RELU:
            for (size_t o = 0; o < w; o++)
                di[o] *= ai[o] > 0 ? 1.0f : alpha;
            break;
        case MB_ACT_TANH:
        case MB_ACT_SIGMOID:
            for (size_t o = 0; o < w; o++) {
                float h = ai[o];
                if (mi)
                    h = mi[o] != 0 ? h / mi[o] : 0;
                di[o] *= act == MB_ACT_TANH ? 1.0f - h * h : h * (1.0f - h);
            }
            break;
        case MB_ACT_GELU:
            for (size_t o = 0; o < w; o++)
                di[o] *= gelu_grad(z[i * w + o]);
            break;
        default:
            break;
        }
        if (mi)
            for (size_t o = 0; o < w; o++)
                di[o] *= mi[o];
        for (size_t o = 0; o < w; o++)
            gb[o] += di[o];
    }
}

void mbmlp_backward(const mbmlp_net *n, const float *X, size_t ldx, size_t rows, float *const *acts,
                    float *const *pre, float *const *masks, float *delta, float *tmp, float *grad)
{
    int own = mbmlp_gemm_on();
    float *D = delta;
    size_t L = n->nlayers;
    /* output layer bias gradient */
    {
        size_t fo = n->width[L];
        float *gb = grad + n->boff[L - 1];
        memset(gb, 0, fo * sizeof *gb);
        for (size_t i = 0; i < rows; i++)
            for (size_t o = 0; o < fo; o++)
                gb[o] += D[i * fo + o];
    }
    for (size_t l = L; l-- > 0;) {
        size_t fi = n->width[l], fo = n->width[l + 1];
        const float *in = l ? acts[l - 1] : X;
        size_t ldin = l ? fi : ldx;
        /* dW = D^T A: D's columns are read where they lie (stride fo) */
        if (own && rows <= MBMLP_GEMM_MAX_K)
            mbmlp_gemm_plain(fo, fi, rows, D, 1, fo, in, ldin, grad + n->woff[l], fi);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)fo, (int)fi, (int)rows, 1.0f, D,
                        (int)fo, in, (int)ldin, 0.0f, grad + n->woff[l], (int)fi);
        if (l == 0)
            break;
        float *G = D == delta ? tmp : delta;
        const float *W = n->params + n->woff[l], *al = acts[l - 1], *mk = masks ? masks[l - 1] : NULL;
        float *gb = grad + n->boff[l - 1];
        int relus = n->act == MB_ACT_RELU || n->act == MB_ACT_LEAKY_RELU;
        if (own && fo <= MBMLP_GEMM_MAX_K && relus && !mk)
            mbmlp_gemm_relu_back(rows, fi, fo, D, fo, 1, W, fi, G, fi, al, n->act == MB_ACT_LEAKY_RELU, n->alpha,
                                 gb);
        else {
            if (own && fo <= MBMLP_GEMM_MAX_K)
                mbmlp_gemm_plain(rows, fi, fo, D, fo, 1, W, fi, G, fi);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)fi, (int)fo, 1.0f, D,
                            (int)fo, W, (int)fi, 0.0f, G, (int)fi);
            act_backward(G, al, pre ? pre[l - 1] : NULL, mk, rows, fi, n->act, n->alpha, gb);
        }
        D = G;
    }
}

/* {====== one row ======} */

void mbmlp_transpose(const mbmlp_net *n, float *wt)
{
    for (size_t l = 0; l < n->nlayers; l++) {
        size_t fi = n->width[l], fo = n->width[l + 1];
        const float *W = n->params + n->woff[l];
        float *T = wt + n->woff[l];
        for (size_t o = 0; o < fo; o++)
            for (size_t j = 0; j < fi; j++)
                T[j * fo + o] = W[o * fi + j];
    }
}

void mbmlp_forward_row(const mbmlp_net *n, const float *wt, const float *x, float *h, float *out)
{
    size_t maxw = mbmlp_maxwidth(n);
    const float *cur = x;
    for (size_t l = 0; l < n->nlayers; l++) {
        size_t fi = n->width[l], fo = n->width[l + 1];
        int hidden = l + 1 < n->nlayers;
        float *o = hidden ? h + (l % 2) * maxw : out;
        const float *T = wt + n->woff[l];
        memcpy(o, n->params + n->boff[l], fo * sizeof *o);
        for (size_t j = 0; j < fi; j++) {
            float v = cur[j];
            if (v == 0)
                continue;
            mbmlp_k_axpy(o, T + j * fo, v, fo);
        }
        if (hidden) {
            for (size_t k = 0; k < fo; k++) {
                float v = o[k];
                switch (n->act) {
                case MB_ACT_RELU:
                    o[k] = v > 0 ? v : 0;
                    break;
                case MB_ACT_LEAKY_RELU:
                    o[k] = v > 0 ? v : n->alpha * v;
                    break;
                case MB_ACT_TANH:
                    o[k] = tanhf(v);
                    break;
                case MB_ACT_SIGMOID:
                    o[k] = sigmoidf(v);
                    break;
                case MB_ACT_GELU:
                    o[k] = gelu(v);
                    break;
                default:
                    break;
                }
            }
        }
        cur = o;
    }
}
