/* Crash-safe output: everything leitmotif writes goes to PATH.tmp.<pid>, is fsynced and then
 * renamed over PATH, so an interrupted run never leaves a half-written file behind. */
#ifndef LM_COMMON_FILEIO_H
#define LM_COMMON_FILEIO_H
#include <stdio.h>
#include <stddef.h>

typedef struct {
    FILE *fp;
    char *final_path;
    char *tmp_path;
} lm_atomic_file;

int lm_atomic_open(lm_atomic_file *af, const char *path);
/* Flushes, fsyncs, renames and fsyncs the directory. -1 with the error set on failure: the target
 * is untouched, except when only the directory's fsync failed (after the rename): the target is
 * then the new, complete file, but its rename may not survive a crash or power loss; the error
 * says so. */
int lm_atomic_commit(lm_atomic_file *af);
/* As lm_atomic_commit; sync_dir 0 leaves out the directory's fsync, for a file in a new folder
 * that the caller fsyncs itself before making the folder visible (a new format-2 database). */
int lm_atomic_commit_ex(lm_atomic_file *af, int sync_dir);
/* Discards the temporary file (on error paths). */
void lm_atomic_abort(lm_atomic_file *af);

/* Whole-file helpers. */
int lm_write_file_atomic(const char *path, const void *data, size_t n);
/* Reads a whole file; returns malloc'd buffer (NUL-terminated for convenience) or NULL. */
char *lm_read_file(const char *path, size_t *n);
int lm_file_exists(const char *path);
int lm_is_directory(const char *path);
/* Lists regular files of a directory (sorted); returns count or -1. */
int lm_list_dir(const char *dir, char ***names);
#endif
