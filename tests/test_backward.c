/* test_backward.c - src/model/backward.c two ways, per op:
 *  1. against PyTorch autograd in float64 (tools/torch/backward_reference.py writes the
 *     inputs, upstream gradients and reference gradients into $KANAVA_BACKWARD_REF;
 *     tools/torch/check_backward.sh does both); skipped without that variable;
 *  2. against central finite differences of the real forward kernels (ops.h), always: the
 *     scalar is a random projection sum(r * y) accumulated in double, the difference is
 *     Richardson-extrapolated ((8 (f(h) - f(-h)) - (f(2h) - f(-2h))) / 12h, h = 2^-7) so
 *     float32 rounding, not truncation, is what is left.
 * Error of a tensor: max |a - b| / max(max |b|, 1e-6) (max-norm relative); limit 1e-3.
 * Parameter gradients are seeded with ACC_SEED to check that they accumulate. */
#include "test_util.h"

#include <math.h>

#include "model/backward.h"
#include "model/ops.h"

#define TOL 1e-3
#define ACC_SEED 0.25f

/* Shapes shared with tools/torch/backward_reference.py. */
enum { LIN_M = 5, LIN_K = 7, LIN_N = 6, LN_M = 4, LN_D = 10, ACT_N = 32, SM_ROWS = 3, SM_COLS = 8 };
enum { ATT_D = 16, ATT_HEADS = 4, ATT_ROWS = 12, POOL_D = 16, L2_ROWS = 4, L2_COLS = 16, COS_PAIRS = 5, COS_D = 8 };
static const int att_lengths[3] = {1, 4, 7};
#define LN_EPS 1e-5f
#define ATT_SCALE 0.5f
#define L2_EPS 1e-12f

/* ---- helpers ---- */

static const char *ref_dir(void)
{
    const char *d = getenv("KANAVA_BACKWARD_REF");
    return d && *d ? d : NULL;
}

/* dir/name.f32, which must hold exactly n floats. */
static float *read_f32(const char *name, long n)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.f32", ref_dir(), name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    float *buf = malloc((size_t)n * sizeof *buf);
    size_t got = fread(buf, sizeof *buf, (size_t)n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != (size_t)n || extra) fail_msg("%s: expected %ld floats", path, n);
    return buf;
}

static double rel_err(const float *a, const float *b, long n)
{
    double diff = 0.0, scale = 1e-6;
    for (long i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return diff / scale;
}

/* Compares a computed gradient with reference file `name` (minus the accumulator seed). */
static void check_ref(const char *op, const char *name, const float *got, long n, float seed)
{
    float *want = read_f32(name, n), *g = malloc((size_t)n * sizeof *g);
    for (long i = 0; i < n; i++) g[i] = got[i] - seed;
    double e = rel_err(g, want, n);
    print_message("%-10s %-16s vs torch %.2e\n", op, name, e);
    free(g);
    free(want);
    if (!(e <= TOL)) fail_msg("%s: %s relative error %.3e > %.0e", op, name, e, TOL);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float urand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / (1 << 23)) - 1.0);
}
static float *rand_vec(long n, float scale)
{
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (long i = 0; i < n; i++) v[i] = scale * urand();
    return v;
}
static double project(const float *r, const float *y, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++) s += (double)r[i] * y[i];
    return s;
}

typedef double (*fd_fn)(void *ctx);

/* Finite-difference check of grad = d f / d p over p[0..n) (at most ~300 evenly spread
 * elements of large tensors). */
