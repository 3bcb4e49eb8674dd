#include "web/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "web/assets.h"
#include "web/http.h"

void lm_server_config_default(lm_server_config *c) {
    memset(c, 0, sizeof *c);
    c->bind = "127.0.0.1";
    c->port = 8080;
    lm_web_limits_default(&c->limits);
    c->request_timeout = 30;
    c->idle_timeout = 15;
    c->max_connections = 4096;
}

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- connections and the request deadline
 * Every connection is registered (MHD_OPTION_NOTIFY_CONNECTION) with a deadline by which its
 * next request must have arrived in full. A watchdog thread answers 408 to connections past
 * their deadline and shuts their socket down, which makes libmicrohttpd close them. The socket
 * is only touched under the lock, and a connection leaves the registry (CLOSED notification)
 * before libmicrohttpd closes its socket, so the descriptor is never a reused one. */

typedef struct conn {
    int fd;
    int armed;
    double deadline;
    struct conn *prev, *next;
} conn;

typedef struct {
    lm_web_ctx api;
    const lm_server_config *cfg;
    int loopback; /* bound to a loopback address: check Host */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    conn *conns;
    size_t n_conns;
    int stop;
    unsigned long timeouts;
} server;

static void conn_arm(server *s, conn *c, int on) {
    if (!c) return;
    pthread_mutex_lock(&s->mu);
    c->armed = on;
    if (on) c->deadline = now_sec() + s->cfg->request_timeout;
    pthread_mutex_unlock(&s->mu);
}

static void notify_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe) {
    server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn *c = calloc(1, sizeof *c);
        if (!c || !info) {
            free(c);
            *socket_context = NULL;
            return;
        }
        c->fd = info->connect_fd;
        c->armed = 1;
        pthread_mutex_lock(&s->mu);
        c->deadline = now_sec() + s->cfg->request_timeout;
        c->next = s->conns;
        if (s->conns) s->conns->prev = c;
        s->conns = c;
        s->n_conns++;
        pthread_mutex_unlock(&s->mu);
        *socket_context = c;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn *c = *socket_context;
        if (!c) return;
        pthread_mutex_lock(&s->mu);
        if (c->prev) c->prev->next = c->next;
        else s->conns = c->next;
        if (c->next) c->next->prev = c->prev;
        s->n_conns--;
        pthread_mutex_unlock(&s->mu);
        free(c);
        *socket_context = NULL;
    }
}

