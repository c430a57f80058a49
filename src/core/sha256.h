/*
** sha256.h: SHA-256 of memory and of files as lowercase hex, by OpenSSL's
** libcrypto (its EVP digests use the CPU's SHA extensions or AVX2 where
** there are some: ~1.8 GB/s on the bench machine against ~0.2 GB/s for a
** portable C loop, which mattered because a fit's audit hashes its input
** file). Used by the bundle seal, the audit trail and the model card.
*/
#ifndef MB_SHA256_H
#define MB_SHA256_H

#include <stddef.h>
#include <sys/types.h>

#define MB_SHA256_HEX 65 /* 64 hex digits and the NUL */

/* An incremental hash: init, any number of updates, then final (which
** frees what init took, also after a failed update). */
typedef struct mb_sha256 {
    void *ctx; /* EVP_MD_CTX */
    int failed;
} mb_sha256;

int mb_sha256_init(mb_sha256 *h);                         /* 0, or -1 out of memory */
void mb_sha256_update(mb_sha256 *h, const void *p, size_t n);
int mb_sha256_final(mb_sha256 *h, char hex[MB_SHA256_HEX]); /* 0, or -1 (hex "") if any step failed */

/* The hash of n bytes at p: 0, or -1 (out of memory; hex ""). */
int mb_sha256_data(const void *p, size_t n, char hex[MB_SHA256_HEX]);
/* The hash of the file's bytes from offset off to its end: 0, or -1 when
** it cannot be opened or read (errno says why). */
int mb_sha256_file(const char *path, off_t off, char hex[MB_SHA256_HEX]);

#endif
