/*
 * sl_snapshot.h - what every source's initial snapshot shares: the progress it keeps in
 * the checkpoint, {"done":["table",...],"keys":{"table":["last key text",...]}}, so a
 * restart continues after the last acknowledged chunk. Pure functions; any thread.
 */
#ifndef SL_SNAPSHOT_H
#define SL_SNAPSHOT_H

#include "sl_common.h"
#include <jansson.h>

/* Resume state of table qname from a checkpoint's snapshot progress object. Returns true
 * when the table was done. Otherwise, when a last key of exactly npk strings is stored,
 * replaces last[0..npk) (freeing the old values) and sets *have_key; a malformed entry
 * leaves the table to be read from its start. */
bool sl_snapshot_resume_table(const json_t *resume, const char *qname, size_t npk,
                              char **last, bool *have_key);

#endif
