/* test_hf_bert_grad.c - src/model/hf_bert_train.c: the BERT / XLM-R training forward and
 * backward under SetFit's CosineSimilarityLoss on the tiny Hugging Face models
 * (tools/hf/tiny_models.py), checked five ways:
 *  1. the training forward equals the inference encoder (hf_bert.c) within 1e-5 on the same
 *     ids, and PyTorch float64 within 1e-4;
 *  2. every parameter gradient against PyTorch autograd in float64
 *     (tools/torch/hf_bert_grad_reference.py writes them into $KANAVA_BERT_GRAD_REF;
 *     tools/torch/check_hf_bert_grad.sh does both): max|a-b| / max|b| <= 1e-3 per tensor,
 *     the loss within 1e-5, unused embedding rows exactly zero;
 *  3. central finite differences of the loss on entries of several tensors;
 *  4. save -> kn_encoder_open gives the context's embeddings (1e-5) with the source's
 *     tensor names, all F32, and the side files copied;
 *  5. kn_trainable_open picks this family; quantised directories are refused.
 * Needs $KANAVA_HF_TINY and $KANAVA_BERT_GRAD_REF; skips without them. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "model/backward.h"
#include "model/encoder.h"
#include "model/hf_bert_train.h"
#include "model/quantize.h"
#include "model/safetensors.h"
#include "model/trainable.h"

#define GRAD_TOL 1e-3
#define LOSS_TOL 1e-5
#define OUT_TOL 1e-5
#define REF_TOL 1e-4
/* float32 forward: h = 2^-9 with the 4-point stencil keeps rounding well below this. */
#define FD_TOL 2e-2
#define MAX_MODELS 16

typedef struct {
    char name[128], dir[4200], ref[4200];
    json_t *meta;
    size_t n_texts, pairs;
    kn_token_seq *seqs;
    float *labels;
} model_case;

static model_case C[MAX_MODELS];
static int n_models;
static const char *tiny, *refdir;

static void read_f32(const char *dir, const char *name, float *buf, long n)
{
    char path[4600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    size_t got = fread(buf, sizeof *buf, (size_t)n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != (size_t)n || extra) fail_msg("%s: expected %ld floats", path, n);
}

static int load_case(model_case *m, const char *name)
{
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->dir, sizeof m->dir, "%s/%s", tiny, name);
    snprintf(m->ref, sizeof m->ref, "%s/%s", refdir, name);
    char path[4400];
    snprintf(path, sizeof path, "%s/meta.json", m->ref);
    json_error_t jerr;
    if (!(m->meta = json_load_file(path, 0, &jerr))) {
        print_error("%s: %s\n", path, jerr.text);
        return -1;
    }
    json_t *ids = json_object_get(m->meta, "ids"), *labels = json_object_get(m->meta, "labels");
    m->n_texts = json_array_size(ids);
    m->pairs = json_array_size(labels);
    if (m->n_texts != 2 * m->pairs || m->pairs == 0) {
        print_error("%s: expects 2 sequences per label\n", path);
        return -1;
    }
    m->seqs = calloc(m->n_texts, sizeof *m->seqs);
    m->labels = calloc(m->pairs, sizeof *m->labels);
    for (size_t i = 0; i < m->n_texts; i++) {
        json_t *a = json_array_get(ids, i);
        m->seqs[i].n = json_array_size(a);
        m->seqs[i].ids = calloc(m->seqs[i].n + 1, sizeof(int32_t));
        for (size_t j = 0; j < m->seqs[i].n; j++) m->seqs[i].ids[j] = (int32_t)json_integer_value(json_array_get(a, j));
    }
    for (size_t i = 0; i < m->pairs; i++) m->labels[i] = (float)json_number_value(json_array_get(labels, i));
    return 0;
}

