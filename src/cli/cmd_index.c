#include "cli/cli.h"
/* Placeholder until the index command lands (issue 3). */
int cmd_index(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return lm_cli_fail("index: not implemented yet");
}
