/* Distributed index, search and eval under mpirun (docs/distributed.md). Linked into the
 * command only (the library stays free of MPI). Built without MPI (-DLM_MPI=OFF, or no MPI
 * found) or started without mpirun, there is one process, and these functions are that
 * case's plain single-process behaviour (size 1, nothing to exchange). */
#ifndef LM_DIST_DIST_H
#define LM_DIST_DIST_H
#include <stddef.h>

#include "common/split.h"
#include "index/indexer.h"
#include "index/search.h"

/* MPI_Init when started by mpirun (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK set), so that a
 * plain `leitmotif` never starts MPI. 0, or -1 after a one-line error. */
int lm_dist_init(int *argc, char ***argv);
void lm_dist_finalize(void);
/* Ends every process of the run with exit status rc (MPI_Abort); nothing with one process. */
void lm_dist_abort(int rc);
int lm_dist_rank(void);
int lm_dist_size(void);
/* Collective: 1 when every process passes ok != 0, else 0 (every process then returns an
 * error, or skips the step together; the ones that failed have said why). */
int lm_dist_all(int ok);
/* Marks this process' failure as one that every process meets alike and returns with (a
 * refused combination of arguments, a database none could open, after lm_dist_all): the run
 * then ends normally with the error's exit status instead of lm_dist_abort, whose MPI_Abort
 * from one process could kill process 0 before it has printed why. Only where every process
 * returns straight away: the others must not wait in a collective step. */
void lm_dist_fail_agreed(void);
int lm_dist_failure_agreed(void);
/* Collective: waits for every process (output flushed), so that none exits, and mpirun ends the
 * run, before process 0 has printed its error. */
void lm_dist_barrier(void);
/* This process' share of the recordings, for lm_eval_options.split and the search's merge;
 * NULL with one process. */
const lm_split *lm_dist_split(void);

/* ---- index: process 0 plans and writes the database alone (its writer lock, its commits);
 * every process computes the features of its share of the files (lm_index_peers). */

/* Process 0, before lm_index_update: tells the others the feature type, tuning and weights
 * checksum of the run and sets opt->peers (with more than one process). */
void lm_dist_index_begin(lm_index_options *opt);
/* Process 0, when the command ends, however: releases the others if the run stopped before
 * lm_dist_index_begin (they exit) or before the plan (the update failed first). */
void lm_dist_index_end(void);
/* The other processes: load the weights (model_path as given to the command) for the run's
 * type, check their checksum against process 0's, compute their share, send it. Returns the
 * exit status (0; 1 with a one-line error; an inconsistency aborts the whole run). */
int lm_dist_index_worker(const char *model_path);

/* ---- search: each process ranks its share (lm_db_part); process 0 merges. */
typedef struct {
    lm_occurrence *occ;
    size_t n;
} lm_dist_occ;
/* Collective. m[0..n) are this process' best matches (sorted, doc = index in the whole
 * database, start frames located), occ their occurrences (NULL: none asked), ranked the count
 * of its recordings with a finite distance. On process 0: *out (malloc'd) the best `keep` (0:
 * all) of every process' lists in the order of lm_match_sort, *out_occ theirs (NULL when occ
 * is), *n_out their count and *ranked_total the sum; elsewhere *out = NULL, *n_out = 0. */
int lm_dist_merge_matches(const lm_match *m, const lm_dist_occ *occ, size_t n, size_t ranked, size_t keep,
                          lm_match **out, lm_dist_occ **out_occ, size_t *n_out, size_t *ranked_total);
#endif
