/* Distributed runs on MPI (docs/distributed.md): process start-up, the collective steps of
 * lm_split, the distributed index (features computed everywhere, written by process 0) and the
 * merge of the search's per-process best matches. */
#include "dist/dist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "chroma/features.h"
#include "common/error.h"

#ifdef LM_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;

int lm_dist_rank(void) { return g_rank; }
int lm_dist_size(void) { return g_size; }

/* ---------------------------------------------------------------- MPI transport */
#ifdef LM_MPI
/* MPI counts are ints: bigger messages go in pieces of this many bytes. */
#define CHUNK ((size_t)1 << 30)

enum { TAG_GATHER = 1, TAG_DOC = 2, TAG_DOC_DATA = 3 };

static void send_bytes(const void *buf, size_t n, int to, int tag) {
    const char *p = buf;
    do { /* a zero-length message too, so that the receiver's count matches */
        size_t k = n < CHUNK ? n : CHUNK;
        MPI_Send(p, (int)k, MPI_BYTE, to, tag, MPI_COMM_WORLD);
        p += k, n -= k;
    } while (n > 0);
}

static void recv_bytes(void *buf, size_t n, int from, int tag) {
    char *p = buf;
    do {
        size_t k = n < CHUNK ? n : CHUNK;
        MPI_Recv(p, (int)k, MPI_BYTE, from, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        p += k, n -= k;
    } while (n > 0);
}

static void bcast_bytes(void *buf, size_t n) {
    for (size_t off = 0; off < n; off += CHUNK) MPI_Bcast((char *)buf + off, (int)(n - off < CHUNK ? n - off : CHUNK), MPI_BYTE, 0, MPI_COMM_WORLD);
}

static int mpi_or_bytes(void *ctx, void *buf, size_t n) {
    (void)ctx;
    for (size_t off = 0; off < n; off += CHUNK)
        MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off, (int)(n - off < CHUNK ? n - off : CHUNK), MPI_UNSIGNED_CHAR,
                      MPI_BOR, MPI_COMM_WORLD);
    return 0;
}

/* Point to point rather than MPI_Gatherv, whose int counts and displacements stop at 2 GB. */
static int mpi_gather(void *ctx, const void *mine, size_t n_mine, void **all, size_t *sizes) {
    (void)ctx;
    *all = NULL;
    if (g_rank != 0) {
        uint64_t n = n_mine;
        send_bytes(&n, sizeof n, 0, TAG_GATHER);
        send_bytes(mine, n_mine, 0, TAG_GATHER);
        return 0;
    }
    sizes[0] = n_mine;
    for (int q = 1; q < g_size; q++) {
        uint64_t n;
        recv_bytes(&n, sizeof n, q, TAG_GATHER);
        sizes[q] = (size_t)n;
    }
    size_t total = 0;
    for (int q = 0; q < g_size; q++) total += sizes[q];
    char *buf = lm_malloc(total ? total : 1, 1);
    if (!buf) { /* the others' bytes must still be taken: they are waiting */
        char sink[4096];
        for (int q = 1; q < g_size; q++)
            for (size_t left = sizes[q], first = 1; left > 0 || first; first = 0) {
                size_t k = left < CHUNK ? left : CHUNK;
                char *tmp = k <= sizeof sink ? sink : malloc(k);
                if (!tmp) MPI_Abort(MPI_COMM_WORLD, 1);
                MPI_Recv(tmp, (int)k, MPI_BYTE, q, TAG_GATHER, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                if (tmp != sink) free(tmp);
                left -= k;
            }
        return -1;
    }
    memcpy(buf, mine, n_mine);
    size_t off = n_mine;
    for (int q = 1; q < g_size; q++) {
        recv_bytes(buf + off, sizes[q], q, TAG_GATHER);
        off += sizes[q];
    }
    *all = buf;
    return 0;
}

static lm_split g_split;
static int g_mpi = 0;
#endif

/* One process: the gather of lm_dist_merge_matches is a copy. */
static int local_gather(const void *mine, size_t n_mine, void **all, size_t *sizes) {
    *all = lm_malloc(n_mine ? n_mine : 1, 1);
    if (!*all) return -1;
    memcpy(*all, mine, n_mine);
    sizes[0] = n_mine;
    return 0;
}

int lm_dist_init(int *argc, char ***argv) {
#ifdef LM_MPI
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK")) return 0;
    int provided;
    /* OpenMP threads compute; MPI is called from the main thread only. */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "leitmotif: cannot start MPI\n");
        return -1;
    }
    g_mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_split = (lm_split){.part = g_rank, .n_parts = g_size, .or_bytes = mpi_or_bytes, .gather = mpi_gather};
