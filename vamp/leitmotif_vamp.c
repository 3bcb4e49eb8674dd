/* Vamp plugins of leitmotif (plain C API of the Vamp SDK, vamp/vamp.h): chroma features for
 * Sonic Visualiser and other Vamp hosts, computed by libleitmotif exactly as `leitmotif chroma`
 * computes them.
 *
 *   leitmotif:deepchroma  deep chroma of a CNN model (parameter "model": the default model, or
 *                         another model file; see model_list below)
 *   leitmotif:stftchroma  the standard STFT chroma baseline
 *
 * Each has one output, "chroma": 12 bins (C, C#, ..., B), one feature every 0.04 s (25 Hz),
 * each frame l2-normalised. The features need the whole recording (the HCQT's log compression
 * is relative to its loudest bin), so process() only collects the audio, mixed down to mono as
 * leitmotif does it, and getRemainingFeatures() returns every frame.
 *
 * Hosts pad the last block with zeros up to the block size, and a plugin is never told where
 * the audio ends; the collected signal therefore loses its trailing zero samples, at most one
 * block of them, before the features are computed. A recording that itself ends in exact
 * digital silence may thus get a frame less than `leitmotif chroma` gives (the other frames
 * differ only near the end). */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vamp/vamp.h>

#include "leitmotif.h"

#define N_CHROMA 12
#define FRAME_RATE 25.0f
#define MAX_MODELS 64
#define BLOCK 2048 /* preferred block and step, in samples: any size works */

static const char *const chroma_names[N_CHROMA] = {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};

/* ---- the models that the "model" parameter offers: value 0 is the default model
 * (leitmotif_default_model(): $LEITMOTIF_MODEL or the installed one), then every other *.bin
 * file in the default model's folder and in the files and folders listed (colon-separated) in
 * $LEITMOTIF_VAMP_MODELS, in that order. */
static char *model_paths[MAX_MODELS];
static const char *model_names[MAX_MODELS];
static int n_models;

static void add_model(const char *path, const char *name) {
    if (n_models >= MAX_MODELS) return;
    for (int i = 1; i < n_models; i++)
        if (!strcmp(model_paths[i], path)) return;
    if (n_models > 0 && model_paths[0] && !strcmp(model_paths[0], path)) return;
    char *p = strdup(path), *n = strdup(name);
    if (!p || !n) {
        free(p);
        free(n);
        return;
    }
    model_paths[n_models] = p;
    model_names[n_models++] = n;
}

static int ends_with_bin(const char *s) {
    size_t n = strlen(s);
    return n > 4 && !strcmp(s + n - 4, ".bin");
}

static int compare_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every *.bin file of a folder, in name order; or the file itself. */
static void add_models_from(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        if (ends_with_bin(path)) {
            const char *slash = strrchr(path, '/');
            add_model(path, slash ? slash + 1 : path);
        }
        return;
    }
    char *names[MAX_MODELS];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_MODELS)
        if (e->d_name[0] != '.' && ends_with_bin(e->d_name) && (names[n] = strdup(e->d_name)) != NULL) n++;
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], compare_str);
    for (int i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        add_model(full, names[i]);
        free(names[i]);
    }
}

static void find_models(void) {
    const char *def = leitmotif_default_model();
    model_paths[0] = def ? strdup(def) : NULL;
    model_names[0] = "default";
    n_models = 1;
    if (def) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", def);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            add_models_from(dir);
        }
    }
    const char *extra = getenv("LEITMOTIF_VAMP_MODELS");
    if (extra && *extra) {
        char *list = strdup(extra), *save = NULL;
        for (char *tok = list ? strtok_r(list, ":", &save) : NULL; tok; tok = strtok_r(NULL, ":", &save))
            add_models_from(tok);
        free(list);
    }
}

/* ---- one plugin instance */
typedef struct {
    int deep;   /* 1: deepchroma, 0: stftchroma */
    int model;  /* index into model_paths */
    int rate;   /* input sample rate, Hz */
    size_t channels, block;
    float *mono; /* the audio so far, mixed down */
    size_t n, cap;
    leitmotif_model *m;
    /* the feature list handed to the host: T frames of 12 values, then T V2 entries */
    VampFeatureList list;
    float *values;
} instance;

static VampPluginHandle instantiate(const VampPluginDescriptor *desc, float rate) {
    instance *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->deep = !strcmp(desc->identifier, "deepchroma");
    p->rate = (int)lrintf(rate);
    return p;
}

