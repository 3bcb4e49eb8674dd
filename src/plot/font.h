/* Bitmap font of the PNG back end (canvas.c). */
#ifndef LM_PLOT_FONT_H
#define LM_PLOT_FONT_H

#define LM_FONT_COLS 5
#define LM_FONT_ROWS 9     /* rows 0..6 above the baseline, 7..8 descenders */
#define LM_FONT_ASCENT 7
#define LM_FONT_ADVANCE 6  /* columns from one character to the next */

/* 1 where glyph ch (printable ASCII; anything else draws as '?') has ink at row, col. */
int lm_font_pixel(unsigned char ch, int row, int col);
#endif
