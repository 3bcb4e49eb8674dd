/* Load test of `leitmotif serve` (bench/run serve, tests/cli_serve_load.sh): C concurrent clients,
 * each on its own keep-alive connection, send searches for D seconds; prints requests per second,
 * latency percentiles and errors as "name value unit" lines. Any status but 200, a broken
 * connection or a reply after 60 s counts as an error; the exit status is 1 when there were any.
 *
 *   bench_serve http://127.0.0.1:PORT [-c CLIENTS] [-d SECONDS] [--top K] [--theme NOTES]...
 *   bench_serve --replicate SRC.lmdb N OUT.lmdb
 *       writes a database of N documents, copies of SRC's in turn (ids ID~k), for a larger
 *       database than the audio at hand would give. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "index/db.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int replicate(const char *src, long n, const char *out) {
    lm_db db;
    if (lm_db_open(src, &db) != 0) {
        fprintf(stderr, "bench_serve: %s\n", lm_last_error());
        return 1;
    }
    if (db.n_docs == 0 || n < 1) {
        fprintf(stderr, "bench_serve: nothing to replicate\n");
        lm_db_close(&db);
        return 1;
    }
    lm_db_doc *docs = calloc((size_t)n, sizeof *docs);
    char *ids = calloc((size_t)n, 300);
    if (!docs || !ids) return 1;
    for (long k = 0; k < n; k++) {
        docs[k] = db.docs[(size_t)k % db.n_docs];
        snprintf(ids + 300 * k, 300, "%.200s~%ld", docs[k].id, k);
        docs[k].id = ids + 300 * k;
    }
    int rc = lm_db_write(out, db.type, db.model_checksum, db.model_id, docs, (size_t)n);
    if (rc != 0) fprintf(stderr, "bench_serve: %s\n", lm_last_error());
    else fprintf(stderr, "bench_serve: wrote %s: %ld documents (copies of the %zu of %s)\n", out, n, db.n_docs, src);
    free(docs);
    free(ids);
    lm_db_close(&db);
    return rc ? 1 : 0;
}

/* ---- the client */

static struct sockaddr_in server;
static char host_header[96];
static char **paths;
static int n_paths;
static double t_end;

typedef struct {
    int id;
    double *lat;
    size_t n, cap;
    long errors, ok;
} worker;

static int connect_server(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&server, sizeof server) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One request on fd; returns the status, or -1 when the connection failed. *keep: may reuse. */
static int request(int fd, const char *path, int *keep) {
    char req[8192];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n\r\n", path,
                       host_header);
    if (len <= 0 || (size_t)len >= sizeof req) return -1;
    for (int off = 0; off < len;) {
        ssize_t w = send(fd, req + off, (size_t)(len - off), MSG_NOSIGNAL);
        if (w <= 0) return -1;
        off += (int)w;
    }
    static _Thread_local char buf[1 << 16];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have == sizeof buf - 1) return -1;
        ssize_t r = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (r <= 0) return -1;
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) return -1;
    long clen = -1;
    *keep = 1;
    for (char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        if (!strncasecmp(line, "Content-Length:", 15)) clen = strtol(line + 15, NULL, 10);
        else if (!strncasecmp(line, "Connection:", 11) && strstr(line, "close") &&
                 strstr(line, "close") < strstr(line, "\r\n"))
            *keep = 0;
        else if (!strncasecmp(line, "Transfer-Encoding:", 18)) return -1; /* not sent by the server */
    }
    if (clen < 0) return -1;
    size_t body = have - (size_t)(end + 4 - buf);
    while ((long)body < clen) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0) return -1;
        body += (size_t)r;
    }
    return status;
}