static void check_fd(const char *op, const char *name, fd_fn f, void *ctx, float *p, long n, const float *grad,
                     float seed)
{
    const double h = 1.0 / 128;
    long step = n > 300 ? n / 300 : 1;
    double diff = 0.0, scale = 1e-6;
    for (long i = 0; i < n; i++) scale = fmax(scale, fabs((double)grad[i] - seed));
    for (long i = 0; i < n; i += step) {
        float keep = p[i];
        double fx[4];
        const double off[4] = {h, -h, 2 * h, -2 * h};
        for (int k = 0; k < 4; k++) {
            p[i] = (float)(keep + off[k]);
            fx[k] = f(ctx);
        }
        p[i] = keep;
        double fd = (8.0 * (fx[0] - fx[1]) - (fx[2] - fx[3])) / (12.0 * h);
        diff = fmax(diff, fabs(fd - ((double)grad[i] - seed)));
    }
    double e = diff / scale;
    print_message("%-10s %-16s vs fd    %.2e\n", op, name, e);
    if (!(e <= TOL)) fail_msg("%s: %s finite-difference relative error %.3e > %.0e", op, name, e, TOL);
}

static float *filled(long n, float v)
{
    float *a = malloc((size_t)n * sizeof *a);
    for (long i = 0; i < n; i++) a[i] = v;
    return a;
}

/* ---- linear ---- */

typedef struct {
    float *x, *w, *b, *r, *y;
    int M, K, N, transposed;
} lin_ctx;

static double lin_eval(void *p)
{
    lin_ctx *c = p;
    kn_matrix m;
    kn_weight_src src = {c->w, KN_F32, c->N, c->transposed, NULL};
    assert_int_equal(kn_matrix_init_src(&m, c->K, &src, 1), 0);
    kn_linear(c->y, c->x, &m, c->b, c->M);
    kn_matrix_free(&m);
    return project(c->r, c->y, (long)c->M * c->N);
}

static void run_linear(int transposed, int M, const char *pre)
{
    int K = LIN_K, N = LIN_N;
    lin_ctx c = {rand_vec((long)M * K, 1), rand_vec((long)K * N, 0.5f), rand_vec(N, 1), rand_vec((long)M * N, 1),
                 malloc((size_t)M * N * sizeof(float)), M, K, N, transposed};
    float *dx = malloc((size_t)M * K * sizeof *dx), *dw = filled((long)K * N, ACC_SEED), *db = filled(N, ACC_SEED);
    kn_linear_backward(dx, dw, db, c.r, c.x, c.w, M, K, N, transposed);
    check_fd(pre, "dx", lin_eval, &c, c.x, (long)M * K, dx, 0);
    check_fd(pre, "dW", lin_eval, &c, c.w, (long)K * N, dw, ACC_SEED);
    check_fd(pre, "db", lin_eval, &c, c.b, N, db, ACC_SEED);
    free(c.x), free(c.w), free(c.b), free(c.r), free(c.y), free(dx), free(dw), free(db);
}

static void test_linear(void **state)
{
    (void)state;
    run_linear(0, LIN_M, "linear");
    run_linear(1, LIN_M, "linear_t");
    run_linear(0, KN_SMALL_M + 3, "linear_big"); /* the forward's OpenBLAS path */
    if (!ref_dir()) return;
    for (int t = 0; t < 2; t++) {
        const char *op = t ? "linear_t" : "linear";
        char n[64];
#define REF(s) (snprintf(n, sizeof n, "%s_%s", op, s), n)
        float *x = read_f32(REF("x"), LIN_M * LIN_K), *w = read_f32(REF("w"), LIN_K * LIN_N);
        float *dy = read_f32(REF("dy"), LIN_M * LIN_N);
        float *dx = malloc(LIN_M * LIN_K * sizeof *dx), *dw = filled(LIN_K * LIN_N, ACC_SEED);
        float *db = filled(LIN_N, ACC_SEED);
        kn_linear_backward(dx, dw, db, dy, x, w, LIN_M, LIN_K, LIN_N, t);
        check_ref(op, REF("dx"), dx, LIN_M * LIN_K, 0);
        check_ref(op, REF("dw"), dw, LIN_K * LIN_N, ACC_SEED);
        check_ref(op, REF("db"), db, LIN_N, ACC_SEED);
#undef REF
        free(x), free(w), free(dy), free(dx), free(dw), free(db);
    }
}

/* ---- layer norm ---- */

typedef struct {
    float *x, *scale, *bias, *r, *y;
    int M, D;
    float eps;
} ln_ctx;

