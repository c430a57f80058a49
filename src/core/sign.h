/*
** sign.h: who made a bundle -- Ed25519 signatures of sealed moonbench
** files (libsodium), key files, and the trust list a loader checks them
** against. docs/model-format.md ("Signatures") specifies the bytes.
**
** What is signed: the domain string MB_SIGN_DOMAIN, a NUL, then the 32
** bytes of the SHA-256 of the file's bytes 512..end -- everything after the
** HDF5 user block, which is the whole HDF5 file. Where: a second line in
** the user block, after the seal line:
**   moonbench signature v1 ed25519 <public key, base64> <signature, base64>\n
** Signing rewrites only the user block, so the seal stays valid and h5py
** still reads the file. An attacker who edits the bundle and recomputes
** the seal changes the SHA-256, and cannot make a signature for it without
** the secret key; dropping the line leaves an unsigned bundle, which a
** loader with a trust list refuses. The verifier hashes the file itself;
** it never believes the seal line's digest.
**
** Key files (text, one value per line):
**   secret  "moonbench-ed25519-secret v1\n<base64 of libsodium's 64-byte secret key>\n"  mode 0600
**   public  "moonbench-ed25519-public v1\n<base64 of the 32-byte public key>\n"
** A trust file is one or more public keys, one after the other (public key
** files concatenated); blank lines and lines starting with '#' are skipped.
**
** Thread safety: every call may run on any thread (libsodium is
** initialised once, thread-safely); an mb_trust is read-only after it is
** filled.
*/
#ifndef MB_SIGN_H
#define MB_SIGN_H

#include "mb.h"

#define MB_KEY_SECRET_TAG "moonbench-ed25519-secret v1"
#define MB_KEY_PUBLIC_TAG "moonbench-ed25519-public v1"
#define MB_SIGN_DOMAIN "moonbench-bundle-signature v1"
#define MB_SIGN_LINE_TAG "moonbench signature v1 ed25519 "
/* the sealed file's user block (the same as h5int.h's MBH5_SEAL_*) */
#define MB_SEAL_SIZE 512
#define MB_SEAL_TAG "moonbench sealed file; sha256 of bytes 512..end: "
/* the environment variable: ':'-separated trust files every bundle load honours */
#define MB_TRUST_ENV "MOONBENCH_TRUST"

/* Trusted public keys, each with the file it came from (for messages). */
typedef struct mb_trust {
    unsigned char (*keys)[32];
    char **origins;
    size_t n;
} mb_trust;

/* Add every public key of a trust file (format above). A missing file, a
** secret key, a malformed or empty file -> error naming the file and line;
** t is unchanged then. */
mb_status mb_trust_add_file(mb_trust *t, const char *path, mb_error *err);
/* Add the keys of every file named in $MOONBENCH_TRUST (':'-separated;
** unset or empty: nothing). *set is 1 when the variable named any file. */
mb_status mb_trust_add_env(mb_trust *t, int *set, mb_error *err);
/* Append copies of from's keys (from may be NULL). */
void mb_trust_add_keys(mb_trust *t, const mb_trust *from);
void mb_trust_free(mb_trust *t);

/* A new key pair: base.key (secret, mode 0600) and base.pub. Existing
** files are never overwritten (MB_EARG naming them). *secret and *public
** (may be NULL) get the two paths, freed by the caller with mb_free. */
mb_status mb_keygen(const char *base, char **secret, char **public_, mb_error *err);

/* Sign a sealed file in place (atomically: a copy with the new user block
** is renamed over it) with the secret key file (refused when group or
** others can read it). A damaged seal -> MB_EFORMAT; an older signature is
** replaced. *pub (may be NULL) gets the signer's public key as base64. */
mb_status mb_bundle_sign(const char *path, const char *secret_file, char **pub, mb_error *err);

/* Check a sealed file against a trust list (t->n > 0): the seal must
** match the file, and the signature line must be a valid signature by one
** of t's keys. Unsigned, signed by another key, or a bad signature ->
** MB_EFORMAT with a message naming the file; MB_OK and *signer (may be
** NULL; index into t) when trusted. */
mb_status mb_bundle_verify(const char *path, const mb_trust *t, size_t *signer, mb_error *err);
/* The same on an open file (read from its start; path names it in
** messages): a loader that then reads the file through this descriptor
** reads what was verified, even if the name is replaced meanwhile. */
mb_status mb_bundle_verify_fd(int fd, const char *path, const mb_trust *t, size_t *signer, mb_error *err);

#endif
