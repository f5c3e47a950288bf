/* cmd_map.c - `kanava map`: a 2-D UMAP layout of embeddings, one "x,y" row per vector in
 * input order. Vectors come from a file `kanava embed` wrote (.npy, .tsv, .jsonl), a raw
 * little-endian float32 file (.f32 with --dim), or texts embedded here with --model. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "learn/umap.h"
#include "model/encoder.h"
#include "model/registry.h"
#include "text/texts.h"
#include "util/fs.h"
#include "util/progress.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava map (--vectors FILE | --data FILE) [options] --out coords.csv\n"
            "  A 2-D map (UMAP) of the vectors; writes a CSV with columns x,y in input order.\n"
            "  --vectors FILE       vectors from `kanava embed`: .npy, .tsv or .jsonl; or raw float32 .f32 with --dim\n"
            "  --dim N              the dimension of a .f32 file\n"
            "  --data FILE          texts instead: a CSV (.csv, .tsv) column or one text per line, embedded with --model\n"
            "  --column NAME        the CSV/TSV column with the texts (default text)\n"
            "  --model NAME|DIR     encoder for --data (default use-lite)\n"
            "  --out FILE           where to write the coordinates (default stdout)\n"
            "  --neighbors N        neighbourhood size (default 15)\n"
            "  --min-dist X         how tightly points pack, 0..1 (default 0.1)\n"
            "  --epochs N           optimisation epochs (default 0: 500 up to 10,000 vectors, else 200)\n"
            "  --seed N             random seed (default 42)\n"
            "  --threads N          threads (default: all cores)\n"
            "  --models-dir DIR     where models live (default $KANAVA_MODELS or ~/.local/share/kanava/models)\n");
}

/* The header of an .npy file: little-endian float32 (or float64), C order, 2-D. */
static int parse_npy(const char *path, const unsigned char *buf, size_t len, size_t *n, int *dim, int *f64,
                     size_t *offset, kn_error *err)
{
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) return kn_fail(err, "%s: not an .npy file (bad magic)", path);
    size_t hl, start;
    if (buf[6] == 1) hl = buf[8] | (size_t)buf[9] << 8, start = 10;
    else if ((buf[6] == 2 || buf[6] == 3) && len >= 12)
        hl = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24, start = 12;
    else return kn_fail(err, "%s: unsupported .npy version %d", path, buf[6]);
    if (start + hl > len) return kn_fail(err, "%s: .npy header is longer than the file", path);
    char header[1024];
    if (hl >= sizeof header) return kn_fail(err, "%s: .npy header of %zu bytes is too long", path, hl);
    memcpy(header, buf + start, hl);
    header[hl] = '\0';
    if (strstr(header, "'<f4'")) *f64 = 0;
    else if (strstr(header, "'<f8'")) *f64 = 1;
    else return kn_fail(err, "%s: .npy dtype must be little-endian float32 or float64 ('<f4', '<f8')", path);
    if (!strstr(header, "'fortran_order': False")) return kn_fail(err, "%s: .npy must be in C order", path);
    const char *shape = strstr(header, "'shape':");
    unsigned long long rows, cols;
    if (!shape || sscanf(shape, "'shape': (%llu, %llu)", &rows, &cols) != 2 || cols < 1 || cols > 1000000)
        return kn_fail(err, "%s: .npy shape must be (rows, columns)", path);
    size_t bytes = (size_t)rows * (size_t)cols * (*f64 ? 8 : 4);
    if (len - start - hl != bytes)
        return kn_fail(err, "%s: .npy holds %zu data bytes, its shape (%llu, %llu) needs %zu", path,
                       len - start - hl, rows, cols, bytes);
    *n = (size_t)rows;
    *dim = (int)cols;
    *offset = start + hl;
    return 0;
}