static double ln_eval(void *p)
{
    ln_ctx *c = p;
    kn_layernorm(c->y, c->x, c->scale, c->bias, c->M, c->D, c->eps);
    return project(c->r, c->y, (long)c->M * c->D);
}

static void test_layernorm(void **state)
{
    (void)state;
    int M = LN_M, D = 40;
    ln_ctx c = {rand_vec(M * D, 2), rand_vec(D, 1), rand_vec(D, 1), rand_vec(M * D, 1), malloc(M * D * sizeof(float)),
                M, D, LN_EPS};
    for (int j = 0; j < D; j++) c.scale[j] += 1.0f;
    float *dx = malloc(M * D * sizeof *dx), *ds = filled(D, ACC_SEED), *dbias = filled(D, ACC_SEED);
    kn_layernorm_backward(dx, ds, dbias, c.r, c.x, c.scale, M, D, c.eps);
    check_fd("layernorm", "dx", ln_eval, &c, c.x, M * D, dx, 0);
    check_fd("layernorm", "dscale", ln_eval, &c, c.scale, D, ds, ACC_SEED);
    check_fd("layernorm", "dbias", ln_eval, &c, c.bias, D, dbias, ACC_SEED);
    /* in place: dx == dy */
    float *dy = malloc(M * D * sizeof *dy);
    memcpy(dy, c.r, M * D * sizeof *dy);
    kn_layernorm_backward(dy, NULL, NULL, dy, c.x, c.scale, M, D, c.eps);
    assert_true(rel_err(dy, dx, M * D) < 1e-6);
    free(c.x), free(c.scale), free(c.bias), free(c.r), free(c.y), free(dx), free(ds), free(dbias), free(dy);
    if (!ref_dir()) return;
    float *x = read_f32("layernorm_x", LN_M * LN_D), *scale = read_f32("layernorm_scale", LN_D);
    float *g = read_f32("layernorm_dy", LN_M * LN_D);
    dx = malloc(LN_M * LN_D * sizeof *dx), ds = filled(LN_D, ACC_SEED), dbias = filled(LN_D, ACC_SEED);
    kn_layernorm_backward(dx, ds, dbias, g, x, scale, LN_M, LN_D, LN_EPS);
    check_ref("layernorm", "layernorm_dx", dx, LN_M * LN_D, 0);
    check_ref("layernorm", "layernorm_dscale", ds, LN_D, ACC_SEED);
    check_ref("layernorm", "layernorm_dbias", dbias, LN_D, ACC_SEED);
    free(x), free(scale), free(g), free(dx), free(ds), free(dbias);
}

/* ---- element-wise activations and softmax ---- */

enum { ACT_RELU, ACT_TANH, ACT_GELU, ACT_SOFTMAX };
static const char *act_name[] = {"relu", "tanh", "gelu", "softmax"};

typedef struct {
    float *x, *r, *y;
    int kind;
} act_ctx;

static void act_forward(float *y, const float *x, int kind)
{
    long n = kind == ACT_SOFTMAX ? SM_ROWS * SM_COLS : ACT_N;
    memcpy(y, x, (size_t)n * sizeof *y);
    if (kind == ACT_RELU) kn_relu(y, n);
    if (kind == ACT_TANH)
        for (long i = 0; i < n; i++) y[i] = tanhf(y[i]);
    if (kind == ACT_GELU) kn_gelu(y, n);
    if (kind == ACT_SOFTMAX) kn_softmax_rows(y, SM_ROWS, SM_COLS);
}

static double act_eval(void *p)
{
    act_ctx *c = p;
    act_forward(c->y, c->x, c->kind);
    return project(c->r, c->y, c->kind == ACT_SOFTMAX ? SM_ROWS * SM_COLS : ACT_N);
}

