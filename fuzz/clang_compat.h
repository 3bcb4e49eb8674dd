/* Force-included (-include) into the clang build of fuzz/run: glibc's <complex.h> defines CMPLX
 * and CMPLXF only for GCC >= 4.7, and clang presents itself as GCC 4.2. */
#if defined(__clang__) && !defined(CMPLX)
#define CMPLX(x, y) __builtin_complex((double)(x), (double)(y))
#define CMPLXF(x, y) __builtin_complex((float)(x), (float)(y))
#endif
