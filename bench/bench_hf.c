/* bench_hf.c - Kanava's side of the BERT-family benchmark (bench/run_hf_bench.sh).
 *
 * usage: bench_hf MODEL_DIR SEQ_LEN [threads]
 * Random token ids (fixed seed, as the PyTorch peer uses) of exactly SEQ_LEN tokens:
 * batch-1 latency p50/p99 over 200 calls after warm-up, batch-32 throughput, peak RSS.
 * Prints one JSON line. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "model/encoder.h"
#include "util/progress.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: bench_hf MODEL_DIR SEQ_LEN [threads]\n"); return 2; }
    int T = atoi(argv[2]), threads = argc > 3 ? atoi(argv[3]) : 2;
    kn_set_threads(threads);
    kn_error err;
    double t_load = kn_now();
    kn_encoder *enc = kn_encoder_open(argv[1], &err);
    if (!enc) { fprintf(stderr, "%s\n", err.msg); return 1; }
    t_load = kn_now() - t_load;
    enum { N = 32 * 8 };
    kn_token_seq seqs[N];
    for (int i = 0; i < N; i++) {
        seqs[i].n = (size_t)T;
        seqs[i].ids = malloc((size_t)T * sizeof(int32_t));
        for (int t = 0; t < T; t++) seqs[i].ids[t] = 5 + (int32_t)(next_rand() % 1000); /* ids every vocab has */
    }
    float *out = malloc((size_t)N * enc->dim * sizeof *out);
    double lat[200];
    for (int i = 0; i < 10; i++) enc->ops->forward(enc, &seqs[i], 1, out, &err);
    for (int i = 0; i < 200; i++) {
        double t0 = kn_now();
        if (enc->ops->forward(enc, &seqs[i % N], 1, out, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
        lat[i] = (kn_now() - t0) * 1e3;
    }
    qsort(lat, 200, sizeof *lat, cmp_double);
    enc->ops->forward(enc, seqs, 32, out, &err); /* warm-up */
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = kn_now();
        for (int b = 0; b < N; b += 32) enc->ops->forward(enc, seqs + b, 32, out + (size_t)b * enc->dim, &err);
        double dt = kn_now() - t0;
        best = dt < best ? dt : best;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double gflops = enc->ops->flops(enc, seqs, N) / best / 1e9;
    printf("{\"peer\":\"kanava\",\"seq_len\":%d,\"threads\":%d,\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,"
           "\"batch32_sent_per_s\":%.1f,\"gflops\":%.1f,\"load_s\":%.2f,\"peak_rss_mib\":%.1f}\n",
           T, threads, lat[100], lat[198], N / best, gflops, t_load, (double)ru.ru_maxrss / 1024.0);
    for (int i = 0; i < N; i++) free(seqs[i].ids);
    free(out);
    kn_encoder_close(enc);
    return 0;
}
