/* Fault injection for tests/cli_faults.sh: an LD_PRELOAD library that makes the N-th call that
 * writes an output file fail, as a full disk (ENOSPC) or a failing disk (EIO) would.
 *
 * Counted calls ("ops"), on files opened for writing only (never stdout, stderr, or files
 * opened for reading), plus fsync and rename of anything and file-backed mmap:
 *   open     fopen/open/openat/creat of a file for writing (the file is not created)
 *   write    fwrite fputc putc fputs fprintf vfprintf write pwrite on such a file
 *   flush    fflush of such a file
 *   fsync    fsync/fdatasync of any descriptor (output files and their folders)
 *   close    fclose of such a file (the stream is closed; the call reports the error)
 *   rename   rename/renameat (the file is not renamed)
 *   mmap     mmap of a file (databases are mapped to be read)
 * A failed stream call also sets the stream's error flag, as a failed write(2) inside stdio does.
 *
 * Environment:
 *   LM_FAULT_AT=N        fail the N-th counted call (1-based); unset or 0: fail nothing (count)
 *   LM_FAULT_ERRNO=E     ENOSPC (default) or EIO
 *   LM_FAULT_STICKY=1    every counted call from the N-th on fails (a disk that stays full)
 *   LM_FAULT_OPS=a,b     only these ops are counted (default: all of the above)
 *   LM_FAULT_MATCH=S     only calls on paths containing S are counted (default: all)
 *   LM_FAULT_LOG=FILE    at exit, append one line per counted call: "N op path [FAILED]"
 * Only glibc's stdio is supported (the error flag); the library is built on Linux only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FD 4096
#define LOG_MAX 100000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *fd_path[MAX_FD]; /* paths of descriptors open for writing (NULL: not tracked) */
static unsigned long n_calls;
static unsigned long fail_at;
static int fail_errno = ENOSPC, sticky, configured;
static char ops[256] = "open,write,flush,fsync,close,rename,mmap";
static char match[1024];
static char log_path[1024];
static char **log_lines;
static size_t n_log;
static __thread int inside; /* our own calls of the real functions are not counted */

#define REAL(name) ((__typeof__(&name))real_fn(#name))
static void *real_fn(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        static const char msg[] = "faultinject: missing libc symbol\n";
        ssize_t r = write(2, msg, sizeof msg - 1);
        (void)r;
        abort();
    }
    return f;
}

static void configure(void) {
    if (configured) return;
    configured = 1;
    const char *s;
    if ((s = getenv("LM_FAULT_AT"))) fail_at = strtoul(s, NULL, 10);
    if ((s = getenv("LM_FAULT_ERRNO")) && !strcmp(s, "EIO")) fail_errno = EIO;
    if ((s = getenv("LM_FAULT_STICKY"))) sticky = atoi(s) != 0;
    if ((s = getenv("LM_FAULT_OPS")) && s[0]) snprintf(ops, sizeof ops, "%s", s);
    if ((s = getenv("LM_FAULT_MATCH"))) snprintf(match, sizeof match, "%s", s);
    if ((s = getenv("LM_FAULT_LOG"))) snprintf(log_path, sizeof log_path, "%s", s);
}

