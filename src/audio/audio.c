#include "audio/audio.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mpg123.h>
#include <pthread.h>
#include <samplerate.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

/* libsoxr (docs/install.md): audio to 22050 Hz with the very high quality recipe (about 28-bit
 * precision, passband to 95 % of Nyquist: as good as libsamplerate's best sinc converter, which
 * took most of the decoding time, at about 50 times its speed); the tuning compensation's small
 * ratios with the high quality one (20-bit). The rates are given as 1 and the ratio, so that the
 * whole-signal and the block-wise conversion build the same filter. */
static soxr_t soxr_new(double ratio, int converter, const char **why) {
    soxr_error_t err = NULL;
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t q = soxr_quality_spec(converter == LM_RESAMPLE_SOXR_VHQ ? SOXR_VHQ : SOXR_HQ, 0);
    const soxr_runtime_spec_t rt = soxr_runtime_spec(1); /* the callers run files in parallel */
    soxr_t s = soxr_create(1.0, ratio, 1, &err, &io, &q, &rt);
    *why = err ? err : "out of memory";
    return err ? (soxr_delete(s), NULL) : s;
}

float *lm_resample_soxr(const float *x, size_t n, double ratio, int converter, size_t *n_out) {
    /* librosa makes the output exactly ceil(n * ratio) samples long (zero-padded when the
     * converter gives less), so the frame count of the features depends only on the duration */
    const size_t want = (size_t)ceil((double)n * ratio - 1e-9);
    float *out = lm_calloc(want + 1, sizeof *out);
    if (!out) return NULL;
    const char *why;
    soxr_t s = soxr_new(ratio, converter, &why);
    soxr_error_t err = s ? NULL : why;
    /* soxr takes only as much input as the output room needs, so: until the input is used up, then
     * a NULL input (the end) until the filter's tail is out; a shorter output is zero-padded */
    size_t got = 0, left = n;
    while (!err && got < want) {
        size_t used = 0, done = 0;
        err = soxr_process(s, left ? x + (n - left) : NULL, left, &used, out + got, want - got, &done);
        left -= used;
        got += done;
        if (!done && (!left || !used)) break;
    }
    soxr_delete(s);
    if (err) {
        lm_set_error("resampling failed: %s", err);
        free(out);
        return NULL;
    }
    *n_out = want;
    return out;
}

float *lm_resample_to_22050(const float *x, size_t n, int from, size_t *n_out) {
    return lm_resample_soxr(x, n, (double)LM_SAMPLE_RATE / (double)from, LM_RESAMPLE_SOXR_VHQ, n_out);
}

/* ------------------------------------------------------------ block-wise resampling */

/* The last HOLD output samples wait for the end of the input: the output is cut to
 * ceil(n * ratio), which is known only then. */
#define HOLD 64
#define RS_OUT 8192

int lm_resampler_init(lm_resampler *r, double ratio, int converter, lm_block_fn emit, void *ctx) {
    memset(r, 0, sizeof *r);
    r->ratio = ratio;
    r->emit = emit;
    r->ctx = ctx;
    int err = 0;
    const char *why = NULL;
    if (converter == LM_RESAMPLE_SOXR_VHQ || converter == LM_RESAMPLE_SOXR_HQ) r->soxr = soxr_new(ratio, converter, &why);
    else r->state = src_new(converter, 1, &err);
    r->buf = lm_malloc(RS_OUT + HOLD, sizeof *r->buf);
    if ((!r->state && !r->soxr) || !r->buf) {
        if (!r->state && !r->soxr) lm_set_error("resampling failed: %s", why ? why : src_strerror(err));
        lm_resampler_free(r);
        return -1;
    }
    return 0;
}

void lm_resampler_free(lm_resampler *r) {
    if (r->state) src_delete(r->state);
    if (r->soxr) soxr_delete(r->soxr);
    free(r->buf);
    r->state = NULL;
    r->soxr = NULL;
    r->buf = NULL;
}

