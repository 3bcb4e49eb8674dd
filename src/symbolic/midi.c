/* Standard MIDI File reader (symbolic/midi.h) and the monophonic theme taken from it (skyline).
 * A small bounds-checked parser: every read goes through the reader below, so malformed input
 * yields an error, never a bad access (fuzzed with fuzz/fuzz_midi.c). */
#include "symbolic/midi.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "symbolic/theme.h"

#define DRUM_CHANNEL 9           /* MIDI channel 10, counted from 0 */
#define DEFAULT_TEMPO 500000.0   /* microseconds per quarter note (120 bpm) until a tempo event */

typedef struct {
    uint64_t tick;
    double us_per_qn;
    size_t seq; /* read order, to keep the last of several changes at one tick */
} tempo_change;

typedef struct {
    lm_midi_note *notes; /* ticks, pitch, velocity, track, channel; seconds filled in at the end */
    size_t n_notes, cap_notes;
    tempo_change *tempos;
    size_t n_tempos, cap_tempos;
    size_t n_drum_notes;
    /* Sounding notes per (channel, pitch): FIFO lists through next_open, so a note-off ends
     * the oldest of several overlapping notes of the same key. */
    size_t open_head[16][128], open_tail[16][128];
    size_t *next_open;
    size_t cap_next_open;
    char **track_names; /* [track - 1] */
    size_t cap_track_names;
} midi_state;

#define NONE SIZE_MAX

static int grow(void **array, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t new_cap = *cap ? 2 * *cap : 64;
    void *p = realloc(*array, new_cap * elem);
    if (!p) {
        lm_set_error("out of memory reading MIDI file");
        return -1;
    }
    *array = p;
    *cap = new_cap;
    return 0;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Variable-length quantity: at most 4 bytes (28 bits) by the standard. */
static int read_vlq(const unsigned char *p, size_t end, size_t *pos, uint32_t *value, int track) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        if (*pos >= end) {
            lm_set_error("MIDI track %d is truncated (inside a variable-length number)", track);
            return -1;
        }
        unsigned char b = p[(*pos)++];
        v = v << 7 | (b & 0x7F);
        if (!(b & 0x80)) {
            *value = v;
            return 0;
        }
    }
    lm_set_error("MIDI track %d has a variable-length number longer than 4 bytes", track);
    return -1;
}

static int note_on(midi_state *st, int track, int channel, int pitch, int velocity, uint64_t tick) {
    if (grow((void **)&st->notes, &st->cap_notes, st->n_notes + 1, sizeof *st->notes) < 0 ||
        grow((void **)&st->next_open, &st->cap_next_open, st->n_notes + 1, sizeof *st->next_open) < 0)
        return -1;
    size_t *next = st->next_open;
    size_t id = st->n_notes++;
    st->notes[id] = (lm_midi_note){.on_tick = tick, .off_tick = UINT64_MAX, .pitch = pitch, .velocity = velocity,
                                   .track = track, .channel = channel};
    next[id] = NONE;
    if (st->open_tail[channel][pitch] == NONE)
        st->open_head[channel][pitch] = id;
    else
        next[st->open_tail[channel][pitch]] = id;
    st->open_tail[channel][pitch] = id;
    return 0;
}

static void note_off(midi_state *st, int channel, int pitch, uint64_t tick) {
    size_t id = st->open_head[channel][pitch];
    if (id == NONE) return; /* a note-off without a sounding note: nothing to end */
    st->notes[id].off_tick = tick;
    st->open_head[channel][pitch] = st->next_open[id];
    if (st->open_head[channel][pitch] == NONE) st->open_tail[channel][pitch] = NONE;
}

/* A track name as text: control characters as spaces, runs of spaces as one, the ends trimmed,
 * cut at a NUL; into buf (len + 1 bytes). */
static void clean_name(char *buf, const unsigned char *s, size_t len) {
    size_t n = 0;
    int space = 1;
    for (size_t i = 0; i < len && s[i]; i++) {
        if (s[i] <= 0x20 || s[i] == 0x7F) {
            if (!space) buf[n++] = ' ';
            space = 1;
        } else {
            buf[n++] = (char)s[i];
            space = 0;
        }
    }
    while (n > 0 && buf[n - 1] == ' ') n--;
    buf[n] = '\0';
}

