/*
** bundle.h: the model bundle, one HDF5 file that carries a trained
** pipeline to every deployment path (docs/model-format.md):
**   root attributes  format "moonbench-bundle", format_version, moonbench
**                    version, task, created (UTC, ISO 8601)
**   /schema          feature names and types, target name, class labels
**   /pipeline        fitted transforms (written by the Lua layer; empty here)
**   /model           plugin, plugin version, model type, parameters;
**                    /model/portable: the portable form (if any) as arrays;
**                    /model/state: the plugin's own state arrays
**   /provenance      source dataset, its SHA-256, rows used, parameters,
**                    time, moonbench version, script text
**   /monitoring      per-feature training statistics of the model's inputs
**                    (mean, std, min, max, missing rate, deciles), for drift
** Written atomically (temporary file, then rename). A bundle whose
** format_version is newer than this moonbench's is refused with a message.
*/
#ifndef MB_BUNDLE_H
#define MB_BUNDLE_H

#include "plugin.h"
#include "portable.h"
#include "transform.h"

#define MB_BUNDLE_FORMAT "moonbench-bundle"
#define MB_BUNDLE_VERSION 1

typedef struct mb_bundle {
    /* schema */
    char **features;              /* nfeatures names */
    size_t nfeatures;
    char *target;
    mb_task task;
    char **classes;               /* nclasses names (classification) */
    size_t nclasses;
    /* pipeline: the raw input columns and the fitted transforms, in order
    ** (none for `moonbench fit`: then the inputs are the features) */
    char **inputs, **input_types; /* ninputs names and "numeric"/"categorical" */
    size_t ninputs;
    size_t nsteps;
    char **step_kinds;            /* transform kinds, "lua" for a Lua transform */
    mb_state *steps;              /* each step's fitted state (transform.h) */
    /* model */
    char *plugin, *plugin_version, *model;
    char **param_names, **param_values; /* nparams pairs, as typed */
    size_t nparams;
    mb_form_kind form;            /* MB_FORM_NONE: scoring needs the plugin */
    mb_state portable_state;      /* the form as arrays (portable.h) */
    mb_state monitoring;          /* training statistics (mb_monitoring_compute); may be empty */
    mb_state plugin_state;        /* the plugin's save() output */
    /* provenance */
    char *source, *source_sha256, *created, *moonbench_version, *script;
    size_t rows_used;
    /* binary models: class 1 when P(class 1) > threshold; 0 = unset, the
    ** default 0.5 (the /model attribute `threshold`, optional) */
    double threshold;
    char *file;                   /* the file it was loaded from, for messages (NULL: built in memory) */
} mb_bundle;

/* The binary decision threshold scoring uses: b->threshold when set, else
** 0.5. Class 1 when P(class 1) > it (mb_scorer_predict, the runtime, the
** exports). */
double mb_bundle_threshold(const mb_bundle *b);
/* Store a decision threshold (fit --threshold, save{threshold = T} in Lua):
** MB_EARG unless the bundle is binary and t is in (0, 1). */
mb_status mb_bundle_set_threshold(mb_bundle *b, double t, mb_error *err);

/* Save atomically. */
mb_status mb_bundle_save(const char *path, const mb_bundle *b, mb_error *err);

/* How a bundle may be loaded: the one option struct of every command and
** binding that loads bundles (predict, score, serve, export, mb.load).
** Zeroed: no options. */
typedef struct mb_bundle_options {
    /* Trust files (`--trust FILE`, sign.h): when any is given, or
    ** $MOONBENCH_TRUST names any, or trust is set, the bundle must be
    ** signed by one of their keys (mb_bundle_verify) or it is refused
    ** before anything else of it is read. */
    const char *const *trust_files;
    size_t ntrust_files;
    const struct mb_trust *trust; /* keys already read (may be NULL) */
} mb_bundle_options;

/* Load; corrupt, truncated or newer-format files give an error naming the
** file and the reason; an unsigned or wrongly signed bundle when a trust
** list is set (o, or $MOONBENCH_TRUST: honoured also with o NULL). */
mb_status mb_bundle_load_opts(const char *path, const mb_bundle_options *o, mb_bundle **out, mb_error *err);
/* mb_bundle_load_opts(path, NULL, out, err) */
mb_status mb_bundle_load(const char *path, mb_bundle **out, mb_error *err);
/* Load without checking any signature, $MOONBENCH_TRUST ignored: for
** `moonbench sign`, which checks what it signs, not who signed it. */
mb_status mb_bundle_load_unverified(const char *path, mb_bundle **out, mb_error *err);
void mb_bundle_free(mb_bundle **b);

