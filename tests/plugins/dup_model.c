/*
** dup_model.c: a test plugin for tests/unit/test_plugin_host.c. Its own
** plugin name is unique ("dup_model"), but it offers a model named "knn",
** like plugins/template: loaded after the template it must be refused,
** naming the file that already provides "knn".
*/
#include "stub.h"

STUB_MODEL(knn_type, "knn");
STUB_PLUGIN(MB_PLUGIN_ABI, "dup_model", &knn_type)
