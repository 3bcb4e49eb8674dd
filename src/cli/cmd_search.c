#include "cli/cli.h"
/* Placeholder until the search command lands (issue 3). */
int cmd_search(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return lm_cli_fail("search: not implemented yet");
}
