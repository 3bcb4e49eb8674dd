/* Feature database format 2 (docs/database.md): writer commits, tombstones, compaction, the
 * writer lock, readers during writes, lazy checksum verification, damage in the manifest and in
 * segments, and the upgrade of format 1 with bit-identical features. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "index/db.h"
#include "index/le_bytes.h"
#include "nn/model.h"
#include "index/search.h"
#include "testutil.h"

#define NDOC 8
typedef struct {
    lm_db_doc docs[NDOC];
    float *chroma[NDOC];
    char ids[NDOC][16], paths[NDOC][32];
} docset;

static void make_docs(docset *s, unsigned seed) {
    for (int i = 0; i < NDOC; i++) {
        size_t T = 20 + 7 * (size_t)i;
        snprintf(s->ids[i], sizeof s->ids[i], "doc%d", i);
        snprintf(s->paths[i], sizeof s->paths[i], "/music/doc%d.flac", i);
        s->chroma[i] = lm_test_chroma(T, seed + (unsigned)i, 0.01f);
        s->docs[i] = (lm_db_doc){.id = s->ids[i], .path = s->paths[i], .model_id = "", .duration = 0.04 * (double)T,
                                 .type = LM_FEAT_STFT, .model_checksum = 0, .T = T, .chroma = s->chroma[i]};
    }
}

static void free_docs(docset *s) {
    for (int i = 0; i < NDOC; i++) free(s->chroma[i]);
}

/* The ids of an open database, joined by spaces. */
static void ids_of(const lm_db *db, char *out, size_t cap) {
    out[0] = '\0';
    size_t len = 0;
    for (size_t k = 0; k < db->n_docs; k++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", k ? " " : "", db->docs[k].id);
}

static void expect_ids(const char *path, const char *want) {
    lm_db db;
    if (lm_db_open(path, &db) != 0) fail_msg("open %s: %s", path, lm_last_error());
    assert_int_equal(db.format, 2);
    char got[1024];
    ids_of(&db, got, sizeof got);
    if (strcmp(got, want)) fail_msg("%s holds '%s', want '%s'", path, got, want);
    /* every live id is found where it is, over all segments; a hidden or unknown one is not */
    for (size_t k = 0; k < db.n_docs; k++) assert_int_equal(lm_db_find(&db, db.docs[k].id), (long)k);
    assert_int_equal(lm_db_find(&db, "no such recording"), -1);
    assert_int_equal(lm_db_find(&db, ""), -1);
    if (!strstr(want, "doc0")) assert_int_equal(lm_db_find(&db, "doc0"), -1);
    assert_int_equal(lm_db_verify_all(&db), 0);
    lm_db_close(&db);
}

static void expect_open_error(const char *path, const char *fragment) {
    lm_db db;
    lm_clear_error();
    assert_int_equal(lm_db_open(path, &db), -1);
    const char *msg = lm_last_error();
    if (!strstr(msg, fragment)) fail_msg("error '%s' does not mention '%s'", msg, fragment);
    if (!strstr(msg, path)) fail_msg("error '%s' does not name %s", msg, path);
    assert_null(strchr(msg, '\n'));
    assert_null(db.docs);
}

static void commit_docs(const char *path, const lm_db_doc *docs, size_t n, const char *const *gone, size_t n_gone) {
    lm_dbw w;
    if (lm_dbw_begin(&w, path, LM_FEAT_STFT, 0, "", NULL) != 0) fail_msg("begin: %s", lm_last_error());
    if (lm_dbw_commit(&w, docs, n, gone, n_gone) != 0) fail_msg("commit: %s", lm_last_error());
    lm_dbw_end(&w);
}

/* The manifest and first segment of the format-2 database at db: paths into mp / sp (700 bytes
 * each) and contents (malloc'd). */
static void read_db_files(const char *db, char *mp, char *sp, unsigned char **m, size_t *nm, unsigned char **sg,
                          size_t *ns) {
    snprintf(mp, 700, "%s/MANIFEST", db);
    snprintf(sp, 700, "%s/seg-0000000001.lmseg", db);
    *m = (unsigned char *)lm_read_file(mp, nm);
    *sg = (unsigned char *)lm_read_file(sp, ns);
    assert_non_null(*m);
    assert_non_null(*sg);
}

static void test_commits_tombstones_compact(void **state) {
    (void)state;
    docset s;
    make_docs(&s, 1);
    const char *path = lm_test_tmp_path("db2");
    commit_docs(path, s.docs, 3, NULL, 0);
    commit_docs(path, s.docs + 3, 2, NULL, 0);
    expect_ids(path, "doc0 doc1 doc2 doc3 doc4");
    lm_db db;
    assert_int_equal(lm_db_open(path, &db), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(db.docs[i].T, s.docs[i].T);
        assert_string_equal(db.docs[i].path, s.docs[i].path);
        assert_true(db.docs[i].duration == s.docs[i].duration);
        assert_int_equal(((uintptr_t)db.docs[i].chroma) % 64, 0);
        assert_int_equal(lm_db_verify_doc(&db, (size_t)i), 0);
        assert_memory_equal(db.docs[i].chroma, s.chroma[i], 12 * s.docs[i].T * sizeof(float));
        assert_int_equal(lm_db_find(&db, s.ids[i]), i);
    }
    size_t segs, tombs, hidden;
    unsigned long long gen;
    lm_db_stats(&db, &segs, &tombs, &hidden, &gen);
    assert_int_equal(segs, 2);
    assert_int_equal(tombs, 0);
    assert_int_equal(gen, 2);
    lm_db_close(&db);

    /* An id that is live cannot be added again without replacing it (nothing written). */
    lm_dbw w0;
    assert_int_equal(lm_dbw_begin(&w0, path, LM_FEAT_STFT, 0, "", NULL), 0);
    lm_clear_error();
    assert_int_equal(lm_dbw_commit(&w0, &s.docs[2], 1, NULL, 0), -1);
    assert_non_null(strstr(lm_last_error(), "document id 'doc2' is already in the database"));
    lm_dbw_end(&w0);
    expect_ids(path, "doc0 doc1 doc2 doc3 doc4");

    /* Remove doc1; replace doc3 with other features (new segment + tombstone). */
    const char *gone1[] = {"doc1"};
    commit_docs(path, NULL, 0, gone1, 1);
    expect_ids(path, "doc0 doc2 doc3 doc4");
    lm_db_doc repl = s.docs[3];
    float *other = lm_test_chroma(repl.T, 99, 0.01f);
    repl.chroma = other;
    const char *gone3[] = {"doc3"};
    commit_docs(path, &repl, 1, gone3, 1);
    expect_ids(path, "doc0 doc2 doc4 doc3");
    /* doc1 can come back in a later segment. */
    commit_docs(path, &s.docs[1], 1, NULL, 0);
    expect_ids(path, "doc0 doc2 doc4 doc3 doc1");
    assert_int_equal(lm_db_open(path, &db), 0);
    lm_db_stats(&db, &segs, &tombs, &hidden, &gen);
    assert_int_equal(segs, 4);
    assert_int_equal(tombs, 2);
    assert_int_equal(hidden, 2);
    assert_memory_equal(db.docs[lm_db_find(&db, "doc3")].chroma, other, 12 * repl.T * sizeof(float));
    lm_db_close(&db);

    /* Compaction: one segment, no tombstones, same documents and features, old files gone. */
    lm_dbw w;
    assert_int_equal(lm_dbw_begin(&w, path, LM_FEAT_STFT, 0, "", NULL), 0);
    size_t before, after;
    assert_int_equal(lm_dbw_compact(&w, &before, &after), 0);
    assert_int_equal(before, 4);
    assert_int_equal(after, 1);
    lm_dbw_end(&w);
    expect_ids(path, "doc0 doc2 doc4 doc3 doc1");
    assert_int_equal(lm_db_open(path, &db), 0);
    lm_db_stats(&db, &segs, &tombs, &hidden, &gen);
    assert_int_equal(segs, 1);
    assert_int_equal(tombs, 0);
    assert_int_equal(hidden, 0);
    assert_memory_equal(db.docs[3].chroma, other, 12 * repl.T * sizeof(float));
    assert_memory_equal(db.docs[4].chroma, s.chroma[1], 12 * s.docs[1].T * sizeof(float));
    lm_db_close(&db);
    char **names;
    int n = lm_list_dir(path, &names);
    assert_int_equal(n, 3); /* LOCK, MANIFEST, one segment */
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);

    /* Removing everything leaves a valid empty database; compacting it leaves no segment. */
    const char *all[] = {"doc0", "doc2", "doc4", "doc3", "doc1"};
    commit_docs(path, NULL, 0, all, 5);
    expect_ids(path, "");
    assert_int_equal(lm_dbw_begin(&w, path, LM_FEAT_STFT, 0, "", NULL), 0);
    assert_int_equal(lm_dbw_compact(&w, &before, &after), 0);
    assert_int_equal(after, 0);
    lm_dbw_end(&w);
    expect_ids(path, "");
    free(other);
    free_docs(&s);
}