/* The backward under test, from the forward's x (and its output, computed here). */
static void act_backward(float *dx, const float *dy, const float *x, int kind)
{
    float y[ACT_N > SM_ROWS * SM_COLS ? ACT_N : SM_ROWS * SM_COLS];
    act_forward(y, x, kind);
    if (kind == ACT_RELU) kn_relu_backward(dx, dy, y, ACT_N);
    if (kind == ACT_TANH) kn_tanh_backward(dx, dy, y, ACT_N);
    if (kind == ACT_GELU) kn_gelu_backward(dx, dy, x, ACT_N);
    if (kind == ACT_SOFTMAX) kn_softmax_rows_backward(dx, dy, y, SM_ROWS, SM_COLS);
}

static void run_activation(int kind)
{
    long n = kind == ACT_SOFTMAX ? SM_ROWS * SM_COLS : ACT_N;
    act_ctx c = {rand_vec(n, 2), rand_vec(n, 1), malloc((size_t)n * sizeof(float)), kind};
    for (long i = 0; i < n; i++) /* keep ReLU's kink out of the difference's reach */
        if (fabsf(c.x[i]) < 0.1f) c.x[i] += c.x[i] < 0 ? -0.1f : 0.1f;
    float *dx = malloc((size_t)n * sizeof *dx);
    act_backward(dx, c.r, c.x, kind);
    check_fd(act_name[kind], "dx", act_eval, &c, c.x, n, dx, 0);
    free(c.x), free(c.r), free(c.y), free(dx);
    if (!ref_dir()) return;
    char name[64];
    snprintf(name, sizeof name, "%s_x", act_name[kind]);
    float *x = read_f32(name, n);
    snprintf(name, sizeof name, "%s_dy", act_name[kind]);
    float *dy = read_f32(name, n);
    act_backward(dy, dy, x, kind); /* in place */
    snprintf(name, sizeof name, "%s_dx", act_name[kind]);
    check_ref(act_name[kind], name, dy, n, 0);
    free(x), free(dy);
}

static void test_relu(void **state) { (void)state; run_activation(ACT_RELU); }
static void test_tanh(void **state) { (void)state; run_activation(ACT_TANH); }
static void test_gelu(void **state) { (void)state; run_activation(ACT_GELU); }
static void test_softmax(void **state) { (void)state; run_activation(ACT_SOFTMAX); }

/* ---- attention ---- */

typedef struct {
    float *qkv, *r, *ctx;
    const int *lengths;
    int n, D, heads, rows;
    float q_scale;
} att_ctx;

static double att_eval(void *p)
{
    att_ctx *c = p;
    assert_int_equal(kn_attention_batch(c->ctx, c->qkv, c->lengths, c->n, c->D, c->heads, c->q_scale), 0);
    return project(c->r, c->ctx, (long)c->rows * c->D);
}

static void run_attention_fd(const int *lengths, int n, int D, int heads, const char *op)
{
    int rows = 0;
    for (int s = 0; s < n; s++) rows += lengths[s];
    att_ctx c = {rand_vec((long)rows * 3 * D, 1.5f), rand_vec((long)rows * D, 1), malloc((size_t)rows * D * sizeof(float)),
                 lengths, n, D, heads, rows, 1.0f / sqrtf((float)(D / heads))};
    float *dqkv = filled((long)rows * 3 * D, NAN); /* every element must be written */
    assert_int_equal(kn_attention_batch_backward(dqkv, c.r, c.qkv, lengths, n, D, heads, c.q_scale), 0);
    for (long i = 0; i < (long)rows * 3 * D; i++)
        if (!isfinite(dqkv[i])) fail_msg("%s: dqkv[%ld] not written", op, i);
    check_fd(op, "dqkv", att_eval, &c, c.qkv, (long)rows * 3 * D, dqkv, 0);
    free(c.qkv), free(c.r), free(c.ctx), free(dqkv);
}