static void *watchdog(void *arg) {
    server *s = arg;
    static const char body[] = "{\"error\": \"the request took too long to arrive\"}\n";
    char msg[256];
    int len = snprintf(msg, sizeof msg,
                       "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json; "
                       "charset=utf-8\r\nContent-Length: %zu\r\n\r\n%s",
                       sizeof body - 1, body);
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        double t = now_sec();
        for (conn *c = s->conns; c; c = c->next) {
            if (!c->armed || t < c->deadline) continue;
            c->armed = 0;
            s->timeouts++;
            (void)!send(c->fd, msg, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
            shutdown(c->fd, SHUT_RDWR);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static conn *conn_of(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* ---- requests */

enum route { R_STATIC, R_INFO, R_THEME, R_SEARCH, R_FIGURE, R_AUDIO };

typedef struct {
    char *data;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const char *d, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, d, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* Bytes over --max-upload that are still read (and dropped) to answer 413 cleanly; see the header check. */
#define OVERSIZE_DRAIN ((size_t)8 << 20)
#define MAX_FIELDS 12

typedef struct {
    enum route route;
    enum lm_web_endpoint ep;
    const lm_web_asset *asset;
    struct MHD_PostProcessor *pp;
    buf body;
    buf file;
    char *file_name;
    int has_file;
    struct {
        char name[16];
        buf val;
    } fields[MAX_FIELDS];
    int n_fields;
    uint64_t received;
    int form; /* 1 urlencoded, 2 multipart, 0 anything else (the body is the file) */
    int too_big, bad_form, oom;
    char bad_field[48];
    int status;
    double t0;
    char what[120]; /* "METHOD /path" for the access log */
} req;

static void req_free(req *q) {
    if (!q) return;
    if (q->pp) MHD_destroy_post_processor(q->pp);
    free(q->body.data);
    free(q->file.data);
    free(q->file_name);
    for (int i = 0; i < q->n_fields; i++) free(q->fields[i].val.data);
    free(q);
}

static const char *form_field(const req *q, const char *name) {
    for (int i = 0; i < q->n_fields; i++)
        if (!strcmp(q->fields[i].name, name)) return q->fields[i].val.data ? q->fields[i].val.data : "";
    return NULL;
}

/* A field name for a message: printable ASCII, at most 40 bytes. */
static void field_name(char *out, size_t cap, const char *key) {
    size_t i = 0;
    for (; key[i] && i < 40 && i + 1 < cap; i++) out[i] = key[i] >= 0x20 && key[i] < 0x7F ? key[i] : '?';
    out[i] = '\0';
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                 const char *content_type, const char *transfer_encoding, const char *data,
                                 uint64_t off, size_t size) {
    (void)kind, (void)content_type, (void)transfer_encoding;
    req *q = cls;
    if (!key) return MHD_YES;
    if (!strcmp(key, "file")) {
        if (off == 0 && q->has_file) {
            q->bad_form = 1;
            snprintf(q->bad_field, sizeof q->bad_field, "file");
            return MHD_NO;
        }
        if (off == 0) {
            q->has_file = 1;
            if (filename) q->file_name = strdup(filename);
        }
        if (size && buf_add(&q->file, data, size) != 0) {
            q->oom = 1;
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (!lm_web_known_param(q->ep, key)) {
        q->bad_form = 1;
        field_name(q->bad_field, sizeof q->bad_field, key);
        return MHD_NO;
    }
    int i = 0;
    while (i < q->n_fields && strcmp(q->fields[i].name, key) != 0) i++;
    if (i == q->n_fields) {
        if (q->n_fields == MAX_FIELDS) {
            q->bad_form = 1;
            field_name(q->bad_field, sizeof q->bad_field, key);
            return MHD_NO;
        }
        snprintf(q->fields[i].name, sizeof q->fields[i].name, "%s", key);
        q->n_fields++;
    } else if (off == 0) {
        q->bad_form = 1;
        field_name(q->bad_field, sizeof q->bad_field, key);
        return MHD_NO;
    }
    if (size && buf_add(&q->fields[i].val, data, size) != 0) {
        q->oom = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

/* ---- replies */

static void common_headers(struct MHD_Response *r) {
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result send_reply(struct MHD_Connection *c, req *q, lm_web_reply *rep) {
    struct MHD_Response *r = MHD_create_response_from_buffer(rep->len, rep->body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        lm_web_reply_free(rep);
        return MHD_NO;
    }
    rep->body = NULL; /* the response owns it */
    common_headers(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rep->type ? rep->type : "text/plain");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (rep->status == 405)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, q && q->route == R_AUDIO ? "GET, HEAD" : "GET, HEAD, POST");
    if (q) q->status = rep->status;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)rep->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, req *q, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(struct MHD_Connection *c, req *q, int status, const char *fmt, ...) {
    char msg[1000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lm_web_reply rep = {0};
    lm_web_error(&rep, status, "%s", msg);
    return send_reply(c, q, &rep);
}

static enum MHD_Result send_asset(struct MHD_Connection *c, req *q, const lm_web_asset *a) {
    struct MHD_Response *r = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    common_headers(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (!strncmp(a->type, "text/html", 9))
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; style-src 'self'; "
                                "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                                "frame-ancestors 'none'; form-action 'self'");
    q->status = 200;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* GET /audio/ID: the file of a database document, never a path from the client. */
static enum MHD_Result send_audio(server *s, struct MHD_Connection *c, req *q, const char *id) {
    if (!lm_http_valid_doc_id(id)) return send_error(c, q, 400, "not a document id");
    long k = lm_db_find(&s->api.db, id);
    if (k < 0) return send_error(c, q, 404, "no recording with the id '%.200s' in the database", id);
    const char *path = s->api.db.docs[k].path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        return send_error(c, q, 404, "the audio file of '%.200s' is not available on the server", id);
    }
    uint64_t size = (uint64_t)st.st_size, first = 0, last = size ? size - 1 : 0;
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    int rr = lm_http_parse_range(range, size, &first, &last);
    char cr[96];
    struct MHD_Response *r;
    unsigned status;
    if (rr < 0) {
        close(fd);
        lm_web_reply rep = {0};
        lm_web_error(&rep, 416, "the requested byte range is outside the file (%llu bytes)", (unsigned long long)size);
        r = MHD_create_response_from_buffer(rep.len, rep.body, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            lm_web_reply_free(&rep);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rep.type);
        snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
        status = MHD_HTTP_RANGE_NOT_SATISFIABLE;
    } else if (size == 0) {
        close(fd);
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_OK;
    } else {
        r = MHD_create_response_from_fd_at_offset64(last - first + 1, fd, first);
        if (!r) {
            close(fd);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, lm_http_audio_type(path));
        status = rr == 1 ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK;
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)first, (unsigned long long)last,
                 (unsigned long long)size);
    }
    if (!r) return MHD_NO;
    common_headers(r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (status != MHD_HTTP_OK) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    q->status = (int)status;
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

typedef struct {
    enum lm_web_endpoint ep;
    char bad[48];
} arg_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind, (void)value;
    arg_check *a = cls;
    if (key && !lm_web_known_param(a->ep, key)) {
        field_name(a->bad, sizeof a->bad, key);
        return MHD_NO;
    }
    return MHD_YES;
}

static const char *param(struct MHD_Connection *c, const req *q, const char *name) {
    const char *v = form_field(q, name);
    return v ? v : MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result run_api(server *s, struct MHD_Connection *c, req *q) {
    arg_check a = {q->ep, ""};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &a);
    if (a.bad[0]) return send_error(c, q, 400, "unknown parameter '%s'", a.bad);
    lm_web_params p = {0};
    p.theme = param(c, q, "theme");
    p.top = param(c, q, "top");
    p.duration = param(c, q, "duration");
    p.tempo = param(c, q, "tempo");
    p.transpose = param(c, q, "transpose");
    p.doc = param(c, q, "doc");
    p.format = param(c, q, "format");
    p.scale = param(c, q, "scale");
    p.kind = param(c, q, "kind");
    p.occurrences = param(c, q, "occurrences");
    p.occ_threshold = param(c, q, "occ_threshold");
    p.part = param(c, q, "part");
    p.measures = param(c, q, "measures");
    p.track = param(c, q, "track");
    p.voice = param(c, q, "voice");
    if (q->has_file) {
        p.has_file = 1;
        p.file = (const unsigned char *)(q->file.data ? q->file.data : "");
        p.file_len = q->file.len;
        p.file_name = q->file_name;
    } else if (q->body.len) {
        p.has_file = 1;
        p.file = (const unsigned char *)q->body.data;
        p.file_len = q->body.len;
    }
    lm_web_reply rep = {0};
    switch (q->route) {
    case R_INFO: lm_web_info(&s->api, &rep); break;
    case R_THEME: lm_web_theme(&s->api, &p, &rep); break;
    case R_SEARCH: lm_web_search(&s->api, &p, &rep); break;
    case R_FIGURE: lm_web_figure(&s->api, &p, &rep); break;
    default: lm_web_error(&rep, 404, "not found"); break;
    }
    return send_reply(c, q, &rep);
}

/* Route and method checks on the first call; NULL answer = go on. */
static int route_of(const char *url, req *q) {
    if (!strcmp(url, "/api/info")) q->route = R_INFO, q->ep = LM_WEB_INFO;
    else if (!strcmp(url, "/api/theme")) q->route = R_THEME, q->ep = LM_WEB_THEME;
    else if (!strcmp(url, "/api/search")) q->route = R_SEARCH, q->ep = LM_WEB_SEARCH;
    else if (!strcmp(url, "/api/figure")) q->route = R_FIGURE, q->ep = LM_WEB_FIGURE;
    else if (!strncmp(url, "/audio/", 7)) q->route = R_AUDIO;
    else if ((q->asset = lm_web_asset_find(url))) q->route = R_STATIC;
    else return -1;
    return 0;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls) {
    server *s = cls;
    req *q = *con_cls;
    if (!q) { /* headers are in: route, check, and prepare for a body */
        q = calloc(1, sizeof *q);
        if (!q) return MHD_NO;
        *con_cls = q;
        q->t0 = now_sec();
        if (s->cfg->log) { /* printable ASCII only: the log is a terminal */
            snprintf(q->what, sizeof q->what, "%.10s %s", method, url);
            for (char *p = q->what; *p; p++)
                if (*p < 0x20 || *p > 0x7E) *p = '?';
        }
        int get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
        int post = !strcmp(method, MHD_HTTP_METHOD_POST);
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        if (!host && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
            return send_error(c, q, 400, "an HTTP/1.1 request needs a Host header");
        if (s->loopback && !lm_http_host_is_loopback(host))
            return send_error(c, q, 403, "this server answers only to requests for localhost (its Host header)");
        if (route_of(url, q) != 0) return send_error(c, q, 404, "not found");
        int api = q->route != R_STATIC && q->route != R_AUDIO && q->route != R_INFO;
        if (!get && !(post && api)) {
            return send_error(c, q, 405, "method %.20s not allowed here", method);
        }
        const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (len) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(len, &end, 10);
            /* A body somewhat over the limit is read and dropped, then answered 413 (at the end, as
             * a chunked one): answered now, the close with unread bytes makes the kernel reset the
             * connection, and a client still sending may lose the answer to the reset. Far too
             * large bodies, and clients that wait for "100 Continue" (they send nothing), are
             * answered now. */
            int over = errno || *end || n > s->cfg->limits.max_upload;
            if (over) {
                const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
                if (errno || *end || n - s->cfg->limits.max_upload > OVERSIZE_DRAIN ||
                    (expect && !strcasecmp(expect, "100-continue")))
                    return send_error(c, q, 413, "the request body is larger than this server accepts (%zu bytes)",
                                      s->cfg->limits.max_upload);
                q->too_big = 1;
            }
        }
        if (post) {
            const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
            if (type && !strncasecmp(type, MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA,
                                     strlen(MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA)))
                q->form = 2;
            else if (type && !strncasecmp(type, MHD_HTTP_POST_ENCODING_FORM_URLENCODED,
                                          strlen(MHD_HTTP_POST_ENCODING_FORM_URLENCODED)))
                q->form = 1;
        }
        return MHD_YES;
    }
    if (*upload_data_size) { /* a piece of the body */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        q->received += n;
        if (q->received > s->cfg->limits.max_upload) q->too_big = 1;
        if (q->too_big || q->oom) return MHD_YES; /* read and dropped: answered at the end */
        if (buf_add(&q->body, upload_data, n) != 0) q->oom = 1;
        return MHD_YES;
    }
    /* The whole request is in. */
    conn_arm(s, conn_of(c), 0);
    if (q->too_big)
        return send_error(c, q, 413, "the request body is larger than this server accepts (%zu bytes)",
                          s->cfg->limits.max_upload);
    if (q->oom) return send_error(c, q, 503, "out of memory");
    /* A form is decoded now that it is all here. A MIDI file sent as the body by a client that
     * calls every body a form (curl --data-binary does) is taken as the file. */
    if (q->form == 1 && q->body.len >= 4 && !memcmp(q->body.data, "MThd", 4)) q->form = 0;
    if (q->form && q->body.len) {
        q->pp = MHD_create_post_processor(c, 16 * 1024, post_iter, q);
        if (!q->pp) return send_error(c, q, 400, "cannot read this form (multipart/form-data needs a boundary)");
        if (MHD_post_process(q->pp, q->body.data, q->body.len) != MHD_YES) q->bad_form = 1;
        if (MHD_destroy_post_processor(q->pp) != MHD_YES) q->bad_form = 1;
        q->pp = NULL;
        free(q->body.data);
        q->body = (buf){0};
    }
    if (q->oom) return send_error(c, q, 503, "out of memory");
    if (q->bad_form) {
        if (q->bad_field[0]) return send_error(c, q, 400, "unknown or repeated form field '%s'", q->bad_field);
        return send_error(c, q, 400, "the form data cannot be read");
    }
    switch (q->route) {
    case R_STATIC: return send_asset(c, q, q->asset);
    case R_AUDIO: return send_audio(s, c, q, url + 7);
    default: return run_api(s, c, q);
    }
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    server *s = cls;
    req *q = *con_cls;
    if (q && s->cfg->log) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char addr[INET6_ADDRSTRLEN] = "?";
        if (ci && ci->client_addr) {
            if (ci->client_addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr, sizeof addr);
            else if (ci->client_addr->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, addr, sizeof addr);
        }
        fprintf(stderr, "leitmotif serve: %s %s %d %.1f ms%s\n", addr, q->what, q->status, 1e3 * (now_sec() - q->t0),
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
    }
    req_free(q);
    *con_cls = NULL;
    conn_arm(s, conn_of(c), 1); /* the next request on this connection has its own deadline */
}

/* Percent-decoding of the path and the query arguments, except that %00 stays as it is: a NUL
 * would cut the string short ("/audio/ID%00.wav" must not read as "/audio/ID"). */
static int hexval(char ch) {
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls, (void)c;
    char *w = s;
    const char *r = s;
    while (*r) {
        int hi = r[0] == '%' ? hexval(r[1]) : -1, lo = hi >= 0 ? hexval(r[2]) : -1;
        if (hi >= 0 && lo >= 0 && (hi | lo)) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else *w++ = *r++;
    }
    *w = '\0';
    return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    const server *s = cls;
    if (!s->cfg->log) return;
    fputs("leitmotif serve: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ---- start and stop */

static int parse_bind(const char *bind, int port, struct sockaddr_storage *sa, int *v6, int *loopback) {
    memset(sa, 0, sizeof *sa);
    if (!strcmp(bind, "localhost")) bind = "127.0.0.1";
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, bind, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *v6 = 0;
        *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
        return 0;
    }
    const char *b = bind;
    char tmp[64];
    if (b[0] == '[') { /* [::1] */
        size_t n = strlen(b);
        if (n < 3 || n - 2 >= sizeof tmp || b[n - 1] != ']') goto bad;
        memcpy(tmp, b + 1, n - 2);
        tmp[n - 2] = '\0';
        b = tmp;
    }
    if (inet_pton(AF_INET6, b, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *v6 = 1;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        return 0;
    }
bad:
    lm_set_error("--bind: '%s' is not a numeric IPv4 or IPv6 address (or localhost)", bind);
    return -1;
}

int lm_server_run(const lm_server_config *cfg) {
    struct sockaddr_storage sa;
    int v6 = 0, loopback = 0;
    if (cfg->port < 0 || cfg->port > 65535) {
        lm_set_error("--port must be in [0, 65535]");
        return -1;
    }
    if (parse_bind(cfg->bind, cfg->port, &sa, &v6, &loopback) != 0) return -1;
    server *s = calloc(1, sizeof *s);
    if (!s) {
        lm_set_error("out of memory");
        return -1;
    }
    s->cfg = cfg;
    s->loopback = loopback;
    if (lm_web_ctx_open(&s->api, cfg->db_path, &cfg->limits) != 0) {
        free(s);
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* Many connections need many descriptors: raise the soft limit to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* SIGINT/SIGTERM are taken by sigwait below: block them in every thread started from here. */
    sigset_t stop_set, old_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_set, &old_set);
    signal(SIGPIPE, SIG_IGN);
    pthread_t wd;
    int wd_ok = pthread_create(&wd, NULL, watchdog, s) == 0;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, handler, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout, MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024, MHD_OPTION_THREAD_STACK_SIZE, (size_t)2 << 20,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    int rc = 0;
    if (!d || !wd_ok) {
        lm_set_error("cannot listen on %s port %d: %s", cfg->bind, cfg->port,
                     errno ? strerror(errno) : "libmicrohttpd did not start");
        rc = -1;
    } else {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        int port = di ? di->port : cfg->port;
        fprintf(stderr, "leitmotif serve: http://%s%s%s:%d/ (%s, %zu recordings; Ctrl-C stops)\n", v6 ? "[" : "",
                !strcmp(cfg->bind, "localhost") ? "127.0.0.1" : cfg->bind, v6 ? "]" : "", port, cfg->db_path,
                s->api.db.n_docs);
        if (!loopback)
            fprintf(stderr, "leitmotif serve: warning: listening beyond this machine: whoever reaches %s can search "
                            "the database and play its recordings\n",
                    cfg->bind);
        fflush(stderr);
        int sig;
        sigwait(&stop_set, &sig);
        fprintf(stderr, "leitmotif serve: stopping (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    if (d) MHD_stop_daemon(d);
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (wd_ok) pthread_join(wd, NULL);
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    lm_web_ctx_close(&s->api);
    free(s);
    return rc;
}

/* ---- the request handling without a network (server.h: lm_server_local_*) */

struct lm_server_local {
    server s;
    lm_server_config cfg;
    struct MHD_Daemon *d;
};

lm_server_local *lm_server_local_open(const lm_server_config *cfg) {
    struct sockaddr_storage sa;
    int v6 = 0, loopback = 0;
    if (parse_bind(cfg->bind, 0, &sa, &v6, &loopback) != 0) return NULL;
    lm_server_local *l = calloc(1, sizeof *l);
    if (!l) {
        lm_set_error("out of memory");
        return NULL;
    }
    l->cfg = *cfg;
    l->s.cfg = &l->cfg;
    l->s.loopback = loopback;
    if (lm_web_ctx_open(&l->s.api, cfg->db_path, &cfg->limits) != 0) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->s.mu, NULL);
    pthread_cond_init(&l->s.cv, NULL);
    /* lm_server_run's callbacks and per-connection options; no listening socket and no threads
     * (MHD_run drives it), so no watchdog: request_timeout is not enforced here. */
    l->d = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, NULL, NULL, handler, &l->s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &l->s, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout, MHD_OPTION_CONNECTION_LIMIT,
                            cfg->max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
                            MHD_OPTION_NOTIFY_CONNECTION, notify_connection, &l->s, MHD_OPTION_NOTIFY_COMPLETED,
                            completed, &l->s, MHD_OPTION_END);
    if (!l->d) {
        lm_set_error("libmicrohttpd did not start");
        lm_server_local_close(l);
        return NULL;
    }
    return l;
}

int lm_server_local_exchange(lm_server_local *l, const void *request, size_t n, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        lm_set_error("socketpair: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un peer; /* the client's address as accept() gives it for a local socket */
    memset(&peer, 0, sizeof peer);
    peer.sun_family = AF_UNIX;
    if (MHD_add_connection(l->d, sv[0], (const struct sockaddr *)&peer, sizeof peer) != MHD_YES) {
        close(sv[0]);
        close(sv[1]);
        lm_set_error("libmicrohttpd refused the connection");
        return -1;
    }
    /* sv[0] is the daemon's now; sv[1] is the client. */
    int fl = fcntl(sv[1], F_GETFL);
    if (fl >= 0) fcntl(sv[1], F_SETFL, fl | O_NONBLOCK);
    buf got = {0};
    const char *req = request;
    size_t sent = 0;
    int eof = 0, idle = 0, oom = 0, shut = 0;
    while (!eof && idle < 100000) {
        int progress = 0;
        if (sent < n) {
            ssize_t w = send(sv[1], req + sent, n - sent, MSG_NOSIGNAL);
            if (w > 0) sent += (size_t)w, progress = 1;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) sent = n; /* closed */
        }
        if (sent == n && !shut) { /* the client has sent everything */
            shutdown(sv[1], SHUT_WR);
            shut = 1;
        }
        MHD_run(l->d);
        char tmp[16384];
        for (;;) {
            ssize_t r = recv(sv[1], tmp, sizeof tmp, 0);
            if (r > 0) {
                progress = 1;
                if (!oom && buf_add(&got, tmp, (size_t)r) != 0) oom = 1;
            } else {
                if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) eof = 1;
                break;
            }
        }
        idle = progress ? 0 : idle + 1;
    }
    close(sv[1]);
    MHD_run(l->d); /* lets the daemon finish with its end */
    if (!eof || oom) {
        free(got.data);
        lm_set_error(oom ? "out of memory" : "the server neither answered nor closed the connection");
        return -1;
    }
    if (!got.data && !(got.data = calloc(1, 1))) {
        lm_set_error("out of memory");
        return -1;
    }
    *out = got.data;
    *out_len = got.len;
    return 0;
}

void lm_server_local_close(lm_server_local *l) {
    if (!l) return;
    if (l->d) MHD_stop_daemon(l->d);
    pthread_cond_destroy(&l->s.cv);
    pthread_mutex_destroy(&l->s.mu);
    lm_web_ctx_close(&l->s.api);
    free(l);
}