static int setup(void **state)
{
    (void)state;
    tiny = getenv("KANAVA_HF_TINY");
    refdir = getenv("KANAVA_BERT_GRAD_REF");
    if (!tiny || !*tiny || !refdir || !*refdir) return 0;
    char path[4400];
    snprintf(path, sizeof path, "%s/models.txt", refdir);
    FILE *f = fopen(path, "r");
    if (!f) {
        print_error("%s: missing\n", path);
        return -1;
    }
    char line[256];
    while (n_models < MAX_MODELS && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!*line) continue;
        if (load_case(&C[n_models], line) != 0) {
            fclose(f);
            return -1;
        }
        n_models++;
    }
    fclose(f);
    return n_models > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int k = 0; k < n_models; k++) {
        for (size_t i = 0; i < C[k].n_texts; i++) free(C[k].seqs[i].ids);
        free(C[k].seqs);
        free(C[k].labels);
        json_decref(C[k].meta);
    }
    return 0;
}

static int enabled(void)
{
    if (n_models > 0) return 1;
    print_message("skipped: needs KANAVA_HF_TINY and KANAVA_BERT_GRAD_REF (tools/torch/check_hf_bert_grad.sh)\n");
    skip();
    return 0;
}

static kn_bert_train *open_train(const model_case *m)
{
    kn_error err;
    kn_bert_train *t = kn_bert_train_new(m->dir, &err);
    if (!t) fail_msg("kn_bert_train_new %s: %s", m->name, err.msg);
    return t;
}

/* Forward of the case's pairs (u rows then v rows); returns the loss and, when backward is
 * set, runs the backward into the accumulated gradients. */
static double loss_step(kn_bert_train *t, const model_case *m, int backward)
{
    kn_error err;
    int dim = kn_bert_train_dim(t);
    size_t n = m->n_texts, P = m->pairs;
    float *out = malloc(n * dim * sizeof *out), *dout = malloc(n * dim * sizeof *dout);
    if (kn_bert_train_forward(t, m->seqs, n, out, &err) != 0) fail_msg("forward: %s", err.msg);
    double loss = kn_cosine_loss_backward(backward ? dout : NULL, backward ? dout + P * dim : NULL, out, out + P * dim,
                                          m->labels, (int)P, dim);
    if (backward && kn_bert_train_backward(t, dout, &err) != 0) fail_msg("backward: %s", err.msg);
    free(out);
    free(dout);
    return loss;
}

