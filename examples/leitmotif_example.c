/* A small program against the installed library (README, "Install"):
 *
 *   cc leitmotif_example.c $(pkg-config --cflags --libs leitmotif) -o leitmotif_example
 *   ./leitmotif_example DB THEME [AUDIO]
 *
 * Prints the default model's path, the number of chroma frames of AUDIO (deep chroma with the
 * default model) if given, and the three recordings of the database DB (made by `leitmotif
 * index`) that match THEME (a note list or a MIDI file) best. */
#include <leitmotif.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DB THEME [AUDIO]\n", argv[0]);
        return 2;
    }
    const char *model_path = leitmotif_default_model();
    printf("default model: %s\n", model_path ? model_path : "(none)");
    if (argc > 3) {
        leitmotif_model *m = leitmotif_model_load(NULL); /* the default model */
        float *chroma = NULL;
        size_t T = 0;
        if (!m || leitmotif_chroma(argv[3], m, &chroma, &T) != 0) {
            fprintf(stderr, "%s\n", leitmotif_error());
            return 1;
        }
        printf("chroma: 12 x %zu frames (%.2f s)\n", T, 0.04 * (double)T);
        free(chroma);
        leitmotif_model_free(m);
    }
    leitmotif_db *db = leitmotif_db_open(argv[1]);
    if (!db) {
        fprintf(stderr, "%s\n", leitmotif_error());
        return 1;
    }
    leitmotif_hit hits[3];
    size_t n = 0;
    if (leitmotif_search(db, argv[2], NULL, hits, 3, &n) != 0) {
        fprintf(stderr, "%s\n", leitmotif_error());
        leitmotif_db_close(db);
        return 1;
    }
    printf("%zu recordings; best matches:\n", leitmotif_db_size(db));
    for (size_t i = 0; i < n; i++)
        printf("%zu %s %.4f %.2f-%.2f\n", i + 1, hits[i].doc_id, hits[i].distance, hits[i].start_sec,
               hits[i].end_sec);
    leitmotif_db_close(db);
    return 0;
}
