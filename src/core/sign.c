/*
** sign.c: Ed25519 signatures of sealed moonbench files, key files and
** trust lists (see sign.h for the format). All cryptography is libsodium's:
** SHA-256 (crypto_hash_sha256), Ed25519 (crypto_sign_detached), base64 and
** constant-time comparison; nothing here is hand-written crypto.
**
** DESIGN
** ------
** The verifier reads the file once through one descriptor: the 512-byte
** user block, then the rest hashed as it is read. The digest it signs or
** checks is the one it computed, never the one written in the seal line
** (that line is only compared with it, to tell damage from forgery).
** Signing copies the file to a temporary beside it while hashing, writes
** the new user block into the copy and renames it over the original
** (io.h), so a failed or interrupted sign leaves the bundle as it was.
*/
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

#define B64 sodium_base64_VARIANT_ORIGINAL
#define PK_B64 (sodium_base64_ENCODED_LEN(crypto_sign_PUBLICKEYBYTES, B64) - 1) /* 44 */
#define SIG_B64 (sodium_base64_ENCODED_LEN(crypto_sign_BYTES, B64) - 1)        /* 88 */
#define KEYFILE_MAX 65536 /* a trust file of a thousand keys is 73 KiB: plenty */

static mb_status need_sodium(mb_error *err)
{
    if (sodium_init() < 0)
        return mb_fail(err, MB_EIO, "libsodium failed to initialise");
    return MB_OK;
}

/* {====== key files ======} */

/* The whole of a small text file (NUL-terminated); NULL and err otherwise. */
static char *read_small(const char *path, const char *what, struct stat *st, mb_error *err)
{
    int fd = open(path, O_RDONLY | O_NOCTTY);
    if (fd < 0) {
        mb_fail(err, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "%s file %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        mb_fail(err, MB_EARG, "%s file %s: not a regular file", what, path);
    } else if (st->st_size > KEYFILE_MAX) {
        mb_fail(err, MB_EFORMAT, "%s file %s: %lld bytes; a key file is at most %d", what, path,
                (long long)st->st_size, KEYFILE_MAX);
    } else {
        buf = mb_malloc((size_t)st->st_size + 1);
        ssize_t n = read(fd, buf, (size_t)st->st_size);
        if (n != (ssize_t)st->st_size) {
            mb_fail(err, MB_EIO, "%s file %s: cannot read it", what, path);
            mb_free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            if (strlen(buf) != (size_t)n) {
                mb_fail(err, MB_EFORMAT, "%s file %s: holds a NUL byte; expected text", what, path);
                mb_free(buf);
                buf = NULL;
            }
        }
    }
    close(fd);
    return buf;
}

/* The next line of *p (its '\n' or '\r\n' cut), or NULL at the end. */
static char *next_line(char **p)
{
    if (!**p)
        return NULL;
    char *line = *p, *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = line + strlen(line);
    }
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r')
        line[n - 1] = '\0';
    return line;
}

/* base64 text of exactly n bytes into out; 0 on success. */
static int from_b64(const char *text, unsigned char *out, size_t n)
{
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, n, text, strlen(text), NULL, &got, &end, B64) != 0)
        return -1;
    return got == n && end && *end == '\0' ? 0 : -1;
}

static char *to_b64(const unsigned char *bin, size_t n)
{
    size_t len = sodium_base64_ENCODED_LEN(n, B64);
    char *s = mb_malloc(len);
    sodium_bin2base64(s, len, bin, n, B64);
    return s;
}

