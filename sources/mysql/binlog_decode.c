/*
 * binlog_decode.c - the binlog event decoder: checksums, the common header, the event
 * bodies sluice acts on, the TABLE_MAP cache (optional metadata merged with caller
 * schemas), rows events into before/after cells, TRANSACTION_PAYLOAD inner events and the
 * binlog file splitter. Column values are interpreted in binlog_types.c, the envelope is
 * written in binlog_event.c.
 *
 * Invariants:
 *  - No I/O and no trust in the input: every read is bounds-checked against the event,
 *    counts are checked against the bytes left before anything is allocated for them, and
 *    garbage gives SL_ERR naming the event, its log position and the byte offset - never
 *    an over-read. Unknown event types are skipped (ev.ignored), not errors.
 *  - A failed decode changes no decoder state: a TABLE_MAP is installed, and the checksum
 *    setting, flavour and post-header lengths of a FORMAT_DESCRIPTION event are taken,
 *    only once the whole event has parsed.
 *  - MariaDB compressed events (log_bin_compress) are inflated into one decoder-owned
 *    buffer, reused from event to event (its size is capped and checked against what the
 *    compressed bytes can produce before anything is allocated), and decoded as their
 *    plain counterparts.
 *  - Tables keep their address until a TABLE_MAP with different content replaces them
 *    (the struct is reused) or the cache is flushed; a flush (more than
 *    SL_BINLOG_MAX_TABLES ids, at a statement end) happens at the start of the next call,
 *    so the event just returned stays usable.
 *
 * Thread: the MySQL source thread (or a test); not thread-safe.
 */
#include "sl_common.h"

#include <stdarg.h>
#include <pthread.h>

#include <zlib.h>
#ifdef SL_HAVE_ZSTD
#include <zstd.h>
#endif

#include "sl_json.h"
#include "binlog_decode.h"

#define SL_BINLOG_MAX_TABLES   1024          /* table ids cached before a flush */
#define SL_BINLOG_MAX_COLUMNS  65535         /* MySQL's limit is 4096 */
/* Cells of one rows event. Every image has a cell for every table column, carried or not,
 * so a one-byte row of a wide table is thousands of cells: the cap keeps a corrupt event
 * from asking for gigabytes (2^24 cells = 256 MiB; a real event stays far below: 1017
 * InnoDB columns in 8 KB events is ~2.4 million). Past SL_BINLOG_CELLS_KEEP the array is
 * given back at the next rows event. */
#define SL_BINLOG_MAX_CELLS    ((size_t)1 << 24)
#define SL_BINLOG_CELLS_KEEP   ((size_t)1 << 20)
#define SL_BINLOG_PAYLOAD_MAX  ((size_t)1 << 30)   /* decompressed transaction cap */
/* How far a TRANSACTION_PAYLOAD's declared uncompressed size is believed up front: at most
 * this many times its compressed length (row data compresses far less; more is grown). */
#define SL_BINLOG_ZSTD_HINT_RATIO 64
#define SL_BINLOG_NO_IMAGE     SIZE_MAX
/* MariaDB compressed events: an event is at most max_allowed_packet (<= 1 GiB) long, and
 * deflate expands at most 1032:1, so a declared length beyond either is corrupt. */
#define SL_BINLOG_UNZIP_MAX    ((size_t)1 << 30)
#define SL_BINLOG_ZLIB_RATIO   1032

/* Optional metadata field types of TABLE_MAP (MySQL 8.0 / MariaDB 10.5). */
enum {
    SL_BINLOG_OM_SIGNEDNESS = 1, SL_BINLOG_OM_DEFAULT_CHARSET, SL_BINLOG_OM_COLUMN_CHARSET,
    SL_BINLOG_OM_COLUMN_NAME, SL_BINLOG_OM_SET_STR_VALUE, SL_BINLOG_OM_ENUM_STR_VALUE,
    SL_BINLOG_OM_GEOMETRY_TYPE, SL_BINLOG_OM_SIMPLE_PRIMARY_KEY,
    SL_BINLOG_OM_PRIMARY_KEY_WITH_PREFIX, SL_BINLOG_OM_ENUM_AND_SET_DEFAULT_CHARSET,
    SL_BINLOG_OM_ENUM_AND_SET_COLUMN_CHARSET, SL_BINLOG_OM_COLUMN_VISIBILITY,
    SL_BINLOG_OM_VECTOR_DIMENSIONALITY, SL_BINLOG_OM_MAX = 16,
};

/* A cached table: the public part first, then what the cache needs to recognise an
 * identical TABLE_MAP (MySQL writes one before every statement) and to free it. */
typedef struct sl_binlog_tab {
    sl_binlog_table_t  pub;
    uint8_t           *map;        /* TABLE_MAP post-header + body it was built from */
    size_t             map_len;
    uint8_t            idsize;     /* table id bytes in map (4 or 6) */
    uint64_t           schema_gen; /* decoder schema generation when last checked */
    uint64_t           ent_gen;    /* generation of the schema entry it used (0: none) */
    char              *arena;      /* names, key JSON, labels */
    sl_binlog_label_t *labels;
    uint32_t          *pk;
} sl_binlog_tab_t;

/* A registered caller schema (deep copy), chained in a hash bucket. */
typedef struct sl_binlog_schema_ent {
    struct sl_binlog_schema_ent *next;
    uint32_t                     hash;
    uint64_t                     gen;      /* decoder schema_gen when registered */
    char                        *db;
    char                        *table;
    uint32_t                     ncols;
    sl_binlog_schema_col_t      *cols;
} sl_binlog_schema_ent_t;

struct sl_binlog_decoder {
    uint8_t  csum_alg;            /* SL_BINLOG_CSUM_* */
    bool     csum_stripped;
    bool     mariadb;
    bool     have_fde;
    uint8_t  post_header[256];    /* post-header length per event type - 1 */
    uint16_t npost_header;

    /* Table cache: open addressing on table_id, linear probing, at most half full. Only
     * a whole flush removes entries, so there are no tombstones. */
    sl_binlog_tab_t **tabs;
    uint32_t          tabs_cap;   /* power of two */
    uint32_t          ntabs;
    bool              flush_pending;

    /* Registered schemas: chained hash on "db\0table". */
    sl_binlog_schema_ent_t **schemas;
    uint32_t                 schemas_cap;
    uint64_t                 schema_gen;   /* bumped by every set/drop */

    /* Scratch of the last decoded event. */
    sl_binlog_cell_t *cells;
    size_t            ncells, cells_cap;
    sl_binlog_row_t  *rows;
    size_t           *row_img;    /* two cell indexes per row (SL_BINLOG_NO_IMAGE) */
    size_t            nrows, rows_cap;
    sl_buf_t          text;       /* GTID texts and the like */

    /* TRANSACTION_PAYLOAD inner events. */
    uint8_t    *pl;
    size_t      pl_len, pl_cap, pl_off;
    bool        pl_active;
    char        pl_err[160];      /* why the payload cannot be iterated ("" = it can) */
#ifdef SL_HAVE_ZSTD
    ZSTD_DStream *zds;
#endif

    /* MariaDB compressed events: the plain body rebuilt (uncompressed head + inflated
     * rest), valid until the next decode; one zlib stream reset per event. */
    uint8_t   *zbuf;
    size_t     zbuf_cap;
    z_stream   zs;
    bool       zs_ready;

    void (*table_hook)(void *arg, sl_binlog_table_t *t);
    void  *table_hook_arg;
};

/* ======================================================================================
 * CRC32 (IEEE 802.3, reflected, as zlib's crc32()): one 256-entry table.
 * ==================================================================================== */

static const uint32_t sl_binlog_crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
    0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
    0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
    0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
    0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
    0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
    0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
    0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
    0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
    0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
    0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
    0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
    0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
    0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
    0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
    0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
    0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
    0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
    0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

/* Slicing-by-8 (every event is checksummed, so this runs over every byte received): table
 * k maps a byte to its CRC contribution k bytes further on. Built once from the table
 * above; sl_binlog_crc8[0] is unused (that is sl_binlog_crc_table). */
static uint32_t sl_binlog_crc8[8][256];
static pthread_once_t sl_binlog_crc8_once = PTHREAD_ONCE_INIT;

static void sl_binlog_crc8_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint32_t c = sl_binlog_crc_table[i];
        for (unsigned k = 1; k < 8; k++) {
            c = sl_binlog_crc_table[c & 0xFF] ^ (c >> 8);
            sl_binlog_crc8[k][i] = c;
        }
    }
}

static inline uint32_t sl_binlog_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t sl_binlog_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    if (n >= 16) {
        pthread_once(&sl_binlog_crc8_once, sl_binlog_crc8_init);
        for (; n >= 8; p += 8, n -= 8) {
            uint32_t a = sl_binlog_le32(p) ^ crc, b = sl_binlog_le32(p + 4);
            crc = sl_binlog_crc8[7][a & 0xFF] ^ sl_binlog_crc8[6][(a >> 8) & 0xFF] ^
                  sl_binlog_crc8[5][(a >> 16) & 0xFF] ^ sl_binlog_crc8[4][a >> 24] ^
                  sl_binlog_crc8[3][b & 0xFF] ^ sl_binlog_crc8[2][(b >> 8) & 0xFF] ^
                  sl_binlog_crc8[1][(b >> 16) & 0xFF] ^ sl_binlog_crc_table[b >> 24];
        }
    }
    for (size_t i = 0; i < n; i++) crc = sl_binlog_crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* True when the last 4 bytes of buf[0..len) are the CRC32 of the rest. A
 * FORMAT_DESCRIPTION event is checksummed with LOG_EVENT_BINLOG_IN_USE_F clear (the
 * server sets the flag in the file afterwards), so that variant is accepted too. */
static bool sl_binlog_crc_ok(const uint8_t *buf, size_t len, bool fde)
{
    uint32_t stored = sl_binlog_le32(buf + len - 4);
    if (sl_binlog_crc32(0, buf, len - 4) == stored) return true;
    if (!fde || !(buf[17] & SL_BINLOG_F_BINLOG_IN_USE)) return false;
    uint8_t flag = (uint8_t)(buf[17] & ~SL_BINLOG_F_BINLOG_IN_USE);
    uint32_t c = sl_binlog_crc32(0, buf, 17);
    c = sl_binlog_crc32(c, &flag, 1);
    c = sl_binlog_crc32(c, buf + 18, len - 4 - 18);
    return c == stored;
}

/* ======================================================================================
 * Event names
 * ==================================================================================== */

static const char *const sl_binlog_names[] = {
    [0] = "UNKNOWN_EVENT", [1] = "START_EVENT_V3", [2] = "QUERY_EVENT", [3] = "STOP_EVENT",
    [4] = "ROTATE_EVENT", [5] = "INTVAR_EVENT", [6] = "LOAD_EVENT", [7] = "SLAVE_EVENT",
    [8] = "CREATE_FILE_EVENT", [9] = "APPEND_BLOCK_EVENT", [10] = "EXEC_LOAD_EVENT",
    [11] = "DELETE_FILE_EVENT", [12] = "NEW_LOAD_EVENT", [13] = "RAND_EVENT",
    [14] = "USER_VAR_EVENT", [15] = "FORMAT_DESCRIPTION_EVENT", [16] = "XID_EVENT",
    [17] = "BEGIN_LOAD_QUERY_EVENT", [18] = "EXECUTE_LOAD_QUERY_EVENT",
    [19] = "TABLE_MAP_EVENT", [20] = "WRITE_ROWS_EVENT_V0", [21] = "UPDATE_ROWS_EVENT_V0",
    [22] = "DELETE_ROWS_EVENT_V0", [23] = "WRITE_ROWS_EVENT_V1",
    [24] = "UPDATE_ROWS_EVENT_V1", [25] = "DELETE_ROWS_EVENT_V1", [26] = "INCIDENT_EVENT",
    [27] = "HEARTBEAT_LOG_EVENT", [28] = "IGNORABLE_LOG_EVENT", [29] = "ROWS_QUERY_LOG_EVENT",
    [30] = "WRITE_ROWS_EVENT_V2", [31] = "UPDATE_ROWS_EVENT_V2", [32] = "DELETE_ROWS_EVENT_V2",
    [33] = "GTID_LOG_EVENT", [34] = "ANONYMOUS_GTID_LOG_EVENT",
    [35] = "PREVIOUS_GTIDS_LOG_EVENT", [36] = "TRANSACTION_CONTEXT_EVENT",
    [37] = "VIEW_CHANGE_EVENT", [38] = "XA_PREPARE_LOG_EVENT",
    [39] = "PARTIAL_UPDATE_ROWS_EVENT", [40] = "TRANSACTION_PAYLOAD_EVENT",
    [41] = "HEARTBEAT_LOG_EVENT_V2", [42] = "GTID_TAGGED_LOG_EVENT",
    [160] = "ANNOTATE_ROWS_EVENT", [161] = "BINLOG_CHECKPOINT_EVENT",
    [162] = "MARIADB_GTID_EVENT", [163] = "GTID_LIST_EVENT",
    [164] = "START_ENCRYPTION_EVENT", [165] = "QUERY_COMPRESSED_EVENT",
    [166] = "WRITE_ROWS_COMPRESSED_EVENT_V1", [167] = "UPDATE_ROWS_COMPRESSED_EVENT_V1",
    [168] = "DELETE_ROWS_COMPRESSED_EVENT_V1", [169] = "WRITE_ROWS_COMPRESSED_EVENT",
    [170] = "UPDATE_ROWS_COMPRESSED_EVENT", [171] = "DELETE_ROWS_COMPRESSED_EVENT",
};

const char *sl_binlog_event_name(uint8_t type, char *buf, size_t bufsz)
{
    if (type < SL_ARRAY_SIZE(sl_binlog_names) && sl_binlog_names[type])
        return sl_binlog_names[type];
    snprintf(buf, bufsz, "UNKNOWN_EVENT(%u)", type);
    return buf;
}

/* ======================================================================================
 * Bounds-checked reader (little-endian). The error is sticky: the first failure records
 * the message (event, log position, byte offset within the event) and later reads return
 * 0 without touching anything; callers check r->err once per group of fields.
 * ==================================================================================== */

typedef struct {
    const uint8_t *p;
    size_t         n, i;
    size_t         base;        /* offset of p[0] within the event, for messages */
    bool           err;
    const char    *what;        /* event name */
    uint32_t       log_pos;
    char          *errstr;
    size_t         errstr_size;
} sl_binlog_rd_t;

