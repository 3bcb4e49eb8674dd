/* Loss curves as a PNG (libpng): training and validation loss per epoch. */
#ifndef LM_TRAIN_PLOT_H
#define LM_TRAIN_PLOT_H
#include <stddef.h>
int lm_plot_losses(const char *png_path, const double *train, const double *valid, size_t n_epochs);
#endif
