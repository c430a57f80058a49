/*
** test_cpu.c: the OpenBLAS kernel choice (src/core/cpu.c) on recorded CPUs:
** the facts cpuid/xgetbv gave on each machine, and the kernel the library
** reported there with OPENBLAS_CORETYPE unset.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cpu.h"

/* Intel Xeon, family 6 model 207 (Emerald Rapids), as this machine reports */
static const mb_cpu_facts emerald = {"GenuineIntel", 6, 207, true, true, true, true, true,
                                     true, true, true, true, true};
/* Intel Xeon, family 6 model 167 with AVX-512 BF16 and FP16 (the session 7
** machine): OpenBLAS 0.3.21 maps model 167 to SkylakeX by itself */
static const mb_cpu_facts xeon167 = {"GenuineIntel", 6, 167, true, true, true, true, true,
                                     true, true, true, true, true};
/* Intel Core i7-4770 (Haswell, family 6 model 60): AVX2 + FMA, no AVX-512 */
static const mb_cpu_facts haswell = {"GenuineIntel", 6, 60, true, true, false, false, false,
                                     false, false, false, true, false};
/* AMD Ryzen 7 7700X (Zen 4, family 25 model 97): AVX-512 with BF16 */
static const mb_cpu_facts zen4 = {"AuthenticAMD", 25, 97, true, true, true, true, true,
                                  true, true, true, true, true};

static void emerald_rapids_prescott_gets_cooperlake(void **state)
{
    (void)state;
    assert_int_equal(mb_cpu_level(&emerald), 3);
    assert_string_equal(mb_cpu_choose_kernel(&emerald, NULL, "Prescott"), "Cooperlake");
    assert_string_equal(mb_cpu_choose_kernel(&emerald, "", "Prescott"), "Cooperlake");
    /* without BF16: SkylakeX; a library without Cooperlake: SkylakeX next */
    mb_cpu_facts nobf16 = emerald;
    nobf16.avx512bf16 = false;
    assert_string_equal(mb_cpu_choose_kernel(&nobf16, NULL, "Prescott"), "SkylakeX");
    assert_string_equal(mb_cpu_next_kernel("Cooperlake", "Prescott"), "SkylakeX");
    assert_string_equal(mb_cpu_next_kernel("SkylakeX", "Prescott"), "Haswell");
    assert_null(mb_cpu_next_kernel("Haswell", "Prescott"));
    assert_null(mb_cpu_next_kernel("SkylakeX", "Haswell")); /* Haswell is no gain on Haswell */
    /* a library that knows the CPU: nothing to do */
    assert_null(mb_cpu_choose_kernel(&emerald, NULL, "SkylakeX"));
    assert_null(mb_cpu_choose_kernel(&emerald, NULL, "cooperlake"));
}

static void xeon_model_167_skylakex_untouched(void **state)
{
    (void)state;
    assert_int_equal(mb_cpu_level(&xeon167), 3);
    /* the library's SkylakeX is already level 3: Cooperlake would only add
    ** bf16 sgemm (sbgemm), which moonbench does not call */
    assert_null(mb_cpu_choose_kernel(&xeon167, NULL, "SkylakeX"));
    assert_null(mb_cpu_choose_kernel(&xeon167, "", "SkylakeX"));
    /* the same CPU under a library that fell back */
    assert_string_equal(mb_cpu_choose_kernel(&xeon167, NULL, "Prescott"), "Cooperlake");
    assert_string_equal(mb_cpu_choose_kernel(&xeon167, NULL, "Haswell"), "Cooperlake");
    assert_null(mb_cpu_choose_kernel(&xeon167, "SkylakeX", "Prescott"));
}

static void haswell_known_untouched(void **state)
{
    (void)state;
    assert_int_equal(mb_cpu_level(&haswell), 2);
    assert_null(mb_cpu_choose_kernel(&haswell, NULL, "Haswell"));
    /* the same CPU under a library that does not know it */
    assert_string_equal(mb_cpu_choose_kernel(&haswell, NULL, "Sandybridge"), "Haswell");
}

static void os_without_zmm_state_haswell_at_most(void **state)
{
    (void)state;
    mb_cpu_facts f = emerald;
    f.os_zmm = false; /* XCR0 without opmask/ZMM: AVX-512 would fault */
    assert_int_equal(mb_cpu_level(&f), 2);
    assert_string_equal(mb_cpu_choose_kernel(&f, NULL, "Prescott"), "Haswell");
    assert_null(mb_cpu_choose_kernel(&f, NULL, "Haswell"));
    f.os_ymm = false; /* not even YMM: stay with the library */
    assert_int_equal(mb_cpu_level(&f), 1);
    assert_null(mb_cpu_choose_kernel(&f, NULL, "Prescott"));
}

static void zen4_with_avx512(void **state)
{
    (void)state;
    /* OpenBLAS 0.3.21 maps family 25 to its Zen (AVX2) kernels */
    assert_int_equal(mb_blas_kernel_level("Zen"), 2);
    assert_string_equal(mb_cpu_choose_kernel(&zen4, NULL, "Zen"), "Cooperlake");
    mb_cpu_facts f = zen4;
    f.avx512cd = false; /* the SkylakeX kernels need CD too */
    assert_null(mb_cpu_choose_kernel(&f, NULL, "Zen"));
}

static void user_coretype_untouched(void **state)
{
    (void)state;
    assert_null(mb_cpu_choose_kernel(&emerald, "Prescott", "Prescott"));
    assert_null(mb_cpu_choose_kernel(&emerald, "Haswell", "Prescott"));
    assert_null(mb_cpu_choose_kernel(&zen4, "Zen", "Zen"));
}

static void unknown_names_left_alone(void **state)
{
    (void)state;
    assert_int_equal(mb_blas_kernel_level("neoversen1"), 0);
    assert_int_equal(mb_blas_kernel_level(NULL), 0);
    assert_null(mb_cpu_choose_kernel(&emerald, NULL, "neoversen1"));
    assert_int_equal(mb_blas_kernel_level("PRESCOTT"), 1);
}

static void reads_this_cpu(void **state)
{
    (void)state;
    mb_cpu_facts f;
    mb_cpu_read(&f);
#if defined(__x86_64__)
    assert_true(strcmp(f.vendor, "GenuineIntel") == 0 || strcmp(f.vendor, "AuthenticAMD") == 0 ||
                f.vendor[0] != 0);
    assert_true(f.family >= 6);
    if (f.avx512f && f.os_zmm) /* ZMM state implies YMM state */
        assert_true(f.os_ymm);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(emerald_rapids_prescott_gets_cooperlake),
        cmocka_unit_test(xeon_model_167_skylakex_untouched),
        cmocka_unit_test(haswell_known_untouched),
        cmocka_unit_test(os_without_zmm_state_haswell_at_most),
        cmocka_unit_test(zen4_with_avx512),
        cmocka_unit_test(user_coretype_untouched),
        cmocka_unit_test(unknown_names_left_alone),
        cmocka_unit_test(reads_this_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
