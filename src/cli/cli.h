/* Shared helpers of the command-line front end. */
#ifndef LM_CLI_CLI_H
#define LM_CLI_CLI_H
#include <stdio.h>

#include "symbolic/theme.h"

int cmd_hcqt(int argc, char **argv);
int cmd_chroma(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_align(int argc, char **argv);
int cmd_augment(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_upgrade(int argc, char **argv);

/* Prints "leitmotif: <msg>" to stderr; returns 1 (the exit code for errors). */
int lm_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same with the library's last error message. */
int lm_cli_fail_lib(void);
/* Strict number parsing with a range; on failure prints an error naming the option. */
int lm_cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out);
int lm_cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
/* Handles "--threads N" / "-j N"; returns 1 if consumed (advancing *i), 0 if not, -1 on error. */
int lm_cli_threads_option(int argc, char **argv, int *i);
/* --nn-precision fp32|bf16 of `chroma` and `index` (value NULL: $LEITMOTIF_NN_PRECISION, else
 * fp32). Sets the network's precision and returns 1 when bf16 runs, 0 for fp32 (bf16 asked on a
 * CPU without AVX512_BF16: fp32, with a warning), -1 after a one-line error. */
int lm_cli_nn_precision(const char *value);
/* The theme selection options of `search` and `plot`: --part NAME|N, --measures A-B, --track N,
 * --voice N and --tempo QPM (sel->qpm). Returns 1 if argv[*i] is one (consumed with its value,
 * advancing *i), 0 if not, -1 after printing a one-line error. */
int lm_cli_theme_select_option(int argc, char **argv, int *i, lm_theme_select *sel);
#endif
