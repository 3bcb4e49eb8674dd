/* `leitmotif serve`: the search page and its JSON API (src/web). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/threads.h"
#include "web/server.h"

static void serve_help(FILE *f) {
    fprintf(f,
            "usage: leitmotif serve DB [--bind ADDR] [--port N] [--threads N] [--log]\n"
            "                      [--max-upload BYTES] [--timeout SEC] [--idle-timeout SEC] [--max-connections N]\n\n"
            "Serves a search page for the recordings of the database DB: type a theme (a note list such as\n"
            "\"G4 G4 G4 Eb4:4\") or drop a score (MIDI, MusicXML, **kern), see the ranked recordings,\n"
            "listen to the matched passages and look at the match. Open the address it prints in a\n"
            "browser. The same searches are a JSON API (docs/web.md):\n"
            "  GET  /api/search?theme=NOTES&top=K[&duration=SEC][&tempo=BPM][&transpose=K]\n"
            "  POST /api/search   a theme file (MIDI, MusicXML, .mxl, **kern) as the multipart/form-data\n"
            "                     field 'file' or as the body\n"
            "  GET  /api/figure?doc=ID&theme=...[&format=svg|png]   the match in one recording\n"
            "  GET  /audio/ID     the recording's file (HTTP range requests), database recordings only\n"
            "answering the JSON of 'leitmotif search --json'.\n\n"
            "  --bind ADDR         address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 or\n"
            "                      :: serves the network, which anyone there can then use)\n"
            "  --port N            TCP port (default 8080; 0: any free port, printed)\n"
            "  --threads N         worker threads for the searches (default: all cores)\n"
            "  --log               one line per request on stderr\n"
            "  --max-upload BYTES  largest request body (default 1048576); larger ones get 413\n"
            "  --timeout SEC       a request must arrive in full within SEC seconds (default 30), else 408\n"
            "  --idle-timeout SEC  close connections idle for SEC seconds (default 15)\n"
            "  --max-connections N connections at once (default 4096)\n\n"
            "It runs until interrupted (Ctrl-C or SIGTERM).\n");
}

int cmd_serve(int argc, char **argv) {
    lm_server_config cfg;
    lm_server_config_default(&cfg);
    for (int i = 1; i < argc; i++) {
        int th = lm_cli_threads_option(argc, argv, &i);
        if (th < 0) return 1;
        if (th) continue;
        long v;
        double d;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            serve_help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--bind") && i + 1 < argc) {
            cfg.bind = argv[++i];
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            if (lm_cli_parse_int("--port", argv[++i], 0, 65535, &v) != 0) return 1;
            cfg.port = (int)v;
        } else if (!strcmp(argv[i], "--log")) {
            cfg.log = 1;
        } else if (!strcmp(argv[i], "--max-upload") && i + 1 < argc) {
            if (lm_cli_parse_int("--max-upload", argv[++i], 1024, 1L << 30, &v) != 0) return 1;
            cfg.limits.max_upload = (size_t)v;
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            if (lm_cli_parse_double("--timeout", argv[++i], 0.5, 3600, &d) != 0) return 1;
            cfg.request_timeout = d;
        } else if (!strcmp(argv[i], "--idle-timeout") && i + 1 < argc) {
            if (lm_cli_parse_int("--idle-timeout", argv[++i], 1, 3600, &v) != 0) return 1;
            cfg.idle_timeout = (unsigned)v;
        } else if (!strcmp(argv[i], "--max-connections") && i + 1 < argc) {
            if (lm_cli_parse_int("--max-connections", argv[++i], 1, 100000, &v) != 0) return 1;
            cfg.max_connections = (unsigned)v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return lm_cli_fail("serve: unknown option or missing value: %s", argv[i]);
        } else if (!cfg.db_path) {
            cfg.db_path = argv[i];
        } else {
            return lm_cli_fail("serve: more than one database given");
        }
    }
    if (!cfg.db_path) {
        serve_help(stderr);
        return 2;
    }
    cfg.limits.max_active = lm_threads(); /* after --threads */
    if (lm_server_run(&cfg) != 0) return lm_cli_fail_lib();
    return 0;
}
