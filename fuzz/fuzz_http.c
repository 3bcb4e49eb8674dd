/* libFuzzer target for the HTTP request handling of `leitmotif serve` (src/web): the input is the
 * raw bytes a client sends on one connection (one request or several, pipelined). They go through
 * the server's own code path, libmicrohttpd's parser with the server's handler, routing, Host and
 * method checks, body limits, form decoding (urlencoded and multipart), query-string parameters,
 * uploaded theme files (MIDI, MusicXML, .mxl, **kern) and the JSON API, on a small database
 * (three recordings of synthetic chroma, two of them backed by a short WAV file for /audio/ID),
 * through lm_server_local_exchange: no listening socket, no port, no thread; the client end is
 * a local socket pair.
 *
 * Checked on every input: the server closes the connection (no hang); its first answer is a
 * well-formed HTTP/1.x response (status line, headers, a body of the announced length); every JSON
 * answer is valid JSON in valid UTF-8 (an object; errors carry "error"), never a 500; audio
 * answers are exactly the bytes of the recording's file (whole, or the range announced in
 * Content-Range). A crash, leak, sanitizer report, hang or failed check is a finding.
 *
 * Build and run: fuzz/run http [SECONDS] (seeds: fuzz/seeds.sh, the requests the web page sends).
 * LM_FUZZ_HTTP_LOG=1 prints the server's access log, LM_FUZZ_HTTP_DUMP=1 the answers. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_common.h"
#include "index/db.h"
#include "web/server.h"

static lm_server_local *srv;
static unsigned char *wav;
static size_t wav_len;

/* ---- the database and the recording */

static void put_le(unsigned char *p, uint32_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void setup(void) {
    /* 0.3 s of a 440 Hz-ish square wave, 16-bit mono at 22050 Hz. */
    const size_t n = 6615;
    wav_len = 44 + 2 * n;
    wav = malloc(wav_len);
    if (!wav) abort();
    memcpy(wav, "RIFF", 4);
    put_le(wav + 4, (uint32_t)(wav_len - 8), 4);
    memcpy(wav + 8, "WAVEfmt ", 8);
    put_le(wav + 16, 16, 4);
    put_le(wav + 20, 1, 2);
    put_le(wav + 22, 1, 2);
    put_le(wav + 24, 22050, 4);
    put_le(wav + 28, 44100, 4);
    put_le(wav + 32, 2, 2);
    put_le(wav + 34, 16, 2);
    memcpy(wav + 36, "data", 4);
    put_le(wav + 40, (uint32_t)(2 * n), 4);
    for (size_t i = 0; i < n; i++) put_le(wav + 44 + 2 * i, (i / 25) % 2 ? 6000u : (uint32_t)(65536 - 6000), 2);
    char wav_path[600];
    snprintf(wav_path, sizeof wav_path, "%s", fz_write("rec.wav", wav, wav_len));
    char db_path[600];
    snprintf(db_path, sizeof db_path, "%s", fz_write("web.lmdb", "", 0));

    /* Noise-like chroma; "planted" holds the theme C4 D4 E4 F4 G4 at 120 bpm from frame 60. Short
     * recordings keep searches in all keys and tempi cheap enough for many executions a second. */
    static const char *const ids[3] = {"noise_a", "planted", "caf\xc3\xa9 \"x\""};
    static const size_t T[3] = {150, 200, 120};
    static const int pcs[5] = {0, 2, 4, 5, 7};
    float *ch[3];
    lm_db_doc docs[3];
    unsigned s = 12345;
    for (int i = 0; i < 3; i++) {
        ch[i] = malloc(12 * T[i] * sizeof *ch[i]);
        if (!ch[i]) abort();
        for (size_t j = 0; j < 12 * T[i]; j++) {
            s = s * 1103515245u + 12345u;
            ch[i][j] = 0.05f + (float)((s >> 8) & 0xffff) / 65536.0f;
        }
        if (i == 1)
            for (size_t t = 0; t < 63; t++)
                for (int k = 0; k < 12; k++) ch[i][k * T[i] + 60 + t] = k == pcs[t * 5 / 63] ? 1.0f : 0.02f;
        for (size_t t = 0; t < T[i]; t++) {
            double norm = 0;
            for (int k = 0; k < 12; k++) norm += (double)ch[i][k * T[i] + t] * ch[i][k * T[i] + t];
            for (int k = 0; k < 12; k++) ch[i][k * T[i] + t] /= (float)sqrt(norm);
        }
        docs[i] = (lm_db_doc){.id = ids[i], .path = i < 2 ? wav_path : "/nonexistent/lmfuzz.wav", .model_id = "",
                              .duration = 0.04 * (double)T[i], .type = LM_FEAT_STFT, .T = T[i], .chroma = ch[i]};
    }
    if (lm_db_write(db_path, LM_FEAT_STFT, 0, "", docs, 3) != 0) {
        fprintf(stderr, "fuzz: cannot write the database: %s\n", lm_last_error());
        abort();
    }
    for (int i = 0; i < 3; i++) free(ch[i]);

    static lm_server_config cfg;
    static char db_path_kept[600];
    snprintf(db_path_kept, sizeof db_path_kept, "%s", db_path);
    lm_server_config_default(&cfg);
    cfg.db_path = db_path_kept;
    cfg.limits.max_active = 1;
    cfg.limits.max_upload = 8 * 1024; /* inputs are at most 16 KiB (fuzz/run): the 413 path is reachable */
    cfg.limits.max_theme_sec = 10;    /* [60]: at most twice the longest recording, which matches */
    cfg.log = getenv("LM_FUZZ_HTTP_LOG") != NULL;
    srv = lm_server_local_open(&cfg);
    if (!srv) {
        fprintf(stderr, "fuzz: cannot start the server: %s\n", lm_last_error());
        abort();
    }
}

static void teardown(void) {
    lm_server_local_close(srv);
    free(wav);
}

/* ---- JSON (RFC 8259) and UTF-8 */

typedef struct {
    const unsigned char *p, *end;
} jcur;

static void jws(jcur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int utf8_len(const unsigned char *s, const unsigned char *end) {
    if (s[0] < 0x80) return 1;
    int n;
    unsigned cp;
    if ((s[0] & 0xE0) == 0xC0) n = 2, cp = s[0] & 0x1Fu;
    else if ((s[0] & 0xF0) == 0xE0) n = 3, cp = s[0] & 0x0Fu;
    else if ((s[0] & 0xF8) == 0xF0) n = 4, cp = s[0] & 0x07u;
    else return 0;
    if (end - s < n) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

static int jstring(jcur *c) {
    if (c->p >= c->end || *c->p != '"') return 0;
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p < 0x20) return 0;
        if (*c->p == '\\') {
            if (++c->p >= c->end) return 0;
            if (*c->p == 'u') {
                if (c->end - c->p < 5) return 0;
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit(c->p[i])) return 0;
                c->p += 5;
            } else if (strchr("\"\\/bfnrt", *c->p) && *c->p) c->p++;
            else return 0;
            continue;
        }
        int n = utf8_len(c->p, c->end);
        if (n == 0) return 0;
        c->p += n;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    return 1;
}

static int jdigits(jcur *c) {
    const unsigned char *s = c->p;
    while (c->p < c->end && isdigit(*c->p)) c->p++;
    return c->p > s;
}

static int jnumber(jcur *c) {
    if (c->p < c->end && *c->p == '-') c->p++;
    if (c->p < c->end && *c->p == '0') c->p++;
    else if (!jdigits(c)) return 0;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!jdigits(c)) return 0;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (!jdigits(c)) return 0;
    }
    return 1;
}

