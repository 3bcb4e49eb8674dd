/* Small HTTP helpers of `leitmotif serve` that need no server: byte ranges, document ids in URLs,
 * media types, strict numbers, the Host check. Kept apart so that unit tests reach them. */
#ifndef LM_WEB_HTTP_H
#define LM_WEB_HTTP_H
#include <stddef.h>
#include <stdint.h>

/* A Range request header against a resource of `size` bytes (RFC 9110 14.2): 1 with
 * [*first, *last] for one satisfiable range ("bytes=a-b", "bytes=a-", "bytes=-n"); 0 when the
 * header is absent, not in the bytes unit, malformed or asks for several ranges (the server
 * then answers 200 with the whole resource, as the RFC allows); -1 when the range is not
 * satisfiable (416). */
int lm_http_parse_range(const char *header, uint64_t size, uint64_t *first, uint64_t *last);

/* 1 if s can be a document id in a URL: 1..255 bytes, no '/', '\\' or control characters, not
 * "." or "..". Ids are only ever looked up in the database, never used as paths; this check
 * merely answers 400 to things that are no id at all (such as "../../etc/passwd"). */
int lm_http_valid_doc_id(const char *s);

/* Media type of an audio file by its extension (audio/wav, audio/flac, ...), else
 * application/octet-stream. */
const char *lm_http_audio_type(const char *path);

/* Strict numbers: the whole string, finite, in [lo, hi]. 0 or -1. */
int lm_http_parse_double(const char *s, double lo, double hi, double *out);
int lm_http_parse_long(const char *s, long lo, long hi, long *out);

/* 1 if a Host header names this machine's loopback interface (localhost, 127.x.y.z, [::1], with
 * or without a port): what a loopback-only server accepts, so that pages of other sites cannot
 * reach it through DNS rebinding. NULL (HTTP/1.0 without Host) counts as loopback. */
int lm_http_host_is_loopback(const char *host);
#endif
