/* Feature database: round trip, damage detection, appending, feature/model mismatches,
 * duplicate ids and undecodable inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "chroma/features.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/threads.h"
#include "index/db.h"
#include "index/indexer.h"
#include "nn/model.h"
#include "testutil.h"

typedef struct {
    lm_db_doc docs[3];
    float *chroma[3];
} sample_db;

static void make_sample(sample_db *s, enum lm_feature_type type, uint32_t checksum, const char *model_id) {
    static const char *ids[3] = {"beethoven_op67", "caf\xc3\xa9 \"quoted\"", "x"};
    static const char *paths[3] = {"/music/beethoven_op67.flac", "/music/caf\xc3\xa9 \"quoted\".wav", "/x.ogg"};
    static const size_t T[3] = {25, 1, 7};
    for (int i = 0; i < 3; i++) {
        s->chroma[i] = lm_test_chroma(T[i], (unsigned)i + 1, 0.0f);
        s->docs[i] = (lm_db_doc){.id = ids[i], .path = paths[i], .model_id = model_id, .duration = 0.04 * T[i] + 0.01,
                                 .type = type, .model_checksum = checksum, .T = T[i], .chroma = s->chroma[i]};
    }
}

static void free_sample(sample_db *s) {
    for (int i = 0; i < 3; i++) free(s->chroma[i]);
}

static void test_round_trip(void **state) {
    (void)state;
    sample_db s;
    make_sample(&s, LM_FEAT_CTC, 0xdeadbeefu, "v1_ctc_train345valid1");
    const char *path = lm_test_tmp_path("round.lmdb");
    assert_int_equal(lm_db_write(path, LM_FEAT_CTC, 0xdeadbeefu, "v1_ctc_train345valid1", s.docs, 3), 0);
    lm_db db;
    assert_int_equal(lm_db_open(path, &db), 0);
    assert_int_equal(db.type, LM_FEAT_CTC);
    assert_int_equal(db.model_checksum, 0xdeadbeefu);
    assert_string_equal(db.model_id, "v1_ctc_train345valid1");
    assert_int_equal(db.n_docs, 3);
    assert_int_equal(db.total_frames, 25 + 1 + 7);
    for (int i = 0; i < 3; i++) {
        const lm_db_doc *d = &db.docs[i];
        assert_string_equal(d->id, s.docs[i].id);
        assert_string_equal(d->path, s.docs[i].path);
        assert_string_equal(d->model_id, "v1_ctc_train345valid1");
        assert_true(d->duration == s.docs[i].duration);
        assert_int_equal(d->T, s.docs[i].T);
        assert_int_equal(d->type, LM_FEAT_CTC);
        assert_int_equal(d->model_checksum, 0xdeadbeefu);
        assert_memory_equal(d->chroma, s.chroma[i], 12 * d->T * sizeof(float));
        assert_int_equal(((uintptr_t)d->chroma) % 64, 0); /* features are aligned in the mapping */
        assert_int_equal(lm_db_find(&db, s.docs[i].id), i);
    }
    assert_int_equal(lm_db_find(&db, "missing"), -1);
    assert_int_equal(lm_db_find(&db, ""), -1);
    lm_db_close(&db);

    /* An empty database is valid too. */
    assert_int_equal(lm_db_write(path, LM_FEAT_STFT, 0, "", NULL, 0), 0);
    assert_int_equal(lm_db_open(path, &db), 0);
    assert_int_equal(db.n_docs, 0);
    assert_int_equal(db.type, LM_FEAT_STFT);
    assert_int_equal(lm_db_find(&db, "x"), -1);
    lm_db_close(&db);
    free_sample(&s);
}

static unsigned char *write_sample_bytes(const char *path, size_t *n) {
    sample_db s;
    make_sample(&s, LM_FEAT_STFT, 0, "");
    assert_int_equal(lm_db_write(path, LM_FEAT_STFT, 0, "", s.docs, 3), 0);
    free_sample(&s);
    unsigned char *bytes = (unsigned char *)lm_read_file(path, n);
    assert_non_null(bytes);
    return bytes;
}