static int jvalue(jcur *c, int depth) {
    if (depth > 64) return 0;
    jws(c);
    if (c->p >= c->end) return 0;
    unsigned char ch = *c->p;
    if (ch == '{' || ch == '[') {
        unsigned char close = ch == '{' ? '}' : ']';
        c->p++;
        jws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 1;
        }
        for (;;) {
            if (ch == '{') {
                jws(c);
                if (!jstring(c)) return 0;
                jws(c);
                if (c->p >= c->end || *c->p != ':') return 0;
                c->p++;
            }
            if (!jvalue(c, depth + 1)) return 0;
            jws(c);
            if (c->p >= c->end) return 0;
            if (*c->p == close) {
                c->p++;
                return 1;
            }
            if (*c->p != ',') return 0;
            c->p++;
        }
    }
    if (ch == '"') return jstring(c);
    static const char *const lits[3] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(lits[i]);
        if ((size_t)(c->end - c->p) >= k && !memcmp(c->p, lits[i], k)) {
            c->p += k;
            return 1;
        }
    }
    return jnumber(c);
}

static int json_object(const char *body, size_t n) {
    jcur c = {(const unsigned char *)body, (const unsigned char *)body + n};
    jws(&c);
    if (c.p >= c.end || *c.p != '{' || !jvalue(&c, 0)) return 0;
    jws(&c);
    return c.p == c.end;
}

/* ---- responses */