static void *run_worker(void *arg) {
    worker *w = arg;
    int fd = -1;
    long k = w->id;
    while (now() < t_end) {
        if (fd < 0 && (fd = connect_server()) < 0) {
            w->errors++;
            usleep(100000);
            continue;
        }
        int keep = 1;
        double t0 = now();
        int status = request(fd, paths[k++ % n_paths], &keep);
        double dt = now() - t0;
        if (status == 200) w->ok++;
        else {
            w->errors++;
            if (status < 0) {
                close(fd);
                fd = -1;
            }
        }
        if (status > 0) {
            if (w->n == w->cap) {
                w->cap = w->cap ? 2 * w->cap : 1024;
                double *p = realloc(w->lat, w->cap * sizeof *p);
                if (!p) break;
                w->lat = p;
            }
            w->lat[w->n++] = dt;
        }
        if (!keep && fd >= 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void urlencode(const char *s, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_')
            out[o++] = (char)c;
        else out[o++] = '%', out[o++] = hex[c >> 4], out[o++] = hex[c & 15];
    }
    out[o] = '\0';
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "--replicate")) return replicate(argv[2], strtol(argv[3], NULL, 10), argv[4]);
    if (argc < 2 || strncmp(argv[1], "http://", 7) != 0) {
        fprintf(stderr, "usage: bench_serve http://HOST:PORT [-c CLIENTS] [-d SECONDS] [--top K] [--theme NOTES]...\n"
                        "       bench_serve --replicate SRC.lmdb N OUT.lmdb\n");
        return 2;
    }
    char host[64];
    int port = 0;
    if (sscanf(argv[1] + 7, "%63[^:/]:%d", host, &port) != 2 || inet_pton(AF_INET, host, &server.sin_addr) != 1) {
        fprintf(stderr, "bench_serve: expected http://IPv4:PORT, got %s\n", argv[1]);
        return 2;
    }
    server.sin_family = AF_INET;
    server.sin_port = htons((unsigned short)port);
    snprintf(host_header, sizeof host_header, "%s:%d", host, port);
    int clients = 32;
    double seconds = 30;
    long top = 10;
    const char *themes[64];
    int n_themes = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc) clients = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-d") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--top") && i + 1 < argc) top = atol(argv[++i]);
        else if (!strcmp(argv[i], "--theme") && i + 1 < argc && n_themes < 64) themes[n_themes++] = argv[++i];
        else {
            fprintf(stderr, "bench_serve: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (clients < 1 || clients > 4096 || !(seconds > 0)) {
        fprintf(stderr, "bench_serve: bad -c or -d\n");
        return 2;
    }
    if (n_themes == 0) { /* well-known openings, at their usual tempo */
        themes[n_themes++] = "G4 G4 G4 Eb4:4 F4 F4 F4 D4:4";
        themes[n_themes++] = "E5 D#5 E5 D#5 E5 B4 D5 C5 A4:2";
        themes[n_themes++] = "C4 C4 G4 G4 A4 A4 G4:2 F4 F4 E4 E4 D4 D4 C4:2";
        themes[n_themes++] = "D4 A4 F4 D4 C#4 D4 E4 F4:2 G4 F4 E4 D4";
    }
    paths = calloc((size_t)n_themes, sizeof *paths);
    for (int i = 0; i < n_themes; i++) {
        char enc[4096];
        urlencode(themes[i], enc, sizeof enc);
        paths[i] = malloc(strlen(enc) + 64);
        sprintf(paths[i], "/api/search?theme=%s&top=%ld", enc, top);
    }
    n_paths = n_themes;
    worker *ws = calloc((size_t)clients, sizeof *ws);
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    if (!paths || !ws || !th) return 1;
    double t0 = now();
    t_end = t0 + seconds;
    for (int i = 0; i < clients; i++) {
        ws[i].id = i;
        if (pthread_create(&th[i], NULL, run_worker, &ws[i]) != 0) {
            fprintf(stderr, "bench_serve: cannot start client %d\n", i);
            return 1;
        }
    }
    size_t total = 0;
    long errors = 0, ok = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += ws[i].n;
        errors += ws[i].errors;
        ok += ws[i].ok;
    }
    double elapsed = now() - t0;
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, ws[i].lat, ws[i].n * sizeof *all);
        k += ws[i].n;
        free(ws[i].lat);
    }
    qsort(all, total, sizeof *all, cmp_double);
    double p50 = total ? all[(size_t)floor(0.50 * (double)(total - 1))] : NAN;
    double p99 = total ? all[(size_t)floor(0.99 * (double)(total - 1))] : NAN;
    fprintf(stderr, "bench_serve: %d clients for %.1f s: %zu replies, %ld errors\n", clients, elapsed, total, errors);
    printf("serve_requests_per_sec %.1f req/s\n", (double)ok / elapsed);
    printf("serve_latency_p50 %.2f ms\n", 1e3 * p50);
    printf("serve_latency_p99 %.2f ms\n", 1e3 * p99);
    printf("serve_errors %ld count\n", errors);
    free(all);
    free(ws);
    free(th);
    for (int i = 0; i < n_paths; i++) free(paths[i]);
    free(paths);
    return errors ? 1 : 0;
}
