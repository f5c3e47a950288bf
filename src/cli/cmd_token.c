/* cmd_token.c - `kanava token` (being built for issue 6). */
#include <stdio.h>

#include "cli/commands.h"

int cmd_token(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kanava token: not built yet\n");
    return KN_EXIT_FAIL;
}
