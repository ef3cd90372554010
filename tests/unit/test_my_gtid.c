/*
 * test_my_gtid.c - MariaDB GTID lists (my_gtid.c): which checkpoint GTID states are valid
 * lists, when two states agree domain by domain (the file/position fallback's check), and
 * how the server's 1236 texts for a refused GTID start are read.
 */
#include "sl_common.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../sources/mysql/my_gtid.h"

static void test_valid_lists_are_domain_server_sequence_with_unique_domains(void **st)
{
    (void)st;
    char err[128];
    assert_true(sl_my_gtid_list_valid("0-1-42", err, sizeof(err)));
    assert_true(sl_my_gtid_list_valid("0-1-42,1-2-7", err, sizeof(err)));
    assert_true(sl_my_gtid_list_valid("0-1-42, 1-2-7", err, sizeof(err)));
    assert_true(sl_my_gtid_list_valid("4294967295-4294967295-18446744073709551615", err,
                                      sizeof(err)));
    const char *bad[] = {"", "0-1", "0-1-", "-1-2", "0-1-2,", "0-1-2,,1-1-1", "0-1-x",
                         "a-1-2", "0-1-2;1-1-1", "4294967296-1-1", "0-4294967296-1",
                         "0-1-18446744073709551616", "0-1-2,0-2-3",
                         "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", "0-1-2 3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (sl_my_gtid_list_valid(bad[i], err, sizeof(err)))
            fail_msg("\"%s\" accepted as a GTID list", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_false(sl_my_gtid_list_valid("0-1-2,0-2-3", err, sizeof(err)));
    assert_non_null(strstr(err, "domain 0 appears twice"));
    assert_false(sl_my_gtid_list_valid(NULL, err, sizeof(err)));
}

static void test_a_state_covers_a_gtid_up_to_its_domains_sequence(void **st)
{
    (void)st;
    assert_int_equal(sl_my_gtid_covers("0-1-42", "0-1-42"), 1);
    assert_int_equal(sl_my_gtid_covers("0-1-42", "0-1-41"), 1);
    assert_int_equal(sl_my_gtid_covers("0-1-42", "0-1-43"), 0);
    /* another server of the domain (after a failover): the sequence decides */
    assert_int_equal(sl_my_gtid_covers("1-2-7,0-9-50", "0-1-43"), 1);
    assert_int_equal(sl_my_gtid_covers("1-2-7,0-9-50", "0-1-51"), 0);
    assert_int_equal(sl_my_gtid_covers("1-2-7", "0-1-1"), 0);      /* domain absent */
    assert_int_equal(sl_my_gtid_covers("", "0-1-1"), 0);           /* no GTID yet */
    assert_int_equal(sl_my_gtid_covers("0-1-x", "0-1-1"), -1);
    assert_int_equal(sl_my_gtid_covers("0-1-5", "0-1-1,1-1-1"), -1);   /* not one GTID */
    assert_int_equal(sl_my_gtid_covers("0-1-5", ""), -1);
    assert_int_equal(sl_my_gtid_covers(NULL, "0-1-1"), -1);
}

static void test_states_agree_when_shared_domains_have_the_same_gtid(void **st)
{
    (void)st;
    assert_true(sl_my_gtid_lists_agree("0-1-42", "0-1-42"));
    assert_true(sl_my_gtid_lists_agree("0-1-42,1-2-7", "1-2-7,0-1-42"));   /* any order */
    assert_true(sl_my_gtid_lists_agree("0-1-42,1-2-7", "0-1-42"));   /* domain only in one */
    assert_true(sl_my_gtid_lists_agree("5-1-1", "0-1-42"));          /* no shared domain */
    assert_true(sl_my_gtid_lists_agree("", ""));
    assert_false(sl_my_gtid_lists_agree("0-1-42", "0-1-43"));        /* behind / ahead */
    assert_false(sl_my_gtid_lists_agree("0-1-42", "0-2-42"));        /* another server */
    assert_false(sl_my_gtid_lists_agree("0-1-42,1-2-7", "1-2-8,0-1-42"));
    assert_false(sl_my_gtid_lists_agree("", "0-1-1"));   /* before any GTID vs after one */
    assert_false(sl_my_gtid_lists_agree("0-1-1", ""));
    assert_false(sl_my_gtid_lists_agree("0-1-x", "0-1-x"));          /* invalid never agrees */
    assert_false(sl_my_gtid_lists_agree(NULL, "0-1-1"));
}

static void test_server_refusals_are_classified_by_their_text(void **st)
{
    (void)st;
    assert_int_equal(sl_my_gtid_error_kind(
                         "Error: connecting slave requested to start from GTID 0-1-99, which "
                         "is not in the master's binlog"),
                     SL_MY_GTID_ERR_GAP);
    assert_int_equal(sl_my_gtid_error_kind(
                         "Error: connecting slave requested to start from GTID 0-2-3, which is "
                         "not in the master's binlog. Since the master's binlog contains GTIDs "
                         "with higher sequence numbers, it probably means that the slave has "
                         "diverged due to executing extra erroneous transactions"),
                     SL_MY_GTID_ERR_DIVERGED);
    assert_int_equal(sl_my_gtid_error_kind(
                         "The binlog on the master is missing the GTID 0-1-5 requested by the "
                         "slave (even though both a prior and a subsequent sequence number does "
                         "exist), and GTID strict mode is enabled"),
                     SL_MY_GTID_ERR_GAP);
    assert_int_equal(sl_my_gtid_error_kind(
                         "Could not find GTID state requested by slave in any binlog files. "
                         "Probably the slave state is too old and required binlog files have "
                         "been purged."),
                     SL_MY_GTID_ERR_PURGED);
    assert_int_equal(sl_my_gtid_error_kind("Could not find first log file name in binary log "
                                           "index file"),
                     SL_MY_GTID_ERR_NONE);
    assert_int_equal(sl_my_gtid_error_kind(NULL), SL_MY_GTID_ERR_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_lists_are_domain_server_sequence_with_unique_domains),
        cmocka_unit_test(test_states_agree_when_shared_domains_have_the_same_gtid),
        cmocka_unit_test(test_a_state_covers_a_gtid_up_to_its_domains_sequence),
        cmocka_unit_test(test_server_refusals_are_classified_by_their_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
