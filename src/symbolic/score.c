/* Score readers' common back end (symbolic/score.h): rationals, part selection, measure ranges,
 * ties, and the top-sounding-note reduction to a theme in seconds. */
#include "symbolic/score.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "common/error.h"
#include "common/fileio.h"

/* ---- rationals ---- */

#define RAT_LIMIT ((int64_t)1 << 62)

static int64_t gcd64(int64_t a, int64_t b) {
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Reduces num/den (128-bit, den != 0) into *out; -1 when it does not fit. */
static int rat_reduce(__int128 num, __int128 den, lm_rat *out) {
    if (den < 0) num = -num, den = -den;
    __int128 a = num < 0 ? -num : num, b = den;
    while (b) {
        __int128 t = a % b;
        a = b;
        b = t;
    }
    if (a > 1) num /= a, den /= a;
    if (num >= RAT_LIMIT || num <= -RAT_LIMIT || den >= RAT_LIMIT) return -1;
    *out = (lm_rat){(int64_t)num, (int64_t)den};
    return 0;
}

int lm_rat_make(int64_t num, int64_t den, lm_rat *out) {
    if (den == 0) return -1;
    return rat_reduce(num, den, out);
}

int lm_rat_add(lm_rat a, lm_rat b, lm_rat *out) {
    int64_t g = gcd64(a.den, b.den);
    __int128 den = (__int128)(a.den / g) * b.den;
    __int128 num = (__int128)a.num * (b.den / g) + (__int128)b.num * (a.den / g);
    return rat_reduce(num, den, out);
}

int lm_rat_sub(lm_rat a, lm_rat b, lm_rat *out) { return lm_rat_add(a, (lm_rat){-b.num, b.den}, out); }

int lm_rat_mul(lm_rat a, lm_rat b, lm_rat *out) {
    return rat_reduce((__int128)a.num * b.num, (__int128)a.den * b.den, out);
}

int lm_rat_div(lm_rat a, lm_rat b, lm_rat *out) {
    if (b.num == 0) return -1;
    return rat_reduce((__int128)a.num * b.den, (__int128)a.den * b.num, out);
}

int lm_rat_cmp(lm_rat a, lm_rat b) {
    __int128 x = (__int128)a.num * b.den, y = (__int128)b.num * a.den;
    return (x > y) - (x < y);
}

double lm_rat_to_double(lm_rat a) { return (double)a.num / (double)a.den; }

int lm_rat_parse(const char *s, size_t len, lm_rat *out) {
    size_t i = 0;
    while (i < len && isspace((unsigned char)s[i])) i++;
    while (len > i && isspace((unsigned char)s[len - 1])) len--;
    int negative = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
    int64_t num = 0, den = 1;
    int digits = 0, significant = 0;
    for (; i < len && isdigit((unsigned char)s[i]); i++, digits++) {
        if (num == 0 && s[i] == '0') continue;
        if (++significant > 15) return -1;
        num = num * 10 + (s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        /* at most 16 decimal places (den <= 1e16, num < 1e15: no overflow anywhere) */
        for (i++; i < len && isdigit((unsigned char)s[i]); i++, digits++) {
            if (den > (int64_t)1e15) return -1;
            den *= 10;
            if (num == 0 && s[i] == '0') continue;
            if (++significant > 15) return -1;
            num = num * 10 + (s[i] - '0');
        }
    }
    if (i != len || digits == 0) return -1;
    return lm_rat_make(negative ? -num : num, den, out);
}

/* ---- files ---- */

char *lm_sym_read_file(const char *path, size_t *n) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > LM_SYM_MAX_BYTES) {
        lm_set_error("%s: file of %lld bytes is too large for a theme (at most %zu MiB)", path, (long long)st.st_size,
                     LM_SYM_MAX_BYTES >> 20);
        return NULL;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        lm_set_error("%s is a directory, not a theme file", path);
        return NULL;
    }
    return lm_read_file(path, n);
}

void lm_sym_prefix_error(const char *path) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", lm_last_error());
    lm_set_error("%s: %s", path, msg);
}

/* ---- growing arrays ---- */

int lm_sym_grow(void **array, size_t *cap, size_t need, size_t elem, size_t first_cap) {
    if (need <= *cap) return 0;
    size_t new_cap = *cap ? 2 * *cap : first_cap;
    while (new_cap < need) new_cap *= 2;
    void *p = lm_malloc(new_cap, elem);
    if (!p) return -1;
    if (*array) memcpy(p, *array, *cap * elem);
    free(*array);
    *array = p;
    *cap = new_cap;
    return 0;
}