/* Plain write without fsync: the damage tests write thousands of variants. */
static void write_plain(const char *path, const unsigned char *bytes, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void expect_open_error(const char *path, const char *fragment) {
    lm_db db;
    lm_clear_error();
    assert_int_equal(lm_db_open(path, &db), -1);
    const char *msg = lm_last_error();
    if (!strstr(msg, fragment)) fail_msg("error '%s' does not mention '%s'", msg, fragment);
    assert_null(strchr(msg, '\n')); /* one line */
    assert_null(db.docs);
}

static void test_truncated(void **state) {
    (void)state;
    const char *path = lm_test_tmp_path("trunc.lmdb");
    size_t n;
    unsigned char *bytes = write_sample_bytes(path, &n);
    const char *cut = lm_test_tmp_path("cut.lmdb");
    /* Every possible truncation point is refused (cut in place, shortest last). */
    write_plain(cut, bytes, n);
    for (size_t len = n; len-- > 0;) {
        assert_int_equal(truncate(cut, (off_t)len), 0);
        lm_db db;
        if (lm_db_open(cut, &db) == 0) fail_msg("database cut to %zu of %zu bytes was accepted", len, n);
    }
    write_plain(cut, bytes, n - 1);
    expect_open_error(cut, "truncated");
    write_plain(cut, bytes, n / 2);
    expect_open_error(cut, "truncated");
    write_plain(cut, bytes, 0);
    expect_open_error(cut, "not a leitmotif database");
    /* Extra bytes after the end are damage as well. */
    unsigned char *longer = malloc(n + 64);
    assert_non_null(longer);
    memcpy(longer, bytes, n);
    memcpy(longer + n, bytes + n - 64, 64);
    write_plain(cut, longer, n + 64);
    expect_open_error(cut, "damaged");
    free(longer);
    free(bytes);
}

static void test_bit_flips(void **state) {
    (void)state;
    const char *path = lm_test_tmp_path("flip.lmdb");
    size_t n;
    unsigned char *bytes = write_sample_bytes(path, &n);
    const char *bad = lm_test_tmp_path("bad.lmdb");
    /* One flipped bit anywhere (header, strings, features, CRCs, padding, end marker),
     * patched in place. */
    write_plain(bad, bytes, n);
    int fd = open(bad, O_WRONLY);
    assert_true(fd >= 0);
    for (size_t at = 0; at < n; at++) {
        unsigned char flipped = bytes[at] ^ (unsigned char)(1u << (at % 8));
        assert_int_equal(pwrite(fd, &flipped, 1, (off_t)at), 1);
        lm_db db;
        if (lm_db_open(bad, &db) == 0) fail_msg("flipped bit at byte %zu of %zu was not detected", at, n);
        assert_int_equal(pwrite(fd, &bytes[at], 1, (off_t)at), 1);
    }
    close(fd);
    /* Messages say what is damaged. */
    bytes[500] ^= 0x10; /* record 1's features: its 128-byte header starts at byte 256 */
    write_plain(bad, bytes, n);
    expect_open_error(bad, "record 1 (id 'beethoven_op67') is corrupt");
    bytes[500] ^= 0x10;
    bytes[20] ^= 0x01; /* model checksum in the header */
    write_plain(bad, bytes, n);
    expect_open_error(bad, "header is corrupt");
    bytes[20] ^= 0x01;
    bytes[0] = 'X';
    write_plain(bad, bytes, n);
    expect_open_error(bad, "not a leitmotif database");
    free(bytes);
}

static void test_write_rejects_bad_input(void **state) {
    (void)state;
    sample_db s;
    make_sample(&s, LM_FEAT_STFT, 0, "");
    const char *path = lm_test_tmp_path("dup.lmdb");
    s.docs[2].id = s.docs[0].id;
    lm_clear_error();
    assert_int_equal(lm_db_write(path, LM_FEAT_STFT, 0, "", s.docs, 3), -1);
    assert_non_null(strstr(lm_last_error(), "duplicate document id 'beethoven_op67'"));
    assert_false(lm_file_exists(path));
    s.docs[2].id = "x";
    s.docs[1].type = LM_FEAT_CTC; /* mixed feature types */
    assert_int_equal(lm_db_write(path, LM_FEAT_STFT, 0, "", s.docs, 3), -1);
    assert_false(lm_file_exists(path));
    free_sample(&s);
    lm_db db;
    expect_open_error(path, "cannot open database");
    (void)db;
}

/* ---------------------------------------------------------------- indexing */

static void write_tone(const char *path, double freq, double seconds) {
    size_t n = (size_t)(seconds * 22050);
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = 0.3f * (float)sin(2 * M_PI * freq * (double)i / 22050.0);
    assert_int_equal(lm_test_write_wav(path, x, n, 22050, 1), 0);
    free(x);
}

static int update(const char *db_path, char **inputs, size_t n_inputs, const lm_index_options *opt,
                  lm_index_stats *st) {
    lm_db existing;
    int have = lm_file_exists(db_path);
    if (have) assert_int_equal(lm_db_open(db_path, &existing), 0);
    char **paths;
    size_t n_paths;
    assert_int_equal(lm_index_collect(inputs, n_inputs, &paths, &n_paths), 0);
    int rc = lm_index_update(db_path, have ? &existing : NULL, paths, n_paths, opt, st);
    lm_index_free_paths(paths, n_paths);
    if (have) lm_db_close(&existing);
    return rc;
}

static void test_collect_and_ids(void **state) {
    (void)state;
    const char *dir = lm_test_tmp_path("scan");
    assert_int_equal(lm_test_system("mkdir -p '%s/sub/deeper' '%s/.hidden' && touch '%s/b.WAV' '%s/a.flac' "
                                    "'%s/notes.txt' '%s/sub/c.mp3' '%s/sub/deeper/d.opus' '%s/.hidden/e.wav'",
                                    dir, dir, dir, dir, dir, dir, dir, dir),
                     0);
    char *inputs[1] = {(char *)dir};
    char **paths;
    size_t n;
    assert_int_equal(lm_index_collect(inputs, 1, &paths, &n), 0);
    assert_int_equal(n, 4);
    const char *want[4] = {"a.flac", "b.WAV", "sub/c.mp3", "sub/deeper/d.opus"};
    for (size_t i = 0; i < n; i++) {
        char full[600];
        snprintf(full, sizeof full, "%s/%s", dir, want[i]);
        assert_string_equal(paths[i], full);
    }
    lm_index_free_paths(paths, n);
    char *missing[1] = {lm_test_tmp_path("no_such_dir")};
    assert_int_equal(lm_index_collect(missing, 1, &paths, &n), -1);
    assert_non_null(strstr(lm_last_error(), "no_such_dir"));

    char *id = lm_index_doc_id("/a/b.c/piece.name.flac");
    assert_string_equal(id, "piece.name");
    free(id);
    id = lm_index_doc_id("plain");
    assert_string_equal(id, "plain");
    free(id);
    id = lm_index_doc_id(".hidden");
    assert_string_equal(id, ".hidden");
    free(id);
}

static void test_append_without_recomputation(void **state) {
    (void)state;
    const char *dir = lm_test_tmp_path("audio");
    assert_int_equal(lm_test_system("mkdir -p '%s'", dir), 0);
    char a[600], b[600], c[600], bad[600];
    snprintf(a, sizeof a, "%s/a.wav", dir);
    snprintf(b, sizeof b, "%s/b.wav", dir);
    snprintf(c, sizeof c, "%s/c.wav", dir);
    snprintf(bad, sizeof bad, "%s/broken.wav", dir);
    write_tone(a, 440.0, 1.0);
    write_tone(b, 523.25, 1.5);
    const char *db_path = lm_test_tmp_path("append.lmdb");
    lm_index_options opt = {.type = LM_FEAT_STFT};
    lm_index_stats st;
    char *first[2] = {a, b};
    assert_int_equal(update(db_path, first, 2, &opt, &st), 0);
    assert_int_equal(st.added, 2);
    assert_int_equal(st.kept, 0);
    assert_int_equal(st.failed, 0);

    lm_db db;
    assert_int_equal(lm_db_open(db_path, &db), 0);
    assert_int_equal(db.n_docs, 2);
    assert_int_equal(db.type, LM_FEAT_STFT);
    assert_string_equal(db.docs[0].id, "a");
    assert_true(fabs(db.docs[0].duration - 1.0) < 1e-3);
    size_t Ta = db.docs[0].T;
    float *a_before = malloc(12 * Ta * sizeof *a_before);
    assert_non_null(a_before);
    memcpy(a_before, db.docs[0].chroma, 12 * Ta * sizeof *a_before);
    lm_db_close(&db);

    /* Change a.wav's content: if it were recomputed, its features would change. Add c.wav and
     * an undecodable file; index the whole directory. */
    write_tone(a, 311.13, 1.0);
    write_tone(c, 659.25, 2.0);
    assert_int_equal(lm_write_file_atomic(bad, "RIFF....WAVEjunk", 16), 0);
    char *again[1] = {(char *)dir};
    assert_int_equal(update(db_path, again, 1, &opt, &st), 0);
    assert_int_equal(st.existing, 2);
    assert_int_equal(st.kept, 2);
    assert_int_equal(st.added, 1);
    assert_int_equal(st.failed, 1);
    assert_int_equal(lm_db_open(db_path, &db), 0);
    assert_int_equal(db.n_docs, 3);
    assert_string_equal(db.docs[0].id, "a");
    assert_string_equal(db.docs[1].id, "b");
    assert_string_equal(db.docs[2].id, "c");
    assert_int_equal(db.docs[0].T, Ta);
    assert_memory_equal(db.docs[0].chroma, a_before, 12 * Ta * sizeof *a_before);
    assert_int_equal(lm_db_find(&db, "broken"), -1);
    assert_non_null(strstr(db.docs[2].path, "/audio/c.wav"));
    assert_true(db.docs[2].path[0] == '/');
    /* The new content would indeed give other features. */
    float *a_now;
    size_t T_now;
    assert_int_equal(lm_features_from_file(a, LM_FEAT_STFT, NULL, NULL, &a_now, &T_now, NULL), 0);
    assert_int_equal(T_now, Ta);
    assert_memory_not_equal(a_now, a_before, 12 * Ta * sizeof *a_now);
    free(a_now);
    free(a_before);
    lm_db_close(&db);

    /* Nothing new: the file is not rewritten. */
    unlink(bad);
    assert_int_equal(update(db_path, again, 1, &opt, &st), 0);
    assert_int_equal(st.kept, 3);
    assert_int_equal(st.added, 0);
    assert_int_equal(st.commits, 0);
}

static void test_periodic_commits(void **state) {
    (void)state;
    const char *dir = lm_test_tmp_path("many");
    assert_int_equal(lm_test_system("mkdir -p '%s'", dir), 0);
    char *inputs[5];
    for (int i = 0; i < 5; i++) {
        inputs[i] = malloc(600);
        snprintf(inputs[i], 600, "%s/t%d.wav", dir, i);
        write_tone(inputs[i], 220.0 * (1 + i), 0.5);
    }
    const char *db_path = lm_test_tmp_path("periodic.lmdb");
    lm_index_options opt = {.type = LM_FEAT_STFT, .commit_interval = 1e-9};
    lm_index_stats st;
    /* one worker: the files finish in input order, so each can be committed as it finishes (with
     * more, a commit waits for the earliest unfinished input, and how many there are depends on
     * the timing) */
    lm_threads_init(1);
    int rc = update(db_path, inputs, 5, &opt, &st);
    lm_threads_init(0);
    assert_int_equal(rc, 0);
    assert_int_equal(st.added, 5);
    assert_true(st.commits >= 2); /* intermediate commits plus the final one */
    lm_db db;
    assert_int_equal(lm_db_open(db_path, &db), 0);
    assert_int_equal(db.n_docs, 5);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "t%d", i);
        assert_string_equal(db.docs[i].id, id); /* input order, whatever the thread timing */
    }
    lm_db_close(&db);
    for (int i = 0; i < 5; i++) free(inputs[i]);
}

