/* A small vector canvas with two back ends: a raster image written as PNG (libpng) and SVG text.
 * Figures (figure.h) draw rectangles, lines, text and images onto it once and are then encoded in
 * either format, so that `leitmotif plot` and the web page's figures share one drawing code.
 *
 * Coordinates are pixels from the top-left corner. Text is drawn with a built-in 5x7 bitmap font
 * in the PNG and as real text (sans-serif) in the SVG; `scale` sets its size (cap height 7 x scale
 * pixels, an advance of 6 x scale pixels per character in the PNG). Drawing calls never fail: an
 * allocation failure is remembered and reported by the encoders. */
#ifndef LM_PLOT_CANVAS_H
#define LM_PLOT_CANVAS_H
#include <stddef.h>

typedef struct {
    unsigned char r, g, b;
} lm_rgb;

typedef struct lm_canvas lm_canvas;

enum { LM_ANCHOR_START = 0, LM_ANCHOR_MIDDLE = 1, LM_ANCHOR_END = 2 };

/* A white canvas of w x h pixels (1..8192 each); NULL with the error set. */
lm_canvas *lm_canvas_new(int w, int h);
void lm_canvas_free(lm_canvas *c);
int lm_canvas_width(const lm_canvas *c);
int lm_canvas_height(const lm_canvas *c);
/* Text describing the figure (PNG tEXt "Title", SVG <title>). */
void lm_canvas_title(lm_canvas *c, const char *title);

void lm_canvas_fill(lm_canvas *c, double x, double y, double w, double h, lm_rgb color, double alpha);
void lm_canvas_outline(lm_canvas *c, double x, double y, double w, double h, lm_rgb color, double width);
void lm_canvas_line(lm_canvas *c, double x0, double y0, double x1, double y1, lm_rgb color, double width);
/* xy: n points (x0, y0, x1, y1, ...); non-finite points break the line. */
void lm_canvas_polyline(lm_canvas *c, const double *xy, size_t n, lm_rgb color, double width);
void lm_canvas_disc(lm_canvas *c, double x, double y, double radius, lm_rgb color);
/* Text with its baseline at y; anchor LM_ANCHOR_*; vertical: rotated to read bottom to top
 * (x, y is then the anchor point on the rotated baseline). Bytes outside printable ASCII are
 * drawn as '?' in the PNG and kept (as UTF-8, escaped) in the SVG. */
void lm_canvas_text(lm_canvas *c, double x, double y, const char *s, lm_rgb color, int scale, int anchor,
                    int vertical);
/* Width in pixels of s at this scale in the PNG (an estimate of the SVG's). */
double lm_canvas_text_width(const char *s, int scale);
/* An iw x ih RGB image (row 0 at the top; copied) stretched into the rectangle x, y, w, h,
 * nearest-neighbour (cells stay sharp in both formats). */
void lm_canvas_image(lm_canvas *c, double x, double y, double w, double h, const unsigned char *rgb, int iw,
                     int ih);

/* Encodes the canvas; *out is malloc'd (free it). 0, or -1 with the error set. */
int lm_canvas_png(const lm_canvas *c, unsigned char **out, size_t *n);
int lm_canvas_svg(const lm_canvas *c, char **out, size_t *n);
/* Writes PNG or SVG (svg != 0) to path atomically. */
int lm_canvas_write(const lm_canvas *c, const char *path, int svg);

/* An RGB image as PNG bytes (used by the SVG back end for embedded images). */
int lm_png_encode(const unsigned char *rgb, int w, int h, const char *title, unsigned char **out, size_t *n);
#endif