/* Fill a bundle from a fitted model: schema from the training data, the
** model's parameters, state and portable form, provenance (hashing the
** source file). */
mb_status mb_bundle_from_model(mb_bundle *b, mb_model *m, const char *const *features,
                               size_t nfeatures, const char *target, const char *const *classes,
                               const char *source_file, const char *source_spec, size_t rows,
                               mb_error *err);

/* Training statistics of a model's input matrix, per feature, as arrays
** (mean, std, min, max, missing: the fraction of NaN; quantiles: nfeatures
** x 11 deciles 0..100%; bin_edges, bin_shares: the drift bins of
** src/deploy/drift.h and their training shares), from at most 4,096 evenly spaced rows
** (rows_sampled), for scorers to compare serving data against (drift). */
mb_status mb_monitoring_compute(const mb_matrix *X, mb_state *out, mb_error *err);

/* A scorer made from a bundle: the portable form when there is one (reg is
** not touched, so a lazy registry loads no plugin: mb_registry_discover_lazy),
** else the model found in the registry as "plugin/model" -- the plugin's
** own name must be the bundle's /model@plugin, a same-named model of
** another plugin is refused -- created with the saved parameters and
** loaded with the saved state. reg may be NULL (portable bundles only). */
typedef struct mb_scorer {
    const mb_bundle *bundle;
    struct mb_transform **steps;  /* the pipeline, loaded */
    mb_portable form;
    mb_mlp_layer *layers;
    mb_trees_plan *trees;         /* the form compiled (portable_trees.c, portable_mlp.c), */
    mb_mlp_plan *mlp;             /* or NULL: mb_portable_predict_rows scores */
    int checked;                  /* mb_portable_check passed (mb_scorer_open); a scorer made
                                  ** by hand (lexplain.c) is checked at each predict */
    mb_model *model;              /* non-portable bundles */
    /* Lua steps (kind "lua", steps[i] NULL) are applied by lua_apply when
    ** the caller allowed them (mb_lua_scorer_steps, src/script/lmb_run.h);
    ** mb_scorer_close calls lua_free(lua_ud). Without it they are refused. */
    mb_status (*lua_apply)(void *ud, size_t step, const mb_frame *in, mb_frame **out, mb_error *err);
    void (*lua_free)(void *ud);
    void *lua_ud;
} mb_scorer;

mb_status mb_scorer_open(mb_scorer *s, const mb_bundle *b, const mb_registry *reg, mb_error *err);
/* n rows of k portable outputs (regression: the value; binary: P(class 1),
** or both classes' when k is 2; multiclass: one a class) into labels and,
** for classification when proba is not NULL, probabilities: the one rule of
** every scorer (mb_scorer_predict, the deployment runtime). */
void mb_outputs_to_labels(mb_task task, double thr, const double *out, size_t n, size_t k, float *label,
                          float *proba);
/* Per row: out_label[i] (class index or value) and, for classification,
** proba[i * nclasses + k] (may be NULL). X holds the model's features.
** Binary labels follow the bundle's threshold (mb_bundle_threshold), also
** for a model scored by its plugin. */
mb_status mb_scorer_predict(mb_scorer *s, const mb_matrix *X, float *out_label, float *proba,
                            mb_error *err);
/* Raw outputs of a portable scorer (s->model NULL) for X's rows (the
** form's features): out[i * noutputs + k], the compiled form when there is
** one, bit for bit mb_portable_predict_rows's either way; work holds
** mb_portable_work_size(&s->form) doubles. Thread-safe: one scorer, many
** threads, each with its own out and work (the deployment runtime). */
void mb_scorer_rows(const mb_scorer *s, const mb_matrix *X, double *out, double *work);
/* The same from a raw frame: the pipeline's transforms are applied first,
** then the features are taken by name (a missing column is an error naming
** it). A pipeline with a Lua transform is scored only when lua_apply is set
** (MB_EARG otherwise). */
mb_status mb_scorer_predict_frame(mb_scorer *s, const mb_frame *f, float *out_label, float *proba,
                                  mb_error *err);
void mb_scorer_close(mb_scorer *s);

#endif