/* Emits what lies before the held-back tail (all of it, cut to `limit`, when last). */
static int resampler_flush(lm_resampler *r, int last, size_t limit) {
    size_t keep = last ? 0 : (r->held > HOLD ? HOLD : r->held), emit = r->held - keep;
    if (last && r->out_total + emit > limit) emit = limit > r->out_total ? limit - r->out_total : 0;
    if (emit && r->emit(r->ctx, r->buf, emit) != 0) return -1;
    r->out_total += emit;
    if (keep) memmove(r->buf, r->buf + (r->held - keep), keep * sizeof *r->buf);
    r->held = keep;
    return 0;
}

/* One step of the converter: consumes some of x[0..n), appends to buf; *used, *made. */
static int resampler_step(lm_resampler *r, const float *x, size_t n, int last, size_t *used, size_t *made) {
    if (r->soxr) {
        /* soxr takes a NULL input as the end of the signal and then gives its filter's tail */
        soxr_error_t err = soxr_process(r->soxr, n || !last ? x : NULL, n, used, r->buf + r->held, RS_OUT, made);
        if (err) {
            lm_set_error("resampling failed: %s", err);
            return -1;
        }
        return 0;
    }
    SRC_DATA d;
    memset(&d, 0, sizeof d);
    d.data_in = x;
    d.input_frames = (long)n;
    d.data_out = r->buf + r->held;
    d.output_frames = RS_OUT;
    d.src_ratio = r->ratio;
    d.end_of_input = last;
    int err = src_process(r->state, &d);
    if (err) {
        lm_set_error("resampling failed: %s", src_strerror(err));
        return -1;
    }
    *used = (size_t)d.input_frames_used;
    *made = (size_t)d.output_frames_gen;
    return 0;
}

/* Same output as the converter on the whole signal (both libraries carry their state across
 * calls), in the length lm_resample_to_22050 gives. */
int lm_resampler_push(lm_resampler *r, const float *x, size_t n, int last) {
    static const float none[1];
    if (!x) x = none; /* older libsamplerate rejects a NULL input even when it is empty */
    r->in_total += n;
    for (;;) {
        size_t used = 0, made = 0;
        if (resampler_step(r, x, n, last, &used, &made) != 0) return -1;
        x += used;
        n -= used;
        r->held += made;
        if (resampler_flush(r, 0, 0) != 0) return -1;
        if (n == 0 && (!last || made == 0)) break;
    }
    if (!last) return 0;
    const size_t want = (size_t)ceil((double)r->in_total * r->ratio - 1e-9);
    if (resampler_flush(r, 1, want) != 0) return -1;
    memset(r->buf, 0, RS_OUT * sizeof *r->buf); /* pad a short output with zeros */
    while (r->out_total < want) {
        size_t k = want - r->out_total < RS_OUT ? want - r->out_total : RS_OUT;
        if (r->emit(r->ctx, r->buf, k) != 0) return -1;
        r->out_total += k;
    }
    return 0;
}

/* ------------------------------------------------------------ quieting libmpg123 */

static pthread_mutex_t stderr_mutex = PTHREAD_MUTEX_INITIALIZER;
static FILE *capture_file; /* unlinked temporary file; guarded by stderr_mutex */

void lm_audio_stderr_lock(void) { pthread_mutex_lock(&stderr_mutex); }
void lm_audio_stderr_unlock(void) { pthread_mutex_unlock(&stderr_mutex); }

typedef struct {
    int saved_fd; /* the real fd 2 while redirected, else -1 */
    char text[1024];
    size_t len;   /* bytes kept in text */
    size_t lines; /* decoder lines captured in all */
} quiet_state;

/* Takes the lock and points fd 2 at the capture file. A temporary file, not a pipe: a pipe
 * would block a chatty decoder once full. Without a capture file, runs unredirected. */
static void quiet_begin(quiet_state *q) {
    pthread_mutex_lock(&stderr_mutex);
    q->saved_fd = -1;
    if (!capture_file) {
        capture_file = tmpfile();
        /* Children forked meanwhile (popen, system) must not inherit these descriptors. */
        if (capture_file) fcntl(fileno(capture_file), F_SETFD, FD_CLOEXEC);
    }
    if (!capture_file) return;
    int fd = fileno(capture_file);
    fflush(stderr);
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) return;
    q->saved_fd = fcntl(2, F_DUPFD_CLOEXEC, 0);
    if (q->saved_fd >= 0 && dup2(fd, 2) < 0) {
        close(q->saved_fd);
        q->saved_fd = -1;
    }
}