#else
    (void)argc, (void)argv;
#endif
    return 0;
}

void lm_dist_finalize(void) {
#ifdef LM_MPI
    if (g_mpi) MPI_Finalize();
    g_mpi = 0;
#endif
}

void lm_dist_abort(int rc) {
#ifdef LM_MPI
    if (g_mpi) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
#else
    (void)rc;
#endif
}

static int g_agreed = 0;
void lm_dist_fail_agreed(void) { g_agreed = 1; }
int lm_dist_failure_agreed(void) { return g_agreed; }

void lm_dist_barrier(void) {
#ifdef LM_MPI
    if (g_size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Barrier(MPI_COMM_WORLD);
    }
#endif
}

int lm_dist_all(int ok) {
    ok = ok != 0;
#ifdef LM_MPI
    if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
#endif
    return ok;
}

const lm_split *lm_dist_split(void) {
#ifdef LM_MPI
    if (g_size > 1) return &g_split;
#endif
    return NULL;
}

/* ---------------------------------------------------------------- index */

/* What process 0 tells the others before any work (same binary everywhere: sent as bytes). */
typedef struct {
    int32_t ok, type, tuning_mode;
    uint32_t checksum;
    double tuning_semitones;
} index_setup;

/* One computed document's header; its 12 x T features follow when rc == 0. */
typedef struct {
    int32_t rc, partial;
    uint64_t T;
    double duration, tuning;
    char err[1024];
} doc_header;

#ifdef LM_MPI
static int g_begun = 0, g_planned = 0;
static lm_index_peers g_peers;

/* The plan: a count (UINT64_MAX: none, the update failed first), then the paths as one
 * block of NUL-terminated strings. */
static void bcast_plan(char *const *paths, uint64_t n) {
    MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (n == UINT64_MAX) return;
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < n; i++) bytes += strlen(paths[i]) + 1;
    MPI_Bcast(&bytes, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    char *block = malloc(bytes ? bytes : 1);
    if (!block) MPI_Abort(MPI_COMM_WORLD, 1); /* the others wait for it */
    for (uint64_t i = 0, off = 0; i < n; i++) {
        size_t len = strlen(paths[i]) + 1;
        memcpy(block + off, paths[i], len);
        off += len;
    }
    bcast_bytes(block, bytes);
    free(block);
}

static int peers_plan(void *ctx, char *const *paths, size_t n) {
    (void)ctx;
    bcast_plan(paths, n);
    g_planned = 1;
    return 0;
}

static int peers_receive(void *ctx, size_t t, lm_peer_doc *out) {
    (void)ctx;
    int from = (int)(t % (size_t)g_size);
    doc_header h;
    recv_bytes(&h, sizeof h, from, TAG_DOC);
    memset(out, 0, sizeof *out);
    out->rc = h.rc;
    out->partial = h.partial;
    out->T = (size_t)h.T;
    out->duration = h.duration;
    out->tuning = h.tuning;
    memcpy(out->err, h.err, sizeof out->err);
    out->err[sizeof out->err - 1] = '\0';
    if (h.rc == 0 && h.T > 0) {
        out->chroma = malloc(12 * (size_t)h.T * sizeof *out->chroma);
        if (!out->chroma) MPI_Abort(MPI_COMM_WORLD, 1); /* the sender blocks until its data is taken */
        recv_bytes(out->chroma, 12 * (size_t)h.T * sizeof *out->chroma, from, TAG_DOC_DATA);
    }
    return 0;
}
#endif

void lm_dist_index_begin(lm_index_options *opt) {
#ifdef LM_MPI
    if (g_size <= 1 || g_begun) return;
    index_setup s = {.ok = 1, .type = (int32_t)opt->type, .tuning_mode = (int32_t)opt->tuning.mode,
                     .tuning_semitones = opt->tuning.semitones};
    s.checksum = opt->type == LM_FEAT_CTC && opt->model         ? opt->model->checksum
                 : opt->type == LM_FEAT_BITTNER && opt->salience ? opt->salience->checksum
                                                                 : 0;
    bcast_bytes(&s, sizeof s);
    g_begun = 1;
    g_peers = (lm_index_peers){.n = g_size, .plan = peers_plan, .receive = peers_receive};
    opt->peers = &g_peers;
#else
    (void)opt;
#endif
}