/* The value of header `name` in the header block [h, end), copied to out (empty if absent). */
static int header(const char *h, const char *end, const char *name, char *out, size_t cap) {
    size_t k = strlen(name);
    out[0] = '\0';
    for (const char *line = h; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) eol = end;
        if ((size_t)(eol - line) > k && !strncasecmp(line, name, k) && line[k] == ':') {
            const char *v = line + k + 1;
            while (v < eol && *v == ' ') v++;
            size_t len = (size_t)(eol - v);
            while (len && (v[len - 1] == '\r' || v[len - 1] == ' ')) len--;
            if (len >= cap) len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return 1;
        }
        line = eol + 1;
    }
    return 0;
}

/* Checks the response at r (the first one strictly); returns its length, or 0 when it cannot be
 * delimited (a later response to a HEAD request, whose body is absent). */
static size_t check_response(const char *r, size_t n, int first, int head, int *interim) {
    *interim = 0;
    if (!first && (n < 12 || memcmp(r, "HTTP/1.", 7) != 0)) return 0;
    CHECK(n >= 12 && !memcmp(r, "HTTP/1.", 7) && (r[7] == '0' || r[7] == '1') && r[8] == ' ');
    CHECK(isdigit((unsigned char)r[9]) && isdigit((unsigned char)r[10]) && isdigit((unsigned char)r[11]));
    int status = (r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0');
    CHECK(status >= 100 && status <= 599);
    *interim = status < 200; /* 100 Continue: the answer follows */
    const char *hend = NULL;
    for (size_t i = 0; i + 4 <= n; i++)
        if (!memcmp(r + i, "\r\n\r\n", 4)) {
            hend = r + i + 2;
            break;
        }
    CHECK(hend != NULL);
    const char *body = hend + 2;
    size_t avail = (size_t)(r + n - body);
    char cl[64], type[128], te[64];
    header(r, hend, "Content-Length", cl, sizeof cl);
    header(r, hend, "Content-Type", type, sizeof type);
    header(r, hend, "Transfer-Encoding", te, sizeof te);
    size_t len = avail;
    if (cl[0]) {
        char *e;
        unsigned long long v = strtoull(cl, &e, 10);
        CHECK(*e == '\0');
        len = (size_t)v;
        if (head || status == 304 || status == 204 || *interim) len = 0;
        else if (len > avail) {
            CHECK(!first);
            return 0;
        }
    } else if (*interim || status == 204 || status == 304) {
        len = 0;
    } else if (te[0]) {
        return first ? n : 0; /* chunked: not delimited here, stop checking */
    }
    if (head || len == 0) return (size_t)(body - r) + len;
    if (!strncmp(type, "application/json", 16)) {
        if (!json_object(body, len)) {
            fprintf(stderr, "fuzz: not JSON (status %d): %.*s\n", status, (int)(len > 300 ? 300 : len), body);
            CHECK(0);
        }
        CHECK(status != 500);
        if (status >= 400) CHECK(len > 11 && !memcmp(body, "{\"error\": \"", 11)); /* lm_web_error */
    }
    if (!strncmp(type, "audio/", 6)) {
        CHECK(status == 200 || status == 206);
        size_t first_b = 0;
        if (status == 206) {
            char cr[128];
            unsigned long long a, b, total;
            CHECK(header(r, hend, "Content-Range", cr, sizeof cr));
            CHECK(sscanf(cr, "bytes %llu-%llu/%llu", &a, &b, &total) == 3);
            CHECK(total == wav_len && a <= b && b < total && b - a + 1 == len);
            first_b = (size_t)a;
        } else CHECK(len == wav_len);
        CHECK(!memcmp(body, wav + first_b, len));
    }
    return (size_t)(body - r) + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!srv) {
        setup();
        atexit(teardown);
    }
    char *out = NULL;
    size_t n = 0;
    lm_clear_error();
    int rc = lm_server_local_exchange(srv, data, size, &out, &n);
    if (rc != 0) fprintf(stderr, "fuzz: %s\n", lm_last_error());
    if (rc == 0 && getenv("LM_FUZZ_HTTP_DUMP")) fprintf(stderr, "fuzz: %zu bytes answered:\n%.*s\n", n, (int)(n > 2000 ? 2000 : n), out);
    CHECK(rc == 0);
    size_t i = 0;
    while (i < size && (data[i] == '\r' || data[i] == '\n' || data[i] == ' ' || data[i] == '\t')) i++;
    int head = size - i >= 5 && !memcmp(data + i, "HEAD", 4) && (data[i + 4] == ' ' || data[i + 4] == '\t');
    size_t pos = 0;
    for (int k = 0; pos < n;) {
        int interim;
        size_t used = check_response(out + pos, n - pos, k == 0, k == 0 && head, &interim);
        if (used == 0) break;
        pos += used;
        if (!interim) k++;
    }
    free(out);
    return 0;
}
