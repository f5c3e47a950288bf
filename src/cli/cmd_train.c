/* cmd_train.c - `kanava train`: labelled CSV in, a classifier bundle out. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "learn/backlog.h"
#include "learn/bundle.h"
#include "learn/dataset.h"
#include "learn/logreg.h"
#include "learn/setfit.h"
#include "model/encoder.h"
#include "model/registry.h"
#include "util/progress.h"
#include "util/fs.h"
#include "util/sha256.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava train --data FILE.csv --out DIR [options]\n"
            "  --method M            auto (default): the best of tfidf, frozen, hybrid and (when the\n"
            "                        budget allows) hybrid --tune, measured on held-out labelled texts;\n"
            "                        frozen: a sentence encoder as it is + a calibrated head;\n"
            "                        setfit: the encoder fine-tuned contrastively first (use-lite, BERT, XLM-R);\n"
            "                        tfidf: word and character n-grams + the head; bm25: Okapi BM25;\n"
            "                        hybrid: the encoder's vectors and the tfidf n-grams in one head\n"
            "  --budget SECONDS      auto: the time the whole training may take (default 180; e.g. 180s)\n"
            "  --tune                hybrid: fine-tune the encoder as setfit does first (its options apply)\n"
            "  --dense-weights LIST  hybrid: weights of the encoder's vectors against the n-grams to choose\n"
            "                        from on held-out texts (default 0.7,1,1.4,2; one value fixes it)\n"
            "  --base MODEL          frozen, setfit: a model name or directory (default use-lite)\n"
            "  --loss L              setfit objective: supcon (in-batch supervised contrastive,\n"
            "                        default) or cosine (SetFit's CosineSimilarityLoss on pairs)\n"
            "  --max-steps N         setfit optimizer steps (default 500)\n"
            "  --lr X                setfit learning rate (default 1e-4)\n"
            "  --batch-texts N       supcon: texts per step (default 32)\n"
            "  --tau X               supcon: temperature (default 0.05)\n"
            "  --per-topic N         supcon: texts of one topic in a step (default 2)\n"
            "  --token-drop X        supcon: share of tokens dropped from each text per step (default:\n"
            "                        0.2 when the steps see each text 4 times or more, else 0)\n"
            "  --freeze N            setfit: keep the embeddings (N >= 1) and the lowest N - 1\n"
            "                        transformer layers fixed (default 0: tune everything)\n"
            "  --base-weight X       setfit: the untuned base encoder's vectors, scaled by X, kept beside\n"
            "                        the tuned ones for the head (default 0.5; 0: the tuned encoder only)\n"
            "  --sampling S          cosine: pairs oversampling (default), undersampling, unique\n"
            "  --word-ngrams A,B     tfidf word n-grams (default 0,0 = off; e.g. 1,2)\n"
            "  --char-ngrams A,B     tfidf character n-grams within words (default 2,5; 0,0 = off)\n"
            "  --sublinear-tf        tfidf: 1 + ln(count) instead of the count\n"
            "  --lemmatize L         tfidf, hybrid: auto (default: Finnish base forms when most texts are\n"
            "                        Finnish), fi (always, through voikko) or none\n"
            "  --k1 X, --b X         bm25 parameters (default 1.5, 0.75)\n"
            "  --bm25-mode M         neighbour (default): best single message per topic; topic: one\n"
            "                        document per topic\n"
            "  --unlabelled FILE     a backlog of unlabelled messages (CSV/TSV with the text column,\n"
            "                        JSONL with a \"text\" field, or one per line); tfidf and hybrid count\n"
            "                        their n-grams' idf over it too\n"
            "  --unlabelled-max N    at most N distinct backlog texts, a random sample (default 100000)\n"
            "  --self-train X        hybrid with a backlog: backlog texts labelled with probability >= X\n"
            "                        join the labelled ones (default 0.5; 0 turns it off)\n"
            "  --pseudo-weight X     their weight in the head (default 0.5)\n"
            "  --text-column NAME    default text\n"
            "  --label-column NAME   default category\n"
            "  --C X                 inverse L2 strength of the head (default 100; tfidf 10)\n"
            "  --balanced            weight topics inversely to their frequency\n"
            "  --seed N              seed for the calibration folds and pairs (default 42)\n"
            "  --quantize            frozen, setfit: an int8 encoder (after fine-tuning), the head fitted\n"
            "                        on its embeddings\n"
            "  --threads N, --models-dir DIR\n");
}

/* "A,B" -> two integers. */
static int parse_range(const char *s, int *lo, int *hi)
{
    char *end;
    long a = strtol(s, &end, 10);
    if (*end != ',') return -1;
    long b = strtol(end + 1, &end, 10);
    if (*end || a < 0 || b < a || b > 16) return -1;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

/* "0.7,1,1.4" -> up to KN_HYBRID_GRID_MAX weights in [0, 100]. */
static int parse_weights(const char *s, double *w, int *n)
{
    int k = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !(v >= 0 && v <= 100) || k == KN_HYBRID_GRID_MAX || (*end && *end != ',')) return -1;
        w[k++] = v;
        if (*end == ',' && !end[1]) return -1; /* "1," */
        s = *end ? end + 1 : end;
    }
    if (k == 0) return -1;
    *n = k;
    return 0;
}