void lm_sym_free(lm_sym_score *s) {
    free(s->notes);
    free(s->tempi);
    free(s->measures);
    memset(s, 0, sizeof *s);
}

int lm_sym_add_note(lm_sym_score *s, lm_sym_note note) {
    if (lm_sym_grow((void **)&s->notes, &s->cap_notes, s->n_notes + 1, sizeof *s->notes, 64) < 0) return -1;
    note.seq = s->n_notes;
    s->notes[s->n_notes++] = note;
    return 0;
}

int lm_sym_add_tempo(lm_sym_score *s, lm_rat at, double qpm) {
    if (lm_sym_grow((void **)&s->tempi, &s->cap_tempi, s->n_tempi + 1, sizeof *s->tempi, 64) < 0) return -1;
    s->tempi[s->n_tempi] = (lm_sym_tempo){at, qpm, s->n_tempi};
    s->n_tempi++;
    return 0;
}

int lm_sym_add_measure(lm_sym_score *s, lm_sym_measure m) {
    if (lm_sym_grow((void **)&s->measures, &s->cap_measures, s->n_measures + 1, sizeof *s->measures, 64) < 0) return -1;
    s->measures[s->n_measures++] = m;
    return 0;
}

/* ---- names and part selection ---- */

int lm_sym_part_number(const char *sel) {
    size_t i = 0;
    while (isspace((unsigned char)sel[i])) i++;
    long v = 0;
    size_t first = i;
    for (; isdigit((unsigned char)sel[i]); i++) {
        v = v * 10 + (sel[i] - '0');
        if (v > 1000000) return 0;
    }
    if (i == first) return 0;
    while (isspace((unsigned char)sel[i])) i++;
    return sel[i] == '\0' && v >= 1 ? (int)v : 0;
}

/* The next character of a name with white space runs as one space and the ends skipped. */
static int next_name_char(const char **p) {
    const char *s = *p;
    if (!*s) return 0;
    if (isspace((unsigned char)*s)) {
        while (isspace((unsigned char)*s)) s++;
        *p = s;
        return *s ? ' ' : 0;
    }
    *p = s + 1;
    return tolower((unsigned char)*s);
}

int lm_sym_names_equal(const char *a, const char *b) {
    while (isspace((unsigned char)*a)) a++;
    while (isspace((unsigned char)*b)) b++;
    for (;;) {
        int x = next_name_char(&a), y = next_name_char(&b);
        if (x != y) return 0;
        if (x == 0) return 1;
    }
}

void lm_sym_clean_name(char *buf, size_t cap, const char *s, size_t len) {
    size_t n = 0;
    int space = 1; /* drops leading space */
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0') break;
        if (c < 0x20 || c == 0x7F || c == ' ') {
            if (!space) buf[n++] = ' ';
            space = 1;
        } else {
            buf[n++] = (char)c;
            space = 0;
        }
    }
    while (n > 0 && buf[n - 1] == ' ') n--;
    if (cap) buf[n] = '\0';
}

/* "1 \"Violin I\", 2 \"Viola\", ..." into buf (shortened with "..." when long). */
static void list_parts(char *buf, size_t cap, size_t n, const char *const (*names)[4]) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        for (int k = 0; !name && k < 4; k++)
            if (names[i][k] && names[i][k][0]) name = names[i][k];
        char item[80];
        if (name)
            snprintf(item, sizeof item, "%s%zu \"%.40s\"", i ? ", " : "", i + 1, name);
        else
            snprintf(item, sizeof item, "%s%zu (no name)", i ? ", " : "", i + 1);
        size_t w = strlen(item);
        if (len + w + 6 >= cap) {
            memcpy(buf + len, ", ...", 6);
            return;
        }
        memcpy(buf + len, item, w + 1);
        len += w;
    }
}

int lm_sym_find_part(const char *sel, size_t n, const char *const (*names)[4], const char *kind,
                       const char *where) {
    char parts[400];
    list_parts(parts, sizeof parts, n, names);
    int number = lm_sym_part_number(sel);
    if (number > 0) {
        if ((size_t)number <= n) return number - 1;
        lm_set_error("no %s %d: the %s has %zu %s%s (%s)", kind, number, where, n, kind, n == 1 ? "" : "s", parts);
        return -1;
    }
    int found = -1, second = -1;
    for (size_t i = 0; i < n; i++) {
        int match = 0;
        for (int k = 0; k < 4; k++) match |= names[i][k] && names[i][k][0] && lm_sym_names_equal(names[i][k], sel);
        if (!match) continue;
        if (found < 0)
            found = (int)i;
        else if (second < 0)
            second = (int)i;
    }
    char shown[64];
    lm_sym_clean_name(shown, sizeof shown, sel, strlen(sel));
    if (found < 0) {
        lm_set_error("no %s named \"%s\" in the %s (%ss: %s)", kind, shown, where, kind, parts);
        return -1;
    }
    if (second >= 0) {
        lm_set_error("%s name \"%s\" is ambiguous: %ss %d and %d have it; give the number (%s)", kind, shown, kind,
                     found + 1, second + 1, parts);
        return -1;
    }
    return found;
}