static int op_enabled(const char *op) {
    size_t n = strlen(op);
    for (const char *p = ops; (p = strstr(p, op)) != NULL; p += n)
        if ((p == ops || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

/* Counts a call; returns 1 when it must fail (errno is then set). */
static int hit(const char *op, const char *path) {
    if (inside) return 0;
    configure();
    if (!op_enabled(op) || (match[0] && (!path || !strstr(path, match)))) return 0;
    pthread_mutex_lock(&lock);
    unsigned long k = ++n_calls;
    int fail = fail_at && (k == fail_at || (sticky && k > fail_at));
    if (log_path[0] && n_log < LOG_MAX) {
        char **nl = realloc(log_lines, (n_log + 1) * sizeof *nl);
        if (nl) {
            log_lines = nl;
            size_t len = strlen(op) + (path ? strlen(path) : 1) + 40;
            char *line = malloc(len);
            if (line) {
                snprintf(line, len, "%lu %s %s%s", k, op, path ? path : "-", fail ? " FAILED" : "");
                log_lines[n_log++] = line;
            }
        }
    }
    pthread_mutex_unlock(&lock);
    if (fail) errno = fail_errno;
    return fail;
}

__attribute__((constructor)) static void init(void) { configure(); }

__attribute__((destructor)) static void write_log(void) {
    if (!log_path[0]) return;
    inside = 1;
    FILE *f = REAL(fopen)(log_path, "a"); /* created even when nothing was counted */
    if (!f) return;
    for (size_t i = 0; i < n_log; i++) REAL(fprintf)(f, "%s\n", log_lines[i]);
    REAL(fclose)(f);
}

static const char *tracked(int fd) { return fd >= 0 && fd < MAX_FD ? fd_path[fd] : NULL; }

static void track(int fd, const char *path) {
    if (fd < 0 || fd >= MAX_FD) return;
    pthread_mutex_lock(&lock);
    free(fd_path[fd]);
    fd_path[fd] = strdup(path);
    pthread_mutex_unlock(&lock);
}

static void untrack(int fd) {
    if (fd < 0 || fd >= MAX_FD) return;
    pthread_mutex_lock(&lock);
    free(fd_path[fd]);
    fd_path[fd] = NULL;
    pthread_mutex_unlock(&lock);
}

static const char *stream_path(FILE *fp) { return fp ? tracked(fileno(fp)) : NULL; }

static int stream_fails(FILE *fp, const char *op) {
    const char *p = stream_path(fp);
    if (!p || !hit(op, p)) return 0;
    fp->_flags |= _IO_ERR_SEEN;
    return 1;
}

static int writes_mode(const char *mode) { return strpbrk(mode, "wa+") != NULL; }
static int writes_flags(int flags) { return (flags & O_ACCMODE) != O_RDONLY; }

/* ------------------------------------------------------------ opening */

FILE *fopen(const char *path, const char *mode) {
    if (writes_mode(mode) && hit("open", path)) return NULL;
    FILE *fp = REAL(fopen)(path, mode);
    if (fp && writes_mode(mode) && !inside) track(fileno(fp), path);
    return fp;
}

FILE *fopen64(const char *path, const char *mode) { return fopen(path, mode); }

static int open_common(int dirfd, const char *path, int flags, mode_t mode, int at) {
    if (writes_flags(flags) && hit("open", path)) return -1;
    int fd = at ? REAL(openat)(dirfd, path, flags, mode) : REAL(open)(path, flags, mode);
    if (fd >= 0 && writes_flags(flags) && !inside) track(fd, path);
    return fd;
}

int open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return open_common(AT_FDCWD, path, flags, mode, 0);
}

int open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return open_common(AT_FDCWD, path, flags, mode, 0);
}

int openat(int dirfd, const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return open_common(dirfd, path, flags, mode, 1);
}

int creat(const char *path, mode_t mode) { return open_common(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0); }

/* ------------------------------------------------------------ writing */

size_t fwrite(const void *p, size_t size, size_t n, FILE *fp) {
    if (size && n && stream_fails(fp, "write")) return 0;
    return REAL(fwrite)(p, size, n, fp);
}

int fputc(int c, FILE *fp) {
    if (stream_fails(fp, "write")) return EOF;
    return REAL(fputc)(c, fp);
}

int putc(int c, FILE *fp) {
    if (stream_fails(fp, "write")) return EOF;
    return REAL(putc)(c, fp);
}

int fputs(const char *s, FILE *fp) {
    if (stream_fails(fp, "write")) return EOF;
    return REAL(fputs)(s, fp);
}

int vfprintf(FILE *fp, const char *fmt, va_list ap) {
    if (stream_fails(fp, "write")) return -1;
    return REAL(vfprintf)(fp, fmt, ap);
}

int fprintf(FILE *fp, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(fp, fmt, ap);
    va_end(ap);
    return r;
}

int __vfprintf_chk(FILE *fp, int flag, const char *fmt, va_list ap) {
    (void)flag;
    return vfprintf(fp, fmt, ap);
}

int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...) {
    (void)flag;
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(fp, fmt, ap);
    va_end(ap);
    return r;
}

ssize_t write(int fd, const void *p, size_t n) {
    const char *path = tracked(fd);
    if (path && hit("write", path)) return -1;
    return REAL(write)(fd, p, n);
}

ssize_t pwrite(int fd, const void *p, size_t n, off_t off) {
    const char *path = tracked(fd);
    if (path && hit("write", path)) return -1;
    return REAL(pwrite)(fd, p, n, off);
}

int fflush(FILE *fp) {
    if (fp && stream_fails(fp, "flush")) return EOF;
    return REAL(fflush)(fp);
}

/* ------------------------------------------------------------ committing */

static char *fd_name(int fd, char *buf, size_t cap) {
    const char *t = tracked(fd);
    if (t) return strncpy(buf, t, cap - 1);
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

int fsync(int fd) {
    char name[1024] = "";
    if (hit("fsync", fd_name(fd, name, sizeof name))) return -1;
    return REAL(fsync)(fd);
}

int fdatasync(int fd) {
    char name[1024] = "";
    if (hit("fsync", fd_name(fd, name, sizeof name))) return -1;
    return REAL(fdatasync)(fd);
}

int fclose(FILE *fp) {
    int fd = fp ? fileno(fp) : -1;
    const char *path = tracked(fd);
    int fail = path && hit("close", path);
    int e = errno;
    if (path) untrack(fd);
    int r = REAL(fclose)(fp);
    if (fail) {
        errno = e;
        return EOF;
    }
    return r;
}

int close(int fd) {
    untrack(fd);
    return REAL(close)(fd);
}

int rename(const char *from, const char *to) {
    char both[2100];
    snprintf(both, sizeof both, "%s -> %s", from, to);
    if (hit("rename", both)) return -1;
    return REAL(rename)(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to) {
    char both[2100];
    snprintf(both, sizeof both, "%s -> %s", from, to);
    if (hit("rename", both)) return -1;
    return REAL(renameat)(fromfd, from, tofd, to);
}

/* ------------------------------------------------------------ mapping */

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (fd >= 0 && !(flags & MAP_ANONYMOUS)) {
        char name[1024] = "";
        if (hit("mmap", fd_name(fd, name, sizeof name))) {
            errno = fail_errno == ENOSPC ? ENOMEM : EIO;
            return MAP_FAILED;
        }
    }
    return REAL(mmap)(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap(addr, len, prot, flags, fd, off);
}
