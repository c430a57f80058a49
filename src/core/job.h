/*
** job.h: a training job, the one home of "fit a pipeline, judge it, make
** its bundle" that the command line (moonbench fit), the Lua layer and the
** workbench call.
**
** DESIGN
** ------
** A job describes everything a fit needs: the data (a frame with its
** target), a weights column, transform steps given as descriptions (kind
** and options, so that every fold fits fresh ones), a model type with its
** "key=value" settings, an evaluation plan (none, a held-out test part, or
** k-fold cross-validation; stratified for classification; seeded), and
** optional early-stopping data. Running it:
**   1. takes the labels, task and class names from the whole frame once
**      (so every part agrees on the classes, named by text);
**   2. splits the rows (mb_split_train_test / mb_kfold of eval.h, strata =
**      the target's codes or values, as mb._split and mb._folds in Lua);
**   3. per part: fits the steps on the training rows only, applies them,
**      fits the model (valid data through the same fitted steps) and
**      scores the other rows (mb_class_report / mb_reg_report);
**   4. the final pipeline: fitted on all rows (no plan, or cv), or on the
**      training part (test plan: the held-out figure describes the saved
**      model exactly); its bundle carries the fitted steps, the inputs,
**      the model, provenance and the monitoring statistics.
** Each figure records the rows it comes from (mb_job_metrics.what).
**
** The same folds and seeds give the same numbers as mb.cross_validate in
** Lua (a clone of the pipeline fitted per fold on frame:take(train)),
** because both call the same split, transform, plugin and report code.
**
** Thread safety: a job reads its frames and writes only its result; two
** jobs may run at once on different results (plugins permitting).
*/
#ifndef MB_JOB_H
#define MB_JOB_H

#include "bundle.h"
#include "dataset.h"
#include "eval.h"
#include "transform.h"

/* {====== transform steps as text ======} */

/* One transform step as a description: "kind[:opt=value]..." with the
** options of mb.transform_new in Lua: columns=a,b,c (a list), strategy=,
** fill=NUMBER, fill_text=, add_indicator=true|false, unknown=, lo=, hi=. */
typedef struct mb_job_step {
    char *kind;
    mb_transform_opts opts;       /* its strings and columns owned here */
    char **cols;
    size_t ncols;
} mb_job_step;

/* Parse a step; the kind and the options are checked by mb_transform_new
** (the same messages as Lua). An unknown option is MB_EARG listing them. */
mb_status mb_job_step_parse(const char *spec, mb_job_step *out, mb_error *err);
/* A step from a kind and options (copied). */
mb_status mb_job_step_make(const char *kind, const mb_transform_opts *opts, mb_job_step *out, mb_error *err);
/* The step as text that mb_job_step_parse reads back (mb_malloc'd). */
char *mb_job_step_text(const mb_job_step *s);
void mb_job_step_free(mb_job_step *s);

/* The steps a model needs for a frame when the user gives none ("prep
** auto"): median imputation of numeric columns with missing values for
** models that refuse NaN, standardisation for models that want scaled
** inputs (mlp), and one-hot (ordinal for tree models) encoding of the
** categorical features. The weights column (may be NULL) is no feature.
** *steps is mb_malloc'd (free each with mb_job_step_free, then mb_free);
** *n may be 0. */
mb_status mb_job_auto_steps(const mb_frame *f, const char *weights, const mb_model_type *type,
                            mb_job_step **steps, size_t *n, mb_error *err);

/* {====== jobs ======} */

typedef enum mb_eval_kind { MB_EVAL_NONE = 0, MB_EVAL_TEST, MB_EVAL_CV } mb_eval_kind;

typedef struct mb_job {
    const mb_frame *data;         /* with its target set; borrowed */
    const char *weights;          /* sample weights column, or NULL */
    mb_task task;                 /* 0: the file's declared task, or inferred */
    const mb_frame *valid;        /* early-stopping data (same columns), or NULL */
    const mb_job_step *steps;
    size_t nsteps;
    const mb_model_type *type;
    const mb_loaded_plugin *owner;
    const char *const *settings;  /* "key=value" */
    size_t nsettings;
    mb_eval_kind eval;
    double test;                  /* MB_EVAL_TEST: fraction in (0, 1) or a row count */
    size_t k;                     /* MB_EVAL_CV: folds */
    int stratify;                 /* -1: for classification; 0 no; 1 yes */
    int threads;                  /* >= 1 */
    uint64_t seed;                /* the split's and every fit's */
    void (*progress)(void *ud, double fraction, const char *msg, double train_loss, double valid_loss);
    void *progress_ud;
    const volatile int *cancel;
    double threshold;             /* binary: class 1 when P(class 1) > it, in every figure and the
                                  ** bundle (mb_bundle_set_threshold); 0: 0.5, none stored */
    const char *source;           /* the data's name for provenance ("file.h5:/X") */
    const char *script;           /* text for provenance, or NULL */
} mb_job;

/* Metrics on some rows, and which rows. */
typedef struct mb_job_metrics {
    char what[200];               /* "training rows (614)", "held-out test rows (154 of 768, ...)" */
    size_t nrows;
    int done;                     /* 0: not computed */
    mb_task task;
    mb_class_report cls;          /* classification */
    mb_reg_report reg;            /* regression */
} mb_job_metrics;

typedef struct mb_job_result {
    mb_task task;
    size_t nclasses;
    char **classes;               /* nclasses names */
    size_t nfeatures;
    char **features;              /* the model's features (after the steps) */
    size_t nrows, ntrain;         /* rows of the data; rows the final model saw */
    mb_model *model;              /* the final model */
    mb_bundle *bundle;            /* the final pipeline, ready for mb_bundle_save */
    mb_job_metrics train;         /* the final model on its own training rows */
    mb_job_metrics test;          /* MB_EVAL_TEST: on the held-out rows */
    mb_job_metrics *folds;        /* MB_EVAL_CV: per fold, on that fold's test rows */
    size_t nfolds;
    double seconds;               /* the final fit */
} mb_job_result;

/* Run a job; on failure *out is left empty (freeing it is harmless). */
mb_status mb_job_run(const mb_job *job, mb_job_result *out, mb_error *err);
void mb_job_result_free(mb_job_result *r);

/* Store what the fitted model can tell about itself in the bundle's
** /monitoring, so that a loaded bundle answers as the fresh model did,
** without its plugin: the feature importances ("importance" and
** "importance_gain", F64, one per feature: mb_model_type.importance kinds
** 0 and 1, when reported) and the fit info ("fit_names", text, and
** "fit_values", F64). Called by the job and by pipeline:save / model:save
** in Lua. */
mb_status mb_bundle_add_model_facts(mb_bundle *b, mb_model *m, mb_error *err);
/* A stored importance (kind 0 or 1): b->nfeatures values, or NULL. */
const double *mb_bundle_importance(const mb_bundle *b, int kind);
/* The stored fit info: *n names (new strings: free each and the array
** with mb_free) and their values (borrowed from b); NULL when absent. */
char **mb_bundle_fit_info(const mb_bundle *b, const double **values, size_t *n);

/* A metric of a report by its Lua name (accuracy, balanced_accuracy,
** f1_macro, f1_weighted, precision_macro, recall_macro, roc_auc, pr_auc,
** log_loss, brier; rmse, mae, r2, mape); NaN when not there. */
double mb_job_metric(const mb_job_metrics *m, const char *name);

#endif