void lm_dist_index_end(void) {
#ifdef LM_MPI
    if (g_size <= 1) return;
    if (!g_begun) { /* stopped before the work: the others exit */
        index_setup s = {.ok = 0};
        bcast_bytes(&s, sizeof s);
    } else if (!g_planned) {
        bcast_plan(NULL, UINT64_MAX);
    }
    g_begun = g_planned = 1;
#endif
}

int lm_dist_index_worker(const char *model_path) {
#ifdef LM_MPI
    index_setup s;
    bcast_bytes(&s, sizeof s);
    if (!s.ok) return 0; /* process 0 stopped the run and said why */
    lm_feature_weights fw;
    enum lm_feature_type type = (enum lm_feature_type)s.type;
    if (lm_feature_weights_load(&fw, type, model_path) != 0) {
        fprintf(stderr, "leitmotif: process %d: %s\n", g_rank, lm_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1); /* process 0 would wait for its features */
    }
    if (lm_feature_weights_checksum(&fw) != s.checksum) {
        fprintf(stderr, "leitmotif: process %d: its model '%s' (checksum %08x) is not process 0's (checksum %08x): "
                        "give every process the same --model / LEITMOTIF_MODEL\n",
                g_rank, lm_feature_weights_id(&fw), lm_feature_weights_checksum(&fw), s.checksum);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    const lm_tuning tuning = {.mode = (enum lm_tuning_mode)s.tuning_mode, .semitones = s.tuning_semitones};
    uint64_t n, bytes;
    MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (n == UINT64_MAX) {
        lm_feature_weights_free(&fw);
        return 0;
    }
    MPI_Bcast(&bytes, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    char *block = malloc(bytes ? bytes : 1);
    size_t mine = n / (size_t)g_size + 1;
    const char **paths = malloc(mine * sizeof *paths);
    doc_header *h = calloc(mine, sizeof *h);
    float **chroma = calloc(mine, sizeof *chroma);
    if (!block || !paths || !h || !chroma) MPI_Abort(MPI_COMM_WORLD, 1);
    bcast_bytes(block, bytes);
    size_t m = 0; /* this process' share: documents t with t % size == rank */
    for (uint64_t t = 0, off = 0; t < n; t++) {
        if (t % (uint64_t)g_size == (uint64_t)g_rank) paths[m++] = block + off;
        off += strlen(block + off) + 1;
    }
    const lm_model *model = lm_feature_weights_chroma(&fw);
    const lm_salience_model *salience = lm_feature_weights_salience(&fw);
    /* All of the share first, then sent in order: process 0 takes the documents in input order
     * after its own share, so sending while computing would only wait. */
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < m; i++) {
        size_t T = 0;
        double duration = 0, tun = 0;
        int rc = lm_features_from_file_ex(paths[i], type, model, salience, &tuning, &chroma[i], &T, &duration, &tun);
        h[i].rc = rc;
        h[i].partial = rc == 0 && lm_audio_last_partial();
        h[i].T = rc == 0 ? T : 0;
        h[i].duration = duration;
        h[i].tuning = tun;
        if (rc != 0) snprintf(h[i].err, sizeof h[i].err, "%s", lm_last_error());
    }
    for (size_t i = 0; i < m; i++) {
        send_bytes(&h[i], sizeof h[i], 0, TAG_DOC);
        if (h[i].rc == 0 && h[i].T > 0) send_bytes(chroma[i], 12 * (size_t)h[i].T * sizeof **chroma, 0, TAG_DOC_DATA);
        free(chroma[i]);
    }
    free(chroma);
    free(h);
    free(paths);
    free(block);
    lm_feature_weights_free(&fw);
    return 0;
#else
    (void)model_path;
    lm_set_error("this leitmotif was built without MPI");
    return 1;
#endif
}

/* ---------------------------------------------------------------- search */

/* One match as sent: the process' matches, then their occurrences. */
typedef struct {
    uint64_t doc, start, end, n_occ;
    float distance;
    uint32_t variant;
    int32_t approx, pad;
} wire_match;
typedef struct {
    uint64_t start, end;
    float distance;
    uint32_t variant;
} wire_occ;
typedef struct {
    uint64_t n, ranked, n_occ;
} wire_head;

typedef struct {
    lm_match m;
    const wire_occ *occ;
    size_t n_occ;
} merged;

static int cmp_merged(const void *a, const void *b) { /* as lm_match_sort: distance, then document */
    const lm_match *x = &((const merged *)a)->m, *y = &((const merged *)b)->m;
    if (x->distance < y->distance) return -1;
    if (x->distance > y->distance) return 1;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

int lm_dist_merge_matches(const lm_match *m, const lm_dist_occ *occ, size_t n, size_t ranked, size_t keep,
                          lm_match **out, lm_dist_occ **out_occ, size_t *n_out, size_t *ranked_total) {
    *out = NULL, *out_occ = NULL, *n_out = 0, *ranked_total = 0;
    size_t n_occ = 0;
    for (size_t i = 0; occ && i < n; i++) n_occ += occ[i].n;
    size_t bytes = sizeof(wire_head) + n * sizeof(wire_match) + n_occ * sizeof(wire_occ);
    unsigned char *buf = lm_calloc(bytes, 1);
    if (!buf) return -1;
    *(wire_head *)buf = (wire_head){.n = n, .ranked = ranked, .n_occ = n_occ};
    wire_match *wm = (wire_match *)(buf + sizeof(wire_head));
    wire_occ *wo = (wire_occ *)(wm + n);
    for (size_t i = 0, o = 0; i < n; i++) {
        wm[i] = (wire_match){.doc = m[i].doc, .start = m[i].start, .end = m[i].end, .n_occ = occ ? occ[i].n : 0,
                             .distance = m[i].distance, .variant = m[i].variant, .approx = m[i].approx};
        for (size_t j = 0; occ && j < occ[i].n; j++, o++)
            wo[o] = (wire_occ){.start = occ[i].occ[j].start, .end = occ[i].occ[j].end,
                               .distance = occ[i].occ[j].distance, .variant = occ[i].occ[j].variant};
    }
    const lm_split *s = lm_dist_split();
    size_t parts = s ? (size_t)s->n_parts : 1, *sizes = lm_calloc(parts, sizeof *sizes);
    void *all = NULL;
    int rc = !sizes ? -1 : s ? s->gather(s->ctx, buf, bytes, &all, sizes) : local_gather(buf, bytes, &all, sizes);
    free(buf);
    if (rc != 0 || !all) { /* not process 0 (or an error): nothing to merge here */
        free(sizes);
        free(all);
        return rc;
    }
    size_t total = 0;
    for (size_t q = 0, off = 0; q < parts; off += sizes[q], q++) total += ((const wire_head *)((char *)all + off))->n;
    merged *mg = lm_malloc(total ? total : 1, sizeof *mg);
    if (!mg) rc = -1;
    for (size_t q = 0, off = 0, k = 0; rc == 0 && q < parts; off += sizes[q], q++) {
        const wire_head *h = (const wire_head *)((const char *)all + off);
        const wire_match *pm = (const wire_match *)(h + 1);
        const wire_occ *po = (const wire_occ *)(pm + h->n);
        *ranked_total += (size_t)h->ranked;
        for (size_t i = 0; i < h->n; i++, k++) {
            mg[k].m = (lm_match){.doc = (size_t)pm[i].doc, .distance = pm[i].distance, .start = (size_t)pm[i].start,
                                 .end = (size_t)pm[i].end, .variant = pm[i].variant, .approx = pm[i].approx};
            mg[k].occ = po, mg[k].n_occ = (size_t)pm[i].n_occ;
            po += pm[i].n_occ;
        }
    }
    if (rc == 0) {
        qsort(mg, total, sizeof *mg, cmp_merged);
        size_t n_keep = keep == 0 || keep > total ? total : keep;
        *out = lm_malloc(n_keep ? n_keep : 1, sizeof **out);
        *out_occ = occ ? lm_calloc(n_keep ? n_keep : 1, sizeof **out_occ) : NULL;
        if (!*out || (occ && !*out_occ)) rc = -1;
        for (size_t i = 0; rc == 0 && i < n_keep; i++) {
            (*out)[i] = mg[i].m;
            if (!occ) continue;
            lm_occurrence *oc = lm_malloc(mg[i].n_occ ? mg[i].n_occ : 1, sizeof *oc);
            if (!oc) {
                rc = -1;
                break;
            }
            for (size_t j = 0; j < mg[i].n_occ; j++)
                oc[j] = (lm_occurrence){.distance = mg[i].occ[j].distance, .start = (size_t)mg[i].occ[j].start,
                                        .end = (size_t)mg[i].occ[j].end, .variant = mg[i].occ[j].variant};
            (*out_occ)[i] = (lm_dist_occ){oc, mg[i].n_occ};
        }
        if (rc == 0) *n_out = n_keep;
        else {
            for (size_t i = 0; *out_occ && i < n_keep; i++) free((*out_occ)[i].occ);
            free(*out), free(*out_occ);
            *out = NULL, *out_occ = NULL;
        }
    }
    free(mg);
    free(all);
    free(sizes);
    return rc;
}