/* Rows of numbers from text: TSV lines, or JSON lines with an "embedding" array. */
static int parse_text_rows(const char *path, char *text, int jsonl, float **out, size_t *n, int *dim, kn_error *err)
{
    size_t cap = 0, count = 0, line = 0;
    float *v = NULL;
    int d = -1;
    for (char *s = text, *next; s && *s; s = next) {
        line++;
        char *nl = strchr(s, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl) *nl = '\0';
        if (*s == '\0' || (*s == '\r' && s[1] == '\0')) continue;
        int cols = 0;
        json_t *root = NULL, *arr = NULL;
        if (jsonl) {
            root = json_loads(s, 0, NULL);
            arr = root ? json_object_get(root, "embedding") : NULL;
            if (!json_is_array(arr)) {
                json_decref(root);
                free(v);
                return kn_fail(err, "%s:%zu: expected a JSON object with an \"embedding\" array", path, line);
            }
            cols = (int)json_array_size(arr);
        } else {
            cols = 1;
            for (char *c = s; *c; c++) cols += *c == '\t';
        }
        if (d < 0) d = cols;
        if (cols != d || cols < 1) {
            json_decref(root);
            free(v);
            return kn_fail(err, "%s:%zu: %d values, but the first row has %d", path, line, cols, d);
        }
        if ((count + 1) * (size_t)d > cap) {
            cap = cap ? 2 * cap : 1024 * (size_t)d;
            float *grown = realloc(v, cap * sizeof *v);
            if (!grown) {
                json_decref(root);
                free(v);
                return kn_fail(err, "%s: out of memory at line %zu", path, line);
            }
            v = grown;
        }
        char *c = s;
        for (int j = 0; j < d; j++) {
            double val;
            if (jsonl) {
                json_t *item = json_array_get(arr, (size_t)j);
                if (!json_is_number(item)) {
                    json_decref(root);
                    free(v);
                    return kn_fail(err, "%s:%zu: value %d is not a number", path, line, j + 1);
                }
                val = json_number_value(item);
            } else {
                char *end;
                val = strtod(c, &end);
                if (end == c || (*end != '\t' && *end != '\0' && *end != '\r')) {
                    free(v);
                    return kn_fail(err, "%s:%zu: value %d is not a number", path, line, j + 1);
                }
                c = *end == '\t' ? end + 1 : end;
            }
            if (!isfinite((float)val)) {
                json_decref(root);
                free(v);
                return kn_fail(err, "%s:%zu: value %d is not a finite float", path, line, j + 1);
            }
            v[count * (size_t)d + (size_t)j] = (float)val;
        }
        json_decref(root);
        count++;
    }
    *out = v;
    *n = count;
    *dim = d < 0 ? 0 : d;
    return 0;
}

