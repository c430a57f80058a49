/*
** sha256.c: SHA-256 (sha256.h) over OpenSSL's EVP interface, the one the
** library keeps fast on every CPU; files are read in 1 MiB blocks.
*/
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

int mb_sha256_init(mb_sha256 *h)
{
    h->failed = 0;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
        return -1;
    }
    return 0;
}

void mb_sha256_update(mb_sha256 *h, const void *p, size_t n)
{
    if (h->ctx && !h->failed && n && EVP_DigestUpdate(h->ctx, p, n) != 1)
        h->failed = 1;
}

int mb_sha256_final(mb_sha256 *h, char hex[MB_SHA256_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = h->ctx && !h->failed && EVP_DigestFinal_ex(h->ctx, md, &len) == 1 && len == 32;
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    hex[0] = '\0'; /* matches no hash */
    if (!ok)
        return -1;
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

int mb_sha256_data(const void *p, size_t n, char hex[MB_SHA256_HEX])
{
    mb_sha256 h;
    if (mb_sha256_init(&h) != 0)
        return -1;
    mb_sha256_update(&h, p, n);
    return mb_sha256_final(&h, hex);
}

int mb_sha256_file(const char *path, off_t off, char hex[MB_SHA256_HEX])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    mb_sha256 h;
    size_t cap = (size_t)1 << 20;
    unsigned char *buf = malloc(cap);
    if (!buf || mb_sha256_init(&h) != 0) {
        free(buf);
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, cap, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        mb_sha256_update(&h, buf, (size_t)n);
        off += n;
    }
    int saved = errno;
    if (mb_sha256_final(&h, hex) != 0 && rc == 0) {
        rc = -1;
        saved = ENOMEM;
    }
    free(buf);
    close(fd);
    errno = saved;
    return rc;
}
