/* Little-endian integers and IEEE floats in database files (format 1, db.c, and format 2,
 * db2.c): byte by byte, so the layout does not depend on the host's alignment. */
#ifndef LM_INDEX_LE_BYTES_H
#define LM_INDEX_LE_BYTES_H
#include <stdint.h>
#include <string.h>

static inline void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void put_f32(unsigned char *p, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    put_u32(p, u);
}
static inline void put_f64(unsigned char *p, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_u64(p, u);
}
static inline uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static inline uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static inline float get_f32(const unsigned char *p) {
    uint32_t u = get_u32(p);
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}
static inline double get_f64(const unsigned char *p) {
    uint64_t u = get_u64(p);
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}
#endif
