/* `leitmotif serve`: the search page and its JSON API over HTTP (GNU libmicrohttpd).
 *
 *   GET  /                      the page (web/, compiled in)
 *   GET  /api/info              the database and the server's limits
 *   GET  /api/theme?theme=...   a note list parsed (the page's live check and preview)
 *   GET  /api/search?theme=...&top=K[&duration=S][&tempo=BPM][&transpose=K]
 *                               the JSON of `leitmotif search --json`
 *   POST /api/search[?...]      a theme file (MIDI, MusicXML, .mxl, **kern): multipart/form-data
 *                               field `file`, or the body
 *   GET|POST /api/figure?doc=ID&...[&format=svg|png]   the theme matched in one recording
 *   GET  /audio/ID              the recording's file (byte ranges: 206), for database ids only
 *
 * One thread per connection; searches and figures run at most `limits.max_active` at a time.
 * A client must send its whole request within `request_timeout` seconds of connecting (or of its
 * previous request), else it gets 408 and is disconnected (slow clients cannot hold threads);
 * connections idle for `idle_timeout` seconds are closed. */
#ifndef LM_WEB_SERVER_H
#define LM_WEB_SERVER_H

#include "web/api.h"

typedef struct {
    const char *db_path;
    const char *bind; /* numeric IPv4/IPv6 address or "localhost" [127.0.0.1] */
    int port;         /* 0: any free port (printed) [8080] */
    lm_web_limits limits;
    double request_timeout;   /* [10 s] */
    unsigned idle_timeout;    /* [5 s] */
    unsigned max_connections; /* [2048] */
    int log;                  /* one line per request on stderr */
} lm_server_config;

void lm_server_config_default(lm_server_config *c);

/* Serves until SIGINT or SIGTERM; prints "leitmotif serve: http://ADDR:PORT/ ..." on stderr when
 * ready. 0 after a clean stop, -1 with the error set when it cannot start. */
int lm_server_run(const lm_server_config *c);

/* The same request handling without a network, for the fuzzer (fuzz/fuzz_http.c) and tests: a
 * libmicrohttpd daemon with lm_server_run's handler, options and limits but no listening socket
 * and no threads, to which each exchange hands one end of a local socket pair (AF_UNIX). The
 * request bytes go in as a client sends them (then the client stops sending), the daemon runs in
 * the calling thread until it has answered and closed the connection, and the raw bytes of its
 * answers come back (several when the bytes hold several requests). Not thread-safe. */
typedef struct lm_server_local lm_server_local;
/* NULL with the error set if the database cannot be opened or the daemon not started. */
lm_server_local *lm_server_local_open(const lm_server_config *c);
/* 0 with *out (malloc'd, NUL-terminated, *out_len bytes; maybe empty: a request cut short gets no
 * answer); -1 with the error set if the connection could not be made or never closed. */
int lm_server_local_exchange(lm_server_local *l, const void *request, size_t n, char **out, size_t *out_len);
void lm_server_local_close(lm_server_local *l);
#endif
