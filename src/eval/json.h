/* Minimal JSON output helpers for the command-line reports. */
#ifndef LM_EVAL_JSON_H
#define LM_EVAL_JSON_H
#include <stdio.h>

#include "symbolic/theme.h"

/* Writes s as a JSON string literal: quotes, backslashes and control characters escaped,
 * bytes that are not valid UTF-8 replaced by U+FFFD. */
void lm_json_string(FILE *f, const char *s);
/* Writes a number, or null when it is not finite (JSON has no infinity). */
void lm_json_number(FILE *f, double v);
/* A theme selection's fields given, as ", \"part\": \"2\", \"measures\": [2, 3]" (nothing for
 * none): the search JSON of the command line and of the web page. */
void lm_json_theme_selection(FILE *f, const lm_theme_select *sel);
#endif
