/* spawn.h - run an external program (npm, tar) without a shell. */
#ifndef KN_SPAWN_H
#define KN_SPAWN_H

#include "util/error.h"

/* Runs argv[0] (searched in PATH) in directory cwd (NULL: current), stdout to stderr so
 * that our own stdout stays clean. Returns 0 when it exits with status 0. */
int kn_run(const char *const argv[], const char *cwd, kn_error *err);

#endif