static void test_writer_rejects(void **state) {
    (void)state;
    docset s;
    make_docs(&s, 2);
    const char *path = lm_test_tmp_path("rej");
    lm_dbw w;
    /* Nothing is written until the first commit. */
    assert_int_equal(lm_dbw_begin(&w, path, LM_FEAT_STFT, 0, "", NULL), 0);
    lm_dbw_end(&w);
    assert_false(lm_file_exists(path));
    /* Duplicate ids or other feature types in a commit: error, nothing written. */
    assert_int_equal(lm_dbw_begin(&w, path, LM_FEAT_STFT, 0, "", NULL), 0);
    lm_db_doc two[2] = {s.docs[0], s.docs[0]};
    lm_clear_error();
    assert_int_equal(lm_dbw_commit(&w, two, 2, NULL, 0), -1);
    assert_non_null(strstr(lm_last_error(), "duplicate document id 'doc0'"));
    two[1] = s.docs[1];
    two[1].type = LM_FEAT_CTC;
    assert_int_equal(lm_dbw_commit(&w, two, 2, NULL, 0), -1);
    lm_dbw_end(&w);
    assert_false(lm_file_exists(path));
    char stale[600];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)getpid());
    assert_false(lm_file_exists(stale));
    /* A format-1 file is not written by the format-2 writer. */
    const char *v1 = lm_test_tmp_path("v1.lmdb");
    assert_int_equal(lm_db_write(v1, LM_FEAT_STFT, 0, "", s.docs, 2), 0);
    lm_clear_error();
    assert_int_equal(lm_dbw_begin(&w, v1, LM_FEAT_STFT, 0, "", NULL), -1);
    assert_non_null(strstr(lm_last_error(), "leitmotif upgrade"));
    free_docs(&s);
}

