/* main.c - the `kanava` binary: dispatch to one subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "model/blas_kernels.h"

#define KANAVA_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava <command> [options]\n"
            "\n"
            "commands:\n"
            "  embed [--model NAME|DIR] [--format jsonl|npy|tsv] [--column NAME] [FILE]\n"
            "                          one vector per input text (lines, or a CSV column)\n"
            "  model fetch NAME        download and convert a built-in model (use-lite)\n"
            "  model add NAME DIR      register a sentence-transformers directory (BERT, XLM-R)\n"
            "  model list              show installed models\n"
            "  model quantize MODEL|BUNDLE --out DIR\n"
            "                          int8 weights (per-channel scales), about a quarter of the size\n"
            "  train --data FILE.csv --out DIR [--method frozen|setfit|tfidf|bm25] [--base MODEL]\n"
            "                          fit a calibrated topic classifier on labelled messages\n"
            "  classify --model DIR [--json] [TEXT...]\n"
            "                          topic, probability and top 3 for each text\n"
            "  eval --model DIR --data FILE.csv [--json] [--oos-label NAME]\n"
            "                          accuracy, macro-F1, calibration error, automation rate\n"
            "  bench-methods --data TRAIN.csv --test TEST.csv [--shots 5,10,20,all] [--seeds 5]\n"
            "                          every method (and external peers) on the same few-shot splits\n"
            "  init [--workspace DIR]  create the workspace (DIR/kanava.db) and print its path\n"
            "  import FILE.csv|FILE.jsonl [--batch 1000]\n"
            "                          add messages to the workspace (invalid rows reported by line)\n"
            "  token create --role admin|annotator|service [--name NAME]\n"
            "                          print a new API token once; token revoke NAME, token list\n"
            "  topic add NAME [--description TEXT] [--threshold 0.9] [--never-automate]\n"
            "                          add a topic; topic list, show NAME, remove NAME,\n"
            "                          reply NAME LANG TEXT (the topic's reply template in LANG)\n"
            "  map (--vectors FILE | --data FILE) [--out coords.csv]\n"
            "                          a 2-D map (UMAP) of embeddings\n"
            "  serve [--model BUNDLE] [--workspace DIR] [--port 8080] [--bind 127.0.0.1]\n"
            "                          the web UI and the HTTP JSON API (classify and route messages)\n"
            "  version                 print the version\n"
            "\n"
            "common options: --models-dir DIR (or $KANAVA_MODELS), --threads N,\n"
            "                --workspace DIR (or $KANAVA_WORKSPACE; default ./kanava-workspace)\n"
            "run `kanava <command> --help` for details\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return KN_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "embed") == 0) return cmd_embed(argc - 1, argv + 1);
    if (strcmp(cmd, "model") == 0) return cmd_model(argc - 1, argv + 1);
    if (strcmp(cmd, "train") == 0) return cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "classify") == 0) return cmd_classify(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "bench-methods") == 0) return cmd_bench_methods(argc - 1, argv + 1);
    if (strcmp(cmd, "init") == 0) return cmd_init(argc - 1, argv + 1);
    if (strcmp(cmd, "import") == 0) return cmd_import(argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0) return cmd_token(argc - 1, argv + 1);
    if (strcmp(cmd, "topic") == 0) return cmd_topic(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "map") == 0) return cmd_map(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("kanava %s (OpenBLAS kernels: %s)\n", KANAVA_VERSION, kn_blas_kernels());
        return KN_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return KN_EXIT_OK;
    }
    fprintf(stderr, "kanava: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return KN_EXIT_USAGE;
}
