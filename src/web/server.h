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
#endif
