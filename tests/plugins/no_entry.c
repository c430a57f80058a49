/*
** no_entry.c: a test plugin for tests/unit/test_plugin_host.c. A valid
** shared object that is not a moonbench plugin: it exports a function, but
** no moonbench_plugin() entry point. The host must refuse it by name.
*/
int mbtest_not_a_plugin(void);

int mbtest_not_a_plugin(void) { return 42; }
