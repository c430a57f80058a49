/*
** cpu.h: what this CPU can run, and which OpenBLAS kernel to ask for.
**
** Distribution OpenBLAS builds (DYNAMIC_ARCH) pick their kernels from a
** table of CPU models known when they were released; a newer CPU falls
** back to an old kernel (Debian 12's 0.3.21 runs Prescott, SSE3, on an
** Emerald Rapids Xeon: 33 instead of 190 GFLOP/s in sgemm). The kernel can
** be forced with OPENBLAS_CORETYPE, read once when the library initialises.
**
** The decision is split from the reading so it can be tested on recorded
** CPUs: mb_cpu_read fills the facts from cpuid/xgetbv, mb_cpu_choose_kernel
** is a pure function of the facts, the user's OPENBLAS_CORETYPE and the
** kernel the library picks by itself. Thread-safe (no state).
*/
#ifndef MB_CPU_H
#define MB_CPU_H

#include <stdbool.h>

typedef struct mb_cpu_facts {
    char vendor[13];          /* "GenuineIntel", "AuthenticAMD"; "" off x86 */
    unsigned family, model;   /* display family and model (extended fields added) */
    bool avx2, fma;           /* leaf 7 EBX 5, leaf 1 ECX 12 */
    bool avx512f, avx512bw, avx512dq, avx512vl, avx512cd; /* leaf 7 EBX 16, 30, 17, 31, 28 */
    bool avx512bf16;          /* leaf 7 subleaf 1 EAX 5 */
    bool os_ymm;              /* XCR0 has SSE and AVX state (bits 1, 2) */
    bool os_zmm;              /* and the opmask and ZMM state (bits 5, 6, 7) */
} mb_cpu_facts;

/* The facts of the CPU running this code; all false on a non-x86 build. */
void mb_cpu_read(mb_cpu_facts *f);

/* What the CPU and the OS let run: 3 = the AVX-512 kernels (F, BW, DQ, VL,
** CD and ZMM state), 2 = AVX2 + FMA (YMM state), 1 = older. */
int mb_cpu_level(const mb_cpu_facts *f);

/* The level of an OpenBLAS x86 kernel name (case-insensitive, as
** openblas_get_corename reports it): 3 SkylakeX, Cooperlake,
** SapphireRapids; 2 Haswell, Zen; 1 the older x86 kernels; 0 a name this
** table does not know (another architecture, a newer library), which
** moonbench then leaves alone. */
int mb_blas_kernel_level(const char *corename);

/* The kernel to set in OPENBLAS_CORETYPE, or NULL to leave the library's
** choice: NULL when the user set OPENBLAS_CORETYPE (user_coretype not NULL
** nor ""), when the library's kernel is unknown to the table or already
** at the CPU's level. Otherwise the best kernel of the CPU's level:
** Cooperlake with BF16, else SkylakeX, for level 3; Haswell for level 2. */
const char *mb_cpu_choose_kernel(const mb_cpu_facts *f, const char *user_coretype,
                                 const char *lib_corename);

/* The next candidate when the library did not take `kernel` (a build
** without Cooperlake reports another name): Cooperlake -> SkylakeX ->
** Haswell, or NULL when that would not beat the library's own kernel. */
const char *mb_cpu_next_kernel(const char *kernel, const char *lib_corename);

#endif
