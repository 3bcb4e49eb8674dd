/* The page's files (web/ in the source tree), compiled into the binary at build time by
 * src/web/embed.cmake, so that `leitmotif serve` needs no data directory. */
#ifndef LM_WEB_ASSETS_H
#define LM_WEB_ASSETS_H
#include <stddef.h>

typedef struct {
    const char *path; /* "/index.html" */
    const char *type; /* media type */
    const unsigned char *data;
    size_t len;
} lm_web_asset;

extern const lm_web_asset lm_web_assets[];
extern const size_t lm_web_n_assets;

/* The asset served at a URL path ("/" is "/index.html"), or NULL. */
const lm_web_asset *lm_web_asset_find(const char *path);
#endif