static void test_duplicate_ids(void **state) {
    (void)state;
    const char *dir = lm_test_tmp_path("dups");
    assert_int_equal(lm_test_system("mkdir -p '%s/one' '%s/two'", dir, dir), 0);
    char p1[600], p2[600], p3[600];
    snprintf(p1, sizeof p1, "%s/one/song.wav", dir);
    snprintf(p2, sizeof p2, "%s/two/song.flac", dir);
    snprintf(p3, sizeof p3, "%s/two/other.wav", dir);
    write_tone(p1, 440, 0.5);
    write_tone(p2, 440, 0.5);
    write_tone(p3, 330, 0.5);
    const char *db_path = lm_test_tmp_path("dups.lmdb");
    lm_index_options opt = {.type = LM_FEAT_STFT};
    lm_index_stats st;
    char *both[2] = {p1, p2};
    lm_clear_error();
    assert_int_equal(update(db_path, both, 2, &opt, &st), -1);
    assert_non_null(strstr(lm_last_error(), "document id 'song'"));
    assert_false(lm_file_exists(db_path));
    /* The same file named twice counts once. */
    char *twice[3] = {p1, p1, p3};
    assert_int_equal(update(db_path, twice, 3, &opt, &st), 0);
    assert_int_equal(st.added, 2);
    /* A new file whose id is already used by another path. */
    char *clash[1] = {p2};
    lm_clear_error();
    assert_int_equal(update(db_path, clash, 1, &opt, &st), -1);
    assert_non_null(strstr(lm_last_error(), "already used in the database"));
    lm_db db;
    assert_int_equal(lm_db_open(db_path, &db), 0);
    assert_int_equal(db.n_docs, 2);
    lm_db_close(&db);
}