/* Restores fd 2, keeps the decoder's text in q and passes through our own messages that
 * other threads wrote meanwhile; then releases the lock. */
static void quiet_end(quiet_state *q) {
    if (q->saved_fd >= 0) {
        fflush(stderr);
        dup2(q->saved_fd, 2);
        close(q->saved_fd);
        q->saved_fd = -1;
        /* Read it all (up to 1 MiB): other threads' lines may come after a long decoder log. */
        int fd = fileno(capture_file);
        off_t size = lseek(fd, 0, SEEK_END);
        size_t cap = size > 0 ? (size < (1 << 20) ? (size_t)size : (size_t)1 << 20) : 0;
        char *buf = cap ? malloc(cap + 1) : NULL;
        ssize_t n = buf ? pread(fd, buf, cap, 0) : 0;
        if (buf) buf[n > 0 ? n : 0] = '\0';
        for (char *line = buf, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            next = next ? next + 1 : line + strlen(line);
            size_t len = (size_t)(next - line);
            if (!strncmp(line, "leitmotif:", 10)) {
                fwrite(line, 1, len, stderr);
                continue;
            }
            if (len <= 1) continue;
            q->lines++;
            if (q->len + len < sizeof q->text) {
                memcpy(q->text + q->len, line, len);
                q->len += len;
                q->text[q->len] = '\0';
            }
        }
        free(buf);
    }
    pthread_mutex_unlock(&stderr_mutex);
}

/* The first captured decoder line without its source-location prefix and trailing dots,
 * e.g. "Illegal Audio-MPEG-Header 0x00000000 at offset 2". */
static void first_decoder_line(const quiet_state *q, char *out, size_t cap) {
    const char *s = q->text;
    if (s[0] == '[') { /* "[src/libmpg123/parse.c:do_readahead():1140] warning: ..." */
        const char *e = strstr(s, "] ");
        if (e) s = e + 2;
    }
    static const char *const prefixes[] = {"Note: ", "Warning: ", "warning: ", "error: ", "Error: ", "note: ", NULL};
    for (int i = 0; prefixes[i]; i++)
        if (!strncmp(s, prefixes[i], strlen(prefixes[i]))) s += strlen(prefixes[i]);
    size_t n = strcspn(s, "\n");
    while (n > 0 && (s[n - 1] == '.' || s[n - 1] == ' ' || s[n - 1] == '!')) n--;
    snprintf(out, cap, "%.*s", (int)n, s);
}

/* -------------------------------------------- MP3 through libmpg123 directly */

/* libsndfile decodes MP3 with libmpg123 in gapless mode, which trims the encoder delay and
 * padding that the LAME tag states. LAME 3.97 and older wrote tags into very short files that
 * state more delay plus padding than the file holds samples (quodlibet/mutagen's
 * tests/data/lame397v9short.mp3: 3 frames of 576 samples, delay 576 + padding 1452); gapless
 * decoding then trims everything and libsndfile yields no samples at all (sox and mutagen read
 * 1728 samples, or 0 s). Such files are decoded here without gapless trimming, so that they are
 * read whole, as sox reads them. */
typedef struct {
    float *mono;
    size_t n;
    int rate, channels;
    long long stated; /* gapless length the tags state (negative: more trimmed than there is) */
    int gapless_known;
    int format_changed; /* decoding stopped where the stream changed its rate or channels */
    char error[160];
} mp3_direct;

