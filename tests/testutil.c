#include "testutil.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sndfile.h>
#include <unistd.h>

const char *lm_test_shared(const char *rel) {
    static _Thread_local char buf[4096];
    const char *base = getenv("LM_SHARED_DIR");
    if (!base) base = LM_SHARED_DIR;
    snprintf(buf, sizeof buf, "%s/%s", base, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static char tmpdir[256];

static void remove_tmpdir(void) {
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

const char *lm_test_tmpdir(void) {
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/lmtest.XXXXXX");
        if (!mkdtemp(tmpdir)) return "/tmp";
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

int lm_test_system(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

int lm_test_write_wav(const char *path, const float *x, size_t n, int rate, int channels) {
    SF_INFO info = {0};
    info.samplerate = rate;
    info.channels = channels;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) return -1;
    sf_count_t w = n ? sf_writef_float(sf, x, (sf_count_t)n) : 0;
    sf_close(sf);
    return w == (sf_count_t)n ? 0 : -1;
}

int lm_test_skipped = 0;

int lm_test_result(int cmocka_status) {
    if (cmocka_status != 0) return cmocka_status;
    if (lm_test_skipped > 0) {
        fprintf(stderr, "%d test(s) skipped (see the SKIP lines): reported to ctest as skipped\n", lm_test_skipped);
        return 77;
    }
    return 0;
}

#define Q(step, oct) "<note><pitch><step>" #step "</step><octave>" #oct "</octave></pitch><duration>1</duration></note>"
const char lm_test_two_part_musicxml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<score-partwise version=\"4.0\"><part-list>"
    "<score-part id=\"P1\"><part-name>Flute</part-name></score-part>"
    "<score-part id=\"P2\"><part-name>Bass</part-name></score-part></part-list>"
    "<part id=\"P1\"><measure number=\"1\"><attributes><divisions>1</divisions><time><beats>4</beats>"
    "<beat-type>4</beat-type></time></attributes><sound tempo=\"120\"/>" Q(A, 5) Q(A, 5) Q(A, 5) Q(A, 5)
    "</measure><measure number=\"2\">" Q(C, 5) Q(D, 5) Q(E, 5) Q(F, 5) "</measure><measure number=\"3\">"
    "<note><pitch><step>G</step><octave>5</octave></pitch><duration>2</duration></note>"
    "<note><rest/><duration>2</duration></note></measure></part>"
    "<part id=\"P2\"><measure number=\"1\"><attributes><divisions>1</divisions></attributes>"
    "<note><pitch><step>C</step><octave>3</octave></pitch><duration>4</duration></note></measure>"
    "<measure number=\"2\"><note><pitch><step>C</step><octave>3</octave></pitch><duration>4</duration></note>"
    "</measure><measure number=\"3\"><note><pitch><step>C</step><octave>3</octave></pitch><duration>4</duration>"
    "</note></measure></part></score-partwise>\n";
#undef Q

char *lm_test_tmp_path(const char *name) {
    static char buf[16][512];
    static int next = 0;
    char *p = buf[next++ % 16];
    snprintf(p, 512, "%s/%s", lm_test_tmpdir(), name);
    return p;
}

float *lm_test_chroma(size_t T, unsigned seed, float offset) {
    float *c = malloc(12 * T * sizeof *c);
    assert_non_null(c);
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < 12 * T; i++) {
        s = s * 1103515245u + 12345u;
        c[i] = (float)((s >> 8) & 0xffff) / 65536.0f + offset;
    }
    for (size_t t = 0; t < T; t++) {
        double n = 0;
        for (int k = 0; k < 12; k++) n += c[k * T + t] * c[k * T + t];
        for (int k = 0; k < 12; k++) c[k * T + t] /= (float)sqrt(n);
    }
    return c;
}

float *lm_test_music(size_t M, double (*uniform)(void), double p_key_change) {
    static const int major[7] = {0, 2, 4, 5, 7, 9, 11};
    float *x = malloc(12 * M * sizeof *x);
    if (!x) return NULL;
    int key = (int)(uniform() * 12);
    for (size_t m = 0; m < M;) {
        if (uniform() < p_key_change) key = (int)(uniform() * 12);
        size_t len = 4 + (size_t)(uniform() * 13);
        float v[12];
        double s = 0;
        for (int c = 0; c < 12; c++) v[c] = (float)(0.1 * uniform() * uniform());
        int root = (int)(uniform() * 7);
        for (int i = 0; i < 3; i++) v[(key + major[(root + 2 * i) % 7]) % 12] += (float)(0.3 + 0.4 * uniform());
        v[(key + major[(int)(uniform() * 7)]) % 12] += 1.0f;
        for (int c = 0; c < 12; c++) s += (double)v[c] * v[c];
        for (size_t k = 0; k < len && m < M; k++, m++)
            for (int c = 0; c < 12; c++) x[(size_t)c * M + m] = (float)(v[c] / sqrt(s));
    }
    return x;
}
