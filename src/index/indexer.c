#include "index/indexer.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "audio/audio.h"
#include "common/error.h"
#include "common/progress.h"
#include "nn/conv_bf16.h"

/* Formats libsndfile reads; others (e.g. .spx Speex, which it cannot decode) are listed as ignored. */
const char *const lm_audio_extensions[] = {"wav", "flac", "ogg",  "oga", "mp3", "opus", "aiff",
                                           "aif", "aifc", "w64",  "caf", "au",  NULL};

typedef struct {
    char **items;
    size_t n, cap;
} str_list;

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = lm_malloc(n, 1);
    if (p) memcpy(p, s, n);
    return p;
}

static int list_push(str_list *l, char *s) {
    if (!s) return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            free(s);
            lm_set_error("out of memory");
            return -1;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = s;
    return 0;
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = lm_malloc(n, 1);
    if (p) snprintf(p, n, "%s%s%s", dir, (dir[0] && dir[strlen(dir) - 1] == '/') ? "" : "/", name);
    return p;
}

static int has_audio_extension(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    for (int i = 0; lm_audio_extensions[i]; i++)
        if (!strcasecmp(dot + 1, lm_audio_extensions[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Depth-first, names sorted per directory; symbolic links to directories are not
 * followed (no loops), hidden entries are skipped. Files that are not audio by their
 * extension go to `ignored` (when given). A subdirectory that cannot be read is reported
 * and skipped: one bad folder must not stop the indexing of the rest. */
static int scan_dir(const char *dir, int top, str_list *out, str_list *ignored) {
    DIR *d = opendir(dir);
    if (!d) {
        if (!top) {
            lm_audio_stderr_lock();
            fprintf(stderr, "leitmotif: warning: cannot read directory %s: %s; skipped\n", dir, strerror(errno));
            lm_audio_stderr_unlock();
            return 0;
        }
        lm_set_error("cannot read directory %s: %s", dir, strerror(errno));
        return -1;
    }
    str_list names = {0};
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') rc = list_push(&names, dup_str(e->d_name));
    closedir(d);
    if (names.n) qsort(names.items, names.n, sizeof *names.items, cmp_str);
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        char *path = join_path(dir, names.items[i]);
        struct stat lst, st;
        if (!path) {
            rc = -1;
        } else if (lstat(path, &lst) == 0 && S_ISDIR(lst.st_mode)) {
            rc = scan_dir(path, 0, out, ignored);
        } else if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && has_audio_extension(names.items[i])) {
            rc = list_push(out, path);
            path = NULL;
        } else if (ignored) {
            rc = list_push(ignored, path);
            path = NULL;
        }
        free(path);
    }
    lm_index_free_paths(names.items, names.n);
    return rc;
}

int lm_index_collect_ex(char *const *inputs, size_t n_inputs, char ***paths, size_t *n_paths, char ***ignored,
                        size_t *n_ignored) {
    str_list out = {0}, skipped = {0};
    int rc = 0;
    for (size_t i = 0; i < n_inputs && rc == 0; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0) {
            lm_set_error("%s: %s", inputs[i], strerror(errno));
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = scan_dir(inputs[i], 1, &out, ignored ? &skipped : NULL);
        } else {
            rc = list_push(&out, dup_str(inputs[i]));
        }
    }
    if (rc != 0) {
        lm_index_free_paths(out.items, out.n);
        lm_index_free_paths(skipped.items, skipped.n);
        return -1;
    }
    *paths = out.items;
    *n_paths = out.n;
    if (ignored) {
        *ignored = skipped.items;
        *n_ignored = skipped.n;
    }
    return 0;
}

int lm_index_collect(char *const *inputs, size_t n_inputs, char ***paths, size_t *n_paths) {
    return lm_index_collect_ex(inputs, n_inputs, paths, n_paths, NULL, NULL);
}

void lm_index_free_paths(char **paths, size_t n) {
    if (!paths) return;
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

char *lm_index_doc_id(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = (dot && dot != base) ? (size_t)(dot - base) : strlen(base);
    char *id = lm_malloc(n + 1, 1);
    if (id) {
        memcpy(id, base, n);
        id[n] = '\0';
    }
    return id;
}

/* ---------------------------------------------------------------- update */

typedef struct {
    char *id, *abs_path;
    const char *given_path;
    float *chroma;
    size_t T;
    double duration;
    double tuning; /* compensated deviation, semitones */
    int state; /* 0 to do, 1 computed, -1 failed, 2 already in the database, 3 repeated input,
                  4 skipped: id clash */
    int committed; /* format 2: in a committed segment (its features freed) */
    long replaces; /* replace: index of the document it replaces in the database, else -1 */
} job;

typedef struct {
    const char *db_path;
    const lm_db *existing;
    const lm_index_options *opt;
    job *jobs;
    size_t n_jobs;
    lm_index_stats *stats;
    lm_dbw *w; /* format 2: the writer (holds the lock); NULL: format 1 */
} update_ctx;

/* Name and checksum of the weights behind the features ("" and 0 for stft and bg1). */
static const char *weights_id(const lm_index_options *o) {
    if (o->type == LM_FEAT_CTC && o->model) return o->model->id;
    if (o->type == LM_FEAT_BITTNER && o->salience) return o->salience->id;
    return "";
}

static uint32_t weights_checksum(const lm_index_options *o) {
    if (o->type == LM_FEAT_CTC && o->model) return o->model->checksum;
    if (o->type == LM_FEAT_BITTNER && o->salience) return o->salience->checksum;
    return 0;
}

/* Format 2: the computed documents before the first one still to compute, as a new segment. */
static int commit_v2(update_ctx *c) {
    lm_db_doc *docs = lm_malloc(c->n_jobs ? c->n_jobs : 1, sizeof *docs);
    const char **gone = lm_malloc(c->n_jobs ? c->n_jobs : 1, sizeof *gone);
    if (!docs || !gone) {
        free(docs);
        free(gone);
        return -1;
    }
    const char *model_id = weights_id(c->opt);
    uint32_t checksum = weights_checksum(c->opt);
    size_t n = 0, n_gone = 0;
    for (size_t j = 0; j < c->n_jobs && c->jobs[j].state != 0; j++) {
        const job *jb = &c->jobs[j];
        if (jb->state != 1 || jb->committed) continue;
        docs[n++] = (lm_db_doc){.id = jb->id, .path = jb->abs_path, .model_id = model_id,
                                .duration = jb->duration, .type = c->opt->type,
                                .model_checksum = checksum, .T = jb->T, .chroma = jb->chroma,
                                .tuning = fabs(jb->tuning) < LM_TUNING_MIN_SEMITONES ? 0.0f : (float)jb->tuning};
        if (jb->replaces >= 0) gone[n_gone++] = jb->id;
    }
    int rc = n ? lm_dbw_commit(c->w, docs, n, gone, n_gone) : 0;
    if (rc == 0 && n) {
        c->stats->commits++;
        for (size_t j = 0; j < c->n_jobs && c->jobs[j].state != 0; j++) {
            job *jb = &c->jobs[j];
            if (jb->state != 1 || jb->committed) continue;
            jb->committed = 1;
            free(jb->chroma); /* on disk now: memory does not grow with the run */
            jb->chroma = NULL;
        }
    }
    free(docs);
    free(gone);
    return rc;
}

static int commit(update_ctx *c) {
    if (c->w) return commit_v2(c);
    size_t n_old = c->existing ? c->existing->n_docs : 0, n = 0;
    lm_db_doc *docs = lm_malloc(n_old + c->n_jobs, sizeof *docs);
    unsigned char *replaced = lm_calloc(n_old ? n_old : 1, 1);
    if (!docs || !replaced) {
        free(docs);
        free(replaced);
        return -1;
    }
    for (size_t j = 0; j < c->n_jobs; j++)
        if (c->jobs[j].state == 1 && c->jobs[j].replaces >= 0) replaced[c->jobs[j].replaces] = 1;
    for (size_t k = 0; k < n_old; k++)
        if (!replaced[k]) docs[n++] = c->existing->docs[k];
    free(replaced);
    const char *model_id = weights_id(c->opt);
    uint32_t checksum = weights_checksum(c->opt);
    for (size_t j = 0; j < c->n_jobs; j++) {
        const job *jb = &c->jobs[j];
        if (jb->state != 1) continue;
        docs[n++] = (lm_db_doc){.id = jb->id, .path = jb->abs_path, .model_id = model_id,
                                .duration = jb->duration, .type = c->opt->type,
                                .model_checksum = checksum, .T = jb->T, .chroma = jb->chroma,
                                .tuning = fabs(jb->tuning) < LM_TUNING_MIN_SEMITONES ? 0.0f : (float)jb->tuning};
    }
    int rc = lm_db_write_ex(c->db_path, c->opt->type, checksum, model_id, &c->opt->tuning, docs, n);
    free(docs);
    if (rc == 0) c->stats->commits++;
    return rc;
}

/* Job pointers by path, then by position (= input order), or by id then given path. */
static int cmp_job_ptr_path(const void *a, const void *b) {
    const job *x = *(job *const *)a, *y = *(job *const *)b;
    int c = strcmp(x->abs_path, y->abs_path);
    return c ? c : (x > y) - (x < y);
}
static int cmp_job_ptr_id(const void *a, const void *b) {
    const job *x = *(job *const *)a, *y = *(job *const *)b;
    int c = strcmp(x->id, y->id);
    if (!c) c = strcmp(x->given_path, y->given_path);
    return c ? c : (x > y) - (x < y);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lm_audio_stderr_lock();
    fputs("leitmotif: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    lm_audio_stderr_unlock();
    va_end(ap);
}

/* One warning per id shared by several inputs: group[0] is kept, the others are skipped. */
static void warn_clash(job **group, size_t n) {
    char list[2048] = "";
    size_t len = 0;
    for (size_t k = 1; k < n && len < sizeof list; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k > 1 ? ", " : "", group[k]->given_path);
    warn("%zu files have the document id '%s': indexing %s, skipping %s (ids are file names without extension; "
         "rename files to index them all)",
         n, group[0]->id, group[0]->given_path, list);
}

/* Resolves paths, drops repeats of the same file and inputs already in the database, and
 * rejects (or, with skip_id_clashes, skips) id clashes. Jobs keep the input order. */
static int plan_jobs(update_ctx *c, char *const *paths, size_t n_paths) {
    const int skip = c->opt->skip_id_clashes;
    c->jobs = lm_calloc(n_paths ? n_paths : 1, sizeof *c->jobs);
    if (!c->jobs) return -1;
    for (size_t i = 0; i < n_paths; i++) {
        char *abs = realpath(paths[i], NULL);
        if (!abs) {
            if (!skip) {
                lm_set_error("%s: %s", paths[i], strerror(errno));
                return -1;
            }
            /* Gone since it was listed: one bad input does not stop the others. */
            lm_audio_stderr_lock();
            fprintf(stderr, "leitmotif: skipping %s: %s\n", paths[i], strerror(errno));
            lm_audio_stderr_unlock();
            c->stats->failed++;
            continue;
        }
        job *jb = &c->jobs[c->n_jobs];
        jb->abs_path = abs;
        jb->given_path = paths[i];
        jb->id = lm_index_doc_id(paths[i]);
        if (!jb->id) return -1;
        c->n_jobs++;
        long k = c->existing ? lm_db_find(c->existing, jb->id) : -1;
        jb->replaces = -1;
        if (k >= 0 && c->opt->replace) {
            jb->replaces = k; /* recomputed; replaces the database's version once computed */
        } else if (k >= 0) {
            if (strcmp(c->existing->docs[k].path, abs) == 0) {
                jb->state = 2; /* already indexed */
            } else if (skip) {
                warn("document id '%s' of %s is already used in the database by %s; %s skipped (ids are file "
                     "names without extension; rename it to index it)",
                     jb->id, paths[i], c->existing->docs[k].path, paths[i]);
                jb->state = 4;
            } else {
                lm_set_error("document id '%s' of %s is already used in the database by %s (ids are file names "
                             "without extension and must be unique)",
                             jb->id, paths[i], c->existing->docs[k].path);
                return -1;
            }
        }
    }
    /* The same file named twice (e.g. directly and through its directory) counts once. */
    job **sorted = lm_malloc(c->n_jobs ? c->n_jobs : 1, sizeof *sorted);
    if (!sorted) return -1;
    for (size_t i = 0; i < c->n_jobs; i++) sorted[i] = &c->jobs[i];
    qsort(sorted, c->n_jobs, sizeof *sorted, cmp_job_ptr_path);
    for (size_t i = 1; i < c->n_jobs; i++)
        if (!strcmp(sorted[i - 1]->abs_path, sorted[i]->abs_path)) sorted[i]->state = 3;
    size_t n = 0;
    for (size_t i = 0; i < c->n_jobs; i++)
        if (c->jobs[i].state != 3 && c->jobs[i].state != 4) sorted[n++] = &c->jobs[i];
    job **by_id = sorted;
    qsort(by_id, n, sizeof *by_id, cmp_job_ptr_id);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i + 1;
        while (j < n && !strcmp(by_id[i]->id, by_id[j]->id)) j++;
        if (j - i > 1) {
            if (!skip) {
                lm_set_error("two inputs have the document id '%s': %s and %s (ids are file names without "
                             "extension and must be unique; rename one)",
                             by_id[i]->id, by_id[i]->given_path, by_id[i + 1]->given_path);
                rc = -1;
            } else {
                warn_clash(by_id + i, j - i);
                for (size_t k = i + 1; k < j; k++) by_id[k]->state = 4;
            }
        }
        i = j;
    }
    for (size_t i = 0; i < c->n_jobs; i++)
        if (c->jobs[i].state == 4) c->stats->clashes++;
    free(by_id);
    return rc;
}

static void free_jobs(update_ctx *c) {
    for (size_t i = 0; i < c->n_jobs; i++) {
        free(c->jobs[i].id);
        free(c->jobs[i].abs_path);
        free(c->jobs[i].chroma);
    }
    free(c->jobs);
}

static int update_locked(const char *db_path, const lm_db *existing, char *const *paths, size_t n_paths,
                         const lm_index_options *opt, lm_index_stats *stats, lm_dbw *w);

static int index_update(const char *db_path, const lm_db *existing, char *const *paths, size_t n_paths,
                        const lm_index_options *opt, lm_index_stats *stats);

int lm_index_update(const char *db_path, const lm_db *existing, char *const *paths, size_t n_paths,
                    const lm_index_options *opt, lm_index_stats *stats) {
    /* the features are computed at the precision the database records */
    enum lm_nn_precision before = lm_nn_precision_requested();
    lm_nn_set_precision(opt->nn_bf16 ? LM_NN_BF16 : LM_NN_FP32);
    int rc = index_update(db_path, existing, paths, n_paths, opt, stats);
    lm_nn_set_precision(before);
    return rc;
}

static int index_update(const char *db_path, const lm_db *existing, char *const *paths, size_t n_paths,
                        const lm_index_options *opt, lm_index_stats *stats) {
    memset(stats, 0, sizeof *stats);
    if (opt->nn_bf16 && opt->type != LM_FEAT_CTC) {
        lm_set_error("--nn-precision bf16 applies to ctc features only");
        return -1;
    }
    if (opt->nn_bf16 && !lm_nn_bf16_supported()) {
        lm_set_error("%s: bf16 features need a CPU with AVX512_BF16, which this one lacks", db_path);
        return -1;
    }
    if (existing ? existing->format == 1 : opt->format == 1) {
        if (opt->nn_bf16) {
            lm_set_error("%s: a format-1 database does not record the network precision (bf16 needs format 2)",
                         db_path);
            return -1;
        }
        if (opt->precision_set && opt->precision != LM_DB_F32) {
            lm_set_error("%s: a format-1 database stores float32 features only (%s needs format 2)", db_path,
                         lm_db_precision_name(opt->precision));
            return -1;
        }
        return update_locked(db_path, existing, paths, n_paths, opt, stats, NULL);
    }
    /* Format 2: lock, then read the database as it is under the lock. */
    lm_dbw w;
    if (lm_dbw_begin_ex(&w, db_path, opt->type, weights_checksum(opt), weights_id(opt), &opt->tuning,
                        opt->precision_set ? (int)opt->precision : -1) != 0)
        return -1;
    lm_dbw_set_nn_bf16(&w, opt->nn_bf16);
    lm_db now;
    const int had_db = w.exists;
    if (had_db && lm_db_open(db_path, &now) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        lm_dbw_end(&w);
        lm_set_error("%s", msg);
        return -1;
    }
    int rc = update_locked(db_path, had_db ? &now : NULL, paths, n_paths, opt, stats, &w);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", lm_last_error());
    if (had_db) lm_db_close(&now);
    lm_dbw_end(&w);
    if (rc != 0) lm_set_error("%s", msg);
    return rc;
}

/* What the loop over documents shares: progress and the time of the last commit. */
typedef struct {
    update_ctx *c;
    lm_progress progress;
    size_t n_todo, done;
    double last_commit;
    int commit_failed;
    char commit_error[1024];
} progress_ctx;

/* Counts a computed (rc == 0) or failed document, names a failure on stderr, and commits when
 * commit_interval has passed. One thread at a time (the caller's critical section). */
static void finish_doc(progress_ctx *pc, job *jb, int rc, const char *err, int partial) {
    update_ctx *c = pc->c;
    lm_index_stats *stats = c->stats;
    const lm_index_options *opt = c->opt;
    /* Other threads may be decoding MP3s with fd 2 redirected (audio.h). */
    lm_audio_stderr_lock();
    pc->done++;
    if (rc == 0 && jb->T > 0) {
        jb->state = 1;
        stats->added++;
        if (jb->replaces >= 0) stats->replaced++;
        if (partial) stats->partial++;
    } else {
        jb->state = -1;
        free(jb->chroma); /* (a peer's document of no frames) */
        jb->chroma = NULL;
        stats->failed++;
        if (pc->progress.enabled) fputc('\n', stderr);
        /* Audio errors usually name the file already. */
        if (rc && !strncmp(err, jb->given_path, strlen(jb->given_path)))
            fprintf(stderr, "leitmotif: skipping %s\n", err);
        else
            fprintf(stderr, "leitmotif: skipping %s: %s\n", jb->given_path, rc ? err : "no audio frames");
    }
    lm_progress_update(&pc->progress, pc->done);
    lm_audio_stderr_unlock(); /* not held while writing: decoders wait for it */
    if (!pc->commit_failed && opt->commit_interval > 0 && lm_now() - pc->last_commit >= opt->commit_interval &&
        stats->added > 0 && pc->done < pc->n_todo) {
        if (commit(c) != 0) {
            snprintf(pc->commit_error, sizeof pc->commit_error, "%s", lm_last_error());
#pragma omp atomic write
            pc->commit_failed = 1;
        }
        pc->last_commit = lm_now();
    }
}

static int update_locked(const char *db_path, const lm_db *existing, char *const *paths, size_t n_paths,
                         const lm_index_options *opt, lm_index_stats *stats, lm_dbw *w) {
    if (opt->type == LM_FEAT_CTC && !opt->model) {
        lm_set_error("ctc features need a model");
        return -1;
    }
    if (opt->type == LM_FEAT_BITTNER && !opt->salience) {
        lm_set_error("bittner features need the deep salience model");
        return -1;
    }
    uint32_t checksum = weights_checksum(opt);
    if (existing && (existing->type != opt->type || existing->model_checksum != checksum)) {
        if (existing->type != opt->type)
            lm_set_error("%s holds %s features, not %s: use another database file", db_path,
                         lm_feature_name(existing->type), lm_feature_name(opt->type));
        else {
            /* name the file of the database's model where one is kept (older defaults are
             * installed beside the default) */
            char file[4096] = "";
            const int found = lm_find_model_file(existing->model_id, existing->model_checksum, file, sizeof file) == 0;
            lm_set_error("%s was made with model '%s' (checksum %08x), not '%s' (checksum %08x): add to it with "
                         "--model %s, or use another database file",
                         db_path, existing->model_id, existing->model_checksum, weights_id(opt), checksum,
                         found ? file : "and that model's file");
        }
        return -1;
    }
    if (opt->type == LM_FEAT_STFT && opt->tuning.mode != LM_TUNING_OFF) {
        lm_set_error("stft features tune their own filter bank: index them with tuning off");
        return -1;
    }
    if (existing && (existing->tuning.mode != opt->tuning.mode || existing->tuning.semitones != opt->tuning.semitones)) {
        char want[32];
        snprintf(want, sizeof want, "%s", lm_tuning_name(&opt->tuning));
        lm_set_error("%s was made with tuning %s, not %s: add to it with the same --tuning, or use another database "
                     "file",
                     db_path, lm_tuning_name(&existing->tuning), want);
        return -1;
    }
    if (existing && existing->nn_bf16 != (opt->nn_bf16 != 0)) {
        lm_set_error("%s was made with --nn-precision %s, not %s: add to it with the same, or use another database file",
                     db_path, existing->nn_bf16 ? "bf16" : "fp32", opt->nn_bf16 ? "bf16" : "fp32");
        return -1;
    }
    stats->existing = existing ? existing->n_docs : 0;
    update_ctx c = {.db_path = db_path, .existing = existing, .opt = opt, .stats = stats, .w = w};
    if (plan_jobs(&c, paths, n_paths) != 0) {
        free_jobs(&c);
        return -1;
    }
    size_t *todo = lm_malloc(c.n_jobs ? c.n_jobs : 1, sizeof *todo), n_todo = 0;
    if (!todo) {
        free_jobs(&c);
        return -1;
    }
    for (size_t i = 0; i < c.n_jobs; i++) {
        if (c.jobs[i].state == 0) todo[n_todo++] = i;
        else if (c.jobs[i].state == 2) stats->kept++;
    }

    const lm_index_peers *peers = opt->peers;
    const size_t n_procs = peers && peers->n > 1 ? (size_t)peers->n : 1;
    if (n_procs > 1) { /* the peers learn their share before anything is computed */
        char **plan = lm_malloc(n_todo ? n_todo : 1, sizeof *plan);
        for (size_t t = 0; plan && t < n_todo; t++) plan[t] = (char *)c.jobs[todo[t]].given_path;
        int prc = plan ? peers->plan(peers->ctx, plan, n_todo) : -1;
        free(plan);
        if (prc != 0) {
            free(todo);
            free_jobs(&c);
            return -1;
        }
    }
    progress_ctx pc = {.c = &c, .n_todo = n_todo, .last_commit = lm_now()};
    lm_progress_start(&pc.progress, "index", n_todo);
    /* Documents in parallel, each computed on one thread (nested regions are off): on the
     * --small corpus with ctc features this took ~5% less CPU time than one document at a
     * time split over the threads, with the same wall time. With peers, this process computes
     * every n_procs-th document. */
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t t = 0; t < n_todo; t++) {
        if (t % n_procs != 0) continue;
        job *jb = &c.jobs[todo[t]];
        int skip;
#pragma omp atomic read
        skip = pc.commit_failed;
        if (skip) continue;
        int rc = lm_features_from_file_ex(jb->given_path, opt->type, opt->model, opt->salience, &opt->tuning,
                                          &jb->chroma, &jb->T, &jb->duration, &jb->tuning);
        int partial = rc == 0 && lm_audio_last_partial(); /* same thread as the decoding */
        char err[1024] = "";
        if (rc != 0) snprintf(err, sizeof err, "%s", lm_last_error());
#pragma omp critical(lm_index_commit)
        finish_doc(&pc, jb, rc, err, partial);
    }
    /* The peers' documents, in input order: every one is received (a failed commit drops them),
     * so that no peer is left waiting. */
    for (size_t t = 0; n_procs > 1 && t < n_todo; t++) {
        if (t % n_procs == 0) continue;
        job *jb = &c.jobs[todo[t]];
        lm_peer_doc pd = {0};
        if (peers->receive(peers->ctx, t, &pd) != 0) {
            if (!pc.commit_failed) snprintf(pc.commit_error, sizeof pc.commit_error, "%s", lm_last_error());
            pc.commit_failed = 1;
            continue;
        }
        if (pc.commit_failed) {
            free(pd.chroma);
            continue;
        }
        jb->chroma = pd.chroma, jb->T = pd.T, jb->duration = pd.duration, jb->tuning = pd.tuning;
        finish_doc(&pc, jb, pd.rc, pd.err, pd.partial);
    }
    lm_progress_end(&pc.progress);
    free(todo);

    int rc = 0;
    if (pc.commit_failed) {
        lm_set_error("%s", pc.commit_error);
        rc = -1;
    } else if (stats->added > 0) {
        rc = commit(&c);
    } else if (!existing) {
        lm_set_error(n_paths ? "no file could be indexed; %s not written" : "no audio files to index; %s not written",
                     db_path);
        rc = -1;
    }
    free_jobs(&c);
    return rc;
}