static mpg123_handle *mp3_handle(int gapless, int *err) {
    mpg123_handle *h = mpg123_new(NULL, err);
    if (!h) return NULL;
    mpg123_param(h, MPG123_ADD_FLAGS, MPG123_QUIET, 0);
    mpg123_param(h, gapless ? MPG123_ADD_FLAGS : MPG123_REMOVE_FLAGS, MPG123_GAPLESS, 0);
    const long *rates;
    size_t n_rates;
    mpg123_rates(&rates, &n_rates);
    mpg123_format_none(h);
    for (size_t i = 0; i < n_rates; i++) mpg123_format(h, rates[i], MPG123_MONO | MPG123_STEREO, MPG123_ENC_FLOAT_32);
    return h;
}

static pthread_once_t mpg123_once = PTHREAD_ONCE_INIT;
static void mpg123_init_once(void) { mpg123_init(); }

/* 0 with d filled (d->n may be 0), or -1 with d->error. */
static int mp3_decode_direct(const char *path, mp3_direct *d) {
    memset(d, 0, sizeof *d);
    pthread_once(&mpg123_once, mpg123_init_once);
    int err = MPG123_OK;
    long rate;
    int ch, enc;
    /* What gapless decoding makes of it, for the warning. */
    mpg123_handle *h = mp3_handle(1, &err);
    if (h && mpg123_open(h, path) == MPG123_OK && mpg123_getformat(h, &rate, &ch, &enc) == MPG123_OK) {
        off_t len = mpg123_length(h);
        if (len != MPG123_ERR) d->stated = (long long)len, d->gapless_known = 1;
    }
    if (h) {
        mpg123_close(h);
        mpg123_delete(h);
    }
    h = mp3_handle(0, &err);
    if (!h) {
        snprintf(d->error, sizeof d->error, "%s", mpg123_plain_strerror(err));
        return -1;
    }
    if (mpg123_open(h, path) != MPG123_OK || mpg123_getformat(h, &rate, &ch, &enc) != MPG123_OK || rate <= 0 ||
        ch < 1 || ch > 2) {
        snprintf(d->error, sizeof d->error, "%s", mpg123_strerror(h));
        mpg123_close(h);
        mpg123_delete(h);
        return -1;
    }
    d->rate = (int)rate;
    d->channels = ch;
    size_t cap = 0;
    float buf[8192];
    int rc = 0;
    for (;;) {
        size_t done = 0;
        int r = mpg123_read(h, buf, sizeof buf, &done);
        if (r == MPG123_NEW_FORMAT) {
            long r2;
            int c2, e2;
            if (mpg123_getformat(h, &r2, &c2, &e2) != MPG123_OK || r2 != rate || c2 != ch) {
                d->format_changed = 1;
                break;
            }
        }
        size_t frames = done / (sizeof(float) * (size_t)ch);
        if (frames) {
            if (d->n + frames > cap) {
                size_t ncap = cap ? 2 * cap : 65536;
                while (ncap < d->n + frames) ncap *= 2;
                float *m = realloc(d->mono, ncap * sizeof *m);
                if (!m) {
                    snprintf(d->error, sizeof d->error, "out of memory");
                    rc = -1;
                    break;
                }
                d->mono = m;
                cap = ncap;
            }
            for (size_t i = 0; i < frames; i++)
                d->mono[d->n + i] = ch == 2 ? 0.5f * (buf[2 * i] + buf[2 * i + 1]) : buf[i];
            d->n += frames;
        }
        if (r == MPG123_DONE) break;
        if (r != MPG123_OK && r != MPG123_NEW_FORMAT) {
            if (d->n == 0) {
                snprintf(d->error, sizeof d->error, "%s", mpg123_strerror(h));
                rc = -1;
            }
            break;
        }
    }
    mpg123_close(h);
    mpg123_delete(h);
    if (rc != 0) {
        free(d->mono);
        d->mono = NULL;
        d->n = 0;
    }
    return rc;
}

/* ------------------------------------------------------------------- loading */

static _Thread_local int last_partial;

int lm_audio_last_partial(void) { return last_partial; }

