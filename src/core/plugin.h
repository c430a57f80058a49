/*
** plugin.h: the plugin host: finding, loading and checking plugins
** (plugins/moonbench_plugin.h is the ABI they implement), validating model
** parameters, and calling models with host-owned error buffers.
**
** Discovery order (first of a name wins; a later plugin of the same name
** is refused with a message naming both files): each folder of
** $MOONBENCH_PLUGIN_PATH (':'-separated), the folder "plugins" beside the
** executable (build/plugins when run from the tree), then the install's
** plugin folder, ../lib/moonbench/plugins from the executable's folder.
*/
#ifndef MB_PLUGIN_HOST_H
#define MB_PLUGIN_HOST_H

#include "frame.h"
#include "moonbench_plugin.h"

typedef struct mb_loaded_plugin {
    char *path;
    void *handle;                 /* dlopen handle */
    const mb_plugin *plugin;
} mb_loaded_plugin;

typedef struct mb_registry {
    mb_loaded_plugin *plugins;
    size_t nplugins;
    char **problems;              /* one message per file that was refused */
    size_t nproblems;
    /* lazy discovery (mb_registry_discover_lazy): folders recorded, not yet
    ** loaded; mb_registry_find and mb_registry_load_pending load them */
    char **pending;
    size_t npending;
    int lazy;
} mb_registry;

/* The host services table handed to plugins (mb_malloc & co., mb_log). */
const mb_host *mb_host_services(void);

/* Load one plugin file into r. Failures (not a shared object, no entry
** point, a newer ABI, a duplicate name) return an error naming the file
** and leave r unchanged; the handle is closed. */
mb_status mb_registry_load(mb_registry *r, const char *path, mb_error *err);

/* Load every *.so of the discovery folders; refused files are recorded in
** r->problems, not fatal. exe_dir is the executable's folder, or NULL. */
void mb_registry_discover(mb_registry *r, const char *exe_dir);

/* The same folders, but nothing is loaded yet: a plugin's code (its ELF
** constructors included) runs only when a model is looked up
** (mb_registry_find) or mb_registry_load_pending is called, so scoring a
** bundle with a portable form loads no plugin at all. mb_registry_load_dir
** on a lazy registry records its folder too (loaded in order, later). */
void mb_registry_discover_lazy(mb_registry *r, const char *exe_dir);
/* Load the folders a lazy registry recorded (once); then r->plugins and
** r->problems are complete, as after mb_registry_discover. */
void mb_registry_load_pending(mb_registry *r);

/* Load every *.so of one folder (refusals recorded in r->problems). */
void mb_registry_load_dir(mb_registry *r, const char *dir);

/* Unload everything; r is left empty. */
void mb_registry_close(mb_registry *r);

/* Find a model type by "name" or "plugin/name" (the plugin's own name must
** match); NULL and err (listing the available models) when there is none.
** *owner, when not NULL, gets its plugin. Loads a lazy registry's pending
** folders first (the one change made through the const pointer: the
** registry is filled on first use, as a cache; never a `static const`). */
const mb_model_type *mb_registry_find(const mb_registry *r, const char *name,
                                      const mb_loaded_plugin **owner, mb_error *err);

/* {====== parameters ======} */

/* Validated parameter values for a model type: one per spec, defaults
** filled in. Owns the storage of INTS lists. */
typedef struct mb_params {
    const mb_model_type *type;
    mb_param_value *values;
    char **text;                  /* each value as text (for the bundle) */
    int64_t **lists;
    size_t n;
} mb_params;

/* Parse "key=value" settings over the defaults. Unknown names, wrong types
** and out-of-range values are refused with a message listing what is
** valid. */
mb_status mb_params_parse(mb_params *p, const mb_model_type *type, const char *const *settings,
                          size_t nsettings, mb_error *err);
void mb_params_free(mb_params *p);

/* A parameter spec as one line of help ("alpha  real in [0, inf], default 1: ..."). */
void mb_param_describe(const mb_param_spec *s, char *buf, size_t n);

/* {====== calling models ======} */

/* A model instance: its type, parameters and the plugin's handle. */
typedef struct mb_model {
    const mb_model_type *type;
    const mb_loaded_plugin *owner;
    mb_params params;
    void *impl;
    mb_task task;
    size_t nfeatures, nclasses;
} mb_model;

/* Create an unfitted model (takes ownership of params). */
mb_status mb_model_create(mb_model **out, const mb_model_type *type, const mb_loaded_plugin *owner,
                          mb_params *params, mb_error *err);
void mb_model_free(mb_model **m);

/* Fit through the ABI; valid may be NULL. Plugin messages are prefixed
** with the model's name. */
mb_status mb_model_fit(mb_model *m, const mb_dataset *train, const mb_dataset *valid,
                       const mb_fit_context *ctx, mb_error *err);
/* What the last fit found (mb_model_type.fit_info): out->n is 0 when the
** model reports nothing (or was built before that member existed). */
mb_status mb_model_fit_info(mb_model *m, mb_fit_info *out, mb_error *err);
/* Predictions: out has X->rows values (predict) or rows x nclasses
** (proba). The feature count is checked against the fitted one. */
mb_status mb_model_predict(mb_model *m, const mb_matrix *X, float *out, mb_error *err);
mb_status mb_model_predict_proba(mb_model *m, const mb_matrix *X, float *out, mb_error *err);

/* {====== state in memory ======}
** An in-memory implementation of mb_state_writer/reader: named arrays kept
** in a list. The bundle stores such a list; tests and cross-validation use
** it directly. */
typedef struct mb_state_array {
    char name[64];
    mb_dtype type;
    size_t count;
    void *data;
} mb_state_array;

typedef struct mb_state {
    mb_state_array *arrays;
    size_t n, cap;
} mb_state;

size_t mb_dtype_size(mb_dtype t);
mb_state_writer mb_state_writer_for(mb_state *s);
mb_state_reader mb_state_reader_for(mb_state *s);
void mb_state_clear(mb_state *s);

#endif
