#include "cli/cli.h"
/* Placeholder until the eval command lands (issue 3). */
int cmd_eval(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return lm_cli_fail("eval: not implemented yet");
}