static double max_abs_diff(const float *a, const float *b, long n)
{
    double d = 0.0;
    for (long i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static double max_abs(const float *a, long n)
{
    double m = 0.0;
    for (long i = 0; i < n; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}

/* max|a-b| / max|b|. A tensor whose true gradient is zero (the key bias: adding the same
 * q.b to every score of a query leaves the softmax unchanged) has only rounding on both
 * sides; it is measured against floor, a small fraction of the model's largest gradient. */
static double rel_err(const float *a, const float *b, long n, double floor)
{
    return max_abs_diff(a, b, n) / fmax(max_abs(b, n), floor);
}

static size_t find_param(kn_bert_train *t, const char *name)
{
    size_t np = kn_bert_train_param_count(t);
    for (size_t i = 0; i < np; i++) {
        const char *nm;
        float *v, *g;
        size_t sz;
        kn_bert_train_param(t, i, &nm, &v, &g, &sz);
        if (strcmp(nm, name) == 0) return i;
    }
    return np;
}

/* The index of the parameter whose name ends with suffix (names carry the prefix). */
static size_t find_suffix(kn_bert_train *t, const char *suffix)
{
    size_t np = kn_bert_train_param_count(t);
    for (size_t i = 0; i < np; i++) {
        const char *nm;
        float *v, *g;
        size_t sz;
        kn_bert_train_param(t, i, &nm, &v, &g, &sz);
        if (kn_ends_with(nm, suffix) && (strlen(nm) == strlen(suffix) || nm[strlen(nm) - strlen(suffix) - 1] == '.'))
            return i;
    }
    fail_msg("no parameter ends with %s", suffix);
    return np;
}

static void test_forward_matches_encoder(void **state)
{
    (void)state;
    if (!enabled()) return;
    static const char *const texts[] = {"How do I order a new card?", "Missä on korttini? Tilaus ei ole tullut.",
                                        "the the the the the the the the the the the the the the the the the the "
                                        "the the the the the the the the the the the the the the the the the the"};
    for (int k = 0; k < n_models; k++) {
        const model_case *m = &C[k];
        kn_error err;
        kn_encoder *enc = kn_encoder_open(m->dir, &err);
        if (!enc) fail_msg("kn_encoder_open %s: %s", m->name, err.msg);
        kn_bert_train *t = open_train(m);
        assert_int_equal(kn_bert_train_dim(t), enc->dim);
        assert_int_equal(kn_bert_train_max_tokens(t), enc->max_tokens);
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
            kn_token_seq a, b;
            if (enc->ops->tokenize(enc, texts[i], strlen(texts[i]), &a, &err) != 0) fail_msg("tokenize: %s", err.msg);
            if (kn_bert_train_tokenize(t, texts[i], strlen(texts[i]), &b, &err) != 0) fail_msg("tokenize: %s", err.msg);
            assert_int_equal(a.n, b.n);
            assert_true(b.n <= (size_t)enc->max_tokens);
            for (size_t j = 0; j < a.n; j++) assert_int_equal(a.ids[j], b.ids[j]);
            free(a.ids);
            free(b.ids);
        }
        size_t n = m->n_texts;
        int dim = enc->dim;
        float *want = malloc(n * dim * sizeof *want), *got = malloc(n * dim * sizeof *got);
        float *ref = malloc(n * dim * sizeof *ref);
        if (enc->ops->forward(enc, m->seqs, n, want, &err) != 0) fail_msg("encoder forward: %s", err.msg);
        if (kn_bert_train_forward(t, m->seqs, n, got, &err) != 0) fail_msg("train forward: %s", err.msg);
        double d = max_abs_diff(got, want, (long)(n * dim));
        read_f32(m->ref, "outputs.f32", ref, (long)(n * dim));
        double dr = max_abs_diff(got, ref, (long)(n * dim));
        print_message("%-26s train forward vs encoder: max abs diff %.2e; vs torch float64 %.2e\n", m->name, d, dr);
        assert_true(d <= OUT_TOL);
        assert_true(dr <= REF_TOL);
        /* A batch of one sentence gives the same row (no batch dependence). */
        if (kn_bert_train_forward(t, m->seqs + 1, 1, got, &err) != 0) fail_msg("train forward: %s", err.msg);
        assert_true(max_abs_diff(got, want + dim, dim) <= OUT_TOL);
        free(want);
        free(got);
        free(ref);
        kn_bert_train_free(t);
        kn_encoder_close(enc);
    }
}

/* Rows of a [rows, D] gradient that are not in used[] must be exactly zero. */
static long stray_rows(const float *g, long rows, long D, const char *used)
{
    long bad = 0;
    for (long r = 0; r < rows; r++)
        for (long j = 0; j < D && !used[r]; j++) bad += g[r * D + j] != 0.0f;
    return bad;
}

static int check_gradients(const model_case *m)
{
    kn_bert_train *t = open_train(m);
    size_t np = kn_bert_train_param_count(t);
    json_t *params = json_object_get(m->meta, "params"), *rows = json_object_get(m->meta, "word_rows");
    assert_int_equal(np, json_array_size(params));
    kn_bert_train_zero_grad(t);
    double loss = loss_step(t, m, 1);
    double want_loss = json_number_value(json_object_get(m->meta, "loss"));
    print_message("%-26s loss %.10f, torch %.10f (diff %.1e)\n", m->name, loss, want_loss, fabs(loss - want_loss));
    assert_true(fabs(loss - want_loss) <= LOSS_TOL);
    const kn_bert_config *cfg = kn_bert_train_config(t);
    double scale = 0.0; /* the largest reference gradient entry of the model */
    for (size_t k = 0; k < np; k++) {
        const char *name = json_string_value(json_object_get(json_array_get(params, k), "name"));
        const char *nm;
        float *val, *grad;
        size_t size;
        kn_bert_train_param(t, find_param(t, name), &nm, &val, &grad, &size);
        if (kn_ends_with(name, "word_embeddings.weight")) size = json_array_size(rows) * (size_t)cfg->hidden;
        float *want = malloc(size * sizeof *want);
        char file[256];
        snprintf(file, sizeof file, "%s.f32", name);
        read_f32(m->ref, file, want, (long)size);
        scale = fmax(scale, max_abs(want, (long)size));
        free(want);
    }
    const double floor = 1e-5 * scale;
    double worst = 0.0;
    const char *worst_name = "";
    int failed = 0;
    for (size_t k = 0; k < np; k++) {
        json_t *p = json_array_get(params, k);
        const char *name = json_string_value(json_object_get(p, "name"));
        size_t i = find_param(t, name);
        if (i == np) fail_msg("%s: reference parameter %s is not trained", m->name, name);
        const char *nm;
        float *val, *grad;
        size_t size;
        kn_bert_train_param(t, i, &nm, &val, &grad, &size);
        int shape[2];
        kn_bert_train_param_shape(t, i, shape);
        json_t *sh = json_object_get(p, "shape");
        long want_size = 1;
        for (size_t d = 0; d < json_array_size(sh); d++) want_size *= (long)json_integer_value(json_array_get(sh, d));
        assert_int_equal(want_size, (long)size);
        char file[256];
        snprintf(file, sizeof file, "%s.f32", name);
        double e, max_abs_ref;
        if (kn_ends_with(name, "word_embeddings.weight")) {
            /* Only the used rows have gradients; every other row must stay exactly zero. */
            long R = (long)json_array_size(rows), D = shape[1];
            float *want = malloc((size_t)(R * D) * sizeof *want), *got = malloc((size_t)(R * D) * sizeof *got);
            read_f32(m->ref, file, want, R * D);
            char *used = calloc((size_t)shape[0], 1);
            for (long r = 0; r < R; r++) {
                long id = (long)json_integer_value(json_array_get(rows, r));
                used[id] = 1;
                memcpy(got + r * D, grad + id * D, (size_t)D * sizeof *got);
            }
            assert_int_equal(stray_rows(grad, shape[0], D, used), 0);
            e = rel_err(got, want, R * D, floor);
            max_abs_ref = max_abs(want, R * D);
            free(used);
            free(want);
            free(got);
        } else {
            float *want = malloc(size * sizeof *want);
            read_f32(m->ref, file, want, (long)size);
            e = rel_err(grad, want, (long)size, floor);
            max_abs_ref = max_abs(want, (long)size);
            free(want);
            if (kn_ends_with(name, "token_type_embeddings.weight") || kn_ends_with(name, "position_embeddings.weight")) {
                /* token type: row 0 only; positions: offset .. offset + longest - 1 only */
                char *used = calloc((size_t)shape[0], 1);
                int is_type = kn_ends_with(name, "token_type_embeddings.weight");
                for (size_t s = 0; s < m->n_texts; s++)
                    for (size_t j = 0; j < m->seqs[s].n; j++) used[is_type ? 0 : (size_t)cfg->position_offset + j] = 1;
                assert_int_equal(stray_rows(grad, shape[0], shape[1], used), 0);
                free(used);
            }
        }
        if (e > worst && max_abs_ref > floor) worst = e, worst_name = name;
        if (!(e <= GRAD_TOL)) {
            print_message("  %-58s rel err %.2e  FAIL\n", name, e);
            failed++;
        }
    }
    print_message("%-26s worst relative error over %zu tensors: %.2e (%s); zero-gradient key biases within "
                  "%.0e x the largest gradient\n", m->name, np, worst, worst_name, GRAD_TOL * floor / scale);

    /* Gradients accumulate: a second backward of the same batch doubles them. */
    size_t qi = find_suffix(t, "encoder.layer.0.attention.self.query.weight");
    const char *nm;
    float *val, *grad;
    size_t size;
    kn_bert_train_param(t, qi, &nm, &val, &grad, &size);
    float *first = malloc(size * sizeof *first);
    memcpy(first, grad, size * sizeof *first);
    loss_step(t, m, 1);
    for (size_t j = 0; j < size; j++) assert_true(fabsf(grad[j] - 2.0f * first[j]) <= 1e-6f + 1e-5f * fabsf(first[j]));
    kn_bert_train_zero_grad(t);
    for (size_t j = 0; j < size; j++) assert_true(grad[j] == 0.0f);
    free(first);
    kn_bert_train_free(t);
    return failed;
}

static void test_gradients_vs_torch(void **state)
{
    (void)state;
    if (!enabled()) return;
    int failed = 0;
    for (int k = 0; k < n_models; k++) failed += check_gradients(&C[k]);
    assert_int_equal(failed, 0);
}

/* The loss at value v of one parameter entry. */
static double loss_at(kn_bert_train *t, const model_case *m, float *entry, float v)
{
    float keep = *entry;
    *entry = v;
    double l = loss_step(t, m, 0);
    *entry = keep;
    return l;
}

/* d loss / d entry by the 4-point central difference with step h. */
static double fd_at(kn_bert_train *t, const model_case *m, float *e, double h)
{
    float v = *e;
    double f1 = loss_at(t, m, e, (float)(v + h)) - loss_at(t, m, e, (float)(v - h));
    double f2 = loss_at(t, m, e, (float)(v + 2 * h)) - loss_at(t, m, e, (float)(v - 2 * h));
    return (8 * f1 - f2) / (12 * h);
}

static void test_finite_differences(void **state)
{
    (void)state;
    if (!enabled()) return;
    static const char *const probe[] = {
        "embeddings.word_embeddings.weight",           "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight",     "embeddings.LayerNorm.weight",
        "encoder.layer.0.attention.self.query.weight", "encoder.layer.0.attention.self.query.bias",
        "encoder.layer.0.attention.self.key.weight",
        "encoder.layer.0.attention.self.value.weight", "encoder.layer.0.attention.output.dense.weight",
        "encoder.layer.1.attention.output.LayerNorm.bias", "encoder.layer.1.intermediate.dense.weight",
        "encoder.layer.1.output.dense.bias",           "encoder.layer.1.output.LayerNorm.weight"};
    int failed = 0, probes = 0;
    for (int k = 0; k < n_models; k++) {
        const model_case *m = &C[k];
        kn_bert_train *t = open_train(m);
        kn_bert_train_zero_grad(t);
        loss_step(t, m, 1);
        for (size_t q = 0; q < sizeof probe / sizeof *probe; q++) {
            size_t i = find_suffix(t, probe[q]);
            const char *nm;
            float *val, *grad;
            size_t size;
            kn_bert_train_param(t, i, &nm, &val, &grad, &size);
            /* The entry with the largest gradient: the difference is then well above rounding. */
            size_t at = 0;
            for (size_t j = 1; j < size; j++)
                if (fabsf(grad[j]) > fabsf(grad[at])) at = j;
            float *e = val + at;
            double an = grad[at], fd = 0.0, rel = INFINITY;
            /* Two steps: 2^-9 keeps float32 rounding of the loss small against the difference,
             * but max pooling is piecewise linear and that step can move an argmax across a
             * kink; 2^-13 rarely does. A right gradient matches at least one of them. */
            for (int s = 0; s < 2 && !(rel <= FD_TOL); s++) {
                double h = s == 0 ? 1.0 / 512 : 1.0 / 8192;
                fd = fd_at(t, m, e, h);
                rel = fabs(fd - an) / fmax(fabs(an), 1e-6);
            }
            probes++;
            if (!(rel <= FD_TOL)) {
                failed++;
                print_message("fd %-26s %-48s [%6zu] analytic % .6e fd % .6e rel %.1e FAIL\n", m->name, probe[q], at, an,
                              fd, rel);
            }
        }
        kn_bert_train_free(t);
    }
    print_message("finite differences: %d probes, %d outside %.0e\n", probes, failed, FD_TOL);
    assert_int_equal(failed, 0);
}

/* Every tensor name of a (source) file appears in the saved one as F32 with the same shape. */
static void check_saved_tensors(const char *src_dir, const char *out_dir)
{
    char a[4400], b[4400];
    kn_error err;
    snprintf(a, sizeof a, "%s/model.safetensors", src_dir);
    snprintf(b, sizeof b, "%s/model.safetensors", out_dir);
    kn_safetensors *s = kn_st_open(a, &err), *o = kn_st_open(b, &err);
    assert_non_null(s);
    assert_non_null(o);
    assert_int_equal(kn_st_count(s), kn_st_count(o));
    for (size_t i = 0; i < kn_st_count(s); i++) {
        const kn_tensor *x = kn_st_at(s, i), *y = kn_st_find(o, x->name);
        if (!y) fail_msg("%s: tensor %s was not saved", out_dir, x->name);
        assert_int_equal(x->ndim, y->ndim);
        for (int d = 0; d < x->ndim; d++) assert_int_equal(x->shape[d], y->shape[d]);
        if (x->dtype == KN_F32 || x->dtype == KN_F16 || x->dtype == KN_BF16) assert_int_equal(y->dtype, KN_F32);
        else assert_int_equal(y->dtype, x->dtype);
    }
    kn_st_close(s);
    kn_st_close(o);
}

static void test_save_reopen(void **state)
{
    (void)state;
    if (!enabled()) return;
    for (int k = 0; k < n_models; k++) {
        const model_case *m = &C[k];
        kn_bert_train *t = open_train(m);
        /* One plain gradient step, so that the saved values differ from the source's. */
        kn_bert_train_zero_grad(t);
        loss_step(t, m, 1);
        size_t np = kn_bert_train_param_count(t);
        for (size_t i = 0; i < np; i++) {
            const char *nm;
            float *val, *grad;
            size_t size;
            kn_bert_train_param(t, i, &nm, &val, &grad, &size);
            for (size_t j = 0; j < size; j++) val[j] -= 0.5f * grad[j];
        }
        size_t n = m->n_texts;
        int dim = kn_bert_train_dim(t);
        float *got = malloc(n * dim * sizeof *got), *want = malloc(n * dim * sizeof *want);
        float *before = malloc(n * dim * sizeof *before);
        kn_error err;
        if (kn_bert_train_forward(t, m->seqs, n, want, &err) != 0) fail_msg("forward: %s", err.msg);
        read_f32(m->ref, "outputs.f32", before, (long)(n * dim));
        assert_true(max_abs_diff(want, before, (long)(n * dim)) > 1e-3); /* the step changed the model */

        char out[4400];
        if (kn_make_scratch_dir(out, sizeof out, m->ref, "saved", &err) != 0) fail_msg("%s", err.msg);
        if (kn_bert_train_save(t, out, &err) != 0) fail_msg("save %s: %s", m->name, err.msg);
        kn_error err2;
        assert_int_equal(kn_bert_train_save(t, m->dir, &err2), -1); /* never over its own source */
        check_saved_tensors(m->dir, out);
        static const char *const files[] = {"config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json",
                                            "tokenizer_config.json", "1_Pooling/config.json"};
        for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
            char p[4600];
            snprintf(p, sizeof p, "%s/%s", out, files[f]);
            if (!kn_is_file(p)) fail_msg("%s was not copied", p);
        }
        char src_norm[4600], out_norm[4600];
        snprintf(src_norm, sizeof src_norm, "%s/2_Normalize", m->dir);
        snprintf(out_norm, sizeof out_norm, "%s/2_Normalize", out);
        assert_int_equal(kn_is_dir(src_norm), kn_is_dir(out_norm));

        kn_encoder *enc = kn_encoder_open(out, &err);
        if (!enc) fail_msg("kn_encoder_open %s: %s", out, err.msg);
        if (enc->ops->forward(enc, m->seqs, n, got, &err) != 0) fail_msg("encoder forward: %s", err.msg);
        double d = max_abs_diff(got, want, (long)(n * dim));
        print_message("%-26s saved -> reopened encoder vs training forward: max abs diff %.2e\n", m->name, d);
        assert_true(d <= OUT_TOL);
        kn_encoder_close(enc);
        /* Reopened for training, the saved directory gives the same forward too. */
        kn_bert_train *t2 = kn_bert_train_new(out, &err);
        if (!t2) fail_msg("reopen for training: %s", err.msg);
        if (kn_bert_train_forward(t2, m->seqs, n, got, &err) != 0) fail_msg("forward: %s", err.msg);
        assert_true(max_abs_diff(got, want, (long)(n * dim)) <= 1e-6);
        kn_bert_train_free(t2);
        kn_rm_rf(out);
        free(got);
        free(want);
        free(before);
        kn_bert_train_free(t);
    }
}

static void test_trainable_interface(void **state)
{
    (void)state;
    if (!enabled()) return;
    const model_case *m = &C[0];
    kn_error err;
    kn_trainable *tr = kn_trainable_open(m->dir, &err);
    if (!tr) fail_msg("kn_trainable_open %s: %s", m->dir, err.msg);
    kn_bert_train *t = open_train(m);
    assert_int_equal(tr->dim, kn_bert_train_dim(t));
    assert_int_equal(tr->max_tokens, kn_bert_train_max_tokens(t));
    kn_trainable_param ps[64];
    size_t np = tr->ops->params(tr, ps, 64);
    assert_int_equal(np, kn_bert_train_param_count(t));
    for (size_t i = 0; i < np && i < 64; i++) {
        const char *nm;
        float *v, *g;
        size_t size;
        int nd = kn_bert_train_param(t, i, &nm, &v, &g, &size);
        assert_string_equal(ps[i].name, nm);
        assert_int_equal(ps[i].size, size);
        assert_int_equal(ps[i].ndim, nd);
    }
    /* Through the interface: forward + backward fill the gradients the same way. */
    size_t n = m->n_texts;
    float *out = malloc(n * tr->dim * sizeof *out), *dout = malloc(n * tr->dim * sizeof *dout);
    tr->ops->zero_grad(tr);
    if (tr->ops->forward(tr, m->seqs, n, out, &err) != 0) fail_msg("%s", err.msg);
    kn_cosine_loss_backward(dout, dout + m->pairs * tr->dim, out, out + m->pairs * tr->dim, m->labels, (int)m->pairs,
                            tr->dim);
    if (tr->ops->backward(tr, dout, &err) != 0) fail_msg("%s", err.msg);
    kn_bert_train_zero_grad(t);
    loss_step(t, m, 1);
    size_t last = np - 1;
    const char *nm;
    float *v, *g;
    size_t size;
    kn_bert_train_param(t, last, &nm, &v, &g, &size);
    assert_true(max_abs_diff(ps[last].grad, g, (long)size) <= 1e-6);
    free(out);
    free(dout);
    kn_trainable_close(tr);
    kn_bert_train_free(t);

    /* A quantised directory is refused, naming the problem. */
    char q[4400];
    if (kn_make_scratch_dir(q, sizeof q, m->ref, "q8", &err) != 0) fail_msg("%s", err.msg);
    kn_rm_rf(q);
    if (kn_model_quantize(m->dir, q, &err) != 0) fail_msg("quantize: %s", err.msg);
    assert_null(kn_bert_train_new(q, &err));
    print_message("quantised: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "quantised"));
    assert_null(kn_trainable_open(q, &err));
    kn_rm_rf(q);
}

static void test_timing(void **state)
{
    (void)state;
    if (!enabled()) return;
    const model_case *m = &C[0];
    kn_bert_train *t = open_train(m);
    loss_step(t, m, 1); /* warm up */
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double a = kn_now();
        loss_step(t, m, 1);
        best = fmin(best, kn_now() - a);
    }
    print_message("%s: forward+backward of %zu pairs: %.2f ms (best of 3)\n", m->name, m->pairs, best * 1e3);
    kn_bert_train_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_encoder), cmocka_unit_test(test_gradients_vs_torch),
        cmocka_unit_test(test_finite_differences),      cmocka_unit_test(test_save_reopen),
        cmocka_unit_test(test_trainable_interface),     cmocka_unit_test(test_timing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
