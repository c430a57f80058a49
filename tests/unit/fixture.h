/*
** fixture.h: what the unit tests that drive a real plugin share: loading
** one of the build's plugins (MOONBENCH_BUILD, default build) into a
** registry, making a model from "key=value" settings, and asking whether
** the CPU runs the AVX-512 bodies. Included after cmocka.h.
*/
#ifndef MB_TEST_FIXTURE_H
#define MB_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "plugin.h"

/* Load $MOONBENCH_BUILD/plugins/NAME.so into reg: 0, or -1 with the
** reason on stderr (a cmocka group setup's contract). */
static inline int mbt_load_plugin(mb_registry *reg, const char *name)
{
    char path[1024];
    const char *b = getenv("MOONBENCH_BUILD");
    snprintf(path, sizeof path, "%s/plugins/%s.so", b ? b : "build", name);
    mb_error err;
    if (mb_registry_load(reg, path, &err) != MB_OK) {
        fprintf(stderr, "# %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* A model of type t with settings ("key=value", NULL-terminated); fails
** the test when they do not parse or the model cannot be made. */
static inline mb_model *mbt_make_model(const mb_model_type *t, const mb_loaded_plugin *owner,
                                       const char *const *settings)
{
    size_t n = 0;
    while (settings && settings[n])
        n++;
    mb_params p;
    mb_error err;
    if (mb_params_parse(&p, t, settings, n, &err) != MB_OK) {
        fprintf(stderr, "# %s\n", err.msg);
        fail();
    }
    mb_model *m;
    assert_int_equal(mb_model_create(&m, t, owner, &p, &err), MB_OK);
    return m;
}

/* Whether this CPU has AVX-512 F and DQ (what the vector bodies ask for),
** whatever MOONBENCH_TREES_SIMD says. */
static inline int mbt_cpu_avx512(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

#endif
