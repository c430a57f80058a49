/*
** sign.c: `moonbench keygen`, `moonbench sign` and `moonbench verify`:
** Ed25519 key pairs, signing a bundle, checking one against trusted keys
** (src/core/sign.h), and the `--trust FILE` option every command that
** loads a bundle takes (mb_cli_trust_option).
*/
#include <stdio.h>
#include <string.h>

#include "bundle.h"
#include "cli.h"
#include "sign.h"

int mb_cli_trust_option(mb_cli_trust *t, const char *cmd, int argc, char **argv, int *i)
{
    if (strcmp(argv[*i], "--trust") != 0)
        return 0;
    if (*i + 1 >= argc) {
        mb_cli_usage(cmd, "--trust needs a public key or trust file");
        return -1;
    }
    if (t->n == MB_CLI_MAX_TRUST) {
        mb_cli_usage(cmd, "at most %d --trust files (put the keys into one file instead)", MB_CLI_MAX_TRUST);
        return -1;
    }
    t->files[t->n++] = argv[++*i];
    return 1;
}

int mb_cmd_keygen(int argc, char **argv)
{
    const char *base = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            base = argv[++i];
        else
            return mb_cli_usage("keygen", "unexpected '%s'", argv[i]);
    }
    if (!base)
        return mb_cli_usage("keygen", "name the key files with -o KEYBASE (writes KEYBASE.key and KEYBASE.pub)");
    mb_error err;
    char *sec = NULL, *pub = NULL;
    if (mb_keygen(base, &sec, &pub, &err) != MB_OK)
        return mb_cli_error(&err);
    printf("secret key -> %s (mode 0600: keep it private)\npublic key -> %s (give it to whoever loads your bundles: "
           "--trust %s)\n",
           sec, pub, pub);
    mb_free(sec);
    mb_free(pub);
    return 0;
}

int mb_cmd_sign(int argc, char **argv)
{
    const char *bundle = NULL, *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--key") && i + 1 < argc)
            key = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return mb_cli_usage("sign", "unknown option or missing value: '%s'", argv[i]);
        else if (!bundle)
            bundle = argv[i];
        else
            return mb_cli_usage("sign", "one bundle at a time ('%s' and '%s')", bundle, argv[i]);
    }
    if (!bundle || !key)
        return mb_cli_usage("sign", "%s", !bundle ? "name the bundle" : "name the secret key with --key KEYBASE.key");
    mb_error err;
    mb_bundle *b = NULL;
    /* only a bundle that loads is signed: a signature vouches for a model */
    if (mb_bundle_load_unverified(bundle, &b, &err) != MB_OK)
        return mb_cli_error(&err);
    mb_bundle_free(&b);
    char *pub = NULL;
    if (mb_bundle_sign(bundle, key, &pub, &err) != MB_OK)
        return mb_cli_error(&err);
    printf("%s: signed by key %s\n", bundle, pub);
    mb_free(pub);
    return 0;
}

int mb_cmd_verify(int argc, char **argv)
{
    const char *bundle = NULL;
    mb_cli_trust t = {{0}, 0};
    for (int i = 1; i < argc; i++) {
        int r = mb_cli_trust_option(&t, "verify", argc, argv, &i);
        if (r < 0)
            return 2;
        if (r)
            continue;
        if (argv[i][0] == '-' && argv[i][1])
            return mb_cli_usage("verify", "unknown option '%s'", argv[i]);
        if (bundle)
            return mb_cli_usage("verify", "one bundle at a time ('%s' and '%s')", bundle, argv[i]);
        bundle = argv[i];
    }
    if (!bundle)
        return mb_cli_usage("verify", "name the bundle");
    mb_error err;
    mb_trust trust = {0};
    int env = 0;
    mb_status rc = mb_trust_add_env(&trust, &env, &err);
    for (size_t k = 0; rc == MB_OK && k < t.n; k++)
        rc = mb_trust_add_file(&trust, t.files[k], &err);
    if (rc == MB_OK && trust.n == 0) {
        mb_trust_free(&trust);
        return mb_cli_usage("verify", "name the trusted keys with --trust FILE (or $%s)", MB_TRUST_ENV);
    }
    size_t who = 0;
    if (rc == MB_OK)
        rc = mb_bundle_verify(bundle, &trust, &who, &err);
    if (rc == MB_OK)
        printf("%s: signed by a trusted key (from %s)\n", bundle, trust.origins[who]);
    mb_trust_free(&trust);
    return rc == MB_OK ? 0 : mb_cli_error(&err);
}