static void test_feature_and_model_mismatch(void **state) {
    (void)state;
    sample_db s;
    make_sample(&s, LM_FEAT_STFT, 0, "");
    const char *db_path = lm_test_tmp_path("types.lmdb");
    assert_int_equal(lm_db_write(db_path, LM_FEAT_STFT, 0, "", s.docs, 3), 0);
    free_sample(&s);
    lm_db db;
    assert_int_equal(lm_db_open(db_path, &db), 0);
    lm_model model = {.id = "some_model", .checksum = 0x1234u};
    lm_index_options opt = {.type = LM_FEAT_CTC, .model = &model};
    lm_index_stats st;
    lm_clear_error();
    assert_int_equal(lm_index_update(db_path, &db, NULL, 0, &opt, &st), -1);
    assert_non_null(strstr(lm_last_error(), "holds stft features, not ctc"));
    lm_db_close(&db);

    make_sample(&s, LM_FEAT_CTC, 0x9999u, "trained_model");
    assert_int_equal(lm_db_write(db_path, LM_FEAT_CTC, 0x9999u, "trained_model", s.docs, 3), 0);
    free_sample(&s);
    assert_int_equal(lm_db_open(db_path, &db), 0);
    lm_clear_error();
    assert_int_equal(lm_index_update(db_path, &db, NULL, 0, &opt, &st), -1);
    assert_non_null(strstr(lm_last_error(), "made with model 'trained_model'"));
    lm_db_close(&db);
}

