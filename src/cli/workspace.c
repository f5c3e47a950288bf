/* workspace.c - resolving and opening the workspace (see workspace.h). */
#include "cli/workspace.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/fs.h"

void kn_workspace_dir(char *out, size_t cap, const char *flag)
{
    const char *env = getenv("KANAVA_WORKSPACE");
    snprintf(out, cap, "%s", flag && *flag ? flag : env && *env ? env : KN_DEFAULT_WORKSPACE);
}

kn_store *kn_workspace_open(const char *flag, int create, kn_error *err)
{
    char dir[4096], path[4200];
    kn_workspace_dir(dir, sizeof dir, flag);
    if (create && kn_mkdir_p(dir, err) != 0) return NULL;
    snprintf(path, sizeof path, "%s/kanava.db", dir);
    return kn_store_open(path, create, err);
}