int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"base", required_argument, 0, 'B'},       {"data", required_argument, 0, 'D'},
        {"out", required_argument, 0, 'o'},        {"text-column", required_argument, 0, 'T'},
        {"label-column", required_argument, 0, 'L'}, {"seed", required_argument, 0, 's'},
        {"method", required_argument, 0, 'm'},     {"C", required_argument, 0, 'C'},
        {"balanced", no_argument, 0, 'b'},         {"threads", required_argument, 0, 't'},
        {"max-steps", required_argument, 0, 'S'},  {"lr", required_argument, 0, 'r'},
        {"sampling", required_argument, 0, 'P'},   {"word-ngrams", required_argument, 0, 'W'},
        {"char-ngrams", required_argument, 0, 'N'}, {"sublinear-tf", no_argument, 0, 'u'},
        {"k1", required_argument, 0, 'k'},         {"b", required_argument, 0, 'e'},
        {"bm25-mode", required_argument, 0, 'M'},  {"quantize", no_argument, 0, 'q'},
        {"models-dir", required_argument, 0, 'd'}, {"loss", required_argument, 0, 'l'},
        {"tau", required_argument, 0, 'U'},       {"batch-texts", required_argument, 0, 'X'},
        {"freeze", required_argument, 0, 'F'},    {"per-topic", required_argument, 0, 'K'},
        {"token-drop", required_argument, 0, 'Q'}, {"base-weight", required_argument, 0, 'w'},
        {"unlabelled", required_argument, 0, 'A'}, {"unlabelled-max", required_argument, 0, 'H'},
        {"self-train", required_argument, 0, 'y'}, {"pseudo-weight", required_argument, 0, 'p'},
        {"lemmatize", required_argument, 0, 'j'},  {"budget", required_argument, 0, 'g'},    {"tune", no_argument, 0, 'Z'},            {"dense-weights", required_argument, 0, 'G'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    const char *base = KN_DEFAULT_MODEL, *data = NULL, *out = NULL, *text_col = "text", *label_col = "category";
    const char *method = "auto", *models_flag = NULL, *unlabelled = NULL;
    long unlabelled_max = KN_BACKLOG_MAX_TEXTS_DEFAULT;
    long seed = 42, threads = 0;
    kn_train_options o;
    kn_train_default_options(&o);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'B': base = optarg; break;
        case 'D': data = optarg; break;
        case 'o': out = optarg; break;
        case 'T': text_col = optarg; break;
        case 'L': label_col = optarg; break;
        case 's': seed = strtol(optarg, NULL, 10); break;
        case 'm': method = optarg; break;
        case 'C': o.head.C = strtod(optarg, NULL); if (!(o.head.C > 0)) { fprintf(stderr, "kanava train: --C must be positive\n"); return KN_EXIT_USAGE; } break;
        case 'b': o.head.balanced = 1; break;
        case 't': threads = strtol(optarg, NULL, 10); break;
        case 'd': models_flag = optarg; break;
        case 'S': o.setfit.max_steps = strtol(optarg, NULL, 10); break;
        case 'r': o.setfit.lr = strtod(optarg, NULL); break;
        case 'l':
            if (kn_setfit_loss_parse(optarg, &o.setfit.loss) != 0) { fprintf(stderr, "kanava train: --loss must be supcon or cosine, not '%s'\n", optarg); return KN_EXIT_USAGE; }
            break;
        case 'U': o.setfit.tau = strtod(optarg, NULL); if (!(o.setfit.tau > 0)) { fprintf(stderr, "kanava train: --tau must be positive\n"); return KN_EXIT_USAGE; } break;
        case 'F': o.setfit.freeze = (int)strtol(optarg, NULL, 10); if (o.setfit.freeze < 0 || o.setfit.freeze > 1000) { fprintf(stderr, "kanava train: --freeze must be 0..1000\n"); return KN_EXIT_USAGE; } break;
        case 'K': o.setfit.per_topic = (int)strtol(optarg, NULL, 10); if (o.setfit.per_topic < 2 || o.setfit.per_topic > 64) { fprintf(stderr, "kanava train: --per-topic must be 2..64\n"); return KN_EXIT_USAGE; } break;
        case 'Q': o.setfit.token_drop = strtod(optarg, NULL); if (!(o.setfit.token_drop >= 0 && o.setfit.token_drop < 1)) { fprintf(stderr, "kanava train: --token-drop must be in [0, 1)\n"); return KN_EXIT_USAGE; } break;
        case 'w': o.base_weight = strtod(optarg, NULL); if (!(o.base_weight >= 0 && o.base_weight <= 100)) { fprintf(stderr, "kanava train: --base-weight must be in [0, 100]\n"); return KN_EXIT_USAGE; } break;
        case 'X': o.setfit.batch_texts = (int)strtol(optarg, NULL, 10); if (o.setfit.batch_texts < 4 || o.setfit.batch_texts > 1024) { fprintf(stderr, "kanava train: --batch-texts must be 4..1024\n"); return KN_EXIT_USAGE; } break;
        case 'P':
            if (strcmp(optarg, "oversampling") == 0) o.setfit.strategy = KN_PAIRS_OVERSAMPLING;
            else if (strcmp(optarg, "undersampling") == 0) o.setfit.strategy = KN_PAIRS_UNDERSAMPLING;
            else if (strcmp(optarg, "unique") == 0) o.setfit.strategy = KN_PAIRS_UNIQUE;
            else { fprintf(stderr, "kanava train: --sampling must be oversampling, undersampling or unique\n"); return KN_EXIT_USAGE; }
            break;
        case 'W':
            if (parse_range(optarg, &o.tfidf.word_min_n, &o.tfidf.word_max_n) != 0) { fprintf(stderr, "kanava train: --word-ngrams wants A,B with 0 <= A <= B <= 16, not '%s'\n", optarg); return KN_EXIT_USAGE; }
            break;
        case 'N':
            if (parse_range(optarg, &o.tfidf.char_min_n, &o.tfidf.char_max_n) != 0) { fprintf(stderr, "kanava train: --char-ngrams wants A,B with 0 <= A <= B <= 16, not '%s'\n", optarg); return KN_EXIT_USAGE; }
            break;
        case 'u': o.tfidf.sublinear_tf = 1; break;
        case 'j':
            if (strcmp(optarg, "auto") == 0) o.tfidf.lemmatize = KN_LEMMA_AUTO;
            else if (strcmp(optarg, "fi") == 0) o.tfidf.lemmatize = KN_LEMMA_FI;
            else if (strcmp(optarg, "none") == 0) o.tfidf.lemmatize = KN_LEMMA_NONE;
            else { fprintf(stderr, "kanava train: --lemmatize must be auto, fi or none, not '%s'\n", optarg); return KN_EXIT_USAGE; }
            break;
        case 'q': o.quantize = 1; break;
        case 'Z': o.hybrid_tune = 1; break;
        case 'y': o.self_train_threshold = strtod(optarg, NULL); if (!(o.self_train_threshold >= 0 && o.self_train_threshold < 1)) { fprintf(stderr, "kanava train: --self-train must be in [0, 1)\n"); return KN_EXIT_USAGE; } break;
        case 'p': o.pseudo_weight = strtod(optarg, NULL); if (!(o.pseudo_weight > 0 && o.pseudo_weight <= 1)) { fprintf(stderr, "kanava train: --pseudo-weight must be in (0, 1]\n"); return KN_EXIT_USAGE; } break;
        case 'g': {
            char *end;
            o.budget_seconds = strtod(optarg, &end);
            if (end == optarg || (*end && strcmp(end, "s") != 0) || !(o.budget_seconds > 0 && o.budget_seconds <= 1e6)) { fprintf(stderr, "kanava train: --budget wants seconds, e.g. 180 or 180s, not '%s'\n", optarg); return KN_EXIT_USAGE; }
            break;
        }
        case 'A': unlabelled = optarg; break;
        case 'H': unlabelled_max = strtol(optarg, NULL, 10); if (unlabelled_max < 1 || unlabelled_max > 100000000) { fprintf(stderr, "kanava train: --unlabelled-max must be 1..100000000\n"); return KN_EXIT_USAGE; } break;
        case 'G':
            if (parse_weights(optarg, o.hybrid_grid, &o.hybrid_n_grid) != 0) { fprintf(stderr, "kanava train: --dense-weights wants 1 to %d numbers in [0, 100], comma-separated, not '%s'\n", KN_HYBRID_GRID_MAX, optarg); return KN_EXIT_USAGE; }
            break;
        case 'k': o.bm25.k1 = strtod(optarg, NULL); break;
        case 'e': o.bm25.b = strtod(optarg, NULL); break;
        case 'M':
            if (strcmp(optarg, "neighbour") == 0 || strcmp(optarg, "neighbor") == 0) o.bm25.mode = KN_BM25_NEIGHBOUR;
            else if (strcmp(optarg, "topic") == 0) o.bm25.mode = KN_BM25_TOPIC;
            else { fprintf(stderr, "kanava train: --bm25-mode must be neighbour or topic\n"); return KN_EXIT_USAGE; }
            break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (!data || !out || optind != argc) { usage(stderr); return KN_EXIT_USAGE; }
    if (strcmp(method, "auto") == 0 && o.hybrid_tune) {
        fprintf(stderr, "kanava train: --tune is for --method hybrid (auto tries the tuned hybrid itself when the budget allows)\n");
        return KN_EXIT_USAGE;
    }
    if (strcmp(method, "auto") == 0) {
        o.auto_select = 1;
        o.method = KN_METHOD_HYBRID; /* it needs the encoder; the chosen method is in the bundle */
    } else if (kn_method_parse(method, &o.method) != 0) {
        fprintf(stderr, "kanava train: --method must be auto, frozen, setfit, tfidf, bm25 or hybrid, not '%s'\n", method);
        return KN_EXIT_USAGE;
    }
    if (o.quantize && !kn_method_uses_encoder(o.method)) {
        fprintf(stderr, "kanava train: --quantize is for frozen, setfit and hybrid; %s has no encoder\n", method);
        return KN_EXIT_USAGE;
    }
    if (o.hybrid_tune && o.method != KN_METHOD_HYBRID) {
        fprintf(stderr, "kanava train: --tune is for --method hybrid (setfit always tunes)\n");
        return KN_EXIT_USAGE;
    }
    if (o.setfit.max_steps < 1 || !(o.setfit.lr > 0)) { fprintf(stderr, "kanava train: --max-steps and --lr must be positive\n"); return KN_EXIT_USAGE; }
    if (!(o.bm25.k1 >= 0) || !(o.bm25.b >= 0 && o.bm25.b <= 1)) { fprintf(stderr, "kanava train: bm25 needs --k1 >= 0 and 0 <= --b <= 1\n"); return KN_EXIT_USAGE; }
    o.seed = (uint64_t)seed;
    o.show_progress = 1;
    if (threads > 0) kn_set_threads((int)threads);
    kn_error err;
    kn_dataset ds;
    if (kn_dataset_read(data, text_col, label_col, NULL, 0, &ds, stderr, &err) != 0 ||
        kn_dataset_check_training(&ds, stderr, &err) != 0) {
        fprintf(stderr, "kanava train: %s\n", err.msg);
        return KN_EXIT_USAGE;
    }
    char models_dir[4096], model_dir[4200], data_hash[65] = "";
    int code = KN_EXIT_FAIL;
    kn_bundle *b = NULL;
    kn_backlog backlog = {0};
    double t0 = kn_now();
    if (unlabelled) {
        if (kn_backlog_read(unlabelled, text_col, (const char *const *)ds.text, ds.len, ds.n, (size_t)unlabelled_max,
                            o.seed, &backlog, &err) != 0) {
            code = KN_EXIT_USAGE; /* bad input, as a bad --data is */
            goto done;
        }
        fprintf(stderr, "backlog %s: %zu texts of %zu records (skipped %zu empty, %zu duplicates, %zu labelled%s)\n",
                unlabelled, backlog.n, backlog.lines, backlog.empty, backlog.duplicates, backlog.labelled,
                backlog.distinct > backlog.n ? ", a random sample of the distinct ones" : "");
        o.unlabelled = (const char *const *)backlog.text;
        o.unlabelled_lens = backlog.len;
        o.n_unlabelled = backlog.n;
    }
    if (kn_method_uses_encoder(o.method)) {
        if (kn_models_dir(models_dir, sizeof models_dir, models_flag, &err) != 0 ||
            kn_model_path(model_dir, sizeof model_dir, models_dir, base, &err) != 0)
            goto done;
        o.encoder_dir = model_dir;
    }
    if (unlabelled && !o.auto_select && o.method != KN_METHOD_TFIDF && o.method != KN_METHOD_HYBRID)
        fprintf(stderr, "kanava train: note: %s does not learn from --unlabelled (tfidf, hybrid and auto do)\n", method);
    fprintf(stderr, "training %s on %zu messages, %d topics%s%s\n", method, ds.n, ds.n_classes,
            o.encoder_dir ? ", encoder " : "", o.encoder_dir ? base : "");
    if (!(b = kn_bundle_train(&o, (const char *const *)ds.text, ds.len, ds.label, ds.n, ds.classes, ds.n_classes, &err)))
        goto done;
    kn_sha256_file(data, data_hash, &err);
    json_t *meta = json_pack("{s:s, s:s, s:f}", "data", data, "data_sha256", data_hash, "seconds", kn_now() - t0);
    if (o.encoder_dir) json_object_set_new(meta, "base", json_string(base));
    if (unlabelled)
        json_object_set_new(meta, "unlabelled", json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "file", unlabelled, "texts",
                                                          (json_int_t)backlog.n, "records", (json_int_t)backlog.lines,
                                                          "duplicates", (json_int_t)backlog.duplicates, "labelled",
                                                          (json_int_t)backlog.labelled, "distinct",
                                                          (json_int_t)backlog.distinct));
    int rc = kn_bundle_save(b, out, meta, &err);
    json_decref(meta);
    if (rc != 0) goto done;
    if (b->method == KN_METHOD_BM25)
        fprintf(stderr, "saved %s: %d topics, bm25 temperature %.3f, %.1f s\n", out, ds.n_classes, b->bm25.temperature,
                kn_now() - t0);
    else
        fprintf(stderr, "saved %s: %s, %d topics, temperature %.3f, %.1f s\n", out, kn_method_name(b->method),
                ds.n_classes, (double)b->head.temperature, kn_now() - t0);
    code = KN_EXIT_OK;
done:
    if (code != KN_EXIT_OK) fprintf(stderr, "kanava train: %s\n", err.msg);
    kn_bundle_close(b);
    kn_backlog_free(&backlog);
    kn_dataset_free(&ds);
    return code;
}