static int parse_track(midi_state *st, const unsigned char *p, size_t pos, size_t end, int track) {
    uint64_t tick = 0;
    int running = 0; /* running status; meta and sysex events leave it as it is, as most readers do */
    while (pos < end) {
        uint32_t delta;
        if (read_vlq(p, end, &pos, &delta, track) < 0) return -1;
        tick += delta;
        if (pos >= end) {
            lm_set_error("MIDI track %d is truncated (event without status)", track);
            return -1;
        }
        unsigned char status = p[pos];
        if (status == 0xFF) { /* meta event */
            if (pos + 1 >= end) {
                lm_set_error("MIDI track %d is truncated (meta event)", track);
                return -1;
            }
            unsigned char type = p[pos + 1];
            uint32_t len;
            pos += 2;
            if (read_vlq(p, end, &pos, &len, track) < 0) return -1;
            if (len > end - pos) {
                lm_set_error("MIDI track %d is truncated (meta event of %u bytes)", track, len);
                return -1;
            }
            if (type == 0x2F) break; /* end of track */
            if (type == 0x03 && !st->track_names[track - 1]) { /* sequence/track name */
                char *name = malloc((size_t)len + 1);
                if (!name) {
                    lm_set_error("out of memory reading MIDI file");
                    return -1;
                }
                clean_name(name, p + pos, len);
                st->track_names[track - 1] = name;
            }
            if (type == 0x51) {
                if (len != 3) {
                    lm_set_error("MIDI track %d has a tempo event of %u bytes (expected 3)", track, len);
                    return -1;
                }
                uint32_t us = (uint32_t)p[pos] << 16 | (uint32_t)p[pos + 1] << 8 | p[pos + 2];
                if (us == 0) {
                    lm_set_error("MIDI track %d has a tempo of 0 microseconds per quarter note", track);
                    return -1;
                }
                if (grow((void **)&st->tempos, &st->cap_tempos, st->n_tempos + 1, sizeof *st->tempos) < 0)
                    return -1;
                st->tempos[st->n_tempos] = (tempo_change){tick, (double)us, st->n_tempos};
                st->n_tempos++;
            }
            pos += len;
            continue;
        }
        if (status == 0xF0 || status == 0xF7) { /* sysex (or its continuation): skipped */
            uint32_t len;
            pos++;
            if (read_vlq(p, end, &pos, &len, track) < 0) return -1;
            if (len > end - pos) {
                lm_set_error("MIDI track %d is truncated (sysex event of %u bytes)", track, len);
                return -1;
            }
            pos += len;
            continue;
        }
        if (status > 0xF0) {
            lm_set_error("MIDI track %d has a system message 0x%02X, which a MIDI file cannot contain", track,
                         status);
            return -1;
        }
        if (status & 0x80) {
            running = status;
            pos++;
        } else if (!running) {
            lm_set_error("MIDI track %d has a data byte 0x%02X where a status byte is needed", track, status);
            return -1;
        }
        int kind = running & 0xF0, channel = running & 0x0F;
        size_t n_data = (kind == 0xC0 || kind == 0xD0) ? 1 : 2;
        if (n_data > end - pos) {
            lm_set_error("MIDI track %d is truncated (channel message)", track);
            return -1;
        }
        for (size_t i = 0; i < n_data; i++)
            if (p[pos + i] & 0x80) {
                lm_set_error("MIDI track %d has a status byte 0x%02X inside a channel message", track, p[pos + i]);
                return -1;
            }
        int key = p[pos], velocity = n_data == 2 ? p[pos + 1] : 0;
        pos += n_data;
        if (kind != 0x80 && kind != 0x90) continue;
        if (channel == DRUM_CHANNEL) {
            st->n_drum_notes += kind == 0x90 && velocity > 0;
            continue;
        }
        if (kind == 0x90 && velocity > 0) {
            if (note_on(st, track, channel, key, velocity, tick) < 0) return -1;
        } else { /* note-off, or note-on with velocity 0 */
            note_off(st, channel, key, tick);
        }
    }
    /* Notes still sounding at the end of the track end there. */
    for (int c = 0; c < 16; c++)
        for (int k = 0; k < 128; k++) {
            while (st->open_head[c][k] != NONE) note_off(st, c, k, tick);
        }
    return 0;
}