/* A second writer (another process: flock locks belong to open files) gets a clear error. */
static void test_second_writer(void **state) {
    (void)state;
    docset s;
    make_docs(&s, 3);
    const char *path = lm_test_tmp_path("locked");
    commit_docs(path, s.docs, 2, NULL, 0);
    lm_dbw w;
    assert_int_equal(lm_dbw_begin(&w, path, LM_FEAT_STFT, 0, "", NULL), 0);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lm_dbw w2;
        int rc = lm_dbw_begin(&w2, path, LM_FEAT_STFT, 0, "", NULL);
        const char *msg = lm_last_error();
        if (write(pipefd[1], msg, strlen(msg) + 1) < 0) _exit(3);
        _exit(rc == -1 ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char msg[1024] = "";
    assert_true(read(pipefd[0], msg, sizeof msg - 1) > 0);
    close(pipefd[0]);
    close(pipefd[1]);
    char want[64];
    snprintf(want, sizeof want, "another process (pid %ld) is writing", (long)getpid());
    if (!strstr(msg, want) || !strstr(msg, path) || strchr(msg, '\n'))
        fail_msg("second writer's error: '%s'", msg);
    /* The first writer goes on; after it ends, another one may write. */
    assert_int_equal(lm_dbw_commit(&w, s.docs + 2, 1, NULL, 0), 0);
    lm_dbw_end(&w);
    commit_docs(path, s.docs + 3, 1, NULL, 0);
    expect_ids(path, "doc0 doc1 doc2 doc3");
    free_docs(&s);
}

/* A reader keeps the state it opened while writers commit and compact (segments are immutable,
 * mappings outlive unlinks); a new reader sees the new state. */
static void test_reader_during_write(void **state) {
    (void)state;
    docset s;
    make_docs(&s, 4);
    const char *path = lm_test_tmp_path("rw");
    commit_docs(path, s.docs, 2, NULL, 0);
    commit_docs(path, s.docs + 2, 2, NULL, 0);
    lm_db old;
    assert_int_equal(lm_db_open(path, &old), 0);
    const char *gone[] = {"doc0"};
    commit_docs(path, s.docs + 4, 2, gone, 1);
    lm_dbw w;
    assert_int_equal(lm_dbw_begin(&w, path, LM_FEAT_STFT, 0, "", NULL), 0);
    assert_int_equal(lm_dbw_compact(&w, NULL, NULL), 0);
    lm_dbw_end(&w);
    /* The old reader: its four documents, features intact although their files are deleted. */
    char got[256];
    ids_of(&old, got, sizeof got);
    assert_string_equal(got, "doc0 doc1 doc2 doc3");
    assert_int_equal(lm_db_verify_all(&old), 0);
    for (int i = 0; i < 4; i++) assert_memory_equal(old.docs[i].chroma, s.chroma[i], 12 * s.docs[i].T * sizeof(float));
    lm_db_close(&old);
    expect_ids(path, "doc1 doc2 doc3 doc4 doc5");
    free_docs(&s);
}

/* Segment damage is found when the features are first read, and named; opening stays cheap. */
static void test_damaged_segment(void **state) {
    (void)state;
    docset s;
    make_docs(&s, 5);
    const char *path = lm_test_tmp_path("damaged");
    commit_docs(path, s.docs, 2, NULL, 0);
    commit_docs(path, s.docs + 2, 2, NULL, 0);
    char seg[700];
    snprintf(seg, sizeof seg, "%s/seg-0000000002.lmseg", path);
    size_t n;
    unsigned char *bytes = (unsigned char *)lm_read_file(seg, &n);
    assert_non_null(bytes);
    int fd = open(seg, O_WRONLY);
    assert_true(fd >= 0);
    unsigned char b = bytes[n - 100] ^ 0x04; /* in doc3's coarse features */
    assert_int_equal(pwrite(fd, &b, 1, (off_t)(n - 100)), 1);
    lm_db db;
    assert_int_equal(lm_db_open(path, &db), 0); /* the directory is intact */
    assert_int_equal(lm_db_verify_doc(&db, 0), 0); /* segment 1 is */
    lm_clear_error();
    assert_int_equal(lm_db_verify_doc(&db, 3), -1);
    assert_non_null(strstr(lm_last_error(), "segment seg-0000000002.lmseg is damaged"));
    assert_int_equal(lm_db_verify_all(&db), -1);
    float q[12 * 3] = {0};
    for (int t = 0; t < 3; t++) q[t] = 1;
    lm_match m[4];
    lm_clear_error();
    assert_int_equal(lm_search_all(&db, q, 3, m, 1), -1); /* a search never ranks damaged features */
    assert_non_null(strstr(lm_last_error(), "seg-0000000002.lmseg"));
    assert_int_equal(lm_db_check(&db, path, NULL), 1);
    lm_db_close(&db);
    /* Every flipped bit of a segment is found: by the open (header, directory) or the check. */
    assert_int_equal(pwrite(fd, &bytes[n - 100], 1, (off_t)(n - 100)), 1);
    for (size_t at = 0; at < n; at += 7) {
        unsigned char f = bytes[at] ^ (unsigned char)(1u << (at % 8));
        assert_int_equal(pwrite(fd, &f, 1, (off_t)at), 1);
        if (lm_db_open(path, &db) == 0) {
            if (lm_db_check(&db, path, NULL) != 1) fail_msg("flipped bit at byte %zu of the segment not found", at);
            lm_db_close(&db);
        } else if (!strstr(lm_last_error(), "seg-0000000002.lmseg")) {
            fail_msg("error does not name the segment: %s", lm_last_error());
        }
        assert_int_equal(pwrite(fd, &bytes[at], 1, (off_t)at), 1);
    }
    close(fd);
    assert_int_equal(lm_db_open(path, &db), 0);
    assert_int_equal(lm_db_check(&db, path, NULL), 0);
    lm_db_close(&db);
    /* A truncated or missing segment: the open names it. */
    assert_int_equal(truncate(seg, (off_t)(n - 64)), 0);
    expect_open_error(path, "seg-0000000002.lmseg is");
    assert_int_equal(unlink(seg), 0);
    expect_open_error(path, "segment seg-0000000002.lmseg is missing");
    free(bytes);
    free_docs(&s);
}

static void write_plain(const char *path, const void *bytes, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* Truncated, garbage, bit-flipped or missing manifests: a one-line error, never a database. */
static void test_damaged_manifest(void **state) {
    (void)state;
    docset s;
    make_docs(&s, 6);
    const char *path = lm_test_tmp_path("mani");
    commit_docs(path, s.docs, 3, NULL, 0);
    const char *gone[] = {"doc1"};
    commit_docs(path, NULL, 0, gone, 1);
    char mp[700];
    snprintf(mp, sizeof mp, "%s/MANIFEST", path);
    size_t n;
    unsigned char *bytes = (unsigned char *)lm_read_file(mp, &n);
    assert_non_null(bytes);
    assert_int_equal(lm_db2_fuzz_manifest(bytes, n), 0); /* parses and writes back identically */
    for (size_t len = 0; len < n; len++) {
        write_plain(mp, bytes, len);
        lm_db db;
        lm_clear_error();
        if (lm_db_open(path, &db) == 0) fail_msg("manifest cut to %zu of %zu bytes was accepted", len, n);
        assert_null(strchr(lm_last_error(), '\n'));
        assert_non_null(strstr(lm_last_error(), path));
    }
    write_plain(mp, bytes, 100);
    expect_open_error(path, "the manifest is truncated");
    write_plain(mp, bytes, n - 8);
    expect_open_error(path, "truncated or damaged");
    write_plain(mp, bytes, 0);
    expect_open_error(path, "the manifest is empty");
    write_plain(mp, "garbage garbage garbage garbage", 31);
    expect_open_error(path, "not a leitmotif manifest");
    for (size_t at = 0; at < n; at++) {
        bytes[at] ^= (unsigned char)(1u << (at % 8));
        write_plain(mp, bytes, n);
        lm_db db;
        if (lm_db_open(path, &db) == 0) fail_msg("flipped bit at byte %zu of the manifest was not detected", at);
        bytes[at] ^= (unsigned char)(1u << (at % 8));
    }
    unlink(mp);
    expect_open_error(path, "not a leitmotif database");
    write_plain(mp, bytes, n);
    expect_ids(path, "doc0 doc2");
    free(bytes);
    free_docs(&s);
}

static void test_upgrade(void **state) {
    (void)state;
    docset s;
    make_docs(&s, 7);
    const char *v1 = lm_test_tmp_path("old.lmdb"), *v2 = lm_test_tmp_path("new.lmdb");
    assert_int_equal(lm_db_write(v1, LM_FEAT_STFT, 0, "", s.docs, NDOC), 0);
    assert_int_equal(lm_db_path_format(v1), 1);
    assert_int_equal(lm_db_upgrade(v1, v2), 0);
    assert_int_equal(lm_db_path_format(v2), 2);
    lm_db a, b;
    assert_int_equal(lm_db_open(v1, &a), 0);
    assert_int_equal(lm_db_open(v2, &b), 0);
    assert_int_equal(a.format, 1);
    assert_int_equal(b.format, 2);
    assert_int_equal(a.n_docs, b.n_docs);
    assert_int_equal(a.total_frames, b.total_frames);
    assert_int_equal(lm_db_verify_all(&b), 0);
    for (size_t k = 0; k < a.n_docs; k++) {
        assert_string_equal(a.docs[k].id, b.docs[k].id);
        assert_string_equal(a.docs[k].path, b.docs[k].path);
        assert_true(a.docs[k].duration == b.docs[k].duration);
        assert_int_equal(a.docs[k].T, b.docs[k].T);
        assert_memory_equal(a.docs[k].chroma, b.docs[k].chroma, 12 * a.docs[k].T * sizeof(float));
    }
    /* Same ranking, same distances. */
    float q[12 * 5] = {0};
    for (int t = 0; t < 5; t++) q[(t % 12) * 5 + t] = 1;
    lm_match ma[NDOC], mb[NDOC];
    assert_int_equal(lm_search_all(&a, q, 5, ma, 1), 0);
    assert_int_equal(lm_search_all(&b, q, 5, mb, 1), 0);
    for (int k = 0; k < NDOC; k++) {
        assert_int_equal(ma[k].doc, mb[k].doc);
        assert_true(ma[k].distance == mb[k].distance);
        assert_int_equal(ma[k].end, mb[k].end);
    }
    lm_db_close(&a);
    lm_db_close(&b);
    lm_clear_error();
    assert_int_equal(lm_db_upgrade(v1, v2), -1); /* never over an existing database */
    assert_non_null(strstr(lm_last_error(), "already exists"));
    free_docs(&s);
}

/* Compact databases (precision u8): the round trip quantise -> dequantise, a compact database
 * made by the writer and by conversion (upgrade, compact --precision) ranking like float32,
 * the precision kept by later commits, a mismatching one refused, an unknown one refused. */
static void test_quantise_round_trip(void **state) {
    (void)state;
    float x[1000], y[1000];
    uint8_t q[1000];
    for (int i = 0; i < 1000; i++) x[i] = (float)i / 999.0f;
    lm_quantise_u8(x, 1000, LM_DB_U8_SCALE, q);
    lm_dequantise_u8(q, 1000, LM_DB_U8_SCALE, y);
    for (int i = 0; i < 1000; i++) assert_true(fabsf(x[i] - y[i]) <= 0.5f * LM_DB_U8_SCALE + 1e-7f);
    assert_int_equal(q[0], 0);
    assert_int_equal(q[999], 255);
    const float odd[4] = {-0.5f, 2.0f, NAN, 1.0f / 255.0f};
    lm_quantise_u8(odd, 4, LM_DB_U8_SCALE, q); /* clamped; NaN is 0 */
    assert_int_equal(q[0], 0);
    assert_int_equal(q[1], 255);
    assert_int_equal(q[2], 0);
    assert_int_equal(q[3], 1);
    assert_int_equal(lm_db_precision_parse("u8"), LM_DB_U8);
    assert_int_equal(lm_db_precision_parse("f32"), LM_DB_F32);
    assert_int_equal(lm_db_precision_parse("int4"), -1);
}

/* Ranks of a one-hot query (doc 5's pitch classes) in an open database. */
static void rank_all(const char *path, enum lm_db_precision want, lm_match *out) {
    lm_db db;
    if (lm_db_open(path, &db) != 0) fail_msg("open %s: %s", path, lm_last_error());
    assert_int_equal(db.precision, want);
    float q[12 * 6] = {0};
    for (int t = 0; t < 6; t++) q[(t * 5 % 12) * 6 + t] = 1;
    assert_int_equal(lm_search_all(&db, q, 6, out, 1), 0);
    lm_match_sort(out, db.n_docs);
    lm_search_locate(&db, q, 6, out, db.n_docs);
    for (size_t k = 0; k < db.n_docs; k++) {
        const lm_db_doc *d = &db.docs[k];
        assert_true(want == LM_DB_U8 ? d->chroma_u8 && !d->chroma : d->chroma && !d->chroma_u8);
    }
    lm_db_close(&db);
}

static void test_compact_database(void **state) {
    (void)state;
    docset s;
    make_docs(&s, 9);
    const char *f32 = lm_test_tmp_path("c_f32"), *u8 = lm_test_tmp_path("c_u8"), *up = lm_test_tmp_path("c_up"), *v1 = lm_test_tmp_path("c_v1.lmdb");
    commit_docs(f32, s.docs, NDOC, NULL, 0);
    lm_dbw w;
    assert_int_equal(lm_dbw_begin_ex(&w, u8, LM_FEAT_STFT, 0, "", NULL, LM_DB_U8), 0);
    assert_int_equal(lm_dbw_commit(&w, s.docs, 5, NULL, 0), 0);
    lm_dbw_end(&w);
    commit_docs(u8, s.docs + 5, NDOC - 5, NULL, 0); /* a later writer keeps u8 */
    lm_clear_error();
    assert_int_equal(lm_dbw_begin_ex(&w, u8, LM_FEAT_STFT, 0, "", NULL, LM_DB_F32), -1);
    assert_non_null(strstr(lm_last_error(), "compact"));
    assert_null(strchr(lm_last_error(), '\n'));
    expect_ids(u8, "doc0 doc1 doc2 doc3 doc4 doc5 doc6 doc7");

    /* a quarter of the feature bytes; the values are the quantised ones */
    lm_db db;
    assert_int_equal(lm_db_open(u8, &db), 0);
    for (size_t k = 0; k < db.n_docs; k++) {
        float *own = NULL;
        const float *x = lm_db_doc_features(&db.docs[k], &own);
        assert_non_null(own);
        for (size_t i = 0; i < 12 * db.docs[k].T; i++)
            assert_true(fabsf(x[i] - s.chroma[k][i]) <= 0.5f * LM_DB_U8_SCALE + 1e-7f);
        free(own);
    }
    lm_db_close(&db);

    lm_match a[NDOC], b[NDOC];
    rank_all(f32, LM_DB_F32, a);
    rank_all(u8, LM_DB_U8, b);
    for (int k = 0; k < NDOC; k++) { /* same order, distances within the bound of sdtw.h */
        assert_int_equal(a[k].doc, b[k].doc);
        assert_true(fabsf(a[k].distance - b[k].distance) <= 0.5f * LM_DB_U8_SCALE + 1e-5f);
    }
    assert_int_equal(a[0].start, b[0].start);
    assert_int_equal(a[0].end, b[0].end);

    /* conversions: format 1 -> u8 (upgrade), f32 -> u8 -> f32 in place (compact) */
    assert_int_equal(lm_db_write(v1, LM_FEAT_STFT, 0, "", s.docs, NDOC), 0);
    assert_int_equal(lm_db_upgrade_ex(v1, up, LM_DB_U8), 0);
    rank_all(up, LM_DB_U8, b);
    for (int k = 0; k < NDOC; k++) assert_int_equal(a[k].doc, b[k].doc);
    assert_int_equal(lm_dbw_begin(&w, f32, LM_FEAT_STFT, 0, "", NULL), 0);
    size_t before, after;
    assert_int_equal(lm_dbw_compact_ex(&w, LM_DB_U8, &before, &after), 0); /* one segment, rewritten */
    lm_dbw_end(&w);
    assert_int_equal(after, 1);
    lm_match c[NDOC];
    rank_all(f32, LM_DB_U8, c);
    for (int k = 0; k < NDOC; k++) { /* the same bytes as the upgrade's: the same results */
        assert_int_equal(b[k].doc, c[k].doc);
        assert_true(b[k].distance == c[k].distance && b[k].end == c[k].end && b[k].start == c[k].start);
    }
    assert_int_equal(lm_dbw_begin(&w, f32, LM_FEAT_STFT, 0, "", NULL), 0);
    assert_int_equal(lm_dbw_compact_ex(&w, LM_DB_F32, NULL, NULL), 0);
    lm_dbw_end(&w);
    rank_all(f32, LM_DB_F32, c);
    for (int k = 0; k < NDOC; k++) {
        assert_int_equal(b[k].doc, c[k].doc);
        assert_true(b[k].distance == c[k].distance); /* the u8 values, as float32 */
    }
    free_docs(&s);
}

/* A precision this build does not know (a newer leitmotif's) is refused in one line; so is a
 * segment whose precision disagrees with the manifest. Older builds refuse u8 databases the same
 * way: the field was reserved (zero) there. */
static void test_unknown_precision(void **state) {
    (void)state;
    docset s;
    make_docs(&s, 10);
    const char *path = lm_test_tmp_path("prec");
    lm_dbw w;
    assert_int_equal(lm_dbw_begin_ex(&w, path, LM_FEAT_STFT, 0, "", NULL, LM_DB_U8), 0);
    assert_int_equal(lm_dbw_commit(&w, s.docs, 3, NULL, 0), 0);
    lm_dbw_end(&w);
    char mp[700];
    snprintf(mp, sizeof mp, "%s/MANIFEST", path);
    size_t n;
    unsigned char *bytes = (unsigned char *)lm_read_file(mp, &n);
    assert_non_null(bytes);
    assert_int_equal(bytes[264], LM_DB_U8); /* docs/database.md: manifest offset 264 */
    bytes[264] = 7;
    put_u32(bytes + 316, lm_crc32(0, bytes, 316));
    put_u32(bytes + n - 4, lm_crc32(0, bytes, n - 4));
    write_plain(mp, bytes, n);
    expect_open_error(path, "unknown precision (7; made by a newer leitmotif?)");
    bytes[264] = LM_DB_F32; /* the manifest says f32 (scale left set): impossible */
    put_u32(bytes + 316, lm_crc32(0, bytes, 316));
    put_u32(bytes + n - 4, lm_crc32(0, bytes, n - 4));
    write_plain(mp, bytes, n);
    expect_open_error(path, "scale is impossible");
    memset(bytes + 268, 0, 4); /* f32 in the manifest, u8 in the segment */
    put_u32(bytes + 316, lm_crc32(0, bytes, 316));
    put_u32(bytes + n - 4, lm_crc32(0, bytes, n - 4));
    write_plain(mp, bytes, n);
    expect_open_error(path, "disagrees with the manifest");
    free(bytes);
    free_docs(&s);
}

/* Coarse features (docs/database.md, "Coarse features"): every new segment stores each
 * document at a quarter of the frame rate, exactly as the search would make them (f32: bit for
 * bit; u8: quantised); a segment without them (written before they existed) still opens and
 * searches the same; an unknown coarse rate is refused in one line. */
static void search_long_pre(const lm_db *db, const float *q, size_t N, lm_match *out, int pre) {
    lm_qset qs;
    lm_variant_options vo = {0};
    assert_int_equal(lm_qset_from_chroma(&qs, q, N, &vo), 0);
    if (pre) { /* the pre-filter forced on this small database */
        assert_true(lm_qset_has_pre(&qs));
        qs.pre_min_frames = 0, qs.pre_first = 1;
    }
    assert_int_equal(lm_search_qset(db, NULL, &qs, NULL, 3, -1, out, 1), 0);
    lm_match_sort(out, db->n_docs);
    lm_qset_free(&qs);
}

static void search_long(const lm_db *db, const float *q, size_t N, lm_match *out) {
    lm_qset qs;
    lm_variant_options vo = {0};
    assert_int_equal(lm_qset_from_chroma(&qs, q, N, &vo), 0);
    assert_int_equal(lm_search_qset(db, NULL, &qs, NULL, 3, -1, out, 1), 0);
    lm_match_sort(out, db->n_docs);
    lm_qset_free(&qs);
}

/* nd recordings of T0 + dT i frames (ids PREFIX i, stft), and a one-hot query (12 x n, malloc'd)
 * of recording 3's frames at..at+n-1: the pitch class of each frame's largest value. */
static float *long_docs(int nd, size_t T0, size_t dT, unsigned seed, char prefix, lm_db_doc *docs, float **x,
                        char (*ids)[16], size_t at, size_t n) {
    for (int i = 0; i < nd; i++) {
        size_t T = T0 + dT * (size_t)i;
        snprintf(ids[i], 16, "%c%d", prefix, i);
        x[i] = lm_test_chroma(T, seed + (unsigned)i, 0.01f);
        docs[i] = (lm_db_doc){.id = ids[i], .path = "", .model_id = "", .duration = 0.04 * (double)T,
                              .type = LM_FEAT_STFT, .T = T, .chroma = x[i]};
    }
    float *q = malloc(12 * n * sizeof *q);
    assert_non_null(q);
    for (size_t k = 0; k < n; k++) {
        size_t best = 0;
        for (size_t b = 1; b < 12; b++)
            if (x[3][b * docs[3].T + at + k] > x[3][best * docs[3].T + at + k]) best = b;
        for (size_t b = 0; b < 12; b++) q[b * n + k] = b == best ? 1.0f : 0.0f;
    }
    return q;
}

static void test_coarse_section(void **state) {
    (void)state;
    enum { ND = 5 };
    lm_db_doc docs[ND];
    float *x[ND];
    char ids[ND][16];
    const size_t N = 160; /* coarsened 4x by the search */
    float *q = long_docs(ND, 900, 37, 40u, 'r', docs, x, ids, 300, N); /* recording 3's frames 300..459 */
    const char *f32 = lm_test_tmp_path("coarse_f32"), *u8 = lm_test_tmp_path("coarse_u8");
    commit_docs(f32, docs, ND, NULL, 0);
    lm_dbw w;
    assert_int_equal(lm_dbw_begin_ex(&w, u8, LM_FEAT_STFT, 0, "", NULL, LM_DB_U8), 0);
    assert_int_equal(lm_dbw_commit(&w, docs, ND, NULL, 0), 0);
    lm_dbw_end(&w);

    lm_db a, b;
    lm_match with[ND], without[ND], ref[ND];
    assert_int_equal(lm_db_open(f32, &a), 0);
    assert_int_equal(lm_db_open(u8, &b), 0);
    for (int i = 0; i < ND; i++) {
        size_t T = docs[i].T, Mc = (T + 3) / 4;
        float *c = malloc(12 * Mc * sizeof *c);
        uint8_t *c8 = malloc(12 * Mc);
        assert_int_equal(lm_chroma_downsample(x[i], T, LM_DB_COARSE, c), Mc);
        assert_non_null(a.docs[i].coarse);
        assert_null(a.docs[i].coarse_u8);
        assert_memory_equal(a.docs[i].coarse, c, 12 * Mc * sizeof *c);
        assert_int_equal(lm_chroma_downsample_u8(b.docs[i].chroma_u8, T, LM_DB_COARSE, c), Mc);
        lm_quantise_u8(c, 12 * Mc, LM_DB_U8_SCALE, c8);
        assert_non_null(b.docs[i].coarse_u8);
        assert_null(b.docs[i].coarse);
        assert_memory_equal(b.docs[i].coarse_u8, c8, 12 * Mc);
        /* the pre-filter features: the coarse bytes (f32: the floats quantised at 1/255) summed
         * in pairs of frames, as the search makes them (docs/database.md, "Pre-filter features") */
        size_t M8 = (Mc + 1) / 2;
        uint8_t *p8 = malloc(12 * M8), *fq = malloc(12 * Mc);
        uint16_t *t16 = malloc(12 * M8 * sizeof *t16);
        float *nrm = malloc(M8 * sizeof *nrm);
        assert_int_equal(lm_coarsen_pairs_u8(b.docs[i].coarse_u8, Mc, p8, t16, nrm), M8);
        assert_non_null(b.docs[i].pre_u8);
        assert_memory_equal(b.docs[i].pre_u8, p8, 12 * M8);
        lm_quantise_u8(a.docs[i].coarse, 12 * Mc, LM_DB_U8_SCALE, fq);
        assert_int_equal(lm_coarsen_pairs_u8(fq, Mc, p8, t16, nrm), M8);
        assert_non_null(a.docs[i].pre_u8);
        assert_memory_equal(a.docs[i].pre_u8, p8, 12 * M8);
        free(p8), free(fq), free(t16), free(nrm);
        free(c);
        free(c8);
    }
    /* the pre-filter (forced on; a theme of notes of 16 frames, which gets one) gives the same
     * with the stored bytes as with its own */
    const size_t N2 = 256;
    float *q2 = calloc(12 * N2, sizeof *q2);
    for (size_t k = 0; k < N2; k++) q2[((k / 16) * 5 % 12) * N2 + k] = 1.0f;
    for (int pass = 0; pass < 2; pass++) {
        lm_db *db = pass ? &b : &a;
        const uint8_t *kept[ND];
        search_long_pre(db, q2, N2, with, 1);
        for (int i = 0; i < ND; i++) kept[i] = db->docs[i].pre_u8, db->docs[i].pre_u8 = NULL;
        search_long_pre(db, q2, N2, without, 1);
        for (int i = 0; i < ND; i++) db->docs[i].pre_u8 = kept[i];
        for (int k = 0; k < ND; k++) {
            assert_int_equal(with[k].doc, without[k].doc);
            assert_int_equal(with[k].approx, without[k].approx);
            assert_true(with[k].distance == without[k].distance);
        }
    }
    free(q2);
    /* f32: the stored coarse features are the ones the search made itself: identical results */
    search_long(&a, q, N, with);
    memcpy(ref, with, sizeof ref);
    for (int i = 0; i < ND; i++) a.docs[i].coarse = NULL;
    search_long(&a, q, N, without);
    assert_int_equal(with[0].doc, 3);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(with[k].doc, without[k].doc);
        assert_true(with[k].distance == without[k].distance && with[k].end == without[k].end);
    }
    /* u8: the stored bytes are scanned as they are; the same as their dequantised copy */
    search_long(&b, q, N, with);
    float *deq[ND];
    for (int i = 0; i < ND; i++) {
        size_t Mc = (docs[i].T + 3) / 4;
        deq[i] = malloc(12 * Mc * sizeof *deq[i]);
        lm_dequantise_u8(b.docs[i].coarse_u8, 12 * Mc, LM_DB_U8_SCALE, deq[i]);
        b.docs[i].coarse = deq[i];
        b.docs[i].coarse_u8 = NULL;
    }
    search_long(&b, q, N, without);
    for (int k = 0; k < ND; k++) {
        assert_int_equal(with[k].doc, without[k].doc);
        assert_int_equal(with[k].approx, without[k].approx);
        assert_true(with[k].distance == without[k].distance);
    }
    for (int i = 0; i < ND; i++) b.docs[i].coarse = NULL, free(deq[i]);
    /* and the best match is exact without them too */
    search_long(&b, q, N, without);
    assert_int_equal(with[0].doc, 3);
    assert_true(with[0].distance == without[0].distance && with[0].end == without[0].end);
    lm_db_close(&a);
    lm_db_close(&b);

    /* The same segment without its coarse section (as written before it existed): rewritten by
     * hand, manifest included, it opens without coarse features and searches the same. */
    char mp[700], sp[700];
    size_t nm, ns;
    unsigned char *m, *sg;
    read_db_files(f32, mp, sp, &m, &nm, &sg, &ns);
    assert_int_equal(get_u32(sg + 64), LM_DB_COARSE); /* docs/database.md: segment offset 64, its CRC at 68 */
    assert_int_equal(lm_db_open(f32, &a), 0); /* bytes from the first document's features to the last's end */
    size_t end = (size_t)((const unsigned char *)(const void *)(a.docs[ND - 1].chroma + 12 * docs[ND - 1].T) -
                          (const unsigned char *)(const void *)a.docs[0].chroma);
    lm_db_close(&a);
    size_t data0 = get_u64(sg + 128 + 16); /* the first document's features */
    size_t old_size = (data0 + end + 63) / 64 * 64;
    assert_true(old_size < ns);
    memset(sg + 64, 0, 12); /* no coarse section, no pre-filter section (offset 72) */
    put_u64(sg + 48, old_size);
    put_u32(sg + 124, lm_crc32(0, sg, 124));
    write_plain(sp, sg, old_size);
    put_u64(m + 320 + 8, old_size); /* the manifest's segment entry: size and CRC */
    put_u32(m + 320 + 28, lm_crc32(0, sg, old_size));
    put_u32(m + 316, lm_crc32(0, m, 316));
    put_u32(m + nm - 4, lm_crc32(0, m, nm - 4));
    write_plain(mp, m, nm);
    assert_int_equal(lm_db_open(f32, &a), 0);
    assert_int_equal(lm_db_verify_all(&a), 0);
    for (int i = 0; i < ND; i++) assert_null(a.docs[i].coarse), assert_null(a.docs[i].pre_u8);
    search_long(&a, q, N, with);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(with[k].doc, ref[k].doc);
        assert_true(with[k].distance == ref[k].distance && with[k].end == ref[k].end);
    }
    lm_db_close(&a);
    /* compact rewrites a lone segment without coarse features with them */
    size_t before, after;
    assert_int_equal(lm_dbw_begin(&w, f32, LM_FEAT_STFT, 0, "", NULL), 0);
    assert_int_equal(lm_dbw_compact(&w, &before, &after), 0);
    lm_dbw_end(&w);
    assert_int_equal(before, 1);
    assert_int_equal(after, 1);
    assert_int_equal(lm_db_open(f32, &a), 0);
    for (int i = 0; i < ND; i++) assert_non_null(a.docs[i].coarse), assert_non_null(a.docs[i].pre_u8);
    search_long(&a, q, N, with);
    for (int k = 0; k < 3; k++) assert_true(with[k].doc == ref[k].doc && with[k].distance == ref[k].distance);
    lm_db_close(&a);
    free(m);
    free(sg);
    /* an unknown coarse rate (a newer leitmotif's) */
    snprintf(sp, sizeof sp, "%s/seg-0000000001.lmseg", u8);
    sg = (unsigned char *)lm_read_file(sp, &ns);
    assert_non_null(sg);
    put_u32(sg + 64, 8);
    put_u32(sg + 124, lm_crc32(0, sg, 124));
    write_plain(sp, sg, ns);
    expect_open_error(u8, "unknown rate (1/8; made by a newer leitmotif?)");
    /* an unknown pre-filter rate, and pre-filter features without coarse ones */
    put_u32(sg + 64, LM_DB_COARSE);
    put_u32(sg + 72, 16);
    put_u32(sg + 124, lm_crc32(0, sg, 124));
    write_plain(sp, sg, ns);
    expect_open_error(u8, "pre-filter features at an unknown rate (1/16; made by a newer leitmotif?)");
    put_u32(sg + 64, 0);
    put_u32(sg + 72, LM_DB_PRE);
    put_u32(sg + 124, lm_crc32(0, sg, 124));
    write_plain(sp, sg, ns);
    expect_open_error(u8, "disagrees with the manifest");
    free(sg);
    free(q);
    for (int i = 0; i < ND; i++) free(x[i]);
}

