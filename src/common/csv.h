/* RFC 4180 CSV: quoted fields, "" escapes, CRLF or LF line ends, newlines inside quotes, an
 * optional UTF-8 byte order mark; blank lines are not records. */
#ifndef LM_COMMON_CSV_H
#define LM_COMMON_CSV_H
#include <stddef.h>
#include <stdio.h>

typedef struct {
    char **fields;
    size_t n_fields;
    size_t line; /* line of the file where the record starts (1-based) */
} lm_csv_row;

int lm_csv_parse(const char *text, size_t len, lm_csv_row **rows, size_t *n_rows);
/* Reads a file whose first record is a header (names trimmed of spaces); every other record
 * must have as many fields as the header. Errors name the file and line. */
int lm_csv_read(const char *path, lm_csv_row **rows, size_t *n_rows);
/* Index of a header column, or -1. */
int lm_csv_column(const lm_csv_row *header, const char *name);
void lm_csv_free(lm_csv_row *rows, size_t n_rows);
/* Writes one field, quoted when it holds a separator, quote or line break (RFC 4180). */
void lm_csv_write_field(FILE *f, const char *s);
#endif