/* ---- tick -> seconds ---- */

typedef struct {
    int smpte;
    double sec_per_tick;  /* SMPTE: fixed */
    double ticks_per_qn;  /* metrical */
    tempo_change *tempos; /* sorted, one per tick, tempos[0].tick == 0 */
    double *sec_at;       /* seconds at each tempo change */
    size_t n;
} time_map;

static int cmp_tempo(const void *a, const void *b) {
    const tempo_change *x = a, *y = b;
    if (x->tick != y->tick) return (x->tick > y->tick) - (x->tick < y->tick);
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* One global tempo map from the tempo events of all tracks; of several at the same tick the
 * one read last wins. */
static int build_time_map(midi_state *st, time_map *tm) {
    if (tm->smpte) return 0;
    size_t n = st->n_tempos;
    tempo_change *t = malloc((n + 1) * sizeof *t);
    double *sec = malloc((n + 1) * sizeof *sec);
    if (!t || !sec) {
        free(t);
        free(sec);
        lm_set_error("out of memory reading MIDI file");
        return -1;
    }
    t[0] = (tempo_change){0, DEFAULT_TEMPO, 0};
    for (size_t i = 0; i < n; i++) t[i + 1] = st->tempos[i], t[i + 1].seq = i + 1;
    qsort(t, n + 1, sizeof *t, cmp_tempo);
    size_t m = 0;
    for (size_t i = 0; i <= n; i++) {
        if (m > 0 && t[m - 1].tick == t[i].tick)
            t[m - 1] = t[i];
        else
            t[m++] = t[i];
    }
    sec[0] = 0.0;
    for (size_t i = 1; i < m; i++)
        sec[i] = sec[i - 1] + (double)(t[i].tick - t[i - 1].tick) * t[i - 1].us_per_qn / (1e6 * tm->ticks_per_qn);
    tm->tempos = t;
    tm->sec_at = sec;
    tm->n = m;
    return 0;
}

static double tick_to_sec(const time_map *tm, uint64_t tick) {
    if (tm->smpte) return (double)tick * tm->sec_per_tick;
    size_t lo = 0, hi = tm->n; /* last change at or before tick */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (tm->tempos[mid].tick <= tick)
            lo = mid;
        else
            hi = mid;
    }
    return tm->sec_at[lo] + (double)(tick - tm->tempos[lo].tick) * tm->tempos[lo].us_per_qn / (1e6 * tm->ticks_per_qn);
}

/* ---- the notes ---- */

