/*
 * my_gtid.c - MariaDB GTID lists: validating the GTID state read back from a checkpoint,
 * comparing two states domain by domain, and classifying the server's refusal of a GTID
 * start position (error 1236 texts of MariaDB's sql_repl.cc).
 *
 * Pure functions (no I/O), any thread. my_source.c decides what to do with the answers.
 */
#include "sl_common.h"
#include "my_gtid.h"

#include <ctype.h>
#include <stdint.h>

typedef struct {
    uint32_t domain, server;
    uint64_t seq;
} sl_my_gtid_t;

/* Parse an unsigned decimal of at most max at *p; advances *p. false when none/too big. */
static bool sl_my_gtid_num(const char **p, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s)) return false;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10) return false;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return true;
}

/* Parse list into *v (allocated, *n entries). false with errstr when malformed. */
static bool sl_my_gtid_parse(const char *list, sl_my_gtid_t **v, size_t *n, char *errstr,
                             size_t errstr_size)
{
    *v = NULL;
    *n = 0;
    size_t cap = 0;
    const char *p = list;
    for (size_t i = 0;; i++) {
        while (*p == ' ') p++;
        const char *start = p;
        uint64_t d, s, q;
        if (!sl_my_gtid_num(&p, UINT32_MAX, &d) || *p++ != '-' ||
            !sl_my_gtid_num(&p, UINT32_MAX, &s) || *p++ != '-' ||
            !sl_my_gtid_num(&p, UINT64_MAX, &q)) {
            sl_err(errstr, errstr_size, "GTID %zu (\"%.30s\") is not domain-server-sequence",
                   i + 1, start);
            goto bad;
        }
        for (size_t j = 0; j < *n; j++)
            if ((*v)[j].domain == d) {
                sl_err(errstr, errstr_size, "domain %llu appears twice",
                       (unsigned long long)d);
                goto bad;
            }
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *v = sl_realloc(*v, cap * sizeof(**v));
        }
        (*v)[(*n)++] = (sl_my_gtid_t){.domain = (uint32_t)d, .server = (uint32_t)s, .seq = q};
        while (*p == ' ') p++;
        if (!*p) return true;
        if (*p++ != ',') {
            sl_err(errstr, errstr_size, "unexpected \"%.10s\" after GTID %zu", p - 1, i + 1);
            goto bad;
        }
    }
bad:
    free(*v);
    *v = NULL;
    *n = 0;
    return false;
}

bool sl_my_gtid_list_valid(const char *list, char *errstr, size_t errstr_size)
{
    sl_my_gtid_t *v;
    size_t n;
    if (!list || !*list) {
        sl_err(errstr, errstr_size, "empty GTID list");
        return false;
    }
    if (!sl_my_gtid_parse(list, &v, &n, errstr, errstr_size)) return false;
    free(v);
    return true;
}

int sl_my_gtid_covers(const char *list, const char *gtid)
{
    char err[128];
    sl_my_gtid_t *vl, *vg;
    size_t nl, ng;
    if (!list || !gtid || !*gtid) return -1;
    if (!*list) return 0;
    if (!sl_my_gtid_parse(list, &vl, &nl, err, sizeof(err))) return -1;
    if (!sl_my_gtid_parse(gtid, &vg, &ng, err, sizeof(err)) || ng != 1) {
        free(vl);
        free(vg);
        return -1;
    }
    int covers = 0;
    for (size_t i = 0; i < nl; i++)
        if (vl[i].domain == vg[0].domain) covers = vl[i].seq >= vg[0].seq;
    free(vl);
    free(vg);
    return covers;
}

bool sl_my_gtid_lists_agree(const char *a, const char *b)
{
    char err[128];
    sl_my_gtid_t *va, *vb;
    size_t na, nb;
    if (!a || !b) return false;
    /* the empty state (before any GTID) agrees only with itself */
    if (!*a || !*b) return !*a && !*b;
    if (!sl_my_gtid_parse(a, &va, &na, err, sizeof(err))) return false;
    if (!sl_my_gtid_parse(b, &vb, &nb, err, sizeof(err))) {
        free(va);
        return false;
    }
    bool agree = true;
    for (size_t i = 0; i < na && agree; i++)
        for (size_t j = 0; j < nb; j++)
            if (va[i].domain == vb[j].domain)
                agree = va[i].server == vb[j].server && va[i].seq == vb[j].seq;
    free(va);
    free(vb);
    return agree;
}

sl_my_gtid_err_t sl_my_gtid_error_kind(const char *msg)
{
    if (!msg) return SL_MY_GTID_ERR_NONE;
    /* ER_GTID_POSITION_NOT_FOUND_IN_BINLOG2 */
    if (strstr(msg, "not in the master's binlog") && strstr(msg, "diverged"))
        return SL_MY_GTID_ERR_DIVERGED;
    /* ER_GTID_POSITION_NOT_FOUND_IN_BINLOG; ER_GTID_START_FROM_BINLOG_HOLE (strict mode) */
    if (strstr(msg, "not in the master's binlog") || strstr(msg, "is missing the GTID"))
        return SL_MY_GTID_ERR_GAP;
    /* "Could not find GTID state requested by slave in any binlog files. Probably the
     * slave state is too old and required binlog files have been purged." */
    if (strstr(msg, "Could not find GTID state requested by slave"))
        return SL_MY_GTID_ERR_PURGED;
    return SL_MY_GTID_ERR_NONE;
}