static void free_features(instance *p) {
    free(p->list.features);
    free(p->values);
    p->list.features = NULL;
    p->list.featureCount = 0;
    p->values = NULL;
}

static void reset(VampPluginHandle h) {
    instance *p = h;
    free(p->mono);
    p->mono = NULL;
    p->n = p->cap = 0;
    free_features(p);
}

static void cleanup(VampPluginHandle h) {
    instance *p = h;
    reset(p);
    leitmotif_model_free(p->m);
    free(p);
}

static int initialise(VampPluginHandle h, unsigned int channels, unsigned int step, unsigned int block) {
    instance *p = h;
    if (channels < 1 || step != block || block == 0 || p->rate < 1) return 0;
    p->channels = channels;
    p->block = block;
    reset(p);
    leitmotif_model_free(p->m);
    p->m = NULL;
    if (p->deep) {
        const char *path = p->model < n_models ? model_paths[p->model] : NULL;
        if (!path || !(p->m = leitmotif_model_load(path))) {
            fprintf(stderr, "leitmotif vamp plugin: cannot load the model %s: %s\n", path ? path : "(default)",
                    leitmotif_error());
            return 0;
        }
    }
    return 1;
}

static float get_parameter(VampPluginHandle h, int i) { return i == 0 ? (float)((instance *)h)->model : 0.0f; }

static void set_parameter(VampPluginHandle h, int i, float v) {
    instance *p = h;
    int k = (int)lrintf(v);
    if (i == 0 && k >= 0 && k < n_models) p->model = k;
}

static unsigned int get_current_program(VampPluginHandle h) {
    (void)h;
    return 0;
}
static void select_program(VampPluginHandle h, unsigned int i) {
    (void)h;
    (void)i;
}
static unsigned int preferred_size(VampPluginHandle h) {
    (void)h;
    return BLOCK;
}
static unsigned int min_channels(VampPluginHandle h) {
    (void)h;
    return 1;
}
static unsigned int max_channels(VampPluginHandle h) {
    (void)h;
    return 1024;
}
static unsigned int output_count(VampPluginHandle h) {
    (void)h;
    return 1;
}

static VampOutputDescriptor *get_output(VampPluginHandle h, unsigned int i) {
    instance *p = h;
    if (i != 0) return NULL;
    VampOutputDescriptor *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->identifier = "chroma";
    d->name = p->deep ? "Deep chroma" : "STFT chroma";
    d->description = "12 pitch classes (C, C#, ..., B) at 25 Hz, each frame l2-normalised";
    d->unit = "";
    d->hasFixedBinCount = 1;
    d->binCount = N_CHROMA;
    d->binNames = (const char **)chroma_names;
    d->hasKnownExtents = 1;
    d->minValue = 0.0f;
    d->maxValue = 1.0f;
    d->isQuantized = 0;
    d->sampleType = vampFixedSampleRate;
    d->sampleRate = FRAME_RATE;
    d->hasDuration = 0;
    return d;
}

static void release_output(VampOutputDescriptor *d) { free(d); }

static VampFeatureList *process(VampPluginHandle h, const float *const *in, int sec, int nsec) {
    instance *p = h;
    (void)sec;
    (void)nsec;
    free_features(p);
    if (p->n + p->block > p->cap) {
        size_t cap = p->cap ? 2 * p->cap : (size_t)1 << 20;
        while (cap < p->n + p->block) cap *= 2;
        float *m = realloc(p->mono, cap * sizeof *m);
        if (!m) {
            fprintf(stderr, "leitmotif vamp plugin: out of memory after %zu samples\n", p->n);
            return &p->list;
        }
        p->mono = m;
        p->cap = cap;
    }
    /* the mixdown of src/audio/audio.c: channels summed in double, divided by their number */
    for (size_t i = 0; i < p->block; i++) {
        double s = 0;
        for (size_t c = 0; c < p->channels; c++) s += in[c][i];
        p->mono[p->n + i] = (float)(s / (double)p->channels);
    }
    p->n += p->block;
    return &p->list;
}

