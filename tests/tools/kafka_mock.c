/*
 * kafka_mock.c - a stand-alone Kafka broker for tests, the demo and the bench: librdkafka's
 * mock cluster (rd_kafka_mock_cluster_new) served on 127.0.0.1 for other processes.
 *
 *   build/tools/kafka_mock [-b BROKERS] [-t TOPIC:PARTITIONS]...
 *
 * Prints the bootstrap address ("127.0.0.1:PORT[,...]", random ports) as one line on
 * stdout once the cluster listens, then runs until SIGTERM or SIGINT. Control while it
 * runs, by signal (so a test needs nothing but the PID):
 *   SIGUSR1  every broker goes down: connections are closed and new ones refused
 *   SIGUSR2  every broker comes back up
 *   SIGHUP   the next EndTxn request (a transaction's commit or abort) fails with
 *            PRODUCER_FENCED, as when another producer took over the transactional.id
 *            (the mock does not fence by itself)
 * Each one is logged on stderr. Topics auto-create with 4 partitions; -t creates one
 * up front with another partition count (e.g. for spec.sharding.count > 4).
 *
 * Limits of the mock (librdkafka 2.0): no CreateTopics admin API, no log compaction, and
 * read_committed consumers also see messages of aborted transactions.
 *
 * Threads: the main thread only waits for signals (sigwaitinfo, all of them blocked before
 * librdkafka starts its threads); the cluster runs on librdkafka's own threads.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define KM_MAX_TOPICS 32
#define KM_APIKEY_ENDTXN 26   /* Kafka protocol EndTxnRequest */

static const char km_usage[] =
    "usage: kafka_mock [-b BROKERS] [-t TOPIC:PARTITIONS]...\n"
    "  -b N            number of brokers (default 1, at most 16)\n"
    "  -t NAME:COUNT   create topic NAME with COUNT partitions at start (repeatable)\n"
    "Prints the bootstrap servers on stdout, runs until SIGTERM/SIGINT.\n"
    "SIGUSR1 takes every broker down, SIGUSR2 brings them back up, SIGHUP fails the\n"
    "next EndTxn with PRODUCER_FENCED.\n";

typedef struct km_topic {
    char *name;
    int   partitions;
} km_topic_t;

/* Broker sockets get TCP_NODELAY, as a real Kafka broker's do. Without it the mock's
 * second of two back-to-back responses (librdkafka sends one produce request per
 * partition) waits for the client's delayed ACK, about 40 ms, and every flush of a
 * multi-partition batch stalls that long. The mock has no option for it and accepts with
 * accept(2), so this executable interposes accept (librdkafka's reference binds to it). */
int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    int s = (int)syscall(SYS_accept4, fd, addr, addrlen, 0);
    if (s >= 0) {
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));   /* TCP only */
    }
    return s;
}

static int km_parse_int(const char *s, int min, int max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return -1;
    return (int)v;
}

int main(int argc, char **argv)
{
    km_topic_t topics[KM_MAX_TOPICS];
    int ntopics = 0, brokers = 1, opt;
    char errstr[512];

    while ((opt = getopt(argc, argv, "b:t:h")) != -1) {
        switch (opt) {
        case 'b':
            brokers = km_parse_int(optarg, 1, 16);
            if (brokers < 0) {
                fprintf(stderr, "kafka_mock: -b wants 1..16\n%s", km_usage);
                return 2;
            }
            break;
        case 't': {
            char *colon = strrchr(optarg, ':');
            int n = colon ? km_parse_int(colon + 1, 1, 1000) : -1;
            if (!colon || colon == optarg || n < 0 || ntopics == KM_MAX_TOPICS) {
                fprintf(stderr, "kafka_mock: bad -t %s (want NAME:PARTITIONS)\n%s", optarg,
                        km_usage);
                return 2;
            }
            *colon = '\0';
            topics[ntopics].name = optarg;
            topics[ntopics].partitions = n;
            ntopics++;
            break;
        }
        case 'h':
            fputs(km_usage, stdout);
            return 0;
        default:
            fputs(km_usage, stderr);
            return 2;
        }
    }

    /* Block the control signals before librdkafka creates threads, so only
     * sigwaitinfo below ever sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The cluster needs an rd_kafka_t for its bookkeeping; this producer never sends. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 0; i < ntopics; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
            mc, topics[i].name, topics[i].partitions, brokers < 3 ? brokers : 3);
        if (err) {
            fprintf(stderr, "kafka_mock: create topic %s: %s\n", topics[i].name,
                    rd_kafka_err2str(err));
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return 1;
        }
    }

    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    fprintf(stderr, "kafka_mock: %d broker(s) at %s (pid %d)\n", brokers,
            rd_kafka_mock_cluster_bootstraps(mc), (int)getpid());

    int rc = 0;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        if (sig < 0) {
            if (errno == EINTR) continue;
            perror("kafka_mock: sigwaitinfo");
            rc = 1;
            break;
        }
        if (sig == SIGHUP) {
            rd_kafka_mock_push_request_errors(mc, KM_APIKEY_ENDTXN, 1,
                                              RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
            fprintf(stderr, "kafka_mock: next EndTxn fails with PRODUCER_FENCED\n");
            continue;
        }
        if (sig == SIGUSR1 || sig == SIGUSR2) {
            bool down = sig == SIGUSR1;
            for (int id = 1; id <= brokers; id++) {
                rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(mc, id)
                                               : rd_kafka_mock_broker_set_up(mc, id);
                if (err)
                    fprintf(stderr, "kafka_mock: broker %d: %s\n", id, rd_kafka_err2str(err));
            }
            fprintf(stderr, "kafka_mock: brokers %s\n", down ? "down" : "up");
            continue;
        }
        fprintf(stderr, "kafka_mock: %s, exiting\n", strsignal(sig));
        break;
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return rc;
}