static int read_vectors(const char *path, long dim_flag, float **out, size_t *n, int *dim, kn_error *err)
{
    size_t len;
    char *buf = kn_read_file(path, &len, err);
    if (!buf) return -1;
    int rc = 0;
    *out = NULL;
    if (kn_ends_with(path, ".npy")) {
        int f64;
        size_t off;
        rc = parse_npy(path, (const unsigned char *)buf, len, n, dim, &f64, &off, err);
        if (rc == 0) {
            size_t count = *n * (size_t)*dim;
            *out = malloc((count ? count : 1) * sizeof **out);
            if (!*out) rc = kn_fail(err, "%s: out of memory for %zu values", path, count);
            for (size_t i = 0; rc == 0 && i < count; i++) {
                if (f64) {
                    double d;
                    memcpy(&d, buf + off + 8 * i, 8);
                    (*out)[i] = (float)d;
                } else {
                    memcpy(*out + i, buf + off + 4 * i, 4);
                }
                if (!isfinite((*out)[i]))
                    rc = kn_fail(err, "%s: row %zu, column %zu is not a finite float", path, i / (size_t)*dim + 1,
                                 i % (size_t)*dim + 1);
            }
        }
    } else if (kn_ends_with(path, ".f32")) {
        if (dim_flag < 1) rc = kn_fail(err, "%s: a raw .f32 file needs --dim", path);
        else if (len % (4 * (size_t)dim_flag) != 0)
            rc = kn_fail(err, "%s: %zu bytes is not a whole number of %ld-float rows", path, len, dim_flag);
        else {
            *n = len / (4 * (size_t)dim_flag);
            *dim = (int)dim_flag;
            *out = (float *)buf; /* kn_read_file's malloc'd buffer, suitably aligned: taken over, not copied */
            buf = NULL;
            for (size_t i = 0; rc == 0 && i < *n * (size_t)*dim; i++)
                if (!isfinite((*out)[i]))
                    rc = kn_fail(err, "%s: row %zu, column %zu is not a finite float", path, i / (size_t)*dim + 1,
                                 i % (size_t)*dim + 1);
        }
    } else if (kn_ends_with(path, ".tsv") || kn_ends_with(path, ".jsonl")) {
        rc = parse_text_rows(path, buf, kn_ends_with(path, ".jsonl"), out, n, dim, err);
    } else {
        rc = kn_fail(err, "%s: vectors must be .npy, .tsv, .jsonl or .f32", path);
    }
    free(buf);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* Texts from --data, embedded with the encoder. */
static int embed_texts(const char *data, const char *column, const char *model, const char *models_flag, float **out,
                       size_t *n, int *dim, kn_error *err, int *usage_error)
{
    kn_texts texts;
    int rc = kn_ends_with(data, ".csv")   ? kn_texts_read_csv_column(data, column, &texts, err)
             : kn_ends_with(data, ".tsv") ? kn_texts_read_table_column(data, '\t', column, &texts, err)
                                       : kn_texts_read_lines(data, &texts, err);
    if (rc != 0) {
        *usage_error = 1;
        return -1;
    }
    char models_dir[4096], model_dir[4096];
    kn_encoder *enc = NULL;
    if (kn_models_dir(models_dir, sizeof models_dir, models_flag, err) != 0 ||
        kn_model_path(model_dir, sizeof model_dir, models_dir, model, err) != 0 ||
        !(enc = kn_encoder_open(model_dir, err))) {
        kn_texts_free(&texts);
        return -1;
    }
    *n = texts.n;
    *dim = enc->dim;
    *out = malloc((texts.n ? texts.n : 1) * (size_t)enc->dim * sizeof **out);
    kn_progress progress;
    kn_progress_init(&progress, "embedding");
    if (!*out) rc = kn_fail(err, "out of memory for %zu vectors", texts.n);
    else rc = kn_encoder_embed(enc, texts.text, texts.len, texts.n, 32, *out, kn_progress_update, &progress, err);
    kn_progress_finish(&progress);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *usage_error = 1;
    }
    kn_encoder_close(enc);
    kn_texts_free(&texts);
    return rc;
}

