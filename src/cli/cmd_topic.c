/* cmd_topic.c - `kanava topic` (being built for issue 6). */
#include <stdio.h>

#include "cli/commands.h"

int cmd_topic(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kanava topic: not built yet\n");
    return KN_EXIT_FAIL;
}