/* A pruned search verifies what it reads: every segment's coarse section, and the segments of
 * the recordings it refines. Damage elsewhere is for `check` to find. */
static void test_search_verifies_what_it_reads(void **state) {
    (void)state;
    enum { ND = 4 };
    lm_db_doc docs[ND];
    float *x[ND];
    char ids[ND][16];
    const size_t N = 160;
    float *q = long_docs(ND, 800, 50, 70u, 'v', docs, x, ids, 200, N); /* recording 3's frames 200..359 */
    for (size_t n = 0; n < N; n++) /* planted exactly: distance 0, so that nothing else is refined */
        for (size_t b = 0; b < 12; b++) x[3][b * docs[3].T + 200 + n] = q[b * N + n];
    const char *path = lm_test_tmp_path("verify_read");
    commit_docs(path, docs, 2, NULL, 0);     /* seg 1: v0 v1 */
    commit_docs(path, docs + 2, 2, NULL, 0); /* seg 2: v2 v3 */
    char s1[700], s2[700];
    snprintf(s1, sizeof s1, "%s/seg-0000000001.lmseg", path);
    snprintf(s2, sizeof s2, "%s/seg-0000000002.lmseg", path);
    lm_db db;
    size_t n1, n2;
    unsigned char *b1 = (unsigned char *)lm_read_file(s1, &n1), *b2 = (unsigned char *)lm_read_file(s2, &n2);
    assert_non_null(b1);
    assert_non_null(b2);
    size_t feat1 = get_u64(b1 + 128 + 16), feat2 = get_u64(b2 + 128 + 16); /* first document's features */
    lm_qset qs;
    lm_variant_options vo = {0};
    assert_int_equal(lm_qset_from_chroma(&qs, q, N, &vo), 0);
    lm_match out[ND];
    /* 1. a flipped bit in v0's features (segment 1): the best match is found (v0 is not read) */
    b1[feat1 + 1000] ^= 0x10;
    write_plain(s1, b1, n1);
    assert_int_equal(lm_db_open(path, &db), 0);
    assert_int_equal(lm_search_qset(&db, NULL, &qs, NULL, 1, -1, out, 1), 0);
    lm_match_sort(out, ND);
    assert_int_equal(out[0].doc, 3);
    assert_int_equal(out[0].approx, 0);
    assert_int_equal(lm_db_check(&db, path, NULL), 1); /* check finds it */
    lm_db_close(&db);
    b1[feat1 + 1000] ^= 0x10;
    /* 2. in segment 1's coarse section: every search reads it */
    b1[n1 - 100] ^= 0x10;
    write_plain(s1, b1, n1);
    assert_int_equal(lm_db_open(path, &db), 0);
    lm_clear_error();
    assert_int_equal(lm_search_qset(&db, NULL, &qs, NULL, 1, -1, out, 1), -1);
    assert_non_null(strstr(lm_last_error(), "segment seg-0000000001.lmseg is damaged"));
    lm_db_close(&db);
    b1[n1 - 100] ^= 0x10;
    write_plain(s1, b1, n1);
    /* 3. in v3's features (segment 2): the recording refined is verified first */
    b2[feat2 + 12 * 4 * docs[2].T + 64 + 500] ^= 0x10; /* past v2's features, in v3's */
    write_plain(s2, b2, n2);
    assert_int_equal(lm_db_open(path, &db), 0);
    lm_clear_error();
    assert_int_equal(lm_search_qset(&db, NULL, &qs, NULL, 1, -1, out, 1), -1);
    assert_non_null(strstr(lm_last_error(), "segment seg-0000000002.lmseg is damaged"));
    assert_null(strchr(lm_last_error(), '\n'));
    lm_db_close(&db);
    lm_qset_free(&qs);
    free(b1);
    free(b2);
    free(q);
    for (int i = 0; i < ND; i++) free(x[i]);
}

