/* libFuzzer target for model files in the FLATWEIGHTS format (nn/model.h lm_flat_load): the deep
 * chroma model (lm_model_load) and Bittner's deep salience model (lm_salience_model_load) read
 * the same bytes. Any input must load with finite weights (and finite folded batch norms), or
 * give a one-line error; never a crash, leak or undefined behaviour.
 *
 * Input: byte 0 picks how the file is made, so that short inputs reach the weights:
 *   0 mod 4  the rest is the file, as is;
 *   1 mod 4  the rest is the 4096-byte header (cut or padded with NULs), followed by as many
 *            float32 weights as its "tensor ... count N" lines add up to (at most 4 M); the
 *            weights' bytes are the input after the header, repeated, or zeros;
 *   2 mod 4  the same with 4 bytes too many, 3 mod 4 with 4 bytes too few.
 * Seeds (fuzz/seeds.sh): mode 1 + the headers of the repository's model and of ../shared/reference/models.
 * Run: fuzz/run model [SECONDS] (dictionary: fuzz/model.dict). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "nn/model.h"
#include "nn/salience.h"

#define HEADER 4096
#define MAX_FLOATS (4u << 20)

/* Sum of the header's tensor counts, as the file would need them. */
static size_t header_floats(const char *hdr) {
    size_t total = 0;
    for (const char *p = hdr; (p = strstr(p, " count ")) != NULL; p += 7) {
        unsigned long long c = strtoull(p + 7, NULL, 10);
        if (c > MAX_FLOATS || total + c > MAX_FLOATS) return MAX_FLOATS;
        total += (size_t)c;
    }
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    int mode = data[0] % 4;
    const uint8_t *body = data + 1;
    size_t n_body = size - 1;
    uint8_t *file = NULL;
    size_t n_file = 0;
    if (mode == 0) {
        file = malloc(n_body ? n_body : 1);
        if (!file) return 0;
        memcpy(file, body, n_body);
        n_file = n_body;
    } else {
        char hdr[HEADER + 1];
        size_t h = n_body < HEADER ? n_body : HEADER;
        memset(hdr, 0, sizeof hdr);
        memcpy(hdr, body, h);
        size_t nf = header_floats(hdr);
        size_t bytes = nf * 4;
        if (mode == 2) bytes += 4;
        if (mode == 3) bytes = bytes >= 4 ? bytes - 4 : 0;
        n_file = HEADER + bytes;
        file = calloc(n_file, 1);
        if (!file) return 0;
        memcpy(file, hdr, HEADER);
        const uint8_t *w = body + h;
        size_t n_w = n_body - h;
        for (size_t i = 0; n_w && i < bytes; i++) file[HEADER + i] = w[i % n_w];
    }
    const char *path = fz_write("model.bin", file, n_file);
    free(file);

    lm_model m;
    lm_clear_error();
    if (lm_model_load(path, &m) == 0) {
        CHECK(m.w != NULL && strlen(m.id) < sizeof m.id);
        for (size_t i = 0; i < LM_MODEL_NFLOATS; i++) CHECK(isfinite(m.w[i]));
        CHECK(m.checksum == lm_crc32(0, m.w, LM_MODEL_NFLOATS * sizeof(float)));
        lm_model_free(&m);
    } else {
        fz_check_error();
        CHECK(m.w == NULL);
    }

    lm_salience_model s;
    lm_clear_error();
    if (lm_salience_model_load(path, &s) == 0) {
        CHECK(s.w != NULL);
        for (int b = 0; b <= LM_SAL_NCONV; b++) {
            /* the folded batch norms of the first layers: channels 6, 128, 64, 64, 64, 8 */
            static const size_t ch[LM_SAL_NCONV + 1] = {6, 128, 64, 64, 64, 8};
            for (size_t c = 0; c < ch[b]; c++) CHECK(isfinite(s.bn[b][0][c]) && isfinite(s.bn[b][1][c]));
        }
        lm_salience_model_free(&s);
    } else {
        fz_check_error();
        CHECK(s.w == NULL);
    }
    return 0;
}
