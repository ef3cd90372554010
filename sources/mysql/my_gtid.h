/*
 * my_gtid.h - MariaDB GTID lists ("domain-server-seq" joined by ','): checks and
 * comparisons for resuming by GTID, and what the server's refusal of a GTID start
 * position means. Pure functions (no I/O), any thread.
 */
#ifndef SL_MY_GTID_H
#define SL_MY_GTID_H

#include <stdbool.h>
#include <stddef.h>

/* True when list is a MariaDB GTID list: one or more "D-S-N" (domain and server id
 * 32-bit, sequence number 64-bit, decimal) separated by ',' (spaces around them allowed),
 * each domain at most once. The empty string is not a list. Otherwise false with errstr
 * naming what is wrong. */
bool sl_my_gtid_list_valid(const char *list, char *errstr, size_t errstr_size);

/* True when every replication domain present in both lists has the same GTID in both
 * (domains only in one of them are not compared). The empty string (no GTID yet) agrees
 * only with itself; invalid lists never agree. */
bool sl_my_gtid_lists_agree(const char *a, const char *b);

/* Whether GTID state `list` includes the single GTID `gtid` (its domain's sequence number
 * there is at least gtid's): 1 yes, 0 no (also when the domain is absent), -1 when either
 * is malformed. Sequence numbers only grow within a domain, on every server of it. */
int sl_my_gtid_covers(const char *list, const char *gtid);

/* What a MariaDB server's error 1236 says about a GTID start position. */
typedef enum {
    SL_MY_GTID_ERR_NONE = 0,   /* not about the GTID position */
    SL_MY_GTID_ERR_PURGED,     /* the binlogs after the position were purged */
    SL_MY_GTID_ERR_GAP,        /* a GTID the server's binlog does not hold (ahead / hole) */
    SL_MY_GTID_ERR_DIVERGED,   /* the server has later GTIDs in the domain, but not this one */
} sl_my_gtid_err_t;

sl_my_gtid_err_t sl_my_gtid_error_kind(const char *server_msg);

#endif