int lm_midi_parse_notes(const unsigned char *data, size_t n, lm_midi_notes *out) {
    memset(out, 0, sizeof *out);
    if (n == 0) {
        lm_set_error("empty MIDI file");
        return -1;
    }
    if (n < 4 || memcmp(data, "MThd", 4) != 0) {
        lm_set_error("not a MIDI file (no MThd header)");
        return -1;
    }
    if (n < 14) {
        lm_set_error("truncated MIDI header");
        return -1;
    }
    uint32_t header_len = be32(data + 4);
    if (header_len < 6 || header_len > n - 8) {
        lm_set_error("truncated or malformed MIDI header (length %u)", header_len);
        return -1;
    }
    int format = data[8] << 8 | data[9];
    int n_tracks = data[10] << 8 | data[11];
    int division = data[12] << 8 | data[13];
    if (format == 2) {
        lm_set_error("MIDI format 2 (independent sequences) is not supported; use format 0 or 1");
        return -1;
    }
    if (format > 2) {
        lm_set_error("unknown MIDI format %d", format);
        return -1;
    }
    time_map tm = {0};
    if (division & 0x8000) { /* SMPTE: frames per second and ticks per frame; tempo is irrelevant */
        int fps = -(int)(int8_t)(division >> 8), ticks_per_frame = division & 0xFF;
        double rate = fps == 29 ? 30000.0 / 1001.0 : fps;
        if ((fps != 24 && fps != 25 && fps != 29 && fps != 30) || ticks_per_frame == 0) {
            lm_set_error("bad SMPTE time division (%d frames/s, %d ticks/frame)", fps, ticks_per_frame);
            return -1;
        }
        tm.smpte = 1;
        tm.sec_per_tick = 1.0 / (rate * ticks_per_frame);
    } else {
        if (division == 0) {
            lm_set_error("MIDI time division of 0 ticks per quarter note");
            return -1;
        }
        tm.ticks_per_qn = division;
    }

    midi_state *st = calloc(1, sizeof *st);
    if (!st) {
        lm_set_error("out of memory reading MIDI file");
        return -1;
    }
    memset(st->open_head, 0xFF, sizeof st->open_head); /* all NONE */
    memset(st->open_tail, 0xFF, sizeof st->open_tail);
    int rc = -1, track = 0;
    size_t pos = 8 + (size_t)header_len;
    while (track < n_tracks) {
        if (n - pos < 8) {
            lm_set_error("MIDI file ends after %d of %d tracks", track, n_tracks);
            goto done;
        }
        uint32_t len = be32(data + pos + 4);
        if (len > n - pos - 8) {
            lm_set_error("truncated MIDI chunk '%.4s' (%u bytes declared, %zu present)",
                         memcmp(data + pos, "MTrk", 4) == 0 ? "MTrk" : "????", len, n - pos - 8);
            goto done;
        }
        if (memcmp(data + pos, "MTrk", 4) == 0) { /* other chunk types are skipped, as the standard asks */
            track++;
            if (grow((void **)&st->track_names, &st->cap_track_names, (size_t)track, sizeof *st->track_names) < 0)
                goto done;
            st->track_names[track - 1] = NULL;
            if (parse_track(st, data, pos + 8, pos + 8 + len, track) < 0) goto done;
        }
        pos += 8 + (size_t)len;
    }
    size_t kept = 0; /* notes that start and end at the same tick do not sound */
    for (size_t i = 0; i < st->n_notes; i++)
        if (st->notes[i].off_tick > st->notes[i].on_tick) st->notes[kept++] = st->notes[i];
    if (build_time_map(st, &tm) < 0) goto done;
    size_t n_seg = tm.smpte ? 1 : tm.n;
    out->seg_qn = malloc(n_seg * sizeof *out->seg_qn);
    out->seg_sec = malloc(n_seg * sizeof *out->seg_sec);
    out->seg_sec_per_qn = malloc(n_seg * sizeof *out->seg_sec_per_qn);
    if (!out->seg_qn || !out->seg_sec || !out->seg_sec_per_qn) {
        lm_set_error("out of memory reading MIDI file");
        goto done;
    }
    out->n_seg = n_seg;
    if (tm.smpte) {
        out->ticks_per_qn = 0.5 / tm.sec_per_tick; /* nominal: a quarter note per half second */
        out->seg_qn[0] = out->seg_sec[0] = 0.0;
        out->seg_sec_per_qn[0] = 0.5;
    } else {
        out->ticks_per_qn = tm.ticks_per_qn;
        for (size_t i = 0; i < n_seg; i++) {
            out->seg_qn[i] = (double)tm.tempos[i].tick / tm.ticks_per_qn;
            out->seg_sec[i] = tm.sec_at[i];
            out->seg_sec_per_qn[i] = tm.tempos[i].us_per_qn / 1e6;
        }
    }
    for (size_t i = 0; i < kept; i++) {
        lm_midi_note *note = &st->notes[i];
        note->onset = tick_to_sec(&tm, note->on_tick);
        note->offset = tick_to_sec(&tm, note->off_tick);
        if (note->offset > out->duration) out->duration = note->offset;
    }
    out->notes = st->notes; /* handed over */
    out->n = kept;
    out->n_drum_notes = st->n_drum_notes;
    out->n_tracks = track;
    out->track_names = st->track_names;
    st->notes = NULL;
    st->track_names = NULL;
    rc = 0;
done:
    if (st->track_names)
        for (int i = 0; i < track; i++) free(st->track_names[i]);
    free(st->track_names);
    free(tm.tempos);
    free(tm.sec_at);
    free(st->notes);
    free(st->tempos);
    free(st->next_open);
    free(st);
    if (rc != 0) lm_midi_notes_free(out);
    return rc;
}