static void test_attention(void **state)
{
    (void)state;
    run_attention_fd(att_lengths, 3, ATT_D, ATT_HEADS, "attention");
    /* Wide enough for the parallel region, with a sequence longer than KN_SMALL_M (the
     * forward's BLAS path) and an empty one. */
    const int big[4] = {3, KN_SMALL_M + 6, 0, 40};
    run_attention_fd(big, 4, 64, 4, "attn_big");
    if (!ref_dir()) return;
    float *qkv = read_f32("attention_qkv", ATT_ROWS * 3 * ATT_D), *dctx = read_f32("attention_dy", ATT_ROWS * ATT_D);
    float *dqkv = malloc(ATT_ROWS * 3 * ATT_D * sizeof *dqkv);
    assert_int_equal(kn_attention_batch_backward(dqkv, dctx, qkv, att_lengths, 3, ATT_D, ATT_HEADS, ATT_SCALE), 0);
    check_ref("attention", "attention_dqkv", dqkv, ATT_ROWS * 3 * ATT_D, 0);
    free(qkv), free(dctx), free(dqkv);
}

/* ---- pooling ---- */

typedef struct {
    float *x, *r;
    int cls;
} pool_ctx;

static void pool_forward(float *y, const float *x, int cls)
{
    int row = 0;
    for (int s = 0; s < 3; s++) {
        for (int j = 0; j < POOL_D; j++) {
            double acc = 0.0;
            for (int t = 0; t < (cls ? 1 : att_lengths[s]); t++) acc += x[(row + t) * POOL_D + j];
            y[s * POOL_D + j] = (float)(acc / (cls ? 1 : att_lengths[s]));
        }
        row += att_lengths[s];
    }
}

static double pool_eval(void *p)
{
    pool_ctx *c = p;
    float y[3 * POOL_D];
    pool_forward(y, c->x, c->cls);
    return project(c->r, y, 3 * POOL_D);
}

static void run_pool(int cls)
{
    const char *op = cls ? "clspool" : "meanpool";
    pool_ctx c = {rand_vec(ATT_ROWS * POOL_D, 1), rand_vec(3 * POOL_D, 1), cls};
    float *dx = filled(ATT_ROWS * POOL_D, NAN);
    if (cls) kn_cls_pool_backward(dx, c.r, att_lengths, 3, POOL_D);
    else kn_mean_pool_backward(dx, c.r, att_lengths, 3, POOL_D);
    for (int i = 0; i < ATT_ROWS * POOL_D; i++)
        if (!isfinite(dx[i])) fail_msg("%s: dx[%d] not written", op, i);
    check_fd(op, "dx", pool_eval, &c, c.x, ATT_ROWS * POOL_D, dx, 0);
    free(c.x), free(c.r), free(dx);
    if (!ref_dir()) return;
    char name[64];
    snprintf(name, sizeof name, "%s_dy", op);
    float *dy = read_f32(name, 3 * POOL_D);
    dx = malloc(ATT_ROWS * POOL_D * sizeof *dx);
    if (cls) kn_cls_pool_backward(dx, dy, att_lengths, 3, POOL_D);
    else kn_mean_pool_backward(dx, dy, att_lengths, 3, POOL_D);
    snprintf(name, sizeof name, "%s_dx", op);
    check_ref(op, name, dx, ATT_ROWS * POOL_D, 0);
    free(dy), free(dx);
}

static void test_pooling(void **state)
{
    (void)state;
    run_pool(0);
    run_pool(1);
}

/* ---- L2 normalisation ---- */

typedef struct {
    float *x, *r, *y;
    float eps;
} l2_ctx;

static double l2_eval(void *p)
{
    l2_ctx *c = p;
    memcpy(c->y, c->x, L2_ROWS * L2_COLS * sizeof *c->y);
    kn_l2_normalize(c->y, L2_ROWS, L2_COLS, c->eps);
    return project(c->r, c->y, L2_ROWS * L2_COLS);
}

static void run_l2_fd(float eps, const char *op)
{
    l2_ctx c = {rand_vec(L2_ROWS * L2_COLS, 1), rand_vec(L2_ROWS * L2_COLS, 1), malloc(L2_ROWS * L2_COLS * sizeof(float)),
                eps};
    /* Row 1 small: with eps = 1 its sum of squares (< 16 * 0.05^2) is clamped. */
    for (int j = 0; j < L2_COLS; j++) c.x[L2_COLS + j] *= 0.05f;
    float *dx = malloc(L2_ROWS * L2_COLS * sizeof *dx);
    kn_l2_normalize_backward(dx, c.r, c.x, L2_ROWS, L2_COLS, eps);
    check_fd(op, "dx", l2_eval, &c, c.x, L2_ROWS * L2_COLS, dx, 0);
    free(c.x), free(c.r), free(c.y), free(dx);
}