static int is_mpeg(const SF_INFO *info) {
    int sub = info->format & SF_FORMAT_SUBMASK;
    return (info->format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG || sub == SF_FORMAT_MPEG_LAYER_I ||
           sub == SF_FORMAT_MPEG_LAYER_II || sub == SF_FORMAT_MPEG_LAYER_III;
}

/* Up to `cap` leading bytes of the file, for recognising what it is when libsndfile cannot. */
static size_t read_head(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static int looks_like_text(const unsigned char *b, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (b[i] < 0x20 && b[i] != '\n' && b[i] != '\r' && b[i] != '\t') return 0;
    return 1;
}

/* One-line error for a file libsndfile would not open, in the user's terms. */
static void open_error(const char *path, int code, const char *sftext, const quiet_state *q) {
    unsigned char head[256];
    size_t n = read_head(path, head, sizeof head);
    if (looks_like_text(head, n)) {
        size_t k = 0;
        while (k < n && k < 40 && head[k] != '\n' && head[k] != '\r') k++;
        lm_set_error("%s: is a text file (it starts with \"%.*s\"), not audio", path, (int)k, (const char *)head);
        return;
    }
    char dec[200] = "";
    if (q->len) {
        char line[160];
        first_decoder_line(q, line, sizeof line);
        snprintf(dec, sizeof dec, "; MP3 decoder: %s", line);
    }
    if (code == SF_ERR_UNRECOGNISED_FORMAT)
        lm_set_error("%s: not an audio format leitmotif can read (libsndfile: %s)", path, sftext);
    else if (code == SF_ERR_MALFORMED_FILE)
        lm_set_error("%s: damaged or truncated audio file: its header cannot be read (libsndfile: %s)", path, sftext);
    else if (code == SF_ERR_UNSUPPORTED_ENCODING)
        lm_set_error("%s: uses an audio encoding leitmotif cannot decode (libsndfile: %s)", path, sftext);
    else if (!strncmp(sftext, "File does not exist", 19))
        /* The file exists (checked before): libsndfile says this when a decoder (e.g. MP3's)
         * finds no valid audio frame in it. */
        lm_set_error("%s: no valid audio data found: the file is damaged, truncated or not really in the format "
                     "its name says%s",
                     path, dec);
    else if (!strncmp(sftext, "Unspecified internal error", 26))
        lm_set_error("%s: the decoder gave up on this file; it is probably damaged or truncated%s", path, dec);
    else lm_set_error("%s: cannot be read as audio (libsndfile: %s%s)", path, sftext, dec);
}

/* Data chunk size announced by a WAV/AIFF header and the size actually present: libsndfile
 * silently shortens a truncated file's frame count and only logs "data : A (should be B)". */
static int header_claims_more(SNDFILE *sf, double *ratio) {
    char log[8192];
    sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
    static const char *const tags[] = {"\ndata : ", "\n SSND : ", "\nSSND : ", NULL};
    for (int i = 0; tags[i]; i++) {
        const char *p = strstr(log, tags[i]);
        long long a, b;
        if (p && sscanf(p + strlen(tags[i]), "%lld (should be %lld)", &a, &b) == 2 && b > 0 && a > b &&
            a != 0xffffffffLL && a != 0x7fffffffLL) { /* placeholders of streaming writers */
            *ratio = (double)a / (double)b;
            return 1;
        }
    }
    return 0;
}

/* Appends one clause to the file's warning (clauses joined by "; "). */
static void add_warning(lm_audio *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_warning(lm_audio *a, const char *fmt, ...) {
    size_t len = strlen(a->warning);
    if (len + 3 >= sizeof a->warning) return;
    if (len) {
        memcpy(a->warning + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->warning + len, sizeof a->warning - len, fmt, ap);
    va_end(ap);
}

/* Where decoded mono blocks go: NaN/Inf scrubbed, resampled to 22050 Hz, scrubbed again. */
typedef struct {
    lm_block_fn emit;
    void *ctx;
    int resample;
    lm_resampler rs;
    size_t bad, overflowed, n_out;
} audio_sink;

static int sink_emit(void *ctx, const float *x, size_t n) {
    audio_sink *k = ctx;
    float tmp[4096];
    for (size_t i0 = 0; i0 < n; i0 += sizeof tmp / sizeof *tmp) {
        size_t m = n - i0 < sizeof tmp / sizeof *tmp ? n - i0 : sizeof tmp / sizeof *tmp;
        memcpy(tmp, x + i0, m * sizeof *tmp);
        /* Absurd (finite) float samples, e.g. 1e30 in a damaged float WAV, can overflow in the
         * resampling filter: the features must never see the result. */
        for (size_t i = 0; i < m && k->resample; i++)
            if (!isfinite(tmp[i])) {
                tmp[i] = 0.0f;
                k->overflowed++;
            }
        if (k->emit(k->ctx, tmp, m) != 0) return -1;
    }
    k->n_out += n;
    return 0;
}

static void prefix_error(const char *path) {
    char err[512];
    snprintf(err, sizeof err, "%s", lm_last_error());
    lm_set_error("%s: %s", path, err);
}

static int sink_push(audio_sink *k, float *mono, size_t n, int last) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(mono[i])) { /* float files may carry NaN/Inf; never let them poison features */
            mono[i] = 0.0f;
            k->bad++;
        }
    return k->resample ? lm_resampler_push(&k->rs, mono, n, last) : (n ? sink_emit(k, mono, n) : 0);
}

int lm_audio_stream(const char *path, lm_block_fn emit, void *ctx, lm_audio *out) {
    memset(out, 0, sizeof *out);
    last_partial = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        lm_set_error("%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        lm_set_error("%s: is a directory, not an audio file", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        lm_set_error("%s: not a regular file (a pipe or device?); leitmotif reads audio files only", path);
        return -1;
    }
    if (st.st_size == 0) {
        lm_set_error("%s: is empty (0 bytes), not audio", path);
        return -1;
    }
    unsigned char head[64];
    size_t n_head = read_head(path, head, sizeof head);
    static const char lfs[] = "version https://git-lfs";
    if (n_head >= sizeof lfs - 1 && !memcmp(head, lfs, sizeof lfs - 1)) {
        lm_set_error("%s: is a Git LFS pointer (a small text file standing for the audio), not audio; fetch the "
                     "real file with `git lfs pull`",
                     path);
        return -1;
    }

    /* Any file may end up with the MP3 decoder (libsndfile also guesses by extension), so
     * opening is always quieted; reading only for MPEG audio. */
    quiet_state q;
    memset(&q, 0, sizeof q);
    SF_INFO info;
    memset(&info, 0, sizeof info);
    quiet_begin(&q);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    int open_code = sf ? 0 : sf_error(NULL);
    char open_text[256];
    snprintf(open_text, sizeof open_text, "%s", sf ? "" : sf_strerror(NULL));
    quiet_end(&q);
    if (!sf) {
        open_error(path, open_code, open_text, &q);
        return -1;
    }
    if (info.channels <= 0 || info.channels > 1024 || info.samplerate <= 0 || info.samplerate > 1000000) {
        lm_set_error("%s: damaged audio header (it claims %d channels at %d Hz)", path, info.channels,
                     info.samplerate);
        sf_close(sf);
        return -1;
    }
    /* SF_COUNT_MAX: length unknown (e.g. an Ogg file whose last page is missing). */
    int known = info.frames > 0 && info.frames < SF_COUNT_MAX;
    double claim_ratio = 1.0;
    int header_long = known && header_claims_more(sf, &claim_ratio);
    int mpeg = is_mpeg(&info);

    /* Decode in blocks, mixing down and resampling as we go: the announced length may be
     * unknown or wrong, and neither the file's length nor its channels cost memory. */
    const size_t block = 65536;
    const size_t ch = (size_t)info.channels;
    float *mono = lm_malloc(block, sizeof *mono);
    float *buf = lm_malloc(block * ch, sizeof *buf);
    audio_sink sink = {emit, ctx, info.samplerate != LM_SAMPLE_RATE, {0}, 0, 0, 0};
    int rc = 0;
    if (!mono || !buf || (sink.resample && lm_resampler_init(&sink.rs, (double)LM_SAMPLE_RATE / info.samplerate,
                                                             LM_RESAMPLE_SOXR_VHQ, sink_emit, &sink) != 0)) {
        lm_set_error("%s: out of memory", path);
        rc = -1;
    }
    size_t got = 0;
    if (mpeg) quiet_begin(&q);
    while (rc == 0) {
        sf_count_t r = sf_readf_float(sf, buf, (sf_count_t)block);
        if (r <= 0) break;
        for (size_t i = 0; i < (size_t)r; i++) {
            double s = 0;
            for (size_t c = 0; c < ch; c++) s += buf[i * ch + c];
            mono[i] = (float)(s / (double)ch);
        }
        if (sink_push(&sink, mono, (size_t)r, 0) != 0) {
            prefix_error(path);
            rc = -1;
            break;
        }
        got += (size_t)r;
    }
    if (mpeg) quiet_end(&q);
    int sferr = sf_error(sf);
    char sftext[256];
    snprintf(sftext, sizeof sftext, "%s", sf_strerror(sf));
    free(buf);
    free(mono);
    sf_close(sf);
    if (rc != 0) {
        lm_resampler_free(&sink.rs);
        return -1;
    }
    /* libsndfile found MPEG audio but decoded none of it: libmpg123 without gapless trimming. */
    char fallback[300] = "";
    if (got == 0 && mpeg) {
        mp3_direct d;
        if (mp3_decode_direct(path, &d) == 0 && d.n > 0) {
            got = d.n;
            info.samplerate = d.rate;
            info.channels = d.channels;
            info.frames = (sf_count_t)d.n;
            known = 1;
            header_long = 0;
            sferr = 0;
            if (d.gapless_known && d.stated <= 0)
                snprintf(fallback, sizeof fallback,
                         "its LAME header says to trim %lld samples of encoder delay and padding, more than the %zu it "
                         "holds (a bug of LAME 3.97 and older in very short files); decoded all %.3f s untrimmed",
                         (long long)d.n - d.stated, d.n, (double)d.n / d.rate);
            else
                snprintf(fallback, sizeof fallback,
                         "libsndfile decoded none of it; decoded %.3f s with libmpg123 directly, without gapless "
                         "trimming",
                         (double)d.n / d.rate);
            if (d.format_changed) out->partial = 1;
            /* such files are a few frames long: decoded whole, then passed on */
            lm_resampler_free(&sink.rs);
            sink.resample = d.rate != LM_SAMPLE_RATE;
            if (sink.resample && lm_resampler_init(&sink.rs, (double)LM_SAMPLE_RATE / d.rate, LM_RESAMPLE_SOXR_VHQ,
                                                   sink_emit, &sink) != 0)
                got = 0;
            else if (sink_push(&sink, d.mono, d.n, 0) != 0) {
                free(d.mono);
                lm_resampler_free(&sink.rs);
                return -1;
            }
        }
        free(d.mono);
    }
    const double rate = info.samplerate;
    if (got == 0) {
        char dec[200] = "";
        if (q.len) {
            char line[160];
            first_decoder_line(&q, line, sizeof line);
            snprintf(dec, sizeof dec, " (MP3 decoder: %s)", line);
        }
        if (sferr) lm_set_error("%s: no audio could be decoded (libsndfile: %s)%s", path, sftext, dec);
        else if (!known && info.frames != 0)
            lm_set_error("%s: no audio could be decoded: the file ends before its first complete block of audio "
                         "(truncated?)%s",
                         path, dec);
        else if (info.frames == 0) lm_set_error("%s: contains no audio samples%s", path, dec);
        else lm_set_error("%s: no audio could be decoded (damaged data?)%s", path, dec);
        lm_resampler_free(&sink.rs);
        return -1;
    }

    /* Problems that leave usable audio: one warning line per file. */
    double announced = known ? (double)info.frames * claim_ratio : 0;
    /* Lossy codecs may announce their encoder padding: an MP3 without a gapless (LAME) tag
     * is up to ~3 frames of 1152 samples longer than it decodes. */
    int sub = info.format & SF_FORMAT_SUBMASK;
    int lossy = mpeg || sub == SF_FORMAT_VORBIS || sub == SF_FORMAT_OPUS;
    double tol = rate / 100 + (lossy ? 3 * 1152 : 0);
    if (fallback[0]) add_warning(out, "%s", fallback);
    if (out->partial)
        add_warning(out, "decoding stopped at %.2f s where the stream changes its sample rate or channels; using "
                         "what was decoded",
                    (double)got / rate);
    else if (sferr) {
        add_warning(out, "decoding failed at %.2f s (libsndfile: %s); using what was decoded", (double)got / rate,
                    sftext);
        out->partial = 1;
    } else if (header_long && (double)got + tol < announced) {
        add_warning(out,
                    "the file is shorter than its header says (truncated?): decoding stopped at %.2f s of %.2f s; "
                    "using what was decoded",
                    (double)got / rate, announced / rate);
        out->partial = 1;
    } else if (known && (double)got + tol < announced) {
        add_warning(out, "decoding stopped at %.2f s of %.2f s (corrupt data?); using what was decoded",
                    (double)got / rate, announced / rate);
        out->partial = 1;
    } else if (!known) {
        /* Chained Ogg streams are valid and have no stated length either: a note, not a failure. */
        add_warning(out, "the file does not state its length (a chained or truncated stream?); decoded %.2f s",
                    (double)got / rate);
    }
    if (q.lines) {
        char line[160];
        first_decoder_line(&q, line, sizeof line);
        if (q.lines > 1)
            add_warning(out, "the MP3 decoder reported damaged data: %s (and %zu more messages)", line, q.lines - 1);
        else add_warning(out, "the MP3 decoder reported damaged data: %s", line);
    }
    rc = sink_push(&sink, NULL, 0, 1);
    lm_resampler_free(&sink.rs);
    if (rc != 0) {
        prefix_error(path);
        return -1;
    }
    if (sink.bad) add_warning(out, "%zu samples were NaN or infinite and were set to 0", sink.bad);
    out->orig_rate = info.samplerate;
    out->orig_channels = info.channels;
    out->n = sink.n_out;
    if (sink.overflowed)
        add_warning(out, "%zu samples overflowed in resampling (absurdly large sample values) and were set to 0",
                    sink.overflowed);
    if (out->n < LM_MIN_SAMPLES) {
        lm_set_error("%s: audio too short (%.4f s%s; need at least %.2f s)", path, (double)out->n / LM_SAMPLE_RATE,
                     out->partial ? " could be decoded" : "", (double)LM_MIN_SAMPLES / LM_SAMPLE_RATE);
        return -1;
    }
    if (out->warning[0]) {
        lm_audio_stderr_lock();
        fprintf(stderr, "leitmotif: warning: %s: %s\n", path, out->warning);
        lm_audio_stderr_unlock();
    }
    last_partial = out->partial;
    return 0;
}

/* lm_audio_load's sink: a growing buffer. */
typedef struct {
    lm_audio *a;
    size_t cap;
    const char *path;
} append_ctx;

static int append_block(void *ctx, const float *x, size_t n) {
    append_ctx *c = ctx;
    lm_audio *a = c->a;
    if (a->n + n > c->cap) {
        size_t ncap = 2 * c->cap > a->n + n ? 2 * c->cap : a->n + n;
        if (ncap < ((size_t)1 << 20)) ncap = (size_t)1 << 20;
        float *m = realloc(a->samples, ncap * sizeof *m);
        if (!m) {
            lm_set_error("out of memory after decoding %.0f s of audio", (double)a->n / LM_SAMPLE_RATE);
            return -1;
        }
        a->samples = m;
        c->cap = ncap;
    }
    memcpy(a->samples + a->n, x, n * sizeof *x);
    a->n += n;
    return 0;
}

int lm_audio_load(const char *path, lm_audio *out) {
    lm_audio a;
    memset(&a, 0, sizeof a);
    append_ctx c = {&a, 0, path};
    int rc = lm_audio_stream(path, append_block, &c, out);
    if (rc != 0) {
        free(a.samples);
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->samples = a.samples;
    return 0;
}

void lm_audio_free(lm_audio *a) {
    free(a->samples);
    a->samples = NULL;
    a->n = 0;
}