/* A whole decimal integer in [lo, hi], or a message naming the option. */
static int int_option(const char *name, const char *text, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "kanava map: %s must be an integer from %ld to %ld, not '%s'\n", name, lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int write_coords(FILE *f, const float *xy, size_t n)
{
    fputs("x,y\n", f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%.6g,%.6g\n", (double)xy[2 * i], (double)xy[2 * i + 1]);
    return ferror(f) ? -1 : 0;
}

int cmd_map(int argc, char **argv)
{
    static const struct option opts[] = {
        {"vectors", required_argument, 0, 'v'},  {"dim", required_argument, 0, 'D'},
        {"data", required_argument, 0, 'i'},     {"column", required_argument, 0, 'c'},
        {"model", required_argument, 0, 'M'},    {"out", required_argument, 0, 'o'},
        {"neighbors", required_argument, 0, 'k'}, {"min-dist", required_argument, 0, 'm'},
        {"epochs", required_argument, 0, 'e'},   {"seed", required_argument, 0, 's'},
        {"threads", required_argument, 0, 't'},  {"models-dir", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *vectors_path = NULL, *data = NULL, *column = "text", *model = KN_DEFAULT_MODEL, *out_path = NULL,
               *models_flag = NULL;
    kn_umap_options uo;
    kn_umap_default_options(&uo);
    long dim_flag = 0, threads = 0, value = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'v': vectors_path = optarg; break;
        case 'D':
            if (int_option("--dim", optarg, 1, 1000000, &dim_flag) != 0) return KN_EXIT_USAGE;
            break;
        case 'i': data = optarg; break;
        case 'c': column = optarg; break;
        case 'M': model = optarg; break;
        case 'o': out_path = optarg; break;
        case 'k':
            if (int_option("--neighbors", optarg, 2, 1000, &value) != 0) return KN_EXIT_USAGE;
            uo.n_neighbors = (int)value;
            break;
        case 'm': {
            char *end;
            uo.min_dist = strtof(optarg, &end);
            if (end == optarg || *end != '\0' || !(uo.min_dist >= 0.0f && uo.min_dist <= 1.0f)) {
                fprintf(stderr, "kanava map: --min-dist must be a number in [0, 1], not '%s'\n", optarg);
                return KN_EXIT_USAGE;
            }
            break;
        }
        case 'e':
            if (int_option("--epochs", optarg, 0, 100000, &value) != 0) return KN_EXIT_USAGE;
            uo.n_epochs = (int)value;
            break;
        case 's': {
            char *end;
            uo.seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end != '\0' || *optarg == '-') {
                fprintf(stderr, "kanava map: --seed must be a non-negative integer, not '%s'\n", optarg);
                return KN_EXIT_USAGE;
            }
            break;
        }
        case 't':
            if (int_option("--threads", optarg, 0, 256, &threads) != 0) return KN_EXIT_USAGE;
            break;
        case 'd': models_flag = optarg; break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (optind < argc || !vectors_path == !data) {
        fprintf(stderr, "kanava map: give exactly one of --vectors FILE and --data FILE%s\n",
                optind < argc ? ", and no other arguments" : "");
        usage(stderr);
        return KN_EXIT_USAGE;
    }
    if (threads > 0) kn_set_threads((int)threads);
    kn_error err;
    float *x = NULL;
    size_t n = 0;
    int dim = 0, usage_error = 0;
    int rc = vectors_path ? read_vectors(vectors_path, dim_flag, &x, &n, &dim, &err)
                          : embed_texts(data, column, model, models_flag, &x, &n, &dim, &err, &usage_error);
    if (rc != 0) {
        fprintf(stderr, "kanava map: %s\n", err.msg);
        return vectors_path || usage_error ? KN_EXIT_USAGE : KN_EXIT_FAIL;
    }
    float *xy = malloc((n ? n : 1) * 2 * sizeof *xy);
    if (!xy) {
        fprintf(stderr, "kanava map: out of memory for %zu points\n", n);
        free(x);
        return KN_EXIT_FAIL;
    }
    kn_progress progress;
    kn_progress_init(&progress, "map");
    double start = kn_now();
    rc = kn_umap(x, n, dim, &uo, xy, kn_progress_update, &progress, &err);
    kn_progress_finish(&progress);
    free(x);
    int exit_code = KN_EXIT_OK;
    if (rc != 0) {
        fprintf(stderr, "kanava map: %s\n", err.msg);
        exit_code = KN_EXIT_USAGE;
    } else {
        fprintf(stderr, "kanava map: %zu points of dimension %d in %.2f s\n", n, dim, kn_now() - start);
        FILE *f = out_path ? fopen(out_path, "w") : stdout;
        if (!f || write_coords(f, xy, n) != 0 || (out_path && fclose(f) != 0)) {
            fprintf(stderr, "kanava map: could not write %s\n", out_path ? out_path : "stdout");
            exit_code = KN_EXIT_FAIL;
        }
    }
    free(xy);
    return exit_code;
}
