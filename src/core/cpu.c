/*
** cpu.c: the CPU's facts from cpuid and xgetbv, and the choice of the
** OpenBLAS kernel from them (see cpu.h).
*/
#include "cpu.h"

#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* XCR0; only called when cpuid says OSXSAVE (leaf 1 ECX 27). */
static unsigned long long read_xcr0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

void mb_cpu_read(mb_cpu_facts *f)
{
    memset(f, 0, sizeof *f);
    unsigned a, b, c, d, maxleaf;
    if (!__get_cpuid(0, &maxleaf, &b, &c, &d))
        return;
    memcpy(f->vendor, &b, 4);
    memcpy(f->vendor + 4, &d, 4);
    memcpy(f->vendor + 8, &c, 4);
    __cpuid(1, a, b, c, d);
    unsigned fam = (a >> 8) & 0xf, mod = (a >> 4) & 0xf;
    if (fam == 0xf)
        fam += (a >> 20) & 0xff;
    if (fam == 0x6 || fam >= 0xf)
        mod += ((a >> 16) & 0xf) << 4;
    f->family = fam;
    f->model = mod;
    f->fma = (c >> 12) & 1;
    if ((c >> 27) & 1) { /* OSXSAVE: the OS says which register state it saves */
        unsigned long long xcr0 = read_xcr0();
        f->os_ymm = (xcr0 & 0x6) == 0x6;
        f->os_zmm = f->os_ymm && (xcr0 & 0xe0) == 0xe0;
    }
    if (maxleaf < 7)
        return;
    unsigned maxsub;
    __cpuid_count(7, 0, maxsub, b, c, d);
    f->avx2 = (b >> 5) & 1;
    f->avx512f = (b >> 16) & 1;
    f->avx512dq = (b >> 17) & 1;
    f->avx512cd = (b >> 28) & 1;
    f->avx512bw = (b >> 30) & 1;
    f->avx512vl = (b >> 31) & 1;
    if (maxsub >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        f->avx512bf16 = (a >> 5) & 1;
    }
}
#else
void mb_cpu_read(mb_cpu_facts *f) { memset(f, 0, sizeof *f); }
#endif

int mb_cpu_level(const mb_cpu_facts *f)
{
    if (f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl && f->avx512cd && f->os_zmm)
        return 3;
    if (f->avx2 && f->fma && f->os_ymm)
        return 2;
    return 1;
}

int mb_blas_kernel_level(const char *corename)
{
    static const char *const level3[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    static const char *const level2[] = {"Haswell", "Zen", NULL};
    /* OpenBLAS's x86 corename[] table below Haswell */
    static const char *const level1[] = {
        "Unknown", "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2",
        "Penryn", "Dunnington", "Nehalem", "Athlon", "Opteron", "Opteron(SSE3)", "Barcelona",
        "Nano", "Sandybridge", "Bobcat", "Bulldozer", "Piledriver", "Steamroller", "Excavator", NULL};
    static const char *const *const levels[] = {level1, level2, level3};
    if (!corename)
        return 0;
    for (int l = 0; l < 3; l++)
        for (const char *const *n = levels[l]; *n; n++)
            if (strcasecmp(corename, *n) == 0)
                return l + 1;
    return 0;
}

const char *mb_cpu_choose_kernel(const mb_cpu_facts *f, const char *user_coretype,
                                 const char *lib_corename)
{
    if (user_coretype && *user_coretype)
        return NULL; /* the user's choice is never overridden */
    int lib = mb_blas_kernel_level(lib_corename), cpu = mb_cpu_level(f);
    if (lib == 0 || lib >= cpu)
        return NULL;
    if (cpu == 3)
        return f->avx512bf16 ? "Cooperlake" : "SkylakeX";
    return "Haswell";
}

const char *mb_cpu_next_kernel(const char *kernel, const char *lib_corename)
{
    const char *next = NULL;
    if (kernel && strcasecmp(kernel, "Cooperlake") == 0)
        next = "SkylakeX";
    else if (kernel && strcasecmp(kernel, "SkylakeX") == 0)
        next = "Haswell";
    if (next && mb_blas_kernel_level(next) > mb_blas_kernel_level(lib_corename))
        return next;
    return NULL;
}
