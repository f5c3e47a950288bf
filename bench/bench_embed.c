/* bench_embed.c - Kanava's side of the embedding benchmark (bench/run_embed_bench.sh).
 *
 * usage: bench_embed MODEL_DIR CSV_FILE [threads]
 * Embeds the CSV's "text" column: throughput in batches of 32 (tokenization included),
 * batch-1 latency p50/p99, peak RSS, the forward pass's achieved GFLOP/s, and the
 * machine's OpenBLAS sgemm GFLOP/s as the practical limit. Prints one JSON line. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "model/encoder.h"
#include "text/texts.h"
#include "util/progress.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Best of a few runs of a large square sgemm: what OpenBLAS reaches on this machine. */
static double sgemm_gflops(int n)
{
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.01f;
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = kn_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double g = 2.0 * n * n * n / (kn_now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    free(a); free(b); free(c);
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: bench_embed MODEL_DIR CSV_FILE [threads]\n"); return 2; }
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    kn_set_threads(threads);
    kn_error err;
    kn_texts texts;
    if (kn_texts_read_csv_column(argv[2], "text", &texts, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
    kn_encoder *enc = kn_encoder_open(argv[1], &err);
    if (!enc) { fprintf(stderr, "%s\n", err.msg); return 1; }
    size_t n = texts.n;
    float *out = malloc(n * (size_t)enc->dim * sizeof *out);

    /* FLOPs of the whole set, from its token counts. */
    double flops = 0;
    for (size_t i = 0; i < n; i++) {
        kn_token_seq s;
        if (enc->ops->tokenize(enc, texts.text[i], texts.len[i], &s, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
        flops += enc->ops->flops(enc, &s, 1);
        free(s.ids);
    }

    kn_encoder_embed(enc, texts.text, texts.len, 64, 32, out, NULL, NULL, &err); /* warm-up */
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = kn_now();
        if (kn_encoder_embed(enc, texts.text, texts.len, n, 32, out, NULL, NULL, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double dt = kn_now() - t0;
        best = dt < best ? dt : best;
    }

    /* Forward only (pre-tokenized), for the achieved GFLOP/s of the engine itself. */
    kn_token_seq *seqs = calloc(n, sizeof *seqs);
    for (size_t i = 0; i < n; i++) enc->ops->tokenize(enc, texts.text[i], texts.len[i], &seqs[i], &err);
    double fwd = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = kn_now();
        for (size_t s = 0; s < n; s += 32) enc->ops->forward(enc, seqs + s, n - s < 32 ? n - s : 32, out + s * enc->dim, &err);
        double dt = kn_now() - t0;
        fwd = dt < fwd ? dt : fwd;
    }

    size_t n_lat = n < 300 ? n : 300;
    double *lat = malloc(n_lat * sizeof *lat);
    for (size_t i = 0; i < n_lat; i++) {
        size_t k = i * (n / n_lat);
        double t0 = kn_now();
        kn_encoder_embed(enc, &texts.text[k], &texts.len[k], 1, 1, out, NULL, NULL, &err);
        lat[i] = (kn_now() - t0) * 1e3;
    }
    qsort(lat, n_lat, sizeof *lat, cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak_rss = (double)ru.ru_maxrss / 1024.0; /* before the sgemm probe's buffers */
    double sgemm = sgemm_gflops(2048);
    printf("{\"peer\":\"kanava\",\"threads\":%d,\"blas\":\"OpenBLAS %s\",\"n\":%zu,\"batch\":32,\"sent_per_s\":%.1f,"
           "\"forward_gflops\":%.2f,\"sgemm_gflops\":%.2f,\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,\"peak_rss_mib\":%.1f}\n",
           threads, openblas_get_config(), n, (double)n / best, flops / fwd / 1e9, sgemm, lat[n_lat / 2],
           lat[(size_t)(n_lat * 0.99)], peak_rss);
    for (size_t i = 0; i < n; i++) free(seqs[i].ids);
    free(seqs); free(lat); free(out);
    kn_encoder_close(enc);
    kn_texts_free(&texts);
    return 0;
}