/* The fuzz target's parsers accept what the writer writes. */
static void test_fuzz_parsers(void **state) {
    (void)state;
    docset s;
    make_docs(&s, 8);
    const char *path = lm_test_tmp_path("fz");
    commit_docs(path, s.docs, 4, NULL, 0);
    char mp[700], sp[700];
    size_t nm, ns;
    unsigned char *m, *sg;
    read_db_files(path, mp, sp, &m, &nm, &sg, &ns);
    assert_int_equal(lm_db2_fuzz_manifest(m, nm), 0);
    assert_int_equal(lm_db2_fuzz_segment(m, nm, sg, ns), 0);
    sg[130] ^= 1;
    assert_int_equal(lm_db2_fuzz_segment(m, nm, sg, ns), -1);
    free(m);
    free(sg);
    free_docs(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commits_tombstones_compact),
        cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_second_writer),
        cmocka_unit_test(test_reader_during_write),
        cmocka_unit_test(test_damaged_segment),
        cmocka_unit_test(test_damaged_manifest),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_fuzz_parsers),
        cmocka_unit_test(test_quantise_round_trip),
        cmocka_unit_test(test_compact_database),
        cmocka_unit_test(test_unknown_precision),
        cmocka_unit_test(test_coarse_section),
        cmocka_unit_test(test_search_verifies_what_it_reads),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
