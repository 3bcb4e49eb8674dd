#include "web/http.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_ws(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

/* Decimal digits at *s into *v (saturating at UINT64_MAX); returns the number of digits. */
static int parse_u64(const char **s, uint64_t *v) {
    int n = 0;
    uint64_t x = 0;
    while (isdigit((unsigned char)**s)) {
        unsigned d = (unsigned)(**s - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
        (*s)++;
        n++;
    }
    *v = x;
    return n;
}

int lm_http_parse_range(const char *header, uint64_t size, uint64_t *first, uint64_t *last) {
    if (!header) return 0;
    const char *s = skip_ws(header);
    if (strncasecmp(s, "bytes", 5) != 0) return 0;
    s = skip_ws(s + 5);
    if (*s != '=') return 0;
    s = skip_ws(s + 1);
    uint64_t a = 0, b = 0;
    int has_a = parse_u64(&s, &a) > 0;
    s = skip_ws(s);
    if (*s != '-') return 0;
    s = skip_ws(s + 1);
    int has_b = parse_u64(&s, &b) > 0;
    s = skip_ws(s);
    if (*s != '\0') return 0; /* several ranges, or junk: ignored (200) */
    if (!has_a && !has_b) return 0;
    if (!has_a) { /* suffix: the last b bytes */
        if (b == 0 || size == 0) return -1;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (has_b && b < a) return 0; /* invalid range-spec: ignored */
    if (a >= size) return -1;
    *first = a;
    *last = (!has_b || b >= size) ? size - 1 : b;
    return 1;
}

int lm_http_valid_doc_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 255 || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7F) return 0;
    return 1;
}

const char *lm_http_audio_type(const char *path) {
    static const struct {
        const char *ext, *type;
    } types[] = {{".wav", "audio/wav"},   {".wave", "audio/wav"}, {".flac", "audio/flac"}, {".ogg", "audio/ogg"},
                 {".oga", "audio/ogg"},   {".opus", "audio/ogg"}, {".mp3", "audio/mpeg"},  {".aif", "audio/aiff"},
                 {".aiff", "audio/aiff"}, {".m4a", "audio/mp4"}};
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot, types[i].ext)) return types[i].type;
    return "application/octet-stream";
}

int lm_http_parse_double(const char *s, double lo, double hi, double *out) {
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int lm_http_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int lm_http_host_is_loopback(const char *host) {
    if (!host) return 1;
    char name[300];
    size_t n = strlen(host);
    if (n == 0 || n >= sizeof name) return 0;
    if (host[0] == '[') { /* [IPv6]:port */
        const char *close = strchr(host, ']');
        if (!close) return 0;
        size_t len = (size_t)(close - host - 1);
        memcpy(name, host + 1, len);
        name[len] = '\0';
        if (close[1] && close[1] != ':') return 0;
        return !strcmp(name, "::1");
    }
    memcpy(name, host, n + 1);
    char *colon = strchr(name, ':');
    if (colon) {
        for (const char *p = colon + 1; *p; p++)
            if (!isdigit((unsigned char)*p)) return 0;
        *colon = '\0';
    }
    if (!strcasecmp(name, "localhost") || !strcasecmp(name, "localhost.")) return 1;
    /* 127.0.0.0/8, dotted quad */
    int parts[4], used = 0;
    if (sscanf(name, "%d.%d.%d.%d%n", &parts[0], &parts[1], &parts[2], &parts[3], &used) != 4 || name[used]) return 0;
    for (int i = 0; i < 4; i++)
        if (parts[i] < 0 || parts[i] > 255) return 0;
    return parts[0] == 127;
}