static void sl_binlog_fail(sl_binlog_rd_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sl_binlog_fail(sl_binlog_rd_t *r, const char *fmt, ...)
{
    if (r->err) return;
    r->err = true;
    if (!r->errstr || !r->errstr_size) return;
    int n = r->log_pos ? snprintf(r->errstr, r->errstr_size, "binlog %s at log_pos %u: ",
                                  r->what, r->log_pos)
                       : snprintf(r->errstr, r->errstr_size, "binlog %s: ", r->what);
    if (n < 0 || (size_t)n >= r->errstr_size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr + n, r->errstr_size - (size_t)n, fmt, ap);
    va_end(ap);
}

/* A reader over p[0..n) that reports offsets as within its parent. */
static sl_binlog_rd_t sl_binlog_sub(const sl_binlog_rd_t *r, const uint8_t *p, size_t n)
{
    sl_binlog_rd_t s = *r;
    s.p = p;
    s.n = n;
    s.i = 0;
    s.base = r->base + (size_t)(p - r->p);
    return s;
}

static inline size_t sl_binlog_left(const sl_binlog_rd_t *r) { return r->err ? 0 : r->n - r->i; }

static inline bool sl_binlog_have(sl_binlog_rd_t *r, size_t need, const char *field)
{
    if (sl_likely(!r->err && r->n - r->i >= need)) return true;
    sl_binlog_fail(r, "truncated at byte %zu reading %s (need %zu bytes, %zu left)",
                   r->base + r->i, field, need, r->err ? 0 : r->n - r->i);
    return false;
}

static inline uint64_t sl_binlog_uint(sl_binlog_rd_t *r, size_t bytes, const char *field)
{
    if (!sl_binlog_have(r, bytes, field)) return 0;
    uint64_t v = 0;
    for (size_t k = 0; k < bytes; k++) v |= (uint64_t)r->p[r->i + k] << (8 * k);
    r->i += bytes;
    return v;
}

static inline uint8_t sl_binlog_u8(sl_binlog_rd_t *r, const char *f)
{
    return (uint8_t)sl_binlog_uint(r, 1, f);
}

static inline uint16_t sl_binlog_u16(sl_binlog_rd_t *r, const char *f)
{
    return (uint16_t)sl_binlog_uint(r, 2, f);
}

static inline uint32_t sl_binlog_u32(sl_binlog_rd_t *r, const char *f)
{
    return (uint32_t)sl_binlog_uint(r, 4, f);
}

static inline uint64_t sl_binlog_u64(sl_binlog_rd_t *r, const char *f)
{
    return sl_binlog_uint(r, 8, f);
}

static const uint8_t *sl_binlog_bytes(sl_binlog_rd_t *r, size_t n, const char *field)
{
    if (!sl_binlog_have(r, n, field)) return NULL;
    const uint8_t *p = r->p + r->i;
    r->i += n;
    return p;
}

/* Length-encoded integer (1, 3, 4 or 9 bytes). */
static uint64_t sl_binlog_lenenc(sl_binlog_rd_t *r, const char *field)
{
    uint8_t c = sl_binlog_u8(r, field);
    if (r->err) return 0;
    if (c < 0xFB) return c;
    if (c == 0xFC) return sl_binlog_uint(r, 2, field);
    if (c == 0xFD) return sl_binlog_uint(r, 3, field);
    if (c == 0xFE) return sl_binlog_uint(r, 8, field);
    sl_binlog_fail(r, "invalid length-encoded integer (first byte 0x%02X) at byte %zu for %s",
                   c, r->base + r->i - 1, field);
    return 0;
}

/* A length-encoded count that must fit in what is left, each item taking at least
 * min_item bytes: absurd counts are refused before anything is allocated for them. */
static uint32_t sl_binlog_count(sl_binlog_rd_t *r, size_t min_item, uint64_t max,
                                const char *field)
{
    size_t at = r->i;
    uint64_t v = sl_binlog_lenenc(r, field);
    if (r->err) return 0;
    if (v > max || (min_item && v > (r->n - r->i) / min_item)) {
        sl_binlog_fail(r, "%s at byte %zu is %llu, more than the %zu bytes left allow",
                       field, r->base + at, (unsigned long long)v, r->n - r->i);
        return 0;
    }
    return (uint32_t)v;
}

/* Integer of mysql::serialization (MySQL 8.3+ tagged GTIDs): the number of trailing one
 * bits of the first byte is the number of extra bytes; the value is the little-endian
 * whole shifted right by that count + 1 (9 bytes: the 8 after the first). */
static uint64_t sl_binlog_varlen(sl_binlog_rd_t *r, const char *field)
{
    if (!sl_binlog_have(r, 1, field)) return 0;
    uint8_t b0 = r->p[r->i];
    unsigned extra = 0;
    while (extra < 8 && (b0 >> extra & 1)) extra++;
    if (!sl_binlog_have(r, extra + 1, field)) return 0;
    uint64_t v;
    if (extra == 8) {
        r->i++;
        v = sl_binlog_uint(r, 8, field);
    } else {
        v = sl_binlog_uint(r, extra + 1, field) >> (extra + 1);
    }
    return v;
}

static inline int64_t sl_binlog_zigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* SL_OK when the body was consumed exactly. */
static int sl_binlog_end(sl_binlog_rd_t *r)
{
    if (!r->err && r->i != r->n)
        sl_binlog_fail(r, "%zu unexpected trailing bytes at byte %zu", r->n - r->i,
                       r->base + r->i);
    return r->err ? SL_ERR : SL_OK;
}

/* Row bitmaps are least significant bit first; optional metadata bitmaps most first. */
static inline bool sl_binlog_bit_lsb(const uint8_t *bm, size_t i)
{
    return bm[i / 8] >> (i % 8) & 1;
}

static inline bool sl_binlog_bit_msb(const uint8_t *bm, size_t i)
{
    return bm[i / 8] >> (7 - i % 8) & 1;
}

/* ======================================================================================
 * Text scratch: strings handed out in events (GTIDs), valid until the next decode.
 * ==================================================================================== */

static void sl_binlog_uuid_text(sl_buf_t *b, const uint8_t *u)
{
    static const char hex[] = "0123456789abcdef";
    char t[36];
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) t[k++] = '-';
        t[k++] = hex[u[i] >> 4];
        t[k++] = hex[u[i] & 15];
    }
    sl_buf_put(b, t, 36);
}

/* ======================================================================================
 * Table cache
 * ==================================================================================== */

