/* cmd_init.c - `kanava init` (being built for issue 6). */
#include <stdio.h>

#include "cli/commands.h"

int cmd_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kanava init: not built yet\n");
    return KN_EXIT_FAIL;
}