/* ---- measures ---- */

int lm_sym_measure_span(const lm_sym_score *s, int first, int last, const char *what, lm_rat *start, lm_rat *end,
                          int *whole) {
    *whole = first <= 0 && last <= 0;
    *start = lm_rat_int(0);
    *end = lm_rat_int(0);
    if (*whole) return 0;
    int lo = -1, hi = -1;
    for (size_t i = 0; i < s->n_measures; i++) {
        int v = s->measures[i].number;
        if (v < 0) continue;
        if (lo < 0 || v < lo) lo = v;
        if (v > hi) hi = v;
    }
    char numbered[64];
    if (lo < 0)
        snprintf(numbered, sizeof numbered, "it has no numbered measures");
    else
        snprintf(numbered, sizeof numbered, "its measures are numbered %d to %d", lo, hi);
    size_t a = 0;
    if (first > 0) {
        while (a < s->n_measures && s->measures[a].number != first) a++;
        if (a == s->n_measures) {
            lm_set_error("%s has no measure %d (%s)", what, first, numbered);
            return -1;
        }
    }
    if (a < s->n_measures) *start = s->measures[a].start;
    if (last <= 0) {
        *end = lm_rat_int(RAT_LIMIT - 1); /* to the end */
        return 0;
    }
    size_t b = a;
    while (b < s->n_measures && s->measures[b].number != last) b++;
    if (b == s->n_measures) {
        if (first > 0 && last >= first)
            lm_set_error("%s has no measure %d after measure %d (%s)", what, last, first, numbered);
        else
            lm_set_error("%s has no measure %d (%s)", what, last, numbered);
        return -1;
    }
    while (b + 1 < s->n_measures && s->measures[b + 1].number == last) b++;
    *end = s->measures[b].end;
    return 0;
}

void lm_sym_describe_range(char *buf, size_t cap, int first, int last) {
    if (first > 0 && last == first)
        snprintf(buf, cap, " in measure %d", first);
    else if (first > 0 && last > 0)
        snprintf(buf, cap, " in measures %d-%d", first, last);
    else if (first > 0)
        snprintf(buf, cap, " from measure %d on", first);
    else if (last > 0)
        snprintf(buf, cap, " up to measure %d", last);
    else if (cap)
        buf[0] = '\0';
}

/* ---- ties ---- */

static int cmp_tie_order(const void *pa, const void *pb) {
    const lm_sym_note *a = pa, *b = pb;
    if (a->group != b->group) return (a->group > b->group) - (a->group < b->group);
    if (a->pitch != b->pitch) return (a->pitch > b->pitch) - (a->pitch < b->pitch);
    int c = lm_rat_cmp(a->on, b->on);
    if (c) return c;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static int cmp_seq(const void *pa, const void *pb) {
    const lm_sym_note *a = pa, *b = pb;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

#define TIE_LOOKBACK 16 /* kept notes of one pitch searched for the start of a tie */

void lm_sym_merge_ties(lm_sym_score *s) {
    if (s->n_notes < 2) return;
    lm_sym_note *v = s->notes;
    qsort(v, s->n_notes, sizeof *v, cmp_tie_order);
    size_t kept = 0, run = 0; /* run: first kept note of the current (group, pitch) */
    for (size_t i = 0; i < s->n_notes; i++) {
        lm_sym_note note = v[i];
        if (kept == 0 || v[kept - 1].group != note.group || v[kept - 1].pitch != note.pitch) run = kept;
        int merged = 0;
        if (note.tie_stop) {
            for (size_t k = kept; k > run && kept - k < TIE_LOOKBACK; k--) {
                lm_sym_note *prev = &v[k - 1];
                if (prev->tie_start && lm_rat_cmp(prev->off, note.on) == 0) {
                    prev->off = note.off;
                    prev->tie_start = note.tie_start; /* a tie that goes on */
                    merged = 1;
                    break;
                }
            }
        }
        if (!merged) v[kept++] = note;
    }
    s->n_notes = kept;
    qsort(v, kept, sizeof *v, cmp_seq);
}

/* ---- the theme ---- */

typedef struct {
    lm_rat on, off;
    int pitch;
    size_t seq;
} span_note;

/* Priority of sounding notes: the highest pitch; of equal pitches the latest onset (a re-struck
 * note takes over), then the longest, then the later in the file. */
static int above(const span_note *a, const span_note *b) {
    if (a->pitch != b->pitch) return a->pitch > b->pitch;
    int c = lm_rat_cmp(a->on, b->on);
    if (c) return c > 0;
    c = lm_rat_cmp(a->off, b->off);
    if (c) return c > 0;
    return a->seq > b->seq;
}

static void heap_push(size_t *heap, size_t *n, const span_note *notes, size_t id) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!above(&notes[id], &notes[heap[parent]])) break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = id;
}

