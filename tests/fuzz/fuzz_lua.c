/*
** fuzz_lua.c: libFuzzer target for the sandboxed Lua entry point: the
** input as a script run by `moonbench run --sandbox --memory 64 --timeout
** 1` (mb_cmd_run, in process), with the moonbench module loaded, so every
** binding a hostile script can reach is exercised. A Lua error is fine;
** a crash, a leak, a hang past the timeout or a sanitizer report is a
** finding. The script runs in the current folder (make fuzz runs it in
** build/fuzz/work/lua), where the sandbox lets it write. os.exit would
** end the fuzzer, so a first line, on the script's line 1, replaces it.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fuzz.h"

/* What src/main.c provides to the commands. */
int mb_cli_usage(const char *cmd, const char *fmt, ...)
{
    (void)cmd;
    (void)fmt;
    return 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char prefix[] = "os.exit = function() error('exit') end ";
    static char *buf;
    static size_t cap;
    if (size + sizeof prefix > cap) {
        cap = size + sizeof prefix;
        buf = realloc(buf, cap);
    }
    memcpy(buf, prefix, sizeof prefix - 1);
    memcpy(buf + sizeof prefix - 1, data, size);
    const char *path = fuzz_file((const uint8_t *)buf, size + sizeof prefix - 1, "lua");
    if (!path)
        return 0;
    const char *argv[] = {"run", "--sandbox", "--memory", "64", "--timeout", "1", path, NULL};
    (void)mb_cmd_run(7, (char **)argv);
    return 0;
}