/* The tuning mode of the database and each document's compensated deviation survive a round
 * trip; a database without them (older files) reads as off; adding with another mode is
 * refused; impossible values are damage. */
static void test_tuning_fields(void **state) {
    (void)state;
    sample_db s;
    make_sample(&s, LM_FEAT_CTC, 0x9999u, "trained_model");
    s.docs[0].tuning = 0.28f;
    s.docs[2].tuning = -0.11f;
    const char *path = lm_test_tmp_path("tuned.lmdb");
    const lm_tuning aut = {LM_TUNING_AUTO, 0}, fixed = {LM_TUNING_FIXED, -0.4};
    assert_int_equal(lm_db_write_ex(path, LM_FEAT_CTC, 0x9999u, "trained_model", &aut, s.docs, 3), 0);
    lm_db db;
    assert_int_equal(lm_db_open(path, &db), 0);
    assert_int_equal(db.tuning.mode, LM_TUNING_AUTO);
    assert_true(db.docs[0].tuning == 0.28f && db.docs[1].tuning == 0.0f && db.docs[2].tuning == -0.11f);
    /* adding to it with another mode is refused before any work */
    lm_model model = {.id = "trained_model", .checksum = 0x9999u};
    lm_index_options opt = {.type = LM_FEAT_CTC, .model = &model};
    lm_index_stats st;
    assert_int_equal(lm_index_update(path, &db, NULL, 0, &opt, &st), -1);
    assert_non_null(strstr(lm_last_error(), "made with tuning auto, not off"));
    lm_db_close(&db);

    assert_int_equal(lm_db_write_ex(path, LM_FEAT_CTC, 0x9999u, "trained_model", &fixed, s.docs, 3), 0);
    assert_int_equal(lm_db_open(path, &db), 0);
    assert_int_equal(db.tuning.mode, LM_TUNING_FIXED);
    assert_true(fabs(db.tuning.semitones + 0.4) < 1e-12);
    assert_string_equal(lm_tuning_name(&db.tuning), "-40c");
    lm_db_close(&db);

    /* without a mode (lm_db_write, as before tuning existed): off, and documents must say 0 */
    assert_int_equal(lm_db_write(path, LM_FEAT_CTC, 0x9999u, "trained_model", s.docs, 3), 0);
    lm_clear_error();
    assert_int_equal(lm_db_open(path, &db), -1);
    assert_non_null(strstr(lm_last_error(), "disagrees with the database header"));
    s.docs[0].tuning = s.docs[2].tuning = 0;
    assert_int_equal(lm_db_write(path, LM_FEAT_CTC, 0x9999u, "trained_model", s.docs, 3), 0);
    assert_int_equal(lm_db_open(path, &db), 0);
    assert_int_equal(db.tuning.mode, LM_TUNING_OFF);
    lm_db_close(&db);

    /* an unknown mode (with a valid header CRC) is refused with a clear message */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char header[256];
    assert_int_equal(pread(fd, header, sizeof header, 0), (ssize_t)sizeof header);
    header[248] = 7;
    uint32_t crc = lm_crc32(0, header, 252);
    for (int i = 0; i < 4; i++) header[252 + i] = (unsigned char)(crc >> (8 * i));
    assert_int_equal(pwrite(fd, header, sizeof header, 0), (ssize_t)sizeof header);
    close(fd);
    lm_clear_error();
    assert_int_equal(lm_db_open(path, &db), -1);
    assert_non_null(strstr(lm_last_error(), "unknown tuning mode"));
    free_sample(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_write_rejects_bad_input),
        cmocka_unit_test(test_collect_and_ids),
        cmocka_unit_test(test_append_without_recomputation),
        cmocka_unit_test(test_periodic_commits),
        cmocka_unit_test(test_duplicate_ids),
        cmocka_unit_test(test_feature_and_model_mismatch),
        cmocka_unit_test(test_tuning_fields),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
