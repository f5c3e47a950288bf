/* cmd_import.c - `kanava import` (being built for issue 6). */
#include <stdio.h>

#include "cli/commands.h"

int cmd_import(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kanava import: not built yet\n");
    return KN_EXIT_FAIL;
}
