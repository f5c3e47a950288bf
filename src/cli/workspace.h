/* workspace.h - where the workspace is: --workspace DIR, else $KANAVA_WORKSPACE, else
 * ./kanava-workspace. The database is DIR/kanava.db; models trained for the workspace live
 * in DIR/models/. */
#ifndef KN_WORKSPACE_H
#define KN_WORKSPACE_H

#include <stddef.h>

#include "store/store.h"
#include "util/error.h"

#define KN_DEFAULT_WORKSPACE "kanava-workspace"

/* The workspace directory for the --workspace flag (may be NULL). */
void kn_workspace_dir(char *out, size_t cap, const char *flag);
/* Opens the workspace's store (create: make the directory and the database; otherwise
 * kn_store_open refuses a missing database, saying to run `kanava init`). */
kn_store *kn_workspace_open(const char *flag, int create, kn_error *err);

#endif