mb_status mb_trust_add_file(mb_trust *t, const char *path, mb_error *err)
{
    mb_status rc = need_sodium(err);
    struct stat st;
    char *text = rc == MB_OK ? read_small(path, "trust", &st, err) : NULL;
    if (!text)
        return rc != MB_OK ? rc : err ? err->code : MB_EIO;
    size_t n0 = t->n, lineno = 0;
    char *p = text, *line;
    int want_key = 0;
    while (rc == MB_OK && (line = next_line(&p)) != NULL) {
        lineno++;
        if (!want_key && (!line[0] || line[0] == '#'))
            continue;
        if (want_key) {
            unsigned char pk[crypto_sign_PUBLICKEYBYTES];
            if (from_b64(line, pk, sizeof pk) != 0) {
                rc = mb_fail(err, MB_EFORMAT, "trust file %s, line %zu: expected a public key (%d base64 characters)",
                             path, lineno, (int)PK_B64);
                break;
            }
            t->keys = mb_realloc(t->keys, (t->n + 1) * sizeof *t->keys);
            t->origins = mb_realloc(t->origins, (t->n + 1) * sizeof *t->origins);
            memcpy(t->keys[t->n], pk, sizeof pk);
            t->origins[t->n++] = mb_strdup(path);
            want_key = 0;
        } else if (strcmp(line, MB_KEY_PUBLIC_TAG) == 0) {
            want_key = 1;
        } else if (strcmp(line, MB_KEY_SECRET_TAG) == 0) {
            rc = mb_fail(err, MB_EARG, "trust file %s: this is a secret key; trust its public key (the .pub file)",
                         path);
        } else {
            rc = mb_fail(err, MB_EFORMAT, "trust file %s, line %zu: expected '%s' (a moonbench public key file)",
                         path, lineno, MB_KEY_PUBLIC_TAG);
        }
    }
    if (rc == MB_OK && want_key)
        rc = mb_fail(err, MB_EFORMAT, "trust file %s: ends after '%s', without the key", path, MB_KEY_PUBLIC_TAG);
    if (rc == MB_OK && t->n == n0)
        rc = mb_fail(err, MB_EFORMAT, "trust file %s: holds no public key", path);
    if (rc != MB_OK) {
        for (size_t i = n0; i < t->n; i++)
            mb_free(t->origins[i]);
        t->n = n0;
    }
    mb_free(text);
    return rc;
}

mb_status mb_trust_add_env(mb_trust *t, int *set, mb_error *err)
{
    const char *env = getenv(MB_TRUST_ENV);
    *set = 0;
    if (!env || !env[0])
        return MB_OK;
    char *copy = mb_strdup(env), *save = NULL;
    mb_status rc = MB_OK;
    for (char *f = strtok_r(copy, ":", &save); f && rc == MB_OK; f = strtok_r(NULL, ":", &save)) {
        *set = 1;
        rc = mb_trust_add_file(t, f, err);
    }
    if (rc != MB_OK && err) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        mb_fail(err, rc, "$%s: %s", MB_TRUST_ENV, why);
    }
    mb_free(copy);
    return rc;
}

void mb_trust_add_keys(mb_trust *t, const mb_trust *from)
{
    for (size_t i = 0; from && i < from->n; i++) {
        t->keys = mb_realloc(t->keys, (t->n + 1) * sizeof *t->keys);
        t->origins = mb_realloc(t->origins, (t->n + 1) * sizeof *t->origins);
        memcpy(t->keys[t->n], from->keys[i], sizeof t->keys[0]);
        t->origins[t->n++] = mb_strdup(from->origins[i]);
    }
}

void mb_trust_free(mb_trust *t)
{
    for (size_t i = 0; i < t->n; i++)
        mb_free(t->origins[i]);
    mb_free(t->keys);
    mb_free(t->origins);
    memset(t, 0, sizeof *t);
}

/* The secret key of a key file, refused when others may read it. */
static mb_status read_secret(const char *path, unsigned char sk[crypto_sign_SECRETKEYBYTES], mb_error *err)
{
    struct stat st;
    char *text = read_small(path, "key", &st, err);
    if (!text)
        return err ? err->code : MB_EIO;
    mb_status rc = MB_OK;
    char *p = text, *tag = next_line(&p), *key = tag ? next_line(&p) : NULL;
    if (tag && strcmp(tag, MB_KEY_PUBLIC_TAG) == 0)
        rc = mb_fail(err, MB_EARG, "key file %s: a public key; signing needs the secret key (the .key file)", path);
    else if (st.st_mode & 077)
        rc = mb_fail(err, MB_EARG, "key file %s: group or others may read it (mode %03o); chmod 600 %s", path,
                     (unsigned)(st.st_mode & 0777), path);
    else if (!tag || strcmp(tag, MB_KEY_SECRET_TAG) != 0 || !key || from_b64(key, sk, crypto_sign_SECRETKEYBYTES))
        rc = mb_fail(err, MB_EFORMAT, "key file %s: expected '%s' and a base64 secret key on the next line", path,
                     MB_KEY_SECRET_TAG);
    sodium_memzero(text, (size_t)st.st_size);
    mb_free(text);
    return rc;
}