/* Reads a file and parses it with parse; errors are prefixed with the path. */
static int read_and_parse(const char *path, int (*parse)(const unsigned char *, size_t, void *), void *out) {
    size_t n = 0;
    unsigned char *data = (unsigned char *)lm_read_file(path, &n);
    if (!data) return -1;
    int rc = parse(data, n, out);
    free(data);
    if (rc < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", lm_last_error());
        lm_set_error("%s: %s", path, msg);
    }
    return rc;
}

static int parse_notes_any(const unsigned char *d, size_t n, void *out) { return lm_midi_parse_notes(d, n, out); }

int lm_midi_read_notes(const char *path, lm_midi_notes *out) {
    memset(out, 0, sizeof *out);
    return read_and_parse(path, parse_notes_any, out);
}

void lm_midi_notes_free(lm_midi_notes *m) {
    if (m->track_names)
        for (int i = 0; i < m->n_tracks; i++) free(m->track_names[i]);
    free(m->track_names);
    free(m->notes);
    free(m->seg_qn);
    free(m->seg_sec);
    free(m->seg_sec_per_qn);
    memset(m, 0, sizeof *m);
}

double lm_midi_qn_to_sec(const lm_midi_notes *m, double qn) {
    if (!m->n_seg) return qn * 0.5;
    size_t lo = 0, hi = m->n_seg; /* last segment starting at or before qn */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (m->seg_qn[mid] <= qn)
            lo = mid;
        else
            hi = mid;
    }
    return m->seg_sec[lo] + (qn - m->seg_qn[lo]) * m->seg_sec_per_qn[lo];
}

/* ---- skyline ---- */

/* Priority of sounding notes: the highest pitch; of equal pitches the latest onset (a re-struck
 * note takes over), then the longest. */
static int above(const lm_midi_note *a, size_t ia, const lm_midi_note *b, size_t ib) {
    if (a->pitch != b->pitch) return a->pitch > b->pitch;
    if (a->on_tick != b->on_tick) return a->on_tick > b->on_tick;
    if (a->off_tick != b->off_tick) return a->off_tick > b->off_tick;
    return ia > ib;
}

typedef struct {
    size_t *ids;
    size_t n;
    const lm_midi_note *notes;
} note_heap;

static void heap_push(note_heap *h, size_t id) {
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!above(&h->notes[id], id, &h->notes[h->ids[parent]], h->ids[parent])) break;
        h->ids[i] = h->ids[parent];
        i = parent;
    }
    h->ids[i] = id;
}

static void heap_pop(note_heap *h) {
    size_t last = h->ids[--h->n], i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n) break;
        if (child + 1 < h->n && above(&h->notes[h->ids[child + 1]], h->ids[child + 1], &h->notes[h->ids[child]],
                                      h->ids[child]))
            child++;
        if (!above(&h->notes[h->ids[child]], h->ids[child], &h->notes[last], last)) break;
        h->ids[i] = h->ids[child];
        i = child;
    }
    h->ids[i] = last;
}

typedef struct {
    uint64_t tick;
    double sec;
} bound;

static int cmp_bound(const void *a, const void *b) {
    uint64_t x = ((const bound *)a)->tick, y = ((const bound *)b)->tick;
    return (x > y) - (x < y);
}

static int cmp_note_on(const void *a, const void *b) {
    const lm_midi_note *x = a, *y = b;
    return (x->on_tick > y->on_tick) - (x->on_tick < y->on_tick);
}

/* Segments between consecutive note boundaries take the top sounding note (or a rest);
 * neighbouring segments of the same note are joined, so a re-struck pitch stays two notes. */
