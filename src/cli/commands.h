/* commands.h - one function per `kanava` subcommand; each returns the process exit code. */
#ifndef KN_COMMANDS_H
#define KN_COMMANDS_H

/* Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad input. */
enum { KN_EXIT_OK = 0, KN_EXIT_FAIL = 1, KN_EXIT_USAGE = 2 };

int cmd_embed(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench_methods(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_topic(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_map(int argc, char **argv);

#endif
