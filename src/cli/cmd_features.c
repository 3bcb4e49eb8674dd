#include "cli/cli.h"
int cmd_hcqt(int argc, char **argv) { (void)argc; (void)argv; return lm_cli_fail("hcqt: not implemented yet"); }
int cmd_chroma(int argc, char **argv) { (void)argc; (void)argv; return lm_cli_fail("chroma: not implemented yet"); }