static mb_status write_new(const char *path, const char *text, mode_t mode, mb_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    if (fd < 0)
        return mb_fail(err, errno == EEXIST ? MB_EARG : MB_EIO, "cannot write %s: %s%s", path, strerror(errno),
                       errno == EEXIST ? " (moonbench never overwrites a key file)" : "");
    size_t n = strlen(text);
    int bad = write(fd, text, n) != (ssize_t)n;
    bad |= fsync(fd) != 0;
    bad |= close(fd) != 0;
    if (bad) {
        unlink(path);
        return mb_fail(err, MB_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    return MB_OK;
}

mb_status mb_keygen(const char *base, char **secret, char **public_, mb_error *err)
{
    mb_status rc = need_sodium(err);
    if (rc != MB_OK)
        return rc;
    size_t n = strlen(base) + 8;
    char *sp = mb_malloc(n), *pp = mb_malloc(n);
    snprintf(sp, n, "%s.key", base);
    snprintf(pp, n, "%s.pub", base);
    struct stat st;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char *ptext = NULL, *stext = NULL;
    if (lstat(sp, &st) == 0 || lstat(pp, &st) == 0) {
        rc = mb_fail(err, MB_EARG, "%s exists; moonbench never overwrites a key (choose another name)",
                     lstat(sp, &st) == 0 ? sp : pp);
        goto exit;
    }
    crypto_sign_keypair(pk, sk);
    char *pb = to_b64(pk, sizeof pk), *sb = to_b64(sk, sizeof sk);
    size_t pl = strlen(MB_KEY_PUBLIC_TAG) + strlen(pb) + 3, sl = strlen(MB_KEY_SECRET_TAG) + strlen(sb) + 3;
    ptext = mb_malloc(pl);
    stext = mb_malloc(sl);
    snprintf(ptext, pl, "%s\n%s\n", MB_KEY_PUBLIC_TAG, pb);
    snprintf(stext, sl, "%s\n%s\n", MB_KEY_SECRET_TAG, sb);
    sodium_memzero(sb, strlen(sb));
    mb_free(pb);
    mb_free(sb);
    if ((rc = write_new(sp, stext, 0600, err)) == MB_OK && (rc = write_new(pp, ptext, 0644, err)) != MB_OK)
        unlink(sp);
    sodium_memzero(stext, strlen(stext));
exit:
    sodium_memzero(sk, sizeof sk);
    mb_free(ptext);
    mb_free(stext);
    if (rc == MB_OK && secret)
        *secret = sp;
    else
        mb_free(sp);
    if (rc == MB_OK && public_)
        *public_ = pp;
    else
        mb_free(pp);
    return rc;
}

/* {====== the user block ======} */

/* Read the user block of fd into head, then hash the rest (copying it to
** out when out >= 0). 0, or -1 with errno (EINVAL: shorter than a user
** block). */
static int read_and_hash(int fd, int out, char head[MB_SEAL_SIZE], unsigned char digest[32])
{
    size_t got = 0;
    while (got < MB_SEAL_SIZE) {
        ssize_t n = read(fd, head + got, MB_SEAL_SIZE - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EINVAL;
            return -1;
        }
        got += (size_t)n;
    }
    if (out >= 0 && lseek(out, MB_SEAL_SIZE, SEEK_SET) < 0)
        return -1;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    enum { BUFSZ = 1 << 16 };
    unsigned char *buf = mb_malloc(BUFSZ);
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, BUFSZ);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        crypto_hash_sha256_update(&h, buf, (unsigned long long)n);
        if (out >= 0 && write(out, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    }
    mb_free(buf);
    crypto_hash_sha256_final(&h, digest);
    return rc;
}

/* Does the seal line of head hold this digest? */
static int seal_matches(const char head[MB_SEAL_SIZE], const unsigned char digest[32])
{
    size_t tl = strlen(MB_SEAL_TAG);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, digest, 32);
    return memcmp(head, MB_SEAL_TAG, tl) == 0 && memcmp(head + tl, hex, 64) == 0 && head[tl + 64] == '\n';
}

/* The signature line after the seal line: 1 and pk/sig when present and
** well formed, 0 when absent, -1 when malformed. */
static int parse_signature(const char head[MB_SEAL_SIZE], unsigned char pk[32], unsigned char sig[64])
{
    const char *line = head + strlen(MB_SEAL_TAG) + 65;
    size_t tl = strlen(MB_SIGN_LINE_TAG), left = MB_SEAL_SIZE - (size_t)(line - head);
    if (left == 0 || line[0] == '\0')
        return 0;
    char kb[PK_B64 + 1], sb[SIG_B64 + 1];
    if (left < tl + PK_B64 + 1 + SIG_B64 + 1 || memcmp(line, MB_SIGN_LINE_TAG, tl) != 0 ||
        line[tl + PK_B64] != ' ' || line[tl + PK_B64 + 1 + SIG_B64] != '\n')
        return -1;
    memcpy(kb, line + tl, PK_B64);
    kb[PK_B64] = '\0';
    memcpy(sb, line + tl + PK_B64 + 1, SIG_B64);
    sb[SIG_B64] = '\0';
    return from_b64(kb, pk, 32) == 0 && from_b64(sb, sig, 64) == 0 ? 1 : -1;
}

/* The signed message: the domain, a NUL, the digest. */
static void signed_message(const unsigned char digest[32], unsigned char msg[sizeof MB_SIGN_DOMAIN + 32])
{
    memcpy(msg, MB_SIGN_DOMAIN, sizeof MB_SIGN_DOMAIN); /* with its NUL */
    memcpy(msg + sizeof MB_SIGN_DOMAIN, digest, 32);
}

static mb_status damaged(const char *path, mb_error *err)
{
    return mb_fail(err, MB_EFORMAT,
                   "%s: damaged: its checksum does not match (truncated, corrupted, or changed after moonbench "
                   "wrote it)",
                   path);
}

/* {====== sign and verify ======} */

mb_status mb_bundle_sign(const char *path, const char *secret_file, char **pub, mb_error *err)
{
    unsigned char sk[crypto_sign_SECRETKEYBYTES], digest[32], sig[crypto_sign_BYTES];
    unsigned char msg[sizeof MB_SIGN_DOMAIN + 32], pk[crypto_sign_PUBLICKEYBYTES];
    char head[MB_SEAL_SIZE], *tmp = NULL;
    mb_status rc = need_sodium(err);
    if (rc != MB_OK || (rc = read_secret(secret_file, sk, err)) != MB_OK)
        return rc;
    int in = -1, out = -1;
    struct stat st;
    if ((rc = mb_output_check(path, err)) != MB_OK)
        goto exit;
    if ((in = open(path, O_RDONLY | O_NOCTTY)) < 0) {
        rc = mb_fail(err, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "%s: %s", path, strerror(errno));
        goto exit;
    }
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = mb_fail(err, MB_EARG, "%s: not a regular file", path);
        goto exit;
    }
    if ((out = mb_tmp_create(path, &tmp, err)) < 0) {
        rc = err ? err->code : MB_EIO;
        goto exit;
    }
    (void)fchmod(out, st.st_mode & 07777); /* the signed file keeps its permissions */
    if (read_and_hash(in, out, head, digest) != 0) {
        rc = errno == EINVAL ? mb_fail(err, MB_EFORMAT, "%s: not a sealed moonbench file (shorter than its header)", path)
                             : mb_fail(err, MB_EIO, "%s: %s", path, strerror(errno));
        goto exit;
    }
    if (memcmp(head, MB_SEAL_TAG, strlen(MB_SEAL_TAG)) != 0) {
        rc = mb_fail(err, MB_EFORMAT, "%s: not a sealed moonbench file (no checksum header); only bundles are signed",
                     path);
        goto exit;
    }
    if (!seal_matches(head, digest)) {
        rc = damaged(path, err);
        goto exit;
    }
    signed_message(digest, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    char *pb = to_b64(pk, sizeof pk), *sb = to_b64(sig, sizeof sig);
    size_t at = strlen(MB_SEAL_TAG) + 65;
    memset(head + at, 0, MB_SEAL_SIZE - at);
    snprintf(head + at, MB_SEAL_SIZE - at, "%s%s %s\n", MB_SIGN_LINE_TAG, pb, sb);
    mb_free(sb);
    if (pwrite(out, head, MB_SEAL_SIZE, 0) != MB_SEAL_SIZE) {
        mb_free(pb);
        rc = mb_fail(err, MB_EIO, "cannot write %s: %s", tmp, strerror(errno));
        goto exit;
    }
    rc = mb_tmp_publish(out, &tmp, path, err);
    out = -1;
    if (rc == MB_OK && pub)
        *pub = pb;
    else
        mb_free(pb);
exit:
    sodium_memzero(sk, sizeof sk);
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    mb_tmp_discard(&tmp);
    return rc;
}

mb_status mb_bundle_verify(const char *path, const mb_trust *t, size_t *signer, mb_error *err)
{
    int fd = open(path, O_RDONLY | O_NOCTTY);
    if (fd < 0)
        return mb_fail(err, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "%s: %s", path, strerror(errno));
    mb_status rc = mb_bundle_verify_fd(fd, path, t, signer, err);
    close(fd);
    return rc;
}

mb_status mb_bundle_verify_fd(int fd, const char *path, const mb_trust *t, size_t *signer, mb_error *err)
{
    unsigned char digest[32], pk[32], sig[64], msg[sizeof MB_SIGN_DOMAIN + 32];
    char head[MB_SEAL_SIZE];
    mb_status rc = need_sodium(err);
    if (rc != MB_OK)
        return rc;
    if (!t || t->n == 0)
        return mb_fail(err, MB_EARG, "%s: no trusted keys to check its signature against", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return mb_fail(err, MB_EFORMAT, "%s: not a regular file", path);
    if (lseek(fd, 0, SEEK_SET) != 0)
        return mb_fail(err, MB_EIO, "%s: %s", path, strerror(errno));
    int bad = read_and_hash(fd, -1, head, digest), e = errno;
    if (bad)
        return e == EINVAL ? mb_fail(err, MB_EFORMAT, "%s: not a sealed moonbench file (shorter than its header)", path)
                           : mb_fail(err, MB_EIO, "%s: %s", path, strerror(e));
    if (memcmp(head, MB_SEAL_TAG, strlen(MB_SEAL_TAG)) != 0)
        return mb_fail(err, MB_EFORMAT, "%s: not a sealed moonbench file (no checksum header)", path);
    if (!seal_matches(head, digest))
        return damaged(path, err);
    int has = parse_signature(head, pk, sig);
    if (has == 0)
        return mb_fail(err, MB_EFORMAT,
                       "%s: not signed, and only bundles signed by a trusted key are loaded (--trust / $%s); "
                       "sign it with `moonbench sign %s --key KEY`",
                       path, MB_TRUST_ENV, path);
    if (has < 0)
        return mb_fail(err, MB_EFORMAT, "%s: its signature line is malformed (expected '%s<key> <signature>')", path,
                       MB_SIGN_LINE_TAG);
    signed_message(digest, msg);
    /* every trusted key is tried: the key written in the file only names
    ** the signer for the message, it is not believed */
    for (size_t i = 0; i < t->n; i++)
        if (crypto_sign_verify_detached(sig, msg, sizeof msg, t->keys[i]) == 0) {
            if (signer)
                *signer = i;
            return MB_OK;
        }
    int known = 0;
    for (size_t i = 0; i < t->n && !known; i++)
        known = sodium_memcmp(pk, t->keys[i], 32) == 0;
    char *pb = to_b64(pk, sizeof pk);
    if (known)
        rc = mb_fail(err, MB_EFORMAT,
                     "%s: bad signature: the bundle was changed after it was signed (or the signature is forged)",
                     path);
    else
        rc = mb_fail(err, MB_EFORMAT, "%s: signed by key %s, which is not a trusted key (trusted: %zu key%s from %s%s)",
                     path, pb, t->n, t->n == 1 ? "" : "s", t->origins[0], t->n > 1 ? ", ..." : "");
    mb_free(pb);
    return rc;
}
