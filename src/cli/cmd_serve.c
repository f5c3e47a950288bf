/* cmd_serve.c - `kanava serve` (being built for issue 6). */
#include <stdio.h>

#include "cli/commands.h"

int cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kanava serve: not built yet\n");
    return KN_EXIT_FAIL;
}