static int skyline(lm_midi_note *notes, size_t n, lm_theme *out) {
    qsort(notes, n, sizeof *notes, cmp_note_on);
    bound *bounds = malloc(2 * n * sizeof *bounds);
    size_t *heap_ids = malloc(n * sizeof *heap_ids);
    lm_note *res = malloc(2 * n * sizeof *res);
    if (!bounds || !heap_ids || !res) {
        free(bounds), free(heap_ids), free(res);
        lm_set_error("out of memory reading MIDI file");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        bounds[2 * i] = (bound){notes[i].on_tick, notes[i].onset};
        bounds[2 * i + 1] = (bound){notes[i].off_tick, notes[i].offset};
    }
    qsort(bounds, 2 * n, sizeof *bounds, cmp_bound);
    size_t n_bounds = 0;
    for (size_t i = 0; i < 2 * n; i++)
        if (n_bounds == 0 || bounds[n_bounds - 1].tick != bounds[i].tick) bounds[n_bounds++] = bounds[i];

    note_heap heap = {heap_ids, 0, notes};
    size_t next_note = 0, n_out = 0;
    size_t cur_id = NONE; /* note of the last output entry (NONE for a rest) */
    double t0 = bounds[0].sec;
    for (size_t k = 0; k + 1 < n_bounds; k++) {
        uint64_t t = bounds[k].tick;
        double t_sec = bounds[k].sec;
        while (next_note < n && notes[next_note].on_tick <= t) heap_push(&heap, next_note++);
        while (heap.n > 0 && notes[heap.ids[0]].off_tick <= t) heap_pop(&heap);
        size_t top = heap.n > 0 ? heap.ids[0] : NONE;
        if (k > 0 && top == cur_id) continue; /* same note (or rest) goes on */
        if (k > 0) res[n_out - 1].duration = t_sec - t0 - res[n_out - 1].onset;
        res[n_out].onset = t_sec - t0;
        res[n_out].pitch = top == NONE ? -1 : notes[top].pitch;
        res[n_out].duration = 0.0;
        n_out++;
        cur_id = top;
    }
    double end = bounds[n_bounds - 1].sec - t0;
    res[n_out - 1].duration = end - res[n_out - 1].onset;
    free(bounds);
    free(heap_ids);
    out->notes = res;
    out->n = n_out;
    out->duration = end;
    return 0;
}

/* ---- the theme ---- */

int lm_midi_notes_theme(lm_midi_notes *m, int track, lm_theme *out) {
    memset(out, 0, sizeof *out);
    size_t kept = m->n;
    if (track > 0) {
        kept = 0;
        for (size_t i = 0; i < m->n; i++)
            if (m->notes[i].track == track) m->notes[kept++] = m->notes[i];
    }
    if (m->n == 0) {
        if (m->n_drum_notes > 0)
            lm_set_error("MIDI file has only drum notes (channel 10), no pitched notes");
        else
            lm_set_error("MIDI file has no notes");
        return -1;
    }
    if (kept == 0) {
        unsigned char *has = calloc((size_t)m->n_tracks + 1, 1);
        if (!has) {
            lm_set_error("out of memory reading MIDI file");
            return -1;
        }
        for (size_t i = 0; i < m->n; i++)
            if (m->notes[i].track >= 1 && m->notes[i].track <= m->n_tracks) has[m->notes[i].track] = 1;
        char with[200] = "";
        size_t len = 0;
        for (int t = 1; t <= m->n_tracks && len + 12 < sizeof with; t++)
            if (has[t]) len += (size_t)snprintf(with + len, sizeof with - len, "%s%d", len ? ", " : "", t);
        free(has);
        lm_set_error("MIDI track %d has no pitched notes (tracks with notes: %s)", track, with);
        return -1;
    }
    return skyline(m->notes, kept, out);
}

int lm_midi_parse_theme(const unsigned char *data, size_t n, lm_theme *out) {
    memset(out, 0, sizeof *out);
    lm_midi_notes m;
    if (lm_midi_parse_notes(data, n, &m) < 0) return -1;
    int rc = lm_midi_notes_theme(&m, 0, out);
    lm_midi_notes_free(&m);
    return rc;
}

static int parse_theme_any(const unsigned char *d, size_t n, void *out) { return lm_midi_parse_theme(d, n, out); }

int lm_midi_read_theme(const char *path, lm_theme *out) {
    memset(out, 0, sizeof *out);
    return read_and_parse(path, parse_theme_any, out);
}
