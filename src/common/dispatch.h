/* Run-time dispatch of the hot loops (issue 17). The default build (-DLM_NATIVE=OFF) targets
 * baseline x86-64, so that it runs on any x86-64 CPU; with GCC on x86-64, CMakeLists.txt then
 * defines LM_DISPATCH, and the hot loops are compiled for AVX-512 (x86-64-v4), AVX2 + FMA
 * (x86-64-v3) and baseline x86-64, one of which is chosen for the CPU at run time. With
 * -DLM_NATIVE=ON (-march=native) or another compiler, LM_DISPATCH is not defined and all of
 * this compiles to the code for the build's own target. */
#ifndef LM_COMMON_DISPATCH_H
#define LM_COMMON_DISPATCH_H

#ifdef LM_DISPATCH
/* A function compiled three times; the dynamic loader picks the one for the CPU (an ifunc,
 * GCC target_clones). Plain static functions that it calls are inlined into each clone. */
#define LM_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LM_HOT
#endif

/* For hand-written vector kernels compiled per instruction set (see src/match/sdtw.c): 4 when
 * the CPU has x86-64-v4 (AVX-512 F, BW, CD, DQ, VL, with OS support), 3 when it has x86-64-v3
 * (AVX2, FMA, BMI1/2, ...), else 0: the same tests as LM_HOT's loader. Cheap (after the first
 * call, two loads of libgcc's CPU model); 0 without LM_DISPATCH. */
static inline int lm_isa_level(void) {
#ifdef LM_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return 4;
    if (__builtin_cpu_supports("x86-64-v3")) return 3;
#endif
    return 0;
}

#endif
