#include "common/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = lm_malloc(n, 1);
    if (p) memcpy(p, s, n);
    return p;
}

int lm_atomic_open(lm_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->tmp_path = lm_malloc(n, 1);
    af->final_path = dup_str(path);
    if (!af->tmp_path || !af->final_path) {
        free(af->tmp_path);
        free(af->final_path);
        return -1;
    }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        lm_set_error("cannot write %s: %s", path, strerror(errno));
        free(af->tmp_path);
        free(af->final_path);
        af->tmp_path = af->final_path = NULL;
        return -1;
    }
    return 0;
}

/* Makes the rename of `path` durable: fsyncs the folder that holds it. 0, or -1 with the error set
 * when the folder's fsync fails (EIO, ENOSPC, ...): the new file is then complete and in place,
 * but a crash or power loss may still undo the rename. As PostgreSQL's fsync_fname, a folder that
 * cannot be opened for reading (EACCES) or whose file system cannot fsync folders (EINVAL, EBADF)
 * is not an error: nothing more can be done there. */
static int fsync_parent_dir(const char *path) {
    char *copy = dup_str(path);
    if (!copy) return 0;
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno != EINVAL && errno != EBADF) {
            lm_set_error("%s was written completely and renamed into place, but syncing its folder %s failed (%s): "
                         "the new file may be lost if the system crashes or loses power before the folder is written",
                         path, dir, strerror(errno));
            rc = -1;
        }
        close(fd);
    }
    free(copy);
    return rc;
}

int lm_atomic_commit(lm_atomic_file *af) { return lm_atomic_commit_ex(af, 1); }

int lm_atomic_commit_ex(lm_atomic_file *af, int sync_dir) {
    int rc = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp) || fsync(fileno(af->fp)) != 0) {
        lm_set_error("cannot write %s: %s", af->final_path, strerror(errno));
        rc = -1;
    }
    if (fclose(af->fp) != 0 && rc == 0) {
        lm_set_error("cannot write %s: %s", af->final_path, strerror(errno));
        rc = -1;
    }
    af->fp = NULL;
    if (rc == 0 && rename(af->tmp_path, af->final_path) != 0) {
        lm_set_error("cannot rename %s to %s: %s", af->tmp_path, af->final_path, strerror(errno));
        rc = -1;
    }
    if (rc != 0) unlink(af->tmp_path);
    else if (sync_dir) rc = fsync_parent_dir(af->final_path); /* -1: the new file is in place, but not durable yet */
    free(af->tmp_path);
    free(af->final_path);
    af->tmp_path = af->final_path = NULL;
    return rc;
}

void lm_atomic_abort(lm_atomic_file *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->tmp_path);
    free(af->final_path);
    memset(af, 0, sizeof *af);
}

int lm_write_file_atomic(const char *path, const void *data, size_t n) {
    lm_atomic_file af;
    if (lm_atomic_open(&af, path) != 0) return -1;
    if (n && fwrite(data, 1, n, af.fp) != n) {
        lm_set_error("cannot write %s: %s", path, strerror(errno));
        lm_atomic_abort(&af);
        return -1;
    }
    return lm_atomic_commit(&af);
}

char *lm_read_file(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        lm_set_error("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = lm_malloc(cap, 1);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, fp);
        len += got;
        if (len + 1 < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            lm_set_error("out of memory reading %s", path);
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (buf && ferror(fp)) {
        lm_set_error("cannot read %s: %s", path, strerror(errno));
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[len] = '\0';
        if (n) *n = len;
    }
    return buf;
}

int lm_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int lm_is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int lm_list_dir(const char *dir, char ***names) {
    DIR *d = opendir(dir);
    if (!d) {
        lm_set_error("cannot open directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int n = 0, cap = 16;
    char **list = lm_malloc((size_t)cap, sizeof *list);
    struct dirent *e;
    while (list && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            char **nl = realloc(list, (size_t)cap * 2 * sizeof *list);
            if (!nl) break;
            list = nl;
            cap *= 2;
        }
        list[n] = dup_str(e->d_name);
        if (list[n]) n++;
    }
    closedir(d);
    if (!list) return -1;
    qsort(list, (size_t)n, sizeof *list, cmp_str);
    *names = list;
    return n;
}