static inline uint32_t sl_binlog_tid_slot(uint64_t tid, uint32_t cap)
{
    return (uint32_t)((tid * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (cap - 1);
}

static sl_binlog_tab_t *sl_binlog_tab_find(const sl_binlog_decoder_t *d, uint64_t tid)
{
    if (!d->tabs_cap) return NULL;
    for (uint32_t i = sl_binlog_tid_slot(tid, d->tabs_cap);; i = (i + 1) & (d->tabs_cap - 1)) {
        sl_binlog_tab_t *t = d->tabs[i];
        if (!t) return NULL;
        if (t->pub.table_id == tid) return t;
    }
}

sl_binlog_table_t *sl_binlog_decoder_table(sl_binlog_decoder_t *d, uint64_t table_id)
{
    sl_binlog_tab_t *t = sl_binlog_tab_find(d, table_id);
    return t ? &t->pub : NULL;
}

static void sl_binlog_tab_free_parts(sl_binlog_tab_t *t)
{
    free(t->map);
    free(t->arena);
    free(t->labels);
    free(t->pk);
    free(t->pub.cols);
}

static void sl_binlog_tab_free(sl_binlog_tab_t *t)
{
    if (!t) return;
    sl_binlog_tab_free_parts(t);
    free(t);
}

/* Take over src's description into dst (same table id), keeping dst's address and its
 * envelope counters; src's shell is freed. */
static void sl_binlog_tab_replace(sl_binlog_tab_t *dst, sl_binlog_tab_t *src)
{
    uint64_t order = dst->pub.tx_order, seq = dst->pub.tx_order_seq;
    sl_binlog_tab_free_parts(dst);
    *dst = *src;
    dst->pub.tx_order = order;
    dst->pub.tx_order_seq = seq;
    free(src);
}

/* Install t (a new description); returns where it lives from now on. */
static sl_binlog_tab_t *sl_binlog_tab_install(sl_binlog_decoder_t *d, sl_binlog_tab_t *t)
{
    sl_binlog_tab_t *old = sl_binlog_tab_find(d, t->pub.table_id);
    if (old) {
        sl_binlog_tab_replace(old, t);
        return old;
    }
    if ((d->ntabs + 1) * 2 > d->tabs_cap) {
        uint32_t cap = d->tabs_cap ? d->tabs_cap * 2 : 64;
        sl_binlog_tab_t **tabs = sl_calloc(cap, sizeof(*tabs));
        for (uint32_t i = 0; i < d->tabs_cap; i++) {
            if (!d->tabs[i]) continue;
            uint32_t j = sl_binlog_tid_slot(d->tabs[i]->pub.table_id, cap);
            while (tabs[j]) j = (j + 1) & (cap - 1);
            tabs[j] = d->tabs[i];
        }
        free(d->tabs);
        d->tabs = tabs;
        d->tabs_cap = cap;
    }
    uint32_t j = sl_binlog_tid_slot(t->pub.table_id, d->tabs_cap);
    while (d->tabs[j]) j = (j + 1) & (d->tabs_cap - 1);
    d->tabs[j] = t;
    d->ntabs++;
    return t;
}

static void sl_binlog_tab_flush(sl_binlog_decoder_t *d)
{
    for (uint32_t i = 0; i < d->tabs_cap; i++) {
        sl_binlog_tab_free(d->tabs[i]);
        d->tabs[i] = NULL;
    }
    d->ntabs = 0;
    d->flush_pending = false;
}

/* ======================================================================================
 * Schema registry
 * ==================================================================================== */

static uint32_t sl_binlog_schema_hash(const char *db, const char *table)
{
    uint32_t h = 2166136261u;
    for (const char *s = db; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    h = (h ^ 0xFF) * 16777619u;
    for (const char *s = table; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void sl_binlog_schema_ent_free(sl_binlog_schema_ent_t *e)
{
    for (uint32_t i = 0; i < e->ncols; i++) {
        free((char *)e->cols[i].name);
        for (uint32_t k = 0; k < e->cols[i].nlabels; k++) free((char *)e->cols[i].labels[k]);
        free((char **)e->cols[i].labels);
    }
    free(e->cols);
    free(e->db);
    free(e->table);
    free(e);
}

static sl_binlog_schema_ent_t **sl_binlog_schema_slot(sl_binlog_decoder_t *d, const char *db,
                                                      const char *table, uint32_t h)
{
    if (!d->schemas_cap) return NULL;
    sl_binlog_schema_ent_t **pp = &d->schemas[h & (d->schemas_cap - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && strcmp((*pp)->db, db) == 0 && strcmp((*pp)->table, table) == 0)
            return pp;
    return pp;
}

static const sl_binlog_schema_ent_t *sl_binlog_schema_find(sl_binlog_decoder_t *d,
                                                           const char *db, const char *table)
{
    sl_binlog_schema_ent_t **pp =
        sl_binlog_schema_slot(d, db, table, sl_binlog_schema_hash(db, table));
    return pp ? *pp : NULL;
}

void sl_binlog_decoder_set_schema(sl_binlog_decoder_t *d, const sl_binlog_schema_t *s)
{
    if (!s || !s->db || !s->table) return;
    if (!d->schemas_cap) {
        d->schemas_cap = 256;
        d->schemas = sl_calloc(d->schemas_cap, sizeof(*d->schemas));
    }
    sl_binlog_schema_ent_t *e = sl_calloc(1, sizeof(*e));
    e->db = sl_strdup(s->db);
    e->table = sl_strdup(s->table);
    e->hash = sl_binlog_schema_hash(s->db, s->table);
    e->ncols = s->ncols;
    e->cols = sl_calloc(s->ncols ? s->ncols : 1, sizeof(*e->cols));
    for (uint32_t i = 0; i < s->ncols; i++) {
        const sl_binlog_schema_col_t *c = &s->cols[i];
        e->cols[i] = *c;
        e->cols[i].name = sl_strdup(c->name ? c->name : "");
        e->cols[i].labels = NULL;
        e->cols[i].nlabels = 0;
        if (c->nlabels && c->labels) {
            char **l = sl_calloc(c->nlabels, sizeof(*l));
            for (uint32_t k = 0; k < c->nlabels; k++)
                l[k] = sl_strdup(c->labels[k] ? c->labels[k] : "");
            e->cols[i].labels = (const char *const *)l;
            e->cols[i].nlabels = c->nlabels;
        }
    }
    sl_binlog_schema_ent_t **pp = sl_binlog_schema_slot(d, s->db, s->table, e->hash);
    if (*pp) {
        e->next = (*pp)->next;
        sl_binlog_schema_ent_free(*pp);
    }
    *pp = e;
    e->gen = ++d->schema_gen;
}

void sl_binlog_decoder_drop_schema(sl_binlog_decoder_t *d, const char *db, const char *table)
{
    if (!db || !table) return;
    sl_binlog_schema_ent_t **pp =
        sl_binlog_schema_slot(d, db, table, sl_binlog_schema_hash(db, table));
    if (!pp || !*pp) return;
    sl_binlog_schema_ent_t *e = *pp;
    *pp = e->next;
    sl_binlog_schema_ent_free(e);
    d->schema_gen++;
}

/* ======================================================================================
 * Life cycle and settings
 * ==================================================================================== */

sl_binlog_decoder_t *sl_binlog_decoder_new(void)
{
    sl_binlog_decoder_t *d = sl_calloc(1, sizeof(*d));
    d->csum_alg = SL_BINLOG_CSUM_UNKNOWN;
    sl_buf_init(&d->text);
    return d;
}

void sl_binlog_decoder_free(sl_binlog_decoder_t *d)
{
    if (!d) return;
    sl_binlog_tab_flush(d);
    free(d->tabs);
    for (uint32_t i = 0; i < d->schemas_cap; i++) {
        sl_binlog_schema_ent_t *e = d->schemas[i];
        while (e) {
            sl_binlog_schema_ent_t *next = e->next;
            sl_binlog_schema_ent_free(e);
            e = next;
        }
    }
    free(d->schemas);
    free(d->cells);
    free(d->rows);
    free(d->row_img);
    sl_buf_free(&d->text);
    free(d->pl);
#ifdef SL_HAVE_ZSTD
    if (d->zds) ZSTD_freeDStream(d->zds);
#endif
    if (d->zs_ready) inflateEnd(&d->zs);
    free(d->zbuf);
    free(d);
}

void sl_binlog_decoder_set_checksum(sl_binlog_decoder_t *d, uint8_t alg, bool stripped)
{
    d->csum_alg = alg == SL_BINLOG_CSUM_OFF || alg == SL_BINLOG_CSUM_CRC32
                      ? alg : SL_BINLOG_CSUM_UNKNOWN;
    d->csum_stripped = stripped;
}

void sl_binlog_decoder_set_mariadb(sl_binlog_decoder_t *d, bool mariadb) { d->mariadb = mariadb; }

void sl_binlog_decoder_set_table_hook(sl_binlog_decoder_t *d,
                                      void (*fn)(void *arg, sl_binlog_table_t *t), void *arg)
{
    d->table_hook = fn;
    d->table_hook_arg = arg;
}

/* Post-header length of an event type from the FORMAT_DESCRIPTION event, else dflt. */
static uint8_t sl_binlog_phl(const sl_binlog_decoder_t *d, uint8_t type, uint8_t dflt)
{
    if (d->have_fde && type >= 1 && type <= d->npost_header) return d->post_header[type - 1];
    return dflt;
}

/* ======================================================================================
 * TABLE_MAP: column metadata, optional metadata, schema merge
 * ==================================================================================== */

enum { SL_BINLOG_K_NUMERIC, SL_BINLOG_K_CHAR, SL_BINLOG_K_ENUMSET, SL_BINLOG_K_ENUM,
       SL_BINLOG_K_SET, SL_BINLOG_K_GEOMETRY, SL_BINLOG_K_VECTOR };

static bool sl_binlog_in_class(const sl_binlog_column_t *c, int klass, bool mariadb)
{
    switch (klass) {
    case SL_BINLOG_K_NUMERIC:
        switch (c->real_type) {
        case SL_MY_TYPE_TINY: case SL_MY_TYPE_SHORT: case SL_MY_TYPE_INT24:
        case SL_MY_TYPE_LONG: case SL_MY_TYPE_LONGLONG: case SL_MY_TYPE_FLOAT:
        case SL_MY_TYPE_DOUBLE: case SL_MY_TYPE_NEWDECIMAL: case SL_MY_TYPE_DECIMAL:
        case SL_MY_TYPE_YEAR:
            return true;
        default:
            return false;
        }
    case SL_BINLOG_K_CHAR:
        switch (c->real_type) {
        case SL_MY_TYPE_STRING: case SL_MY_TYPE_VAR_STRING: case SL_MY_TYPE_VARCHAR:
        case SL_MY_TYPE_BLOB: case SL_MY_TYPE_TINY_BLOB: case SL_MY_TYPE_MEDIUM_BLOB:
        case SL_MY_TYPE_LONG_BLOB: case SL_MY_TYPE_VARCHAR_COMPRESSED:
        case SL_MY_TYPE_BLOB_COMPRESSED:
        case SL_MY_TYPE_VECTOR:   /* MySQL 9: a binary-charset column */
            return true;
        case SL_MY_TYPE_GEOMETRY:
            return mariadb;   /* MariaDB's geometry is a blob with a (binary) charset */
        default:
            return false;
        }
    case SL_BINLOG_K_ENUMSET:
        return c->real_type == SL_MY_TYPE_ENUM || c->real_type == SL_MY_TYPE_SET;
    case SL_BINLOG_K_ENUM:
        return c->real_type == SL_MY_TYPE_ENUM;
    case SL_BINLOG_K_SET:
        return c->real_type == SL_MY_TYPE_SET;
    case SL_BINLOG_K_GEOMETRY:
        return c->real_type == SL_MY_TYPE_GEOMETRY;
    case SL_BINLOG_K_VECTOR:
        return c->type == SL_MY_TYPE_VECTOR;
    }
    return false;
}

/* Indexes of the columns of a class, in column order; returns how many. */
static uint32_t sl_binlog_select(const sl_binlog_column_t *cols, uint32_t ncols, int klass,
                                 bool mariadb, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < ncols; i++)
        if (sl_binlog_in_class(&cols[i], klass, mariadb)) out[n++] = i;
    return n;
}

/* The metadata bytes of one column (TABLE_MAP field metadata). */
static void sl_binlog_col_meta(sl_binlog_rd_t *m, sl_binlog_column_t *c, uint32_t i)
{
    size_t at = m->base + m->i;
    switch (c->type) {
    case SL_MY_TYPE_FLOAT: case SL_MY_TYPE_DOUBLE:
        c->length = sl_binlog_u8(m, "FLOAT/DOUBLE metadata");
        return;
    case SL_MY_TYPE_BLOB: case SL_MY_TYPE_TINY_BLOB: case SL_MY_TYPE_MEDIUM_BLOB:
    case SL_MY_TYPE_LONG_BLOB: case SL_MY_TYPE_GEOMETRY: case SL_MY_TYPE_JSON:
    case SL_MY_TYPE_VECTOR: case SL_MY_TYPE_BLOB_COMPRESSED:
        c->length = sl_binlog_u8(m, "BLOB metadata");
        if (!m->err && (c->length < 1 || c->length > 4))
            sl_binlog_fail(m, "column %u at byte %zu: length-prefix size %u is not 1..4",
                           i + 1, at, c->length);
        return;
    case SL_MY_TYPE_VARCHAR: case SL_MY_TYPE_VAR_STRING: case SL_MY_TYPE_VARCHAR_COMPRESSED:
        c->length = sl_binlog_u16(m, "VARCHAR metadata");
        return;
    case SL_MY_TYPE_BIT: {
        uint8_t rem = sl_binlog_u8(m, "BIT metadata"), bytes = sl_binlog_u8(m, "BIT metadata");
        c->bits = (uint16_t)(bytes * 8 + rem);
        if (!m->err && (rem > 7 || c->bits == 0 || c->bits > 64))
            sl_binlog_fail(m, "column %u at byte %zu: BIT(%u) is not 1..64 bits", i + 1, at,
                           c->bits);
        return;
    }
    case SL_MY_TYPE_NEWDECIMAL:
        c->precision = sl_binlog_u8(m, "DECIMAL precision");
        c->scale = sl_binlog_u8(m, "DECIMAL scale");
        if (!m->err && (c->precision < 1 || c->precision > 65 || c->scale > 30 ||
                        c->scale > c->precision))
            sl_binlog_fail(m, "column %u at byte %zu: DECIMAL(%u,%u) is out of range",
                           i + 1, at, c->precision, c->scale);
        return;
    case SL_MY_TYPE_STRING: case SL_MY_TYPE_ENUM: case SL_MY_TYPE_SET: {
        uint8_t b0 = sl_binlog_u8(m, "STRING metadata"), b1 = sl_binlog_u8(m, "STRING metadata");
        if (c->type != SL_MY_TYPE_STRING) {
            c->length = b1;
        } else if ((b0 & 0x30) != 0x30) {
            /* CHAR longer than 255 bytes: two high bits of the length ride in byte 0. */
            c->real_type = (uint8_t)(b0 | 0x30);
            c->length = (uint16_t)(b1 | (((b0 & 0x30) ^ 0x30) << 4));
        } else {
            c->real_type = b0;
            c->length = b1;
        }
        return;
    }
    case SL_MY_TYPE_TIME2: case SL_MY_TYPE_DATETIME2: case SL_MY_TYPE_TIMESTAMP2:
        c->fsp = sl_binlog_u8(m, "fractional seconds precision");
        if (!m->err && c->fsp > 6)
            sl_binlog_fail(m, "column %u at byte %zu: fractional precision %u is not 0..6",
                           i + 1, at, c->fsp);
        return;
    case SL_MY_TYPE_DECIMAL: case SL_MY_TYPE_TINY: case SL_MY_TYPE_SHORT:
    case SL_MY_TYPE_LONG: case SL_MY_TYPE_NULL: case SL_MY_TYPE_TIMESTAMP:
    case SL_MY_TYPE_LONGLONG: case SL_MY_TYPE_INT24: case SL_MY_TYPE_DATE:
    case SL_MY_TYPE_TIME: case SL_MY_TYPE_DATETIME: case SL_MY_TYPE_YEAR:
    case SL_MY_TYPE_NEWDATE:
        return;
    default:
        /* The metadata size of an unknown type is unknown: nothing after it can be read. */
        sl_binlog_fail(m, "column %u has unknown type %u (metadata at byte %zu)", i + 1,
                       c->type, at);
        return;
    }
}

/* Everything a TABLE_MAP carries, before it becomes a table. Pointers into the event. */
typedef struct {
    uint64_t            tid;
    uint16_t            flags;
    const uint8_t      *db, *tbl;
    uint8_t             db_len, tbl_len;
    uint32_t            ncols;
    sl_binlog_column_t *cols;
    const uint8_t      *om[SL_BINLOG_OM_MAX];   /* optional metadata fields */
    size_t              om_len[SL_BINLOG_OM_MAX];
    sl_binlog_rd_t      om_rd[SL_BINLOG_OM_MAX];
    /* names and labels from metadata */
    const uint8_t     **name;
    uint32_t           *name_len;
    sl_binlog_label_t  *lab;                     /* s points into the event */
    size_t              nlab, lab_cap;
    uint32_t           *lab_start, *lab_n;       /* per column */
    uint32_t           *pk;
    uint32_t            npk;
    uint32_t           *tmp;                     /* column index scratch */
} sl_binlog_tmap_t;

static void sl_binlog_tmap_free(sl_binlog_tmap_t *m)
{
    free(m->cols);
    free(m->name);
    free(m->name_len);
    free(m->lab);
    free(m->lab_start);
    free(m->lab_n);
    free(m->pk);
    free(m->tmp);
}

/* DEFAULT_CHARSET-style field: a default collation, then (index, collation) pairs. */
static void sl_binlog_om_default_cs(sl_binlog_rd_t *f, sl_binlog_tmap_t *m, const uint32_t *idx,
                                    uint32_t n)
{
    uint64_t dflt = sl_binlog_lenenc(f, "default charset");
    for (uint32_t k = 0; k < n && !f->err; k++) m->cols[idx[k]].charset = (uint16_t)dflt;
    while (!f->err && f->i < f->n) {
        size_t at = f->base + f->i;
        uint64_t i = sl_binlog_lenenc(f, "charset column index");
        uint64_t cs = sl_binlog_lenenc(f, "charset collation");
        if (f->err) return;
        if (i >= n) {
            sl_binlog_fail(f, "charset entry at byte %zu names character column %llu of %u",
                           at, (unsigned long long)i, n);
            return;
        }
        m->cols[idx[i]].charset = (uint16_t)cs;
    }
}

/* COLUMN_CHARSET-style field: one collation per column of the class. MySQL and MariaDB
 * disagree on whether GEOMETRY is a character column; when the count does not fit the
 * known flavour but fits the other, the other is right. */
static void sl_binlog_om_column_cs(sl_binlog_rd_t *f, sl_binlog_tmap_t *m, int klass,
                                   bool mariadb)
{
    uint32_t n = sl_binlog_select(m->cols, m->ncols, klass, mariadb, m->tmp);
    sl_binlog_rd_t probe = *f;
    uint32_t have = 0;
    while (!probe.err && probe.i < probe.n) {
        sl_binlog_lenenc(&probe, "column charset");
        have++;
    }
    if (!probe.err && have != n && klass == SL_BINLOG_K_CHAR) {
        uint32_t alt = sl_binlog_select(m->cols, m->ncols, klass, !mariadb, m->tmp);
        if (alt == have) n = alt;
        else sl_binlog_select(m->cols, m->ncols, klass, mariadb, m->tmp);
    }
    if (!probe.err && have != n) {
        sl_binlog_fail(f, "column charset field at byte %zu has %u entries for %u columns",
                       f->base, have, n);
        return;
    }
    for (uint32_t k = 0; k < n && !f->err; k++)
        m->cols[m->tmp[k]].charset = (uint16_t)sl_binlog_lenenc(f, "column charset");
}

/* SET_STR_VALUE / ENUM_STR_VALUE: per column a count, then the labels. */
static void sl_binlog_om_labels(sl_binlog_rd_t *f, sl_binlog_tmap_t *m, int klass)
{
    uint32_t n = sl_binlog_select(m->cols, m->ncols, klass, false, m->tmp);
    for (uint32_t k = 0; k < n && !f->err; k++) {
        uint32_t c = m->tmp[k];
        uint32_t cnt = sl_binlog_count(f, 1, UINT32_MAX, "label count");
        m->lab_start[c] = (uint32_t)m->nlab;
        m->lab_n[c] = cnt;
        for (uint32_t j = 0; j < cnt && !f->err; j++) {
            uint32_t len = sl_binlog_count(f, 1, UINT32_MAX, "label length");
            const uint8_t *s = sl_binlog_bytes(f, len, "label");
            if (f->err) return;
            if (m->nlab == m->lab_cap) {
                m->lab_cap = m->lab_cap ? m->lab_cap * 2 : 16;
                m->lab = sl_realloc(m->lab, m->lab_cap * sizeof(*m->lab));
            }
            m->lab[m->nlab++] = (sl_binlog_label_t){(const char *)s, len};
        }
    }
    if (!f->err && f->i != f->n)
        sl_binlog_fail(f, "label field has %zu trailing bytes at byte %zu", f->n - f->i,
                       f->base + f->i);
}

static void sl_binlog_pk_add(sl_binlog_tmap_t *m, sl_binlog_rd_t *f, uint64_t col,
                             uint64_t prefix, size_t at)
{
    if (col >= m->ncols) {
        sl_binlog_fail(f, "primary key entry at byte %zu names column %llu of %u", at,
                       (unsigned long long)col, m->ncols);
        return;
    }
    if (m->npk >= m->ncols) {
        sl_binlog_fail(f, "primary key at byte %zu lists more columns than the table has",
                       at);
        return;
    }
    m->pk[m->npk++] = (uint32_t)col;
    m->cols[col].is_pk = true;
    m->cols[col].pk_prefix = (uint32_t)prefix;
}

/* A field's error becomes the event's error (its message is already in errstr). */
static inline bool sl_binlog_om_failed(sl_binlog_rd_t *r, const sl_binlog_rd_t *f)
{
    if (f->err) r->err = true;
    return f->err;
}

/* Interpret the optional metadata fields (after the column metadata is known). Stops at
 * the first malformed field. */
static void sl_binlog_optional_meta(sl_binlog_decoder_t *d, sl_binlog_rd_t *r,
                                    sl_binlog_tmap_t *m, sl_binlog_table_t *pub)
{
    uint32_t n;
    sl_binlog_rd_t *f;

    if (m->om[SL_BINLOG_OM_SIGNEDNESS]) {
        f = &m->om_rd[SL_BINLOG_OM_SIGNEDNESS];
        n = sl_binlog_select(m->cols, m->ncols, SL_BINLOG_K_NUMERIC, d->mariadb, m->tmp);
        const uint8_t *bm = sl_binlog_bytes(f, (n + 7) / 8, "signedness bitmap");
        for (uint32_t k = 0; bm && k < n; k++)
            m->cols[m->tmp[k]].is_unsigned = sl_binlog_bit_msb(bm, k);
        if (sl_binlog_om_failed(r, f)) return;
        pub->meta_signedness = true;
    }
    if (m->om[SL_BINLOG_OM_DEFAULT_CHARSET]) {
        n = sl_binlog_select(m->cols, m->ncols, SL_BINLOG_K_CHAR, d->mariadb, m->tmp);
        sl_binlog_om_default_cs(&m->om_rd[SL_BINLOG_OM_DEFAULT_CHARSET], m, m->tmp, n);
        if (sl_binlog_om_failed(r, &m->om_rd[SL_BINLOG_OM_DEFAULT_CHARSET])) return;
        pub->meta_charset = true;
    }
    if (m->om[SL_BINLOG_OM_COLUMN_CHARSET]) {
        sl_binlog_om_column_cs(&m->om_rd[SL_BINLOG_OM_COLUMN_CHARSET], m, SL_BINLOG_K_CHAR,
                               d->mariadb);
        if (sl_binlog_om_failed(r, &m->om_rd[SL_BINLOG_OM_COLUMN_CHARSET])) return;
        pub->meta_charset = true;
    }
    if (m->om[SL_BINLOG_OM_ENUM_AND_SET_DEFAULT_CHARSET]) {
        n = sl_binlog_select(m->cols, m->ncols, SL_BINLOG_K_ENUMSET, d->mariadb, m->tmp);
        sl_binlog_om_default_cs(&m->om_rd[SL_BINLOG_OM_ENUM_AND_SET_DEFAULT_CHARSET], m,
                                m->tmp, n);
        if (sl_binlog_om_failed(r, &m->om_rd[SL_BINLOG_OM_ENUM_AND_SET_DEFAULT_CHARSET]))
            return;
    }
    if (m->om[SL_BINLOG_OM_ENUM_AND_SET_COLUMN_CHARSET]) {
        sl_binlog_om_column_cs(&m->om_rd[SL_BINLOG_OM_ENUM_AND_SET_COLUMN_CHARSET], m,
                               SL_BINLOG_K_ENUMSET, d->mariadb);
        if (sl_binlog_om_failed(r, &m->om_rd[SL_BINLOG_OM_ENUM_AND_SET_COLUMN_CHARSET]))
            return;
    }
    if (m->om[SL_BINLOG_OM_COLUMN_NAME]) {
        f = &m->om_rd[SL_BINLOG_OM_COLUMN_NAME];
        for (uint32_t i = 0; i < m->ncols && !f->err; i++) {
            m->name_len[i] = sl_binlog_count(f, 1, UINT32_MAX, "column name length");
            m->name[i] = sl_binlog_bytes(f, m->name_len[i], "column name");
        }
        if (!f->err && f->i != f->n)
            sl_binlog_fail(f, "column names have %zu trailing bytes at byte %zu",
                           f->n - f->i, f->base + f->i);
        if (sl_binlog_om_failed(r, f)) return;
        pub->meta_names = true;
    }
    if (m->om[SL_BINLOG_OM_SET_STR_VALUE]) {
        sl_binlog_om_labels(&m->om_rd[SL_BINLOG_OM_SET_STR_VALUE], m, SL_BINLOG_K_SET);
        if (sl_binlog_om_failed(r, &m->om_rd[SL_BINLOG_OM_SET_STR_VALUE])) return;
        pub->meta_labels = true;
    }
    if (m->om[SL_BINLOG_OM_ENUM_STR_VALUE]) {
        sl_binlog_om_labels(&m->om_rd[SL_BINLOG_OM_ENUM_STR_VALUE], m, SL_BINLOG_K_ENUM);
        if (sl_binlog_om_failed(r, &m->om_rd[SL_BINLOG_OM_ENUM_STR_VALUE])) return;
        pub->meta_labels = true;
    }
    if (m->om[SL_BINLOG_OM_GEOMETRY_TYPE]) {
        f = &m->om_rd[SL_BINLOG_OM_GEOMETRY_TYPE];
        n = sl_binlog_select(m->cols, m->ncols, SL_BINLOG_K_GEOMETRY, d->mariadb, m->tmp);
        for (uint32_t k = 0; k < n && !f->err; k++)
            m->cols[m->tmp[k]].geometry_type = (uint8_t)sl_binlog_lenenc(f, "geometry type");
        if (sl_binlog_om_failed(r, f)) return;
    }
    if (m->om[SL_BINLOG_OM_SIMPLE_PRIMARY_KEY]) {
        f = &m->om_rd[SL_BINLOG_OM_SIMPLE_PRIMARY_KEY];
        while (!f->err && f->i < f->n) {
            size_t at = f->base + f->i;
            uint64_t c = sl_binlog_lenenc(f, "primary key column");
            if (!f->err) sl_binlog_pk_add(m, f, c, 0, at);
        }
        if (sl_binlog_om_failed(r, f)) return;
        pub->meta_pk = true;
    }
    if (m->om[SL_BINLOG_OM_PRIMARY_KEY_WITH_PREFIX]) {
        f = &m->om_rd[SL_BINLOG_OM_PRIMARY_KEY_WITH_PREFIX];
        while (!f->err && f->i < f->n) {
            size_t at = f->base + f->i;
            uint64_t c = sl_binlog_lenenc(f, "primary key column");
            uint64_t prefix = sl_binlog_lenenc(f, "primary key prefix");
            if (!f->err) sl_binlog_pk_add(m, f, c, prefix, at);
        }
        if (sl_binlog_om_failed(r, f)) return;
        pub->meta_pk = true;
    }
    if (m->om[SL_BINLOG_OM_COLUMN_VISIBILITY]) {
        f = &m->om_rd[SL_BINLOG_OM_COLUMN_VISIBILITY];
        const uint8_t *bm = sl_binlog_bytes(f, (m->ncols + 7) / 8, "visibility bitmap");
        for (uint32_t i = 0; bm && i < m->ncols; i++)
            m->cols[i].visible = sl_binlog_bit_msb(bm, i);
        if (sl_binlog_om_failed(r, f)) return;
    }
    if (m->om[SL_BINLOG_OM_VECTOR_DIMENSIONALITY]) {
        f = &m->om_rd[SL_BINLOG_OM_VECTOR_DIMENSIONALITY];
        n = sl_binlog_select(m->cols, m->ncols, SL_BINLOG_K_VECTOR, d->mariadb, m->tmp);
        for (uint32_t k = 0; k < n && !f->err; k++)
            m->cols[m->tmp[k]].vector_dim = (uint32_t)sl_binlog_lenenc(f, "vector dimension");
        sl_binlog_om_failed(r, f);
    }
}

/* Build the table from the parsed TABLE_MAP plus the registered schema: names, key JSON
 * and labels are copied into one arena so the table owns everything it points to. */
static sl_binlog_tab_t *sl_binlog_tab_make(sl_binlog_decoder_t *d, sl_binlog_tmap_t *m,
                                           sl_binlog_table_t *pub)
{
    sl_binlog_tab_t *t = sl_calloc(1, sizeof(*t));
    t->pub = *pub;
    t->pub.table_id = m->tid;
    t->pub.flags = m->flags;
    t->pub.ncols = m->ncols;
    t->schema_gen = d->schema_gen;

    sl_buf_t a = SL_BUF_INIT;
    size_t db_off = a.len;
    sl_buf_put(&a, m->db, m->db_len);
    sl_buf_putc(&a, '\0');
    size_t tbl_off = a.len;
    sl_buf_put(&a, m->tbl, m->tbl_len);
    sl_buf_putc(&a, '\0');

    /* Schema: applied only where metadata is missing, and only when it fits. */
    char dbz[256], tblz[256];
    memcpy(dbz, m->db, m->db_len);
    dbz[m->db_len] = '\0';
    memcpy(tblz, m->tbl, m->tbl_len);
    tblz[m->tbl_len] = '\0';
    const sl_binlog_schema_ent_t *s = sl_binlog_schema_find(d, dbz, tblz);
    t->ent_gen = s ? s->gen : 0;
    if (s && s->ncols != m->ncols) {
        t->pub.schema_mismatch = true;
        s = NULL;
    }
    t->pub.has_schema = s != NULL;

    /* Labels: metadata first, else the schema's. Offsets into the arena until the end. */
    size_t total_labels = m->nlab;
    for (uint32_t i = 0; s && i < m->ncols; i++)
        if (!m->lab_n[i]) total_labels += s->cols[i].nlabels;
    sl_binlog_label_t *labels = total_labels ? sl_calloc(total_labels, sizeof(*labels)) : NULL;
    size_t *lab_off = total_labels ? sl_calloc(total_labels, sizeof(*lab_off)) : NULL;
    size_t nl = 0;
    size_t *name_off = sl_calloc(m->ncols ? m->ncols * 2 : 1, sizeof(*name_off));
    uint32_t *col_lab = sl_calloc(m->ncols ? m->ncols : 1, sizeof(*col_lab));

    for (uint32_t i = 0; i < m->ncols; i++) {
        sl_binlog_column_t *c = &m->cols[i];
        const sl_binlog_schema_col_t *sc = s ? &s->cols[i] : NULL;
        if (sc) {
            if (!pub->meta_signedness) c->is_unsigned = sc->is_unsigned;
            if (!c->charset) c->charset = sc->charset;
            c->is_json_text = sc->is_json;
        }
        /* name */
        name_off[2 * i] = a.len;
        if (m->name[i]) sl_buf_put(&a, m->name[i], m->name_len[i]);
        else if (sc && sc->name[0]) sl_buf_puts(&a, sc->name);
        else sl_buf_printf(&a, "@%u", i + 1);
        size_t name_len = a.len - name_off[2 * i];
        sl_buf_putc(&a, '\0');
        /* key JSON: "name": */
        name_off[2 * i + 1] = a.len;
        /* Reserve the worst case first: the name is read from the buffer being appended
         * to, so it must not move while sl_json_str() runs. */
        sl_buf_grow(&a, name_len * 6 + 4);
        sl_json_str(&a, a.data + name_off[2 * i], name_len);
        sl_buf_putc(&a, ':');
        c->key_json_len = (uint32_t)(a.len - name_off[2 * i + 1]);
        sl_buf_putc(&a, '\0');
        /* labels */
        col_lab[i] = (uint32_t)nl;
        if (m->lab_n[i]) {
            for (uint32_t k = 0; k < m->lab_n[i]; k++) {
                const sl_binlog_label_t *l = &m->lab[m->lab_start[i] + k];
                lab_off[nl] = a.len;
                labels[nl++].len = l->len;
                sl_buf_put(&a, l->s, l->len);
                sl_buf_putc(&a, '\0');
            }
            c->nlabels = m->lab_n[i];
        } else if (sc && sc->nlabels) {
            for (uint32_t k = 0; k < sc->nlabels; k++) {
                lab_off[nl] = a.len;
                labels[nl++].len = (uint32_t)strlen(sc->labels[k]);
                sl_buf_puts(&a, sc->labels[k]);
                sl_buf_putc(&a, '\0');
            }
            c->nlabels = sc->nlabels;
        }
    }

    /* Key: metadata, else the schema's pk_pos order. */
    if (!pub->meta_pk && s) {
        m->npk = 0;
        for (uint32_t i = 0; i < m->ncols; i++) {
            if (!s->cols[i].pk_pos) continue;
            /* insertion by pk_pos: keys have a handful of columns */
            uint32_t k = m->npk++;
            while (k > 0 && s->cols[m->pk[k - 1]].pk_pos > s->cols[i].pk_pos) {
                m->pk[k] = m->pk[k - 1];
                k--;
            }
            m->pk[k] = i;
            m->cols[i].is_pk = true;
        }
    }

    t->arena = sl_buf_steal(&a);
    t->pub.db = t->arena + db_off;
    t->pub.name = t->arena + tbl_off;
    for (size_t k = 0; k < nl; k++) labels[k].s = t->arena + lab_off[k];
    for (uint32_t i = 0; i < m->ncols; i++) {
        m->cols[i].name = t->arena + name_off[2 * i];
        m->cols[i].key_json = t->arena + name_off[2 * i + 1];
        m->cols[i].labels = m->cols[i].nlabels ? labels + col_lab[i] : NULL;
    }
    t->labels = labels;
    t->pub.cols = m->cols;
    m->cols = NULL;                      /* the table owns them now */
    t->pk = m->pk;
    m->pk = NULL;
    t->pub.pk = t->pk;
    t->pub.npk = m->npk;
    free(lab_off);
    free(name_off);
    free(col_lab);
    return t;
}

/* Parse a TABLE_MAP (r at the table id) into a new, not yet installed table. */
static sl_binlog_tab_t *sl_binlog_tab_parse(sl_binlog_decoder_t *d, sl_binlog_rd_t *r,
                                            uint8_t idsize)
{
    sl_binlog_tmap_t m;
    memset(&m, 0, sizeof(m));
    const uint8_t *map = r->p + r->i;
    size_t map_len = r->n - r->i;

    m.tid = sl_binlog_uint(r, idsize, "table id");
    m.flags = sl_binlog_u16(r, "table map flags");
    m.db_len = sl_binlog_u8(r, "schema name length");
    m.db = sl_binlog_bytes(r, m.db_len, "schema name");
    if (sl_binlog_u8(r, "schema name terminator") && !r->err)
        sl_binlog_fail(r, "schema name is not NUL-terminated at byte %zu", r->base + r->i - 1);
    m.tbl_len = sl_binlog_u8(r, "table name length");
    m.tbl = sl_binlog_bytes(r, m.tbl_len, "table name");
    if (sl_binlog_u8(r, "table name terminator") && !r->err)
        sl_binlog_fail(r, "table name is not NUL-terminated at byte %zu", r->base + r->i - 1);
    m.ncols = sl_binlog_count(r, 1, SL_BINLOG_MAX_COLUMNS, "column count");
    const uint8_t *types = sl_binlog_bytes(r, m.ncols, "column types");
    uint32_t mlen = sl_binlog_count(r, 1, UINT32_MAX, "column metadata length");
    const uint8_t *meta = sl_binlog_bytes(r, mlen, "column metadata");
    const uint8_t *nulls = sl_binlog_bytes(r, (m.ncols + 7) / 8, "null bitmap");
    while (!r->err && r->i < r->n) {
        uint8_t ft = sl_binlog_u8(r, "optional metadata type");
        uint32_t fl = sl_binlog_count(r, 1, UINT32_MAX, "optional metadata length");
        const uint8_t *fv = sl_binlog_bytes(r, fl, "optional metadata");
        if (r->err || ft >= SL_BINLOG_OM_MAX || ft == 0) continue;   /* unknown: skipped */
        m.om[ft] = fv;
        m.om_len[ft] = fl;
        m.om_rd[ft] = sl_binlog_sub(r, fv, fl);
    }
    if (r->err) return NULL;

    uint32_t nc = m.ncols ? m.ncols : 1;
    m.cols = sl_calloc(nc, sizeof(*m.cols));
    m.name = sl_calloc(nc, sizeof(*m.name));
    m.name_len = sl_calloc(nc, sizeof(*m.name_len));
    m.lab_start = sl_calloc(nc, sizeof(*m.lab_start));
    m.lab_n = sl_calloc(nc, sizeof(*m.lab_n));
    m.pk = sl_calloc(nc, sizeof(*m.pk));
    m.tmp = sl_calloc(nc, sizeof(*m.tmp));

    sl_binlog_rd_t mr = sl_binlog_sub(r, meta, mlen);
    for (uint32_t i = 0; i < m.ncols && !mr.err; i++) {
        sl_binlog_column_t *c = &m.cols[i];
        c->type = c->real_type = types[i];
        c->nullable = sl_binlog_bit_lsb(nulls, i);
        c->visible = true;
        sl_binlog_col_meta(&mr, c, i);
    }
    if (!mr.err && mr.i != mr.n)
        sl_binlog_fail(&mr, "column metadata has %zu unused bytes at byte %zu", mr.n - mr.i,
                       mr.base + mr.i);
    if (mr.err) {
        r->err = true;
        sl_binlog_tmap_free(&m);
        return NULL;
    }

    sl_binlog_table_t pub;
    memset(&pub, 0, sizeof(pub));
    sl_binlog_optional_meta(d, r, &m, &pub);
    if (r->err) {
        sl_binlog_tmap_free(&m);
        return NULL;
    }

    sl_binlog_tab_t *t = sl_binlog_tab_make(d, &m, &pub);
    t->map = sl_malloc(map_len ? map_len : 1);
    memcpy(t->map, map, map_len);
    t->map_len = map_len;
    t->idsize = idsize;
    sl_binlog_tmap_free(&m);
    return t;
}

/* True when the schema registered for t's db.table is still the one t was built with.
 * Cheap when no schema changed at all since t was last checked. */
static bool sl_binlog_tab_schema_current(sl_binlog_decoder_t *d, sl_binlog_tab_t *t)
{
    if (t->schema_gen == d->schema_gen) return true;
    const sl_binlog_schema_ent_t *e = sl_binlog_schema_find(d, t->pub.db, t->pub.name);
    if ((e ? e->gen : 0) != t->ent_gen) return false;
    t->schema_gen = d->schema_gen;
    return true;
}

bool sl_binlog_table_apply_schema(sl_binlog_decoder_t *d, sl_binlog_table_t *pub)
{
    sl_binlog_tab_t *t = (sl_binlog_tab_t *)pub;
    if (sl_binlog_tab_schema_current(d, t)) return t->pub.has_schema;   /* nothing new */
    char err[SL_ERRSTR_SIZE];
    sl_binlog_rd_t r = {.p = t->map, .n = t->map_len, .base = SL_BINLOG_HEADER_LEN,
                        .what = "TABLE_MAP_EVENT", .errstr = err, .errstr_size = sizeof(err)};
    sl_binlog_tab_t *fresh = sl_binlog_tab_parse(d, &r, t->idsize);
    if (!fresh) return false;   /* cannot happen: the same bytes parsed before */
    sl_binlog_tab_replace(t, fresh);
    return t->pub.has_schema;
}

static int sl_binlog_table_map(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, sl_binlog_event_t *ev)
{
    uint8_t idsize = sl_binlog_phl(d, SL_BINLOG_TABLE_MAP_EVENT, 8) == 6 ? 4 : 6;
    if (!sl_binlog_have(r, idsize, "table id")) return SL_ERR;
    uint64_t tid = 0;
    for (unsigned k = 0; k < idsize; k++) tid |= (uint64_t)r->p[r->i + k] << (8 * k);

    /* Fast path: MySQL repeats the same TABLE_MAP before every statement. */
    sl_binlog_tab_t *old = sl_binlog_tab_find(d, tid);
    if (old && old->idsize == idsize && old->map_len == r->n - r->i &&
        memcmp(old->map, r->p + r->i, old->map_len) == 0 &&
        sl_binlog_tab_schema_current(d, old)) {
        r->i = r->n;
        ev->table_map.table = &old->pub;
        return SL_OK;
    }
    sl_binlog_tab_t *t = sl_binlog_tab_parse(d, r, idsize);
    if (!t) return SL_ERR;
    t = sl_binlog_tab_install(d, t);
    ev->table_map.table = &t->pub;
    if (d->table_hook) d->table_hook(d->table_hook_arg, &t->pub);
    return SL_OK;
}

/* ======================================================================================
 * Rows events
 * ==================================================================================== */

/* Room for n more cells. The array always exists afterwards, even for n = 0: a row image
 * of a table without columns points at it (NULL would read as "no image"). */
static void sl_binlog_cells_reserve(sl_binlog_decoder_t *d, size_t n)
{
    if (d->cells && d->ncells + n <= d->cells_cap) return;
    size_t cap = d->cells_cap ? d->cells_cap : 256;
    while (cap < d->ncells + n) cap *= 2;
    d->cells = sl_realloc(d->cells, cap * sizeof(*d->cells));
    d->cells_cap = cap;
}

/* One row image; returns the index of its first cell, SL_BINLOG_NO_IMAGE on error.
 * PARTIAL_UPDATE_ROWS after images start with value_options; with PARTIAL_JSON set, a
 * bitmap over the table's JSON columns says which carry a JSON diff instead of a value. */
static size_t sl_binlog_image(sl_binlog_decoder_t *d, sl_binlog_rd_t *r,
                              const sl_binlog_table_t *t, uint32_t ncols,
                              const uint8_t *present, bool partial_ai, uint32_t rowno,
                              const char *which)
{
    const uint8_t *pbits = NULL;
    if (partial_ai) {
        uint64_t opts = sl_binlog_lenenc(r, "value options");
        if (!r->err && (opts & 1)) {
            uint32_t njson = 0;
            for (uint32_t c = 0; c < t->ncols; c++) njson += t->cols[c].type == SL_MY_TYPE_JSON;
            pbits = sl_binlog_bytes(r, (njson + 7) / 8, "partial JSON bitmap");
        }
    }
    uint32_t npresent = 0;
    for (uint32_t c = 0; c < ncols; c++) npresent += sl_binlog_bit_lsb(present, c);
    const uint8_t *nulls = sl_binlog_bytes(r, (npresent + 7) / 8, "null bitmap");
    if (r->err) return SL_BINLOG_NO_IMAGE;

    if (t->ncols > SL_BINLOG_MAX_CELLS - d->ncells) {
        sl_binlog_fail(r, "row %u %s image at byte %zu: this event's rows of %u columns "
                       "need more than %zu cells (one per column of every row image); "
                       "corrupt, or far larger than a server writes", rowno + 1, which,
                       r->base + r->i, t->ncols, SL_BINLOG_MAX_CELLS);
        return SL_BINLOG_NO_IMAGE;
    }
    sl_binlog_cells_reserve(d, t->ncols);
    size_t first = d->ncells;
    d->ncells += t->ncols;
    uint32_t k = 0, j = 0;
    for (uint32_t c = 0; c < t->ncols; c++) {
        sl_binlog_cell_t *cell = &d->cells[first + c];
        const sl_binlog_column_t *col = &t->cols[c];
        int jord = col->type == SL_MY_TYPE_JSON ? (int)j++ : -1;
        *cell = (sl_binlog_cell_t){NULL, 0, SL_BINLOG_CELL_ABSENT};
        if (c >= ncols || !sl_binlog_bit_lsb(present, c)) continue;
        if (sl_binlog_bit_lsb(nulls, k++)) {
            cell->state = SL_BINLOG_CELL_NULL;
            continue;
        }
        if (pbits && jord >= 0 && sl_binlog_bit_lsb(pbits, (size_t)jord)) {
            uint32_t len = sl_binlog_u32(r, "JSON diff length");
            const uint8_t *p = sl_binlog_bytes(r, len, "JSON diff");
            if (r->err) return SL_BINLOG_NO_IMAGE;
            *cell = (sl_binlog_cell_t){p, len, SL_BINLOG_CELL_JSON_DIFF};
            continue;
        }
        size_t used = 0;
        const char *why = "";
        if (sl_binlog_cell_parse(col, r->p + r->i, r->n - r->i, cell, &used, &why) != SL_OK) {
            sl_binlog_fail(r, "row %u %s image, column %u (%s) at byte %zu: %s", rowno + 1,
                           which, c + 1, col->name, r->base + r->i, why);
            return SL_BINLOG_NO_IMAGE;
        }
        r->i += used;
    }
    return first;
}

/* v2 extra row info: type 0 = NDB (length incl. itself, format, data), type 1 =
 * partition (partition id; UPDATE also the source partition). */
static void sl_binlog_extra_info(sl_binlog_rd_t *x, sl_binlog_event_t *ev, bool update)
{
    while (!x->err && x->i < x->n) {
        uint8_t t = sl_binlog_u8(x, "extra row info type");
        if (t == 0) {
            uint8_t len = sl_binlog_u8(x, "NDB info length");
            if (!x->err && len < 2) {
                sl_binlog_fail(x, "NDB extra row info at byte %zu has length %u",
                               x->base + x->i - 1, len);
                return;
            }
            sl_binlog_bytes(x, (size_t)len - 1, "NDB info");
        } else if (t == 1) {
            ev->rows.partition_id = sl_binlog_u16(x, "partition id");
            if (update) ev->rows.source_partition_id = sl_binlog_u16(x, "source partition id");
        } else {
            return;   /* unknown kind: its size is unknown, the raw bytes stay in extra */
        }
    }
}

static int sl_binlog_rows(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, sl_binlog_event_t *ev)
{
    uint8_t type = ev->type;
    bool v2 = (type >= SL_BINLOG_WRITE_ROWS_EVENT && type <= SL_BINLOG_DELETE_ROWS_EVENT) ||
              type == SL_BINLOG_PARTIAL_UPDATE_ROWS_EVENT;
    bool before = true, after = true, update = false;
    switch (type) {
    case SL_BINLOG_WRITE_ROWS_EVENT_V0: case SL_BINLOG_WRITE_ROWS_EVENT_V1:
    case SL_BINLOG_WRITE_ROWS_EVENT:
        ev->rows.op = 'c';
        before = false;
        break;
    case SL_BINLOG_DELETE_ROWS_EVENT_V0: case SL_BINLOG_DELETE_ROWS_EVENT_V1:
    case SL_BINLOG_DELETE_ROWS_EVENT:
        ev->rows.op = 'd';
        after = false;
        break;
    default:
        ev->rows.op = 'u';
        update = true;
        break;
    }
    uint8_t idsize = sl_binlog_phl(d, type, v2 ? 10 : 8) == 6 ? 4 : 6;
    uint64_t tid = sl_binlog_uint(r, idsize, "table id");
    uint16_t flags = sl_binlog_u16(r, "rows flags");
    ev->rows.partition_id = ev->rows.source_partition_id = -1;
    if (v2) {
        uint16_t xl = sl_binlog_u16(r, "extra data length");
        if (!r->err && xl < 2)
            sl_binlog_fail(r, "extra data length %u at byte %zu is less than 2", xl,
                           r->base + r->i - 2);
        const uint8_t *x = sl_binlog_bytes(r, r->err ? 0 : (size_t)xl - 2, "extra data");
        if (!r->err) {
            ev->rows.extra = x;
            ev->rows.extra_len = (size_t)xl - 2;
            sl_binlog_rd_t xr = sl_binlog_sub(r, x, (size_t)xl - 2);
            sl_binlog_extra_info(&xr, ev, update);
            if (xr.err) r->err = true;
        }
    }
    size_t at = r->i;
    uint32_t ncols = sl_binlog_count(r, 0, SL_BINLOG_MAX_COLUMNS, "column count");
    if (r->err) return SL_ERR;
    sl_binlog_tab_t *tab = sl_binlog_tab_find(d, tid);
    if (!tab) {
        sl_binlog_fail(r, "no TABLE_MAP for table id %llu (a rows event must follow the "
                       "TABLE_MAP_EVENT of its table)", (unsigned long long)tid);
        return SL_ERR;
    }
    const sl_binlog_table_t *t = &tab->pub;
    if (ncols > t->ncols) {
        sl_binlog_fail(r, "column count %u at byte %zu exceeds the %u columns of %s.%s",
                       ncols, r->base + at, t->ncols, t->db, t->name);
        return SL_ERR;
    }
    const uint8_t *bm1 = sl_binlog_bytes(r, (ncols + 7) / 8, "columns-present bitmap");
    const uint8_t *bm2 = update ? sl_binlog_bytes(r, (ncols + 7) / 8, "columns-present "
                                                  "bitmap (after image)") : bm1;
    d->ncells = d->nrows = 0;
    if (d->cells_cap > SL_BINLOG_CELLS_KEEP) {   /* an outsized event before: give it back */
        free(d->cells);
        d->cells = NULL;
        d->cells_cap = 0;
    }
    while (!r->err && r->i < r->n) {
        size_t start = r->i;
        size_t bi = SL_BINLOG_NO_IMAGE, ai = SL_BINLOG_NO_IMAGE;
        uint32_t rowno = (uint32_t)d->nrows;
        if (before) bi = sl_binlog_image(d, r, t, ncols, bm1, false, rowno, "before");
        if (after && !r->err)
            ai = sl_binlog_image(d, r, t, ncols, bm2,
                                 type == SL_BINLOG_PARTIAL_UPDATE_ROWS_EVENT, rowno, "after");
        if (r->err) break;
        if (r->i == start) {
            /* Only possible with no column present: it would never end. */
            sl_binlog_fail(r, "row %u at byte %zu is empty (no column present)", rowno + 1,
                           r->base + start);
            break;
        }
        if (d->nrows == d->rows_cap) {
            d->rows_cap = d->rows_cap ? d->rows_cap * 2 : 64;
            d->rows = sl_realloc(d->rows, d->rows_cap * sizeof(*d->rows));
            d->row_img = sl_realloc(d->row_img, d->rows_cap * 2 * sizeof(*d->row_img));
        }
        d->row_img[2 * d->nrows] = bi;
        d->row_img[2 * d->nrows + 1] = ai;
        d->nrows++;
    }
    if (r->err) return SL_ERR;
    /* Cell pointers only now: the cell array may have moved while it grew. */
    for (size_t i = 0; i < d->nrows; i++) {
        size_t bi = d->row_img[2 * i], ai = d->row_img[2 * i + 1];
        d->rows[i].before = bi == SL_BINLOG_NO_IMAGE ? NULL : &d->cells[bi];
        d->rows[i].after = ai == SL_BINLOG_NO_IMAGE ? NULL : &d->cells[ai];
    }
    ev->rows.table = (sl_binlog_table_t *)t;
    ev->rows.table_id = tid;
    ev->rows.flags = flags;
    ev->rows.ncols = ncols;
    ev->rows.nrows = (uint32_t)d->nrows;
    ev->rows.rows = d->rows;
    if ((flags & SL_BINLOG_ROWS_STMT_END) && d->ntabs > SL_BINLOG_MAX_TABLES)
        d->flush_pending = true;
    return SL_OK;
}

/* ======================================================================================
 * Other event bodies
 * ==================================================================================== */

static int sl_binlog_query(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, sl_binlog_event_t *ev)
{
    uint8_t phl = sl_binlog_phl(d, SL_BINLOG_QUERY_EVENT, 13);
    ev->query.thread_id = sl_binlog_u32(r, "thread id");
    ev->query.exec_time = sl_binlog_u32(r, "exec time");
    uint8_t db_len = sl_binlog_u8(r, "schema length");
    ev->query.error_code = sl_binlog_u16(r, "error code");
    uint16_t svl = phl >= 13 ? sl_binlog_u16(r, "status vars length") : 0;
    if (phl > 13) sl_binlog_bytes(r, phl - 13u, "query post-header");
    ev->query.status_vars = sl_binlog_bytes(r, svl, "status vars");
    ev->query.status_vars_len = svl;
    ev->query.db = (const char *)sl_binlog_bytes(r, db_len, "schema");
    ev->query.db_len = db_len;
    if (sl_binlog_u8(r, "schema terminator") && !r->err)
        sl_binlog_fail(r, "schema name is not NUL-terminated at byte %zu", r->base + r->i - 1);
    if (r->err) return SL_ERR;
    ev->query.sql = (const char *)r->p + r->i;
    ev->query.sql_len = r->n - r->i;
    r->i = r->n;
    return SL_OK;
}

static int sl_binlog_rotate(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, sl_binlog_event_t *ev)
{
    uint8_t phl = sl_binlog_phl(d, SL_BINLOG_ROTATE_EVENT, 8);
    if (phl >= 8) ev->rotate.position = sl_binlog_u64(r, "position");
    if (phl > 8) sl_binlog_bytes(r, phl - 8u, "rotate post-header");
    if (r->err) return SL_ERR;
    ev->rotate.file = (const char *)r->p + r->i;
    ev->rotate.file_len = r->n - r->i;
    r->i = r->n;
    return SL_OK;
}

/* ev->gtid.text = "uuid[:tag]:gno" of ev->gtid, kept in the decoder's text buffer. */
static void sl_binlog_gtid_text(sl_binlog_decoder_t *d, sl_binlog_event_t *ev)
{
    size_t off = d->text.len;
    sl_binlog_uuid_text(&d->text, ev->gtid.sid);
    if (ev->gtid.tag[0]) sl_buf_printf(&d->text, ":%s", ev->gtid.tag);
    sl_buf_printf(&d->text, ":%lld", (long long)ev->gtid.gno);
    sl_buf_putc(&d->text, '\0');
    ev->gtid.text = d->text.data + off;
}

/* GTID_LOG_EVENT / ANONYMOUS_GTID_LOG_EVENT: the fixed part, then optional fields that
 * later server versions append (each present only when the bytes are there). */
static int sl_binlog_gtid(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, sl_binlog_event_t *ev)
{
    ev->gtid.flags = sl_binlog_u8(r, "GTID flags");
    const uint8_t *sid = sl_binlog_bytes(r, 16, "source id");
    ev->gtid.gno = (int64_t)sl_binlog_u64(r, "GNO");
    if (r->err) return SL_ERR;
    memcpy(ev->gtid.sid, sid, 16);
    ev->gtid.immediate_server_version = ev->gtid.original_server_version = 999999;
    if (sl_binlog_left(r) >= 17 && r->p[r->i] == 2) {   /* logical timestamps, type code 2 */
        r->i++;
        ev->gtid.last_committed = (int64_t)sl_binlog_u64(r, "last_committed");
        ev->gtid.sequence_number = (int64_t)sl_binlog_u64(r, "sequence_number");
    }
    if (sl_binlog_left(r) >= 7) {
        uint64_t ts = sl_binlog_uint(r, 7, "immediate_commit_timestamp");
        ev->gtid.immediate_commit_ts = ts & ((UINT64_C(1) << 55) - 1);
        ev->gtid.original_commit_ts = ev->gtid.immediate_commit_ts;
        if (ts >> 55 & 1)
            ev->gtid.original_commit_ts = sl_binlog_uint(r, 7, "original_commit_timestamp") &
                                          ((UINT64_C(1) << 55) - 1);
    }
    if (sl_binlog_left(r) >= 1)
        ev->gtid.transaction_length = sl_binlog_lenenc(r, "transaction_length");
    if (sl_binlog_left(r) >= 4) {
        uint32_t v = sl_binlog_u32(r, "immediate_server_version");
        ev->gtid.immediate_server_version = v & 0x7FFFFFFFu;
        ev->gtid.original_server_version = ev->gtid.immediate_server_version;
        if (v >> 31)
            ev->gtid.original_server_version = sl_binlog_u32(r, "original_server_version") &
                                               0x7FFFFFFFu;
    }
    if (r->err) return SL_ERR;
    r->i = r->n;   /* commit_group_ticket (8.0.33+) and anything newer: not needed */
    ev->gtid.anonymous = ev->type == SL_BINLOG_ANONYMOUS_GTID_EVENT;
    if (!ev->gtid.anonymous) sl_binlog_gtid_text(d, ev);
    return SL_OK;
}

/* GTID_TAGGED_LOG_EVENT (MySQL 8.3+): a mysql::serialization message - format version,
 * message size, last non-ignorable field id, then (field id, value) pairs. */
static int sl_binlog_gtid_tagged(sl_binlog_decoder_t *d, sl_binlog_rd_t *r,
                                 sl_binlog_event_t *ev)
{
    sl_binlog_varlen(r, "serialization version");
    size_t at = r->i;
    uint64_t size = sl_binlog_varlen(r, "message size");
    uint64_t last_required = sl_binlog_varlen(r, "last non-ignorable field");
    if (r->err) return SL_ERR;
    if (size > r->n || size < r->i) {
        sl_binlog_fail(r, "message size %llu at byte %zu does not fit the %zu-byte body",
                       (unsigned long long)size, r->base + at, r->n);
        return SL_ERR;
    }
    r->n = (size_t)size;
    bool have_orig_ts = false, have_orig_sv = false;
    ev->gtid.immediate_server_version = 999999;
    while (!r->err && r->i < r->n) {
        size_t fat = r->i;
        uint64_t id = sl_binlog_varlen(r, "field id");
        switch (id) {
        case 0: ev->gtid.flags = (uint8_t)sl_binlog_varlen(r, "GTID flags"); break;
        case 1:
            for (int k = 0; k < 16; k++) ev->gtid.sid[k] = (uint8_t)sl_binlog_varlen(r, "uuid");
            break;
        case 2: ev->gtid.gno = sl_binlog_zigzag(sl_binlog_varlen(r, "GNO")); break;
        case 3: {
            uint64_t len = sl_binlog_varlen(r, "tag length");
            if (!r->err && len > 32) {
                sl_binlog_fail(r, "tag at byte %zu is %llu bytes (at most 32)", r->base + fat,
                               (unsigned long long)len);
                break;
            }
            const uint8_t *tag = sl_binlog_bytes(r, (size_t)len, "tag");
            if (tag) {
                memcpy(ev->gtid.tag, tag, (size_t)len);
                ev->gtid.tag[len] = '\0';
            }
            break;
        }
        case 4:
            ev->gtid.last_committed = sl_binlog_zigzag(sl_binlog_varlen(r, "last_committed"));
            break;
        case 5:
            ev->gtid.sequence_number = sl_binlog_zigzag(sl_binlog_varlen(r, "sequence_number"));
            break;
        case 6:
            ev->gtid.immediate_commit_ts = sl_binlog_varlen(r, "immediate_commit_timestamp");
            break;
        case 7:
            ev->gtid.original_commit_ts = sl_binlog_varlen(r, "original_commit_timestamp");
            have_orig_ts = true;
            break;
        case 8: ev->gtid.transaction_length = sl_binlog_varlen(r, "transaction_length"); break;
        case 9:
            ev->gtid.immediate_server_version =
                (uint32_t)sl_binlog_varlen(r, "immediate_server_version");
            break;
        case 10:
            ev->gtid.original_server_version =
                (uint32_t)sl_binlog_varlen(r, "original_server_version");
            have_orig_sv = true;
            break;
        case 11: sl_binlog_varlen(r, "commit_group_ticket"); break;
        default:
            if (id <= last_required) {
                sl_binlog_fail(r, "unknown field %llu at byte %zu may not be ignored",
                               (unsigned long long)id, r->base + fat);
                break;
            }
            r->i = r->n;   /* an ignorable newer field: its size is unknown, stop here */
            break;
        }
    }
    if (r->err) return SL_ERR;
    if (!have_orig_ts) ev->gtid.original_commit_ts = ev->gtid.immediate_commit_ts;
    if (!have_orig_sv) ev->gtid.original_server_version = ev->gtid.immediate_server_version;
    sl_binlog_gtid_text(d, ev);
    return SL_OK;
}

/* PREVIOUS_GTIDS_LOG_EVENT as a GTID set text. Untagged: n_sids (8 bytes), then per sid
 * the uuid, n_intervals (8) and [start, end) pairs. Tagged (MySQL 8.3+): byte 0 and byte
 * 7 are the format (1), bytes 1..6 n_sids, and every uuid is followed by its tag. */
static int sl_binlog_previous_gtids(sl_binlog_decoder_t *d, sl_binlog_rd_t *r,
                                    sl_binlog_event_t *ev)
{
    const uint8_t *h = sl_binlog_bytes(r, 8, "sid count");
    if (!h) return SL_ERR;
    bool tagged = h[0] == 1 && h[7] == 1;
    uint64_t n = 0;
    for (int k = tagged ? 6 : 7; k >= (tagged ? 1 : 0); k--) n = n << 8 | h[k];
    if (n > sl_binlog_left(r) / 24) {
        sl_binlog_fail(r, "%llu sids do not fit in %zu bytes", (unsigned long long)n,
                       sl_binlog_left(r));
        return SL_ERR;
    }
    size_t off = d->text.len;
    const uint8_t *prev = NULL;
    for (uint64_t s = 0; s < n && !r->err; s++) {
        const uint8_t *uuid = sl_binlog_bytes(r, 16, "sid");
        const uint8_t *tag = NULL;
        uint64_t tag_len = 0;
        if (tagged) {
            tag_len = sl_binlog_varlen(r, "tag length");
            if (!r->err && tag_len > 32) {
                sl_binlog_fail(r, "tag of %llu bytes at byte %zu (at most 32)",
                               (unsigned long long)tag_len, r->base + r->i);
                break;
            }
            tag = sl_binlog_bytes(r, (size_t)tag_len, "tag");
        }
        uint64_t ni = sl_binlog_u64(r, "interval count");
        if (r->err) break;
        if (ni > sl_binlog_left(r) / 16) {
            sl_binlog_fail(r, "%llu intervals do not fit in %zu bytes",
                           (unsigned long long)ni, sl_binlog_left(r));
            break;
        }
        if (!prev || memcmp(prev, uuid, 16) != 0) {
            if (prev) sl_buf_putc(&d->text, ',');
            sl_binlog_uuid_text(&d->text, uuid);
        }
        prev = uuid;
        if (tag_len) {
            sl_buf_putc(&d->text, ':');
            sl_buf_put(&d->text, tag, (size_t)tag_len);
        }
        for (uint64_t k = 0; k < ni && !r->err; k++) {
            size_t at = r->base + r->i;
            uint64_t start = sl_binlog_u64(r, "interval start");
            uint64_t end = sl_binlog_u64(r, "interval end");   /* exclusive */
            if (r->err) break;
            /* GTID numbers are 1 .. 2^63-1 (MySQL's rpl_gno is signed 64-bit) */
            if (start < 1 || end <= start || end > (uint64_t)INT64_MAX) {
                sl_binlog_fail(r, "GTID interval [%llu, %llu) at byte %zu is impossible "
                               "(numbers are 1 to 2^63-1, the end is exclusive)",
                               (unsigned long long)start, (unsigned long long)end, at);
                break;
            }
            if (end - 1 > start) sl_buf_printf(&d->text, ":%llu-%llu",
                                               (unsigned long long)start,
                                               (unsigned long long)(end - 1));
            else sl_buf_printf(&d->text, ":%llu", (unsigned long long)start);
        }
    }
    if (r->err) return SL_ERR;
    sl_buf_putc(&d->text, '\0');
    ev->previous_gtids.tagged_format = tagged;
    ev->previous_gtids.nsids = (uint32_t)n;
    ev->previous_gtids.text = d->text.data + off;
    return sl_binlog_end(r);
}

/* MariaDB GTID: seq_no, domain, flags2, commit id when FL_GROUP_COMMIT_ID (2), an XA xid
 * when FL_PREPARED_XA / FL_COMPLETED_XA; the body is padded, newer servers append more. */
static int sl_binlog_mariadb_gtid(sl_binlog_decoder_t *d, sl_binlog_rd_t *r,
                                  sl_binlog_event_t *ev)
{
    ev->mgtid.seq_no = sl_binlog_u64(r, "sequence number");
    ev->mgtid.domain_id = sl_binlog_u32(r, "domain id");
    ev->mgtid.flags2 = sl_binlog_u8(r, "flags2");
    if (!r->err && (ev->mgtid.flags2 & 2)) ev->mgtid.commit_id = sl_binlog_u64(r, "commit id");
    if (r->err) return SL_ERR;
    r->i = r->n;
    ev->mgtid.server_id = ev->server_id;
    size_t off = d->text.len;
    sl_buf_printf(&d->text, "%u-%u-%llu", ev->mgtid.domain_id, ev->mgtid.server_id,
                  (unsigned long long)ev->mgtid.seq_no);
    sl_buf_putc(&d->text, '\0');
    ev->mgtid.text = d->text.data + off;
    return SL_OK;
}

static int sl_binlog_gtid_list(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, sl_binlog_event_t *ev)
{
    uint32_t v = sl_binlog_u32(r, "GTID count");
    if (r->err) return SL_ERR;
    uint32_t n = v & 0x0FFFFFFFu;
    if (n > sl_binlog_left(r) / 16) {
        sl_binlog_fail(r, "%u GTIDs do not fit in %zu bytes", n, sl_binlog_left(r));
        return SL_ERR;
    }
    size_t off = d->text.len;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t dom = sl_binlog_u32(r, "domain id");
        uint32_t srv = sl_binlog_u32(r, "server id");
        uint64_t seq = sl_binlog_u64(r, "sequence number");
        sl_buf_printf(&d->text, "%s%u-%u-%llu", k ? "," : "", dom, srv,
                      (unsigned long long)seq);
    }
    sl_buf_putc(&d->text, '\0');
    r->i = r->n;   /* some servers pad */
    ev->gtid_list.count = n;
    ev->gtid_list.flags = (uint8_t)(v >> 28);
    ev->gtid_list.text = d->text.data + off;
    return SL_OK;
}

/* HEARTBEAT_LOG_EVENT_V2: (type, length, value) fields, lengths and integer values
 * length-encoded: 1 = log file name, 2 = position; 0 ends the list. */
static int sl_binlog_heartbeat_v2(sl_binlog_rd_t *r, sl_binlog_event_t *ev)
{
    bool have_file = false;
    while (!r->err && r->i < r->n) {
        size_t at = r->i;
        uint64_t t = sl_binlog_lenenc(r, "heartbeat field type");
        if (r->err || t == 0) break;
        uint32_t len = sl_binlog_count(r, 1, UINT32_MAX, "heartbeat field length");
        const uint8_t *v = sl_binlog_bytes(r, len, "heartbeat field");
        if (r->err) break;
        if (t == 1) {
            ev->heartbeat.file = (const char *)v;
            ev->heartbeat.file_len = len;
            have_file = true;
        } else if (t == 2) {
            sl_binlog_rd_t f = sl_binlog_sub(r, v, len);
            ev->heartbeat.position = sl_binlog_lenenc(&f, "heartbeat position");
            if (!f.err && f.i != f.n)
                sl_binlog_fail(&f, "heartbeat position at byte %zu is %u bytes long but its "
                               "value takes %zu", f.base, len, f.i);
            if (f.err) r->err = true;
        } else {
            sl_binlog_fail(r, "unknown heartbeat field %llu at byte %zu",
                           (unsigned long long)t, r->base + at);
        }
    }
    if (!r->err && !have_file) sl_binlog_fail(r, "heartbeat without a log file name");
    r->i = r->n;
    return r->err ? SL_ERR : SL_OK;
}

static int sl_binlog_xa_prepare(sl_binlog_rd_t *r, sl_binlog_event_t *ev)
{
    ev->xa.one_phase = sl_binlog_u8(r, "one_phase") != 0;
    ev->xa.format_id = (int32_t)sl_binlog_u32(r, "format id");
    uint32_t gl = sl_binlog_u32(r, "gtrid length");
    uint32_t bl = sl_binlog_u32(r, "bqual length");
    if (!r->err && (gl > 64 || bl > 64)) {
        sl_binlog_fail(r, "XID lengths %u/%u exceed 64", gl, bl);
        return SL_ERR;
    }
    ev->xa.gtrid = (const char *)sl_binlog_bytes(r, gl, "gtrid");
    ev->xa.gtrid_len = gl;
    ev->xa.bqual = (const char *)sl_binlog_bytes(r, bl, "bqual");
    ev->xa.bqual_len = bl;
    return sl_binlog_end(r);
}

/* ======================================================================================
 * TRANSACTION_PAYLOAD
 * ==================================================================================== */

#ifdef SL_HAVE_ZSTD
/* Decompress one or more zstd frames into d->pl. */
static int sl_binlog_unzstd(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, const uint8_t *src,
                            size_t n, uint64_t hint)
{
    if (!d->zds) d->zds = ZSTD_createDStream();
    if (!d->zds) {
        sl_binlog_fail(r, "cannot create a zstd decompression context");
        return SL_ERR;
    }
    ZSTD_initDStream(d->zds);
    /* The declared uncompressed size is a hint from the event header: trusted only as far
     * as the compressed bytes could plausibly expand (a few corrupt bytes declaring 1 GiB
     * reserved it all); the buffer grows geometrically past that. */
    size_t want = 65536;
    if (hint > want) {
        size_t most = n > SL_BINLOG_PAYLOAD_MAX / SL_BINLOG_ZSTD_HINT_RATIO
                          ? SL_BINLOG_PAYLOAD_MAX : n * SL_BINLOG_ZSTD_HINT_RATIO;
        want = hint < most ? (size_t)hint : most;
        if (want < 65536) want = 65536;
    }
    if (d->pl_cap < want) {
        d->pl = sl_realloc(d->pl, want);
        d->pl_cap = want;
    }
    ZSTD_inBuffer in = {src, n, 0};
    for (;;) {
        if (d->pl_len == d->pl_cap) {
            if (d->pl_cap >= SL_BINLOG_PAYLOAD_MAX) {
                sl_binlog_fail(r, "decompressed transaction exceeds %zu bytes",
                               SL_BINLOG_PAYLOAD_MAX);
                return SL_ERR;
            }
            d->pl_cap = d->pl_cap > SL_BINLOG_PAYLOAD_MAX / 2 ? SL_BINLOG_PAYLOAD_MAX
                                                             : d->pl_cap * 2;
            d->pl = sl_realloc(d->pl, d->pl_cap);
        }
        ZSTD_outBuffer out = {d->pl + d->pl_len, d->pl_cap - d->pl_len, 0};
        size_t ret = ZSTD_decompressStream(d->zds, &out, &in);
        if (ZSTD_isError(ret)) {
            sl_binlog_fail(r, "zstd payload is corrupt: %s", ZSTD_getErrorName(ret));
            return SL_ERR;
        }
        d->pl_len += out.pos;
        if (ret == 0 && in.pos == in.size) return SL_OK;   /* every frame complete */
        if (in.pos == in.size && out.pos < out.size) {
            sl_binlog_fail(r, "zstd payload is truncated");
            return SL_ERR;
        }
    }
}
#endif

/* Header fields (type, length, value; all length-encoded; 0 ends them): 1 payload size,
 * 2 compression type (0 zstd, 255 none), 3 uncompressed size. Then the payload. */
static int sl_binlog_payload(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, sl_binlog_event_t *ev)
{
    bool have_size = false, have_type = false;
    while (!r->err && r->i < r->n) {
        uint64_t t = sl_binlog_lenenc(r, "payload header field");
        if (r->err || t == 0) break;
        uint32_t len = sl_binlog_count(r, 1, UINT32_MAX, "payload header field length");
        const uint8_t *v = sl_binlog_bytes(r, len, "payload header field");
        if (r->err) break;
        sl_binlog_rd_t f = sl_binlog_sub(r, v, len);
        uint64_t val = sl_binlog_lenenc(&f, "payload header value");
        if (f.err) {
            r->err = true;
            break;
        }
        if (t == 1) { ev->payload.payload_size = val; have_size = true; }
        else if (t == 2) { ev->payload.compression = (uint8_t)val; have_type = true; }
        else if (t == 3) ev->payload.uncompressed_size = val;
    }
    if (r->err) return SL_ERR;
    ev->payload.payload = r->p + r->i;
    ev->payload.payload_len = r->n - r->i;
    r->i = r->n;
    if (!have_type) {
        sl_binlog_fail(r, "no compression type in the payload header");
        return SL_ERR;
    }
    if (have_size && ev->payload.payload_size != ev->payload.payload_len) {
        sl_binlog_fail(r, "payload_size says %llu bytes but %zu follow the header",
                       (unsigned long long)ev->payload.payload_size, ev->payload.payload_len);
        return SL_ERR;
    }
    d->pl_len = d->pl_off = 0;
    d->pl_err[0] = '\0';
    if (ev->payload.compression == 255) {
        if (d->pl_cap < ev->payload.payload_len) {
            d->pl = sl_realloc(d->pl, ev->payload.payload_len);
            d->pl_cap = ev->payload.payload_len;
        }
        if (ev->payload.payload_len) memcpy(d->pl, ev->payload.payload, ev->payload.payload_len);
        d->pl_len = ev->payload.payload_len;
    } else if (ev->payload.compression == 0) {
#ifdef SL_HAVE_ZSTD
        return sl_binlog_unzstd(d, r, ev->payload.payload, ev->payload.payload_len,
                                ev->payload.uncompressed_size);
#else
        snprintf(d->pl_err, sizeof(d->pl_err),
                 "compressed transaction payload not supported: sluice was built without "
                 "libzstd (zstd payload of %zu bytes); set binlog_transaction_compression="
                 "OFF on the server", ev->payload.payload_len);
#endif
    } else {
        snprintf(d->pl_err, sizeof(d->pl_err), "transaction payload compression type %u is "
                 "not supported", ev->payload.compression);
    }
    return SL_OK;
}

/* ======================================================================================
 * MariaDB compressed events (log_bin_compress=ON)
 *
 * QUERY_COMPRESSED_EVENT (165) is a QUERY_EVENT whose statement text is compressed;
 * WRITE/UPDATE/DELETE_ROWS_COMPRESSED_EVENT_V1 (166-168) and _EVENT (169-171, with the v2
 * post-header) are rows events whose row images are compressed, the post-header, column
 * count and columns-present bitmaps staying plain. The compressed part (MariaDB's
 * log_event.cc, binlog_buf_compress) is one header byte - bit 7 set, bits 4-6 the
 * algorithm (0 = zlib, the only one defined), bits 0-2 the number n (1..4) of length bytes
 * - then the uncompressed length in n bytes, most significant first, then a zlib stream
 * (RFC 1950, as zlib's compress() writes it) filling the rest of the body.
 * ==================================================================================== */

/* Inflate the compressed part at r->p[r->i..r->n) into d->zbuf + head, leaving room for
 * the caller to copy head plain bytes in front. Returns the uncompressed length, or
 * SIZE_MAX after sl_binlog_fail (declared length impossible, corrupt or truncated stream,
 * a stream longer or shorter than declared, trailing bytes). */
static size_t sl_binlog_unzlib(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, size_t head)
{
    size_t at = r->i;
    uint8_t h = sl_binlog_u8(r, "compression header");
    if (r->err) return SIZE_MAX;
    unsigned alg = (h >> 4) & 7, nlen = h & 7;
    if (!(h & 0x80) || nlen < 1 || nlen > 4) {
        sl_binlog_fail(r, "compression header 0x%02X at byte %zu is invalid (want bit 7 set "
                       "and 1-4 length bytes)", h, r->base + at);
        return SIZE_MAX;
    }
    if (alg != 0) {
        sl_binlog_fail(r, "compression algorithm %u at byte %zu is not supported (only 0, "
                       "zlib)", alg, r->base + at);
        return SIZE_MAX;
    }
    const uint8_t *lp = sl_binlog_bytes(r, nlen, "uncompressed length");
    if (r->err) return SIZE_MAX;
    size_t ulen = 0;
    for (unsigned k = 0; k < nlen; k++) ulen = ulen << 8 | lp[k];
    size_t clen = r->n - r->i;
    if (ulen == 0 || ulen > SL_BINLOG_UNZIP_MAX - head ||
        ulen / SL_BINLOG_ZLIB_RATIO > clen) {
        sl_binlog_fail(r, "declared uncompressed length %zu at byte %zu is impossible for "
                       "%zu compressed bytes (zero, over %u times as much, or over the "
                       "%zu-byte limit)", ulen, r->base + at + 1, clen, SL_BINLOG_ZLIB_RATIO,
                       SL_BINLOG_UNZIP_MAX);
        return SIZE_MAX;
    }

    /* One buffer for every compressed event: grown geometrically, given back after an
     * outsized event once events are small again. */
    size_t need = head + ulen;
    if (d->zbuf_cap < need || (d->zbuf_cap > ((size_t)64 << 20) && need < d->zbuf_cap / 8)) {
        size_t cap = need < 4096 ? 4096 : need;
        if (d->zbuf_cap < need && cap < d->zbuf_cap * 2) cap = d->zbuf_cap * 2;
        if (cap > SL_BINLOG_UNZIP_MAX) cap = SL_BINLOG_UNZIP_MAX;
        free(d->zbuf);
        d->zbuf = sl_malloc(cap);
        d->zbuf_cap = cap;
    }
    if (!d->zs_ready) {
        memset(&d->zs, 0, sizeof(d->zs));
        if (inflateInit(&d->zs) != Z_OK) {
            sl_binlog_fail(r, "cannot create a zlib inflate stream");
            return SIZE_MAX;
        }
        d->zs_ready = true;
    } else if (inflateReset(&d->zs) != Z_OK) {
        sl_binlog_fail(r, "cannot reset the zlib inflate stream");
        return SIZE_MAX;
    }
    /* zlib counts in uInt; both lengths are below 2^30 here (an event is under 4 GiB). */
    d->zs.next_in = (Bytef *)(r->p + r->i);
    d->zs.avail_in = (uInt)clen;
    d->zs.next_out = d->zbuf + head;
    d->zs.avail_out = (uInt)ulen;
    int zrc = inflate(&d->zs, Z_FINISH);
    size_t got = ulen - d->zs.avail_out, used = clen - d->zs.avail_in;
    if (zrc == Z_STREAM_END && got == ulen && used == clen) {
        r->i = r->n;
        return ulen;
    }
    if (zrc == Z_STREAM_END && got < ulen)
        sl_binlog_fail(r, "zlib stream at byte %zu inflates to %zu bytes, the header "
                       "declares %zu", r->base + at, got, ulen);
    else if (zrc == Z_STREAM_END)
        sl_binlog_fail(r, "%zu trailing bytes after the zlib stream at byte %zu",
                       clen - used, r->base + r->i + used);
    else if (zrc == Z_BUF_ERROR && d->zs.avail_in == 0)
        sl_binlog_fail(r, "zlib stream at byte %zu is truncated (%zu of %zu bytes "
                       "inflated)", r->base + at, got, ulen);
    else if (zrc == Z_BUF_ERROR)
        sl_binlog_fail(r, "zlib stream at byte %zu inflates to more than the %zu bytes the "
                       "header declares", r->base + at, ulen);
    else
        sl_binlog_fail(r, "zlib stream at byte %zu is corrupt: %s", r->base + at,
                       d->zs.msg ? d->zs.msg : zError(zrc));
    return SIZE_MAX;
}

/* Decode a compressed event as its plain counterpart: ev->type becomes QUERY_EVENT or the
 * rows event type (v1 or v2), ev->compressed is set. Strings and cells point into
 * d->zbuf. Byte offsets in errors past the compressed header count in the inflated body. */
static int sl_binlog_mariadb_compressed(sl_binlog_decoder_t *d, sl_binlog_rd_t *r,
                                        sl_binlog_event_t *ev)
{
    uint8_t ctype = ev->type;
    if (ctype == SL_BINLOG_MARIADB_QUERY_COMPRESSED_EVENT) {
        if (sl_binlog_query(d, r, ev) != SL_OK) return SL_ERR;
        r->i = (size_t)((const uint8_t *)ev->query.sql - r->p);
        size_t n = sl_binlog_unzlib(d, r, 0);
        if (n == SIZE_MAX) return SL_ERR;
        ev->type = SL_BINLOG_QUERY_EVENT;
        ev->compressed = true;
        ev->query.sql = (const char *)d->zbuf;
        ev->query.sql_len = n;
        return SL_OK;
    }
    bool v2 = ctype >= SL_BINLOG_MARIADB_WRITE_ROWS_COMPRESSED_EVENT;
    uint8_t plain = v2 ? (uint8_t)(ctype - SL_BINLOG_MARIADB_WRITE_ROWS_COMPRESSED_EVENT +
                                   SL_BINLOG_WRITE_ROWS_EVENT)
                       : (uint8_t)(ctype - SL_BINLOG_MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1 +
                                   SL_BINLOG_WRITE_ROWS_EVENT_V1);
    bool update = plain == SL_BINLOG_UPDATE_ROWS_EVENT || plain == SL_BINLOG_UPDATE_ROWS_EVENT_V1;
    /* The plain head, walked only to find where the compressed part starts; the rows
     * decoder parses it again from the rebuilt body. */
    uint8_t idsize = sl_binlog_phl(d, ctype, v2 ? 10 : 8) == 6 ? 4 : 6;
    sl_binlog_bytes(r, idsize + 2u, "table id and flags");
    if (v2) {
        uint16_t xl = sl_binlog_u16(r, "extra data length");
        if (!r->err && xl < 2)
            sl_binlog_fail(r, "extra data length %u at byte %zu is less than 2", xl,
                           r->base + r->i - 2);
        sl_binlog_bytes(r, r->err ? 0 : (size_t)xl - 2, "extra data");
    }
    uint32_t ncols = sl_binlog_count(r, 0, SL_BINLOG_MAX_COLUMNS, "column count");
    sl_binlog_bytes(r, (ncols + 7) / 8 * (update ? 2u : 1u), "columns-present bitmaps");
    if (r->err) return SL_ERR;
    size_t head = r->i;
    size_t n = sl_binlog_unzlib(d, r, head);
    if (n == SIZE_MAX) return SL_ERR;
    memcpy(d->zbuf, r->p, head);
    sl_binlog_rd_t z = *r;
    z.p = d->zbuf;
    z.n = head + n;
    z.i = 0;
    ev->type = plain;
    ev->compressed = true;
    return sl_binlog_rows(d, &z, ev);
}

/* ======================================================================================
 * FORMAT_DESCRIPTION_EVENT
 * ==================================================================================== */

/* Servers that end their FORMAT_DESCRIPTION event with checksum_alg + CRC32: MySQL
 * 5.6.1 and later, MariaDB 5.3 and later. */
static bool sl_binlog_version_has_checksum(const char *v)
{
    unsigned a = 0, b = 0, c = 0;
    if (sscanf(v, "%u.%u.%u", &a, &b, &c) < 2) return false;
    if (strstr(v, "MariaDB")) return a > 5 || (a == 5 && b >= 3);
    return a > 5 || (a == 5 && (b > 6 || (b == 6 && c >= 1)));
}

/* buf/len: the whole event for CRC verification (NULL: a bare body, trailer = the
 * checksum_alg byte only, as when crc_stripped). */
static int sl_binlog_fde(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, sl_binlog_event_t *ev,
                         const uint8_t *buf, size_t len, bool crc_stripped)
{
    ev->fde.binlog_version = sl_binlog_u16(r, "binlog version");
    const uint8_t *sv = sl_binlog_bytes(r, 50, "server version");
    ev->fde.create_timestamp = sl_binlog_u32(r, "create timestamp");
    ev->fde.header_len = sl_binlog_u8(r, "header length");
    if (r->err) return SL_ERR;
    if (ev->fde.binlog_version != 4) {
        sl_binlog_fail(r, "binlog format version %u is not supported (only v4: MySQL 5.0 and "
                       "later, MariaDB)", ev->fde.binlog_version);
        return SL_ERR;
    }
    if (ev->fde.header_len != SL_BINLOG_HEADER_LEN) {
        sl_binlog_fail(r, "common header length %u is not supported (only 19)",
                       ev->fde.header_len);
        return SL_ERR;
    }
    memcpy(ev->fde.server_version, sv, 50);
    ev->fde.server_version[50] = '\0';
    ev->fde.mariadb = strstr(ev->fde.server_version, "MariaDB") != NULL;

    uint8_t alg = SL_BINLOG_CSUM_UNKNOWN;
    if (sl_binlog_version_has_checksum(ev->fde.server_version)) {
        size_t trailer = (buf && !crc_stripped) ? 5 : 1;
        if (r->n - r->i < trailer) {
            sl_binlog_fail(r, "too short for its checksum trailer (%zu bytes left)",
                           r->n - r->i);
            return SL_ERR;
        }
        alg = r->p[r->n - trailer];
        if (alg != SL_BINLOG_CSUM_OFF && alg != SL_BINLOG_CSUM_CRC32) {
            sl_binlog_fail(r, "unknown checksum algorithm %u at byte %zu", alg,
                           r->base + r->n - trailer);
            return SL_ERR;
        }
        if (trailer == 5 && alg == SL_BINLOG_CSUM_CRC32) {
            if (!sl_binlog_crc_ok(buf, len, true)) {
                sl_binlog_fail(r, "CRC32 mismatch (stored 0x%08X, computed 0x%08X)",
                               sl_binlog_le32(buf + len - 4),
                               sl_binlog_crc32(0, buf, len - 4));
                return SL_ERR;
            }
            ev->has_checksum = true;
            ev->checksum = sl_binlog_le32(buf + len - 4);
        }
        r->n -= trailer;
        ev->body_len = r->n;
    }
    ev->fde.checksum_alg = alg;
    size_t npost = r->n - r->i;
    const uint8_t *post = sl_binlog_bytes(r, npost, "post-header lengths");
    if (r->err) return SL_ERR;

    /* Whole event parsed: now it may change the decoder. */
    d->have_fde = true;
    d->npost_header = (uint16_t)(npost < sizeof(d->post_header) ? npost
                                                                : sizeof(d->post_header));
    memcpy(d->post_header, post, d->npost_header);
    d->csum_alg = alg == SL_BINLOG_CSUM_UNKNOWN ? SL_BINLOG_CSUM_OFF : alg;
    d->mariadb = ev->fde.mariadb;
    return SL_OK;
}

/* ======================================================================================
 * Dispatch
 * ==================================================================================== */

static int sl_binlog_dispatch(sl_binlog_decoder_t *d, sl_binlog_rd_t *r, sl_binlog_event_t *ev,
                              bool inner)
{
    switch (ev->type) {
    case SL_BINLOG_QUERY_EVENT:
        return sl_binlog_query(d, r, ev);
    case SL_BINLOG_ROTATE_EVENT:
        return sl_binlog_rotate(d, r, ev);
    case SL_BINLOG_XID_EVENT:
        ev->xid.xid = sl_binlog_u64(r, "xid");
        return sl_binlog_end(r);
    case SL_BINLOG_TABLE_MAP_EVENT:
        return sl_binlog_table_map(d, r, ev);
    case SL_BINLOG_WRITE_ROWS_EVENT_V0: case SL_BINLOG_UPDATE_ROWS_EVENT_V0:
    case SL_BINLOG_DELETE_ROWS_EVENT_V0: case SL_BINLOG_WRITE_ROWS_EVENT_V1:
    case SL_BINLOG_UPDATE_ROWS_EVENT_V1: case SL_BINLOG_DELETE_ROWS_EVENT_V1:
    case SL_BINLOG_WRITE_ROWS_EVENT: case SL_BINLOG_UPDATE_ROWS_EVENT:
    case SL_BINLOG_DELETE_ROWS_EVENT: case SL_BINLOG_PARTIAL_UPDATE_ROWS_EVENT:
        return sl_binlog_rows(d, r, ev);
    case SL_BINLOG_GTID_EVENT: case SL_BINLOG_ANONYMOUS_GTID_EVENT:
        return sl_binlog_gtid(d, r, ev);
    case SL_BINLOG_GTID_TAGGED_EVENT:
        return sl_binlog_gtid_tagged(d, r, ev);
    case SL_BINLOG_PREVIOUS_GTIDS_EVENT:
        return sl_binlog_previous_gtids(d, r, ev);
    case SL_BINLOG_MARIADB_GTID_EVENT:
        return sl_binlog_mariadb_gtid(d, r, ev);
    case SL_BINLOG_MARIADB_GTID_LIST_EVENT:
        return sl_binlog_gtid_list(d, r, ev);
    case SL_BINLOG_MARIADB_ANNOTATE_ROWS_EVENT:
        ev->rows_query.sql = (const char *)r->p;
        ev->rows_query.sql_len = r->n;
        r->i = r->n;
        return SL_OK;
    case SL_BINLOG_ROWS_QUERY_EVENT:
        sl_binlog_u8(r, "rows query length");   /* truncated to 255: the rest is the text */
        if (r->err) return SL_ERR;
        ev->rows_query.sql = (const char *)r->p + r->i;
        ev->rows_query.sql_len = r->n - r->i;
        r->i = r->n;
        return SL_OK;
    case SL_BINLOG_MARIADB_BINLOG_CHECKPOINT_EVENT: {
        uint32_t len = sl_binlog_u32(r, "file name length");
        ev->checkpoint.file = (const char *)sl_binlog_bytes(r, len, "file name");
        ev->checkpoint.file_len = len;
        return sl_binlog_end(r);
    }
    case SL_BINLOG_HEARTBEAT_EVENT:
        ev->heartbeat.file = (const char *)r->p;
        ev->heartbeat.file_len = r->n;
        ev->heartbeat.position = ev->log_pos;
        r->i = r->n;
        return SL_OK;
    case SL_BINLOG_HEARTBEAT_EVENT_V2:
        return sl_binlog_heartbeat_v2(r, ev);
    case SL_BINLOG_TRANSACTION_PAYLOAD_EVENT:
        if (inner) {
            sl_binlog_fail(r, "TRANSACTION_PAYLOAD nested in a TRANSACTION_PAYLOAD");
            return SL_ERR;
        }
        return sl_binlog_payload(d, r, ev);
    case SL_BINLOG_INTVAR_EVENT:
        ev->intvar.type = sl_binlog_u8(r, "intvar type");
        ev->intvar.value = sl_binlog_u64(r, "intvar value");
        return sl_binlog_end(r);
    case SL_BINLOG_XA_PREPARE_EVENT:
        return sl_binlog_xa_prepare(r, ev);
    case SL_BINLOG_STOP_EVENT:
    case SL_BINLOG_INCIDENT_EVENT:
        r->i = r->n;   /* meaningful to the caller by type alone */
        return SL_OK;
    case SL_BINLOG_FORMAT_DESCRIPTION_EVENT:
        sl_binlog_fail(r, "FORMAT_DESCRIPTION_EVENT inside a transaction payload");
        return SL_ERR;
    case SL_BINLOG_MARIADB_START_ENCRYPTION_EVENT:
        sl_binlog_fail(r, "encrypted binlog (encrypt_binlog=ON): the events after this one "
                       "cannot be read from the file; read them through the server");
        return SL_ERR;
    case SL_BINLOG_MARIADB_QUERY_COMPRESSED_EVENT:
    case SL_BINLOG_MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
    case SL_BINLOG_MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
    case SL_BINLOG_MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
    case SL_BINLOG_MARIADB_WRITE_ROWS_COMPRESSED_EVENT:
    case SL_BINLOG_MARIADB_UPDATE_ROWS_COMPRESSED_EVENT:
    case SL_BINLOG_MARIADB_DELETE_ROWS_COMPRESSED_EVENT:
        return sl_binlog_mariadb_compressed(d, r, ev);
    default:
        ev->ignored = true;   /* unknown or not needed: skipped safely */
        r->i = r->n;
        return SL_OK;
    }
}

static int sl_binlog_decode_event(sl_binlog_decoder_t *d, const uint8_t *buf, size_t len,
                                  sl_binlog_event_t *ev, bool inner, char *errstr,
                                  size_t errstr_size)
{
    memset(ev, 0, sizeof(*ev));
    if (d->flush_pending) sl_binlog_tab_flush(d);
    sl_buf_reset(&d->text);
    if (!buf || len < SL_BINLOG_HEADER_LEN)
        return sl_err(errstr, errstr_size, "binlog event of %zu bytes is shorter than the "
                      "19-byte event header", buf ? len : 0);
    ev->timestamp = sl_binlog_le32(buf);
    ev->type = buf[4];
    ev->server_id = sl_binlog_le32(buf + 5);
    ev->event_size = sl_binlog_le32(buf + 9);
    ev->log_pos = sl_binlog_le32(buf + 13);
    ev->flags = (uint16_t)(buf[17] | buf[18] << 8);
    ev->raw = buf;
    ev->raw_len = len;

    char namebuf[40];
    sl_binlog_rd_t r = {.what = sl_binlog_event_name(ev->type, namebuf, sizeof(namebuf)),
                        .log_pos = ev->log_pos, .errstr = errstr, .errstr_size = errstr_size,
                        .base = SL_BINLOG_HEADER_LEN};
    bool fde = ev->type == SL_BINLOG_FORMAT_DESCRIPTION_EVENT && !inner;
    bool stripped = false;
    size_t body_end = len;
    uint8_t alg = inner ? SL_BINLOG_CSUM_OFF : d->csum_alg;
    if (ev->event_size != len) {
        if (!(d->csum_stripped && !inner && (size_t)ev->event_size == len + 4)) {
            sl_binlog_fail(&r, "event_size says %u bytes but the event has %zu",
                           ev->event_size, len);
            return SL_ERR;
        }
        stripped = true;   /* the checksum was removed before us */
    } else if (!fde && (alg == SL_BINLOG_CSUM_CRC32 ||
                        (alg == SL_BINLOG_CSUM_UNKNOWN && len >= SL_BINLOG_HEADER_LEN + 4 &&
                         sl_binlog_crc_ok(buf, len, false)))) {
        if (len < SL_BINLOG_HEADER_LEN + 4) {
            sl_binlog_fail(&r, "%zu bytes is too short for an event with a CRC32", len);
            return SL_ERR;
        }
        if (sl_binlog_crc_ok(buf, len, false)) {
            ev->has_checksum = true;
            ev->checksum = sl_binlog_le32(buf + len - 4);
            body_end = len - 4;
        } else if (ev->type != SL_BINLOG_HEARTBEAT_EVENT &&
                   ev->type != SL_BINLOG_HEARTBEAT_EVENT_V2) {
            /* (heartbeats are not logged events: some servers send them unchecksummed) */
            sl_binlog_fail(&r, "CRC32 mismatch (stored 0x%08X, computed 0x%08X): the event "
                           "is corrupt", sl_binlog_le32(buf + len - 4),
                           sl_binlog_crc32(0, buf, len - 4));
            return SL_ERR;
        }
    }
    r.p = buf + SL_BINLOG_HEADER_LEN;
    r.n = body_end - SL_BINLOG_HEADER_LEN;
    ev->body = r.p;
    ev->body_len = r.n;
    if (fde) return sl_binlog_fde(d, &r, ev, stripped ? NULL : buf, len, stripped);
    return sl_binlog_dispatch(d, &r, ev, inner);
}

int sl_binlog_decode(sl_binlog_decoder_t *d, const uint8_t *buf, size_t len,
                     sl_binlog_event_t *ev, char *errstr, size_t errstr_size)
{
    d->pl_active = false;
    int rc = sl_binlog_decode_event(d, buf, len, ev, false, errstr, errstr_size);
    if (rc == SL_OK && ev->type == SL_BINLOG_TRANSACTION_PAYLOAD_EVENT) d->pl_active = true;
    return rc;
}

int sl_binlog_decode_body(sl_binlog_decoder_t *d, uint8_t type, const uint8_t *body,
                          size_t len, sl_binlog_event_t *ev, char *errstr, size_t errstr_size)
{
    static const uint8_t empty[1];
    memset(ev, 0, sizeof(*ev));
    d->pl_active = false;
    if (d->flush_pending) sl_binlog_tab_flush(d);
    sl_buf_reset(&d->text);
    if (!body) body = empty;
    ev->type = type;
    ev->raw = ev->body = body;
    ev->raw_len = ev->body_len = len;
    char namebuf[40];
    sl_binlog_rd_t r = {.p = body, .n = len, .what = sl_binlog_event_name(type, namebuf,
                                                                         sizeof(namebuf)),
                        .errstr = errstr, .errstr_size = errstr_size};
    if (type == SL_BINLOG_FORMAT_DESCRIPTION_EVENT) return sl_binlog_fde(d, &r, ev, NULL, 0, true);
    int rc = sl_binlog_dispatch(d, &r, ev, false);
    if (rc == SL_OK && type == SL_BINLOG_TRANSACTION_PAYLOAD_EVENT) d->pl_active = true;
    return rc;
}

int sl_binlog_payload_next(sl_binlog_decoder_t *d, sl_binlog_event_t *ev, char *errstr,
                           size_t errstr_size)
{
    if (!d->pl_active) return 0;
    if (d->pl_err[0]) {
        d->pl_active = false;
        return sl_err(errstr, errstr_size, "binlog TRANSACTION_PAYLOAD_EVENT: %s", d->pl_err);
    }
    if (d->pl_off >= d->pl_len) {
        d->pl_active = false;
        return 0;
    }
    size_t left = d->pl_len - d->pl_off;
    const uint8_t *p = d->pl + d->pl_off;
    uint32_t size = left >= SL_BINLOG_HEADER_LEN ? sl_binlog_le32(p + 9) : 0;
    if (left < SL_BINLOG_HEADER_LEN || size < SL_BINLOG_HEADER_LEN || size > left) {
        d->pl_active = false;
        return sl_err(errstr, errstr_size, "binlog TRANSACTION_PAYLOAD_EVENT: inner event at "
                      "payload offset %zu is truncated (%zu bytes left, event_size %u)",
                      d->pl_off, left, size);
    }
    d->pl_off += size;
    if (sl_binlog_decode_event(d, p, size, ev, true, errstr, errstr_size) != SL_OK) {
        d->pl_active = false;
        return SL_ERR;
    }
    return 1;
}

/* ======================================================================================
 * Binlog files
 * ==================================================================================== */

int sl_binlog_file_init(sl_binlog_file_t *f, const uint8_t *buf, size_t len, char *errstr,
                        size_t errstr_size)
{
    memset(f, 0, sizeof(*f));
    if (!buf || len < SL_BINLOG_MAGIC_LEN || memcmp(buf, SL_BINLOG_MAGIC, SL_BINLOG_MAGIC_LEN))
        return sl_err(errstr, errstr_size, "not a binlog file: it does not start with the "
                      "magic bytes fe 62 69 6e");
    f->buf = buf;
    f->len = len;
    f->off = SL_BINLOG_MAGIC_LEN;
    return SL_OK;
}

int sl_binlog_file_next(sl_binlog_file_t *f, const uint8_t **ev, size_t *ev_len,
                        size_t *ev_off, char *errstr, size_t errstr_size)
{
    if (f->off >= f->len) return 0;
    size_t left = f->len - f->off;
    const uint8_t *p = f->buf + f->off;
    if (left < SL_BINLOG_HEADER_LEN)
        return sl_err(errstr, errstr_size, "binlog file truncated at offset %zu: %zu bytes "
                      "left, an event header needs 19", f->off, left);
    uint32_t size = sl_binlog_le32(p + 9);
    char namebuf[40];
    const char *name = sl_binlog_event_name(p[4], namebuf, sizeof(namebuf));
    if (size < SL_BINLOG_HEADER_LEN)
        return sl_err(errstr, errstr_size, "binlog file corrupt at offset %zu: %s with "
                      "event_size %u (smaller than its header)", f->off, name, size);
    if (size > left)
        return sl_err(errstr, errstr_size, "binlog file truncated at offset %zu: the %s "
                      "there needs %u bytes, %zu left", f->off, name, size, left);
    *ev = p;
    *ev_len = size;
    if (ev_off) *ev_off = f->off;
    f->off += size;
    return 1;
}
