#include "eval/json.h"

#include <math.h>

/* Length of the valid UTF-8 sequence at s, or 0 (overlong forms, surrogates and code
 * points above U+10FFFF are invalid). */
static int utf8_length(const unsigned char *s) {
    if (s[0] < 0x80) return 1;
    int n;
    unsigned cp;
    if ((s[0] & 0xE0) == 0xC0) n = 2, cp = s[0] & 0x1Fu;
    else if ((s[0] & 0xF0) == 0xE0) n = 3, cp = s[0] & 0x0Fu;
    else if ((s[0] & 0xF8) == 0xF0) n = 4, cp = s[0] & 0x07u;
    else return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

void lm_json_string(FILE *f, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            s++;
        } else if (c == '\n') {
            fputs("\\n", f);
            s++;
        } else if (c == '\t') {
            fputs("\\t", f);
            s++;
        } else if (c == '\r') {
            fputs("\\r", f);
            s++;
        } else if (c < 0x20 || c == 0x7F) {
            fprintf(f, "\\u%04x", c);
            s++;
        } else {
            int n = utf8_length(s);
            if (n == 0) {
                fputs("\\ufffd", f);
                s++;
            } else {
                fwrite(s, 1, (size_t)n, f);
                s += n;
            }
        }
    }
    fputc('"', f);
}

void lm_json_number(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.7g", v);
    else fputs("null", f);
}

void lm_json_theme_selection(FILE *f, const lm_theme_select *sel) {
    if (!sel) return;
    if (sel->part) {
        fputs(", \"part\": ", f);
        lm_json_string(f, sel->part);
    }
    if (sel->measure_first || sel->measure_last)
        fprintf(f, ", \"measures\": [%d, %d]", sel->measure_first, sel->measure_last);
    if (sel->track) fprintf(f, ", \"track\": %d", sel->track);
    if (sel->voice) fprintf(f, ", \"voice\": %d", sel->voice);
}