static void test_l2_normalize(void **state)
{
    (void)state;
    run_l2_fd(L2_EPS, "l2");
    run_l2_fd(1.0f, "l2_clamped");
    if (!ref_dir()) return;
    float *x = read_f32("l2_x", L2_ROWS * L2_COLS), *dy = read_f32("l2_dy", L2_ROWS * L2_COLS);
    kn_l2_normalize_backward(dy, dy, x, L2_ROWS, L2_COLS, L2_EPS); /* in place */
    check_ref("l2", "l2_dx", dy, L2_ROWS * L2_COLS, 0);
    free(x), free(dy);
}

/* ---- cosine similarity loss ---- */

typedef struct {
    float *u, *v, *labels;
} cos_ctx;

static double cos_eval(void *p)
{
    cos_ctx *c = p;
    return kn_cosine_loss_backward(NULL, NULL, c->u, c->v, c->labels, COS_PAIRS, COS_D);
}

static void test_cosine_loss(void **state)
{
    (void)state;
    cos_ctx c = {rand_vec(COS_PAIRS * COS_D, 1), rand_vec(COS_PAIRS * COS_D, 1), rand_vec(COS_PAIRS, 1)};
    float *du = malloc(COS_PAIRS * COS_D * sizeof *du), *dv = malloc(COS_PAIRS * COS_D * sizeof *dv);
    double loss = kn_cosine_loss_backward(du, dv, c.u, c.v, c.labels, COS_PAIRS, COS_D);
    assert_true(fabs(loss - cos_eval(&c)) == 0.0);
    check_fd("cosloss", "du", cos_eval, &c, c.u, COS_PAIRS * COS_D, du, 0);
    check_fd("cosloss", "dv", cos_eval, &c, c.v, COS_PAIRS * COS_D, dv, 0);
    /* cos is symmetric and scale-free */
    float u2[COS_D];
    for (int j = 0; j < COS_D; j++) u2[j] = 3.0f * c.u[j];
    assert_true(fabs(kn_cosine_similarity(c.u, c.v, COS_D) - kn_cosine_similarity(c.v, u2, COS_D)) < 1e-6);
    free(c.u), free(c.v), free(c.labels), free(du), free(dv);
    if (!ref_dir()) return;
    float *u = read_f32("cosloss_u", COS_PAIRS * COS_D), *v = read_f32("cosloss_v", COS_PAIRS * COS_D);
    float *labels = read_f32("cosloss_labels", COS_PAIRS), *want = read_f32("cosloss_loss", 1);
    du = malloc(COS_PAIRS * COS_D * sizeof *du), dv = malloc(COS_PAIRS * COS_D * sizeof *dv);
    loss = kn_cosine_loss_backward(du, dv, u, v, labels, COS_PAIRS, COS_D);
    print_message("%-10s %-16s vs torch %.2e\n", "cosloss", "loss", fabs(loss - want[0]) / fmax(fabs(want[0]), 1e-6));
    assert_true(fabs(loss - want[0]) <= TOL * fmax(fabs(want[0]), 1e-6));
    check_ref("cosloss", "cosloss_du", du, COS_PAIRS * COS_D, 0);
    check_ref("cosloss", "cosloss_dv", dv, COS_PAIRS * COS_D, 0);
    free(u), free(v), free(labels), free(want), free(du), free(dv);
}

int main(void)
{
    if (!ref_dir()) print_message("KANAVA_BACKWARD_REF not set: finite-difference checks only\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),     cmocka_unit_test(test_layernorm), cmocka_unit_test(test_relu),
        cmocka_unit_test(test_tanh),       cmocka_unit_test(test_gelu),      cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_attention),  cmocka_unit_test(test_pooling),   cmocka_unit_test(test_l2_normalize),
        cmocka_unit_test(test_cosine_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