static void heap_pop(size_t *heap, size_t *n, const span_note *notes) {
    size_t last = heap[--*n], i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= *n) break;
        if (child + 1 < *n && above(&notes[heap[child + 1]], &notes[heap[child]])) child++;
        if (!above(&notes[heap[child]], &notes[last])) break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = last;
}

static int cmp_span_on(const void *pa, const void *pb) {
    const span_note *a = pa, *b = pb;
    int c = lm_rat_cmp(a->on, b->on);
    return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

static int cmp_rat(const void *pa, const void *pb) { return lm_rat_cmp(*(const lm_rat *)pa, *(const lm_rat *)pb); }

static int cmp_tempo(const void *pa, const void *pb) {
    const lm_sym_tempo *a = pa, *b = pb;
    int c = lm_rat_cmp(a->at, b->at);
    return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

typedef struct {
    const lm_sym_tempo *t; /* sorted, one per position */
    double *sec;             /* seconds at each mark */
    size_t n;
    double sec_per_qn;       /* without marks */
} tempo_map;

static double qn_to_sec(const tempo_map *m, lm_rat qn) {
    double q = lm_rat_to_double(qn);
    if (m->n == 0) return q * m->sec_per_qn;
    size_t lo = 0, hi = m->n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (lm_rat_cmp(m->t[mid].at, qn) <= 0)
            lo = mid;
        else
            hi = mid;
    }
    /* Before the first mark its tempo applies: sec[0] is the first mark's time at that tempo. */
    return m->sec[lo] + (q - lm_rat_to_double(m->t[lo].at)) * 60.0 / m->t[lo].qpm;
}

int lm_sym_to_theme(lm_sym_score *s, lm_rat start, lm_rat end, int whole, double bpm, lm_theme *out) {
    memset(out, 0, sizeof *out);
    if (!(bpm > 0.0) || !isfinite(bpm)) bpm = 120.0;
    size_t n = 0;
    span_note *notes = lm_malloc(s->n_notes ? s->n_notes : 1, sizeof *notes);
    if (!notes) return -1;
    for (size_t i = 0; i < s->n_notes; i++) {
        span_note v = {s->notes[i].on, s->notes[i].off, s->notes[i].pitch, s->notes[i].seq};
        if (!whole) {
            if (lm_rat_cmp(v.off, start) <= 0 || lm_rat_cmp(v.on, end) >= 0) continue;
            if (lm_rat_cmp(v.on, start) < 0) v.on = start;
            if (lm_rat_cmp(v.off, end) > 0) v.off = end;
        }
        if (lm_rat_cmp(v.off, v.on) <= 0) continue;
        notes[n++] = v;
    }
    if (n == 0) {
        free(notes);
        return 1;
    }
    /* Tempo map: of several marks at one position the last in the file wins. */
    if (s->n_tempi) qsort(s->tempi, s->n_tempi, sizeof *s->tempi, cmp_tempo);
    size_t n_t = 0;
    for (size_t i = 0; i < s->n_tempi; i++) {
        if (n_t > 0 && lm_rat_cmp(s->tempi[n_t - 1].at, s->tempi[i].at) == 0)
            s->tempi[n_t - 1] = s->tempi[i];
        else
            s->tempi[n_t++] = s->tempi[i];
    }
    s->n_tempi = n_t;
    tempo_map map = {s->tempi, NULL, n_t, 60.0 / bpm};
    lm_rat *bounds = lm_malloc(2 * n, sizeof *bounds);
    size_t *heap = lm_malloc(n, sizeof *heap);
    lm_note *res = lm_malloc(2 * n, sizeof *res);
    double *bsec = lm_malloc(2 * n, sizeof *bsec);
    if (n_t) map.sec = lm_malloc(n_t, sizeof *map.sec);
    if (!bounds || !heap || !res || !bsec || (n_t && !map.sec)) {
        free(notes), free(bounds), free(heap), free(res), free(bsec), free(map.sec);
        return -1;
    }
    if (n_t) {
        map.sec[0] = lm_rat_to_double(s->tempi[0].at) * 60.0 / s->tempi[0].qpm;
        for (size_t i = 1; i < n_t; i++)
            map.sec[i] = map.sec[i - 1] +
                         (lm_rat_to_double(s->tempi[i].at) - lm_rat_to_double(s->tempi[i - 1].at)) * 60.0 /
                             s->tempi[i - 1].qpm;
    }

    qsort(notes, n, sizeof *notes, cmp_span_on);
    for (size_t i = 0; i < n; i++) bounds[2 * i] = notes[i].on, bounds[2 * i + 1] = notes[i].off;
    qsort(bounds, 2 * n, sizeof *bounds, cmp_rat);
    size_t n_bounds = 0;
    for (size_t i = 0; i < 2 * n; i++)
        if (n_bounds == 0 || lm_rat_cmp(bounds[n_bounds - 1], bounds[i]) != 0) bounds[n_bounds++] = bounds[i];
    for (size_t i = 0; i < n_bounds; i++) bsec[i] = qn_to_sec(&map, bounds[i]);

    /* Segments between consecutive boundaries take the top sounding note or a rest; neighbouring
     * segments of the same note (or of silence) are one entry; a segment too short to have a
     * duration in seconds is left out. */
    const size_t REST = (size_t)-1;
    size_t heap_n = 0, next = 0, n_out = 0, cur = REST;
    const double t0 = bsec[0];
    for (size_t k = 0; k + 1 < n_bounds; k++) {
        lm_rat t = bounds[k];
        while (next < n && lm_rat_cmp(notes[next].on, t) <= 0) heap_push(heap, &heap_n, notes, next++);
        while (heap_n > 0 && lm_rat_cmp(notes[heap[0]].off, t) <= 0) heap_pop(heap, &heap_n, notes);
        size_t top = heap_n > 0 ? heap[0] : REST;
        double a = bsec[k] - t0, b = bsec[k + 1] - t0;
        if (!(b > a)) continue;
        if (n_out > 0 && (top == cur || (top == REST && res[n_out - 1].pitch < 0))) {
            res[n_out - 1].duration = b - res[n_out - 1].onset;
            cur = top;
            continue;
        }
        if (n_out == 0 && top == REST) continue;
        res[n_out++] = (lm_note){a, b - a, top == REST ? -1 : notes[top].pitch};
        cur = top;
    }
    while (n_out > 0 && res[n_out - 1].pitch < 0) n_out--;
    free(notes), free(bounds), free(heap), free(bsec), free(map.sec);
    if (n_out == 0) { /* every note shorter than the precision of seconds */
        free(res);
        return 1;
    }
    /* The first entry starts at the first boundary unless that segment was dropped. */
    double shift = res[0].onset;
    for (size_t i = 0; i < n_out; i++) res[i].onset -= shift;
    if (shift != 0.0) res[0].onset = 0.0;
    out->notes = res;
    out->n = n_out;
    out->duration = res[n_out - 1].onset + res[n_out - 1].duration;
    return 0;
}

int lm_sym_select_theme(lm_sym_score *s, const lm_theme_select *sel, const char *what, const char *layer, double bpm,
                        lm_theme *out) {
    lm_rat a, b;
    int whole;
    if (lm_sym_measure_span(s, sel ? sel->measure_first : 0, sel ? sel->measure_last : 0, what, &a, &b, &whole) < 0)
        return -1;
    lm_sym_merge_ties(s);
    if (sel && sel->qpm > 0) s->n_tempi = 0, bpm = sel->qpm; /* one tempo instead of the file's marks */
    int rc = lm_sym_to_theme(s, a, b, whole, bpm, out);
    if (rc == 1) {
        char range[64], voice[32] = "";
        lm_sym_describe_range(range, sizeof range, whole ? 0 : sel->measure_first, whole ? 0 : sel->measure_last);
        if (sel && sel->voice > 0) snprintf(voice, sizeof voice, " in %s %d", layer, sel->voice);
        lm_set_error("%s has no notes%s%s", what, voice, range);
        rc = -1;
    }
    return rc;
}
