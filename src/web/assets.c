#include "web/assets.h"

#include <string.h>

const lm_web_asset *lm_web_asset_find(const char *path) {
    if (!strcmp(path, "/")) path = "/index.html";
    for (size_t i = 0; i < lm_web_n_assets; i++)
        if (!strcmp(lm_web_assets[i].path, path)) return &lm_web_assets[i];
    return NULL;
}
