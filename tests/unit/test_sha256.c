/*
** test_sha256.c: sha256.h (OpenSSL's EVP) against FIPS 180-2's published
** vectors, incremental against one-shot on random splits, and the file
** form against the data form of the same bytes from an offset.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"

static void test_fips_vectors(void **state)
{
    (void)state;
    char hex[MB_SHA256_HEX];
    assert_int_equal(mb_sha256_data("", 0, hex), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(mb_sha256_data("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_int_equal(mb_sha256_data(two, strlen(two), hex), 0);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a million 'a', fed in uneven pieces */
    mb_sha256 h;
    assert_int_equal(mb_sha256_init(&h), 0);
    char a[997];
    memset(a, 'a', sizeof a);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof a ? left : sizeof a;
        mb_sha256_update(&h, a, n);
        left -= n;
    }
    assert_int_equal(mb_sha256_final(&h, hex), 0);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_split_and_file(void **state)
{
    (void)state;
    size_t n = 3u << 20; /* over the file form's 1 MiB blocks */
    unsigned char *b = malloc(n);
    assert_non_null(b);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        b[i] = (unsigned char)(x >> 24);
    }
    char whole[MB_SHA256_HEX], parts[MB_SHA256_HEX], file[MB_SHA256_HEX];
    assert_int_equal(mb_sha256_data(b, n, whole), 0);
    mb_sha256 h;
    assert_int_equal(mb_sha256_init(&h), 0);
    for (size_t at = 0; at < n;) {
        x = x * 1664525u + 1013904223u;
        size_t k = (x >> 8) % 70000;
        if (k > n - at)
            k = n - at;
        mb_sha256_update(&h, b + at, k);
        at += k;
    }
    assert_int_equal(mb_sha256_final(&h, parts), 0);
    assert_string_equal(whole, parts);

    char path[] = "/tmp/mb_sha256_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, n), (ssize_t)n);
    close(fd);
    assert_int_equal(mb_sha256_file(path, 0, file), 0);
    assert_string_equal(file, whole);
    off_t off = 512;
    assert_int_equal(mb_sha256_data(b + off, n - (size_t)off, whole), 0);
    assert_int_equal(mb_sha256_file(path, off, file), 0);
    assert_string_equal(file, whole);
    assert_int_equal(mb_sha256_file(path, (off_t)n, file), 0); /* nothing left: the empty hash */
    assert_string_equal(file, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    unlink(path);
    errno = 0;
    assert_int_equal(mb_sha256_file(path, 0, file), -1);
    assert_int_equal(errno, ENOENT);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_vectors),
        cmocka_unit_test(test_split_and_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
