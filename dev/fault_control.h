/*
 * The dev broker's fault-injection channel: a line protocol on a TCP port
 * of 127.0.0.1 that maps each command to one call of librdkafka's mock
 * cluster API, so tests can fail the cluster under running clients.
 *
 *   down BROKER                  rd_kafka_mock_broker_set_down
 *   up BROKER                    rd_kafka_mock_broker_set_up
 *   rtt BROKER MILLISECONDS      rd_kafka_mock_broker_set_rtt
 *   errors REQUEST COUNT ERROR   rd_kafka_mock_push_request_errors
 *
 * BROKER is a broker id or "all"; REQUEST a request name (produce, fetch,
 * offsetcommit, heartbeat, ...) or API key; ERROR a Kafka error name
 * (REQUEST_TIMED_OUT, _TRANSPORT, ...) or code. Each line is answered
 * with "ok" or "error: REASON".
 */
#ifndef IMGASSURE_FAULT_CONTROL_H
#define IMGASSURE_FAULT_CONTROL_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>

/* Runs one command line against the cluster and writes the reply (no
 * newline) into reply. Returns 0 when the command took effect. */
int fault_control_execute(rd_kafka_mock_cluster_t *cluster, const char *line,
                          char *reply, size_t reply_size);

/* Listens on 127.0.0.1 on a port the kernel picks. Returns the socket and
 * sets *port, or returns -1 with the reason in errbuf. */
int fault_control_listen(int *port, char *errbuf, size_t errbuf_size);

/* Serves one connection: replies to each of its lines until the client
 * closes it or sends nothing for a few seconds. */
void fault_control_serve(rd_kafka_mock_cluster_t *cluster, int client);

#endif
