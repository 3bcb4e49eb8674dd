/* An append-only byte store for the streaming feature extraction's intermediate data (the
 * decoded signal, its tuned copy, the uncompressed HCQT values). It stays in memory while it is
 * small and the process' spill budget allows, and moves to an unlinked temporary file in
 * $TMPDIR (or /tmp) otherwise, so that memory stays bounded for long recordings while short
 * ones (most of an archive) pay no file writes and reads.
 *
 * Budget: LEITMOTIF_SPILL_MEMORY_MB (default 128) megabytes for all stores of the process
 * together, at most a quarter of it for one store; 0 puts every store in a file. */
#ifndef LM_COMMON_SPILL_H
#define LM_COMMON_SPILL_H
#include <stddef.h>
#include <stdio.h>

typedef struct {
    unsigned char *mem; /* the bytes while in memory, else NULL */
    size_t size;        /* bytes written */
    size_t reserved;    /* bytes of the budget this store holds (its allocation) */
    FILE *f;            /* the temporary file once moved there, else NULL */
} lm_spill;

/* An empty store. expect_bytes: its expected final size where known (0 if not); a store expected
 * not to fit in memory starts in a file. 0, or -1 (error set). */
int lm_spill_open(lm_spill *s, size_t expect_bytes);
/* Appends bytes; 0, or -1 (error set). */
int lm_spill_write(lm_spill *s, const void *p, size_t bytes);
/* Copies bytes [off, off + bytes) to dst; 0, or -1 (error set). */
int lm_spill_read(lm_spill *s, size_t off, void *dst, size_t bytes);
/* All bytes written, while the store is in memory; NULL once it is in a file. */
const void *lm_spill_memory(const lm_spill *s);
void lm_spill_close(lm_spill *s);

#define LM_SPILL_DEFAULT_BUDGET ((size_t)128 << 20)

/* The process' budget in bytes (tests; the environment variable otherwise). */
void lm_spill_set_budget(size_t bytes);
#endif