static VampFeatureList *remaining(VampPluginHandle h) {
    instance *p = h;
    free_features(p);
    /* drop the host's zero padding of the last block (see the note at the top) */
    size_t n = p->n, trimmed = 0;
    while (n > 0 && trimmed < p->block && p->mono[n - 1] == 0.0f) n--, trimmed++;
    float *chroma = NULL;
    size_t T = 0;
    if (n == 0 || leitmotif_chroma_signal(p->mono, n, 1, p->rate, p->m, &chroma, &T) != 0) {
        fprintf(stderr, "leitmotif vamp plugin: %s\n", n ? leitmotif_error() : "no audio");
        return &p->list;
    }
    p->list.features = calloc(2 * T, sizeof *p->list.features);
    p->values = malloc(T * N_CHROMA * sizeof *p->values);
    if (!p->list.features || !p->values) {
        free(chroma);
        free_features(p);
        return &p->list;
    }
    for (size_t t = 0; t < T; t++) {
        float *v = p->values + t * N_CHROMA;
        for (int k = 0; k < N_CHROMA; k++) v[k] = chroma[(size_t)k * T + t];
        /* t * 0.04 s exactly, in whole nanoseconds */
        long long ns = (long long)t * 40000000LL;
        VampFeature *f = &p->list.features[t].v1;
        f->hasTimestamp = 1;
        f->sec = (int)(ns / 1000000000LL);
        f->nsec = (int)(ns % 1000000000LL);
        f->valueCount = N_CHROMA;
        f->values = v;
        f->label = NULL;
        p->list.features[T + t].v2.hasDuration = 0;
    }
    p->list.featureCount = (unsigned int)T;
    free(chroma);
    return &p->list;
}

static void release_features(VampFeatureList *l) {
    (void)l; /* the instance owns its list; it is freed by the next call or cleanup */
}

/* ---- descriptors */
static VampParameterDescriptor model_param = {
    "model", "Model", "Deep chroma model: the default model, or another model file (see LEITMOTIF_VAMP_MODELS)",
    "", 0.0f, 0.0f, 0.0f, 1, 1.0f, NULL};
static const VampParameterDescriptor *deep_params[] = {&model_param};

#define DESCRIPTOR(ID, NAME, DESC, NPARAM, PARAMS)                                                              \
    {VAMP_API_VERSION,                                                                                          \
     ID,                                                                                                        \
     NAME,                                                                                                      \
     DESC,                                                                                                      \
     "leitmotif",                                                                                               \
     1,                                                                                                         \
     "leitmotif authors; default model trained on CC0 data only (leitmotif_default.md)",                      \
     NPARAM,                                                                                                    \
     PARAMS,                                                                                                    \
     0,                                                                                                         \
     NULL,                                                                                                      \
     vampTimeDomain,                                                                                            \
     instantiate,                                                                                               \
     cleanup,                                                                                                   \
     initialise,                                                                                                \
     reset,                                                                                                     \
     get_parameter,                                                                                             \
     set_parameter,                                                                                             \
     get_current_program,                                                                                       \
     select_program,                                                                                            \
     preferred_size,                                                                                            \
     preferred_size,                                                                                            \
     min_channels,                                                                                              \
     max_channels,                                                                                              \
     output_count,                                                                                              \
     get_output,                                                                                                \
     release_output,                                                                                            \
     process,                                                                                                   \
     remaining,                                                                                                 \
     release_features}

static VampPluginDescriptor descriptors[2] = {
    DESCRIPTOR("deepchroma", "leitmotif: deep chroma",
               "Chroma features of a deep chroma CNN (HCQT front end; Zalkow & Mueller, ISMIR 2020), as leitmotif "
               "chroma computes them: 12 pitch classes at 25 Hz",
               1, deep_params),
    DESCRIPTOR("stftchroma", "leitmotif: STFT chroma",
               "The standard STFT chroma baseline (librosa 0.7 chroma_stft, n_fft 4096, hop 882 at 22050 Hz), as "
               "leitmotif chroma --features stft computes it: 12 pitch classes at 25 Hz",
               0, NULL),
};

static pthread_once_t models_once = PTHREAD_ONCE_INIT;

static void setup(void) {
    find_models();
    model_param.maxValue = (float)(n_models - 1);
    model_param.valueNames = model_names;
}

const VampPluginDescriptor *vampGetPluginDescriptor(unsigned int host_api_version, unsigned int index) {
    if (host_api_version < 1) return NULL;
    pthread_once(&models_once, setup);
    return index < 2 ? &descriptors[index] : NULL;
}
