/*
 * sl_snapshot.c - snapshot progress shared by the sources (see sl_snapshot.h).
 */
#include "sl_snapshot.h"

bool sl_snapshot_resume_table(const json_t *resume, const char *qname, size_t npk,
                              char **last, bool *have_key)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(resume, "done"), i, d)
        if (json_is_string(d) && !strcmp(json_string_value(d), qname)) return true;
    json_t *lk = json_object_get(json_object_get(resume, "keys"), qname);
    if (!npk || !json_is_array(lk) || json_array_size(lk) != npk) return false;
    for (size_t c = 0; c < npk; c++)
        if (!json_is_string(json_array_get(lk, c))) return false;
    for (size_t c = 0; c < npk; c++) {
        free(last[c]);
        last[c] = sl_strdup(json_string_value(json_array_get(lk, c)));
    }
    *have_key = true;
    return false;
}
