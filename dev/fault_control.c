#include "fault_control.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* A client that stays silent this long is dropped, so one stuck test
 * cannot block the channel for the next. */
#define CLIENT_IDLE_S 5

#define MAX_LINE 256
#define MAX_PUSHED_ERRORS 1000

static const struct {
    const char *name;
    int16_t key;
} request_names[] = {
    {"produce", 0},          {"fetch", 1},        {"listoffsets", 2},
    {"metadata", 3},         {"offsetcommit", 8}, {"offsetfetch", 9},
    {"findcoordinator", 10}, {"joingroup", 11},   {"heartbeat", 12},
    {"leavegroup", 13},      {"syncgroup", 14},   {"initproducerid", 22},
};

static int parse_number(const char *text, long min, long max, long *value)
{
    char *end = NULL;

    errno = 0;
    *value = strtol(text, &end, 10);
    return errno == 0 && end != text && *end == '\0' && *value >= min &&
                   *value <= max
               ? 0
               : -1;
}

static int parse_broker(const char *text, int32_t *broker)
{
    long value;

    if (strcmp(text, "all") == 0) {
        *broker = -1;
        return 0;
    }
    if (parse_number(text, 0, INT32_MAX, &value) != 0)
        return -1;
    *broker = (int32_t)value;
    return 0;
}

static int parse_request(const char *text, int16_t *key)
{
    long value;

    for (size_t i = 0; i < COUNT(request_names); i++) {
        if (strcasecmp(text, request_names[i].name) == 0) {
            *key = request_names[i].key;
            return 0;
        }
    }
    if (parse_number(text, 0, INT16_MAX, &value) != 0)
        return -1;
    *key = (int16_t)value;
    return 0;
}

static int parse_error(const char *text, rd_kafka_resp_err_t *error)
{
    const struct rd_kafka_err_desc *descriptions;
    size_t count;
    long value;

    if (parse_number(text, -200, 1000, &value) == 0) {
        *error = (rd_kafka_resp_err_t)value;
        return 0;
    }
    rd_kafka_get_err_descs(&descriptions, &count);
    for (size_t i = 0; i < count; i++) {
        if (descriptions[i].name != NULL &&
            strcasecmp(text, descriptions[i].name) == 0) {
            *error = descriptions[i].code;
            return 0;
        }
    }
    return -1;
}

static int push_errors(rd_kafka_mock_cluster_t *cluster, char **words,
                       int word_count, char *reply, size_t reply_size)
{
    rd_kafka_resp_err_t *errors, error;
    int16_t key;
    long count;

    if (word_count != 4 || parse_request(words[1], &key) != 0 ||
        parse_number(words[2], 1, MAX_PUSHED_ERRORS, &count) != 0 ||
        parse_error(words[3], &error) != 0) {
        snprintf(reply, reply_size,
                 "error: usage: errors REQUEST COUNT(1-%d) ERROR",
                 MAX_PUSHED_ERRORS);
        return -1;
    }
    errors = malloc((size_t)count * sizeof(*errors));
    if (errors == NULL) {
        snprintf(reply, reply_size, "error: out of memory");
        return -1;
    }
    for (long i = 0; i < count; i++)
        errors[i] = error;
    rd_kafka_mock_push_request_errors_array(cluster, key, (size_t)count,
                                            errors);
    free(errors);
    snprintf(reply, reply_size, "ok");
    return 0;
}

static int set_broker(rd_kafka_mock_cluster_t *cluster, char **words,
                      int word_count, char *reply, size_t reply_size)
{
    rd_kafka_resp_err_t error;
    int32_t broker;
    long rtt_ms = 0;
    int is_rtt = strcmp(words[0], "rtt") == 0;

    if (word_count != (is_rtt ? 3 : 2) ||
        parse_broker(words[1], &broker) != 0 ||
        (is_rtt && parse_number(words[2], 0, 600000, &rtt_ms) != 0)) {
        snprintf(reply, reply_size, "error: usage: %s",
                 is_rtt ? "rtt BROKER|all MILLISECONDS(0-600000)"
                        : "down|up BROKER|all");
        return -1;
    }
    if (is_rtt)
        error = rd_kafka_mock_broker_set_rtt(cluster, broker, (int)rtt_ms);
    else if (strcmp(words[0], "down") == 0)
        error = rd_kafka_mock_broker_set_down(cluster, broker);
    else
        error = rd_kafka_mock_broker_set_up(cluster, broker);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(reply, reply_size, "error: %s", rd_kafka_err2str(error));
        return -1;
    }
    snprintf(reply, reply_size, "ok");
    return 0;
}

int fault_control_execute(rd_kafka_mock_cluster_t *cluster, const char *line,
                          char *reply, size_t reply_size)
{
    char copy[MAX_LINE], *words[5], *save = NULL;
    int word_count = 0;

    snprintf(copy, sizeof(copy), "%s", line);
    for (char *word = strtok_r(copy, " \t\r\n", &save);
         word != NULL && word_count < (int)COUNT(words);
         word = strtok_r(NULL, " \t\r\n", &save))
        words[word_count++] = word;

    if (word_count == 0) {
        snprintf(reply, reply_size, "error: empty command");
        return -1;
    }
    if (strcmp(words[0], "down") == 0 || strcmp(words[0], "up") == 0 ||
        strcmp(words[0], "rtt") == 0)
        return set_broker(cluster, words, word_count, reply, reply_size);
    if (strcmp(words[0], "errors") == 0)
        return push_errors(cluster, words, word_count, reply, reply_size);
    snprintf(reply, reply_size,
             "error: unknown command \"%.32s\": expected down, up, rtt or "
             "errors",
             words[0]);
    return -1;
}

int fault_control_listen(int *port, char *errbuf, size_t errbuf_size)
{
    struct sockaddr_in address;
    socklen_t length = sizeof(address);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener < 0 ||
        bind(listener, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(listener, 4) != 0 ||
        getsockname(listener, (struct sockaddr *)&address, &length) != 0) {
        snprintf(errbuf, errbuf_size, "control socket on 127.0.0.1: %s",
                 strerror(errno));
        if (listener >= 0)
            close(listener);
        return -1;
    }
    *port = ntohs(address.sin_port);
    return listener;
}

/* Writes the whole reply and a newline; a client gone mid-reply is left. */
static void send_reply(int client, const char *reply)
{
    char line[MAX_LINE + 2];
    int length = snprintf(line, sizeof(line), "%s\n", reply);

    for (int sent = 0; sent < length;) {
        ssize_t written =
            send(client, line + sent, (size_t)(length - sent), MSG_NOSIGNAL);

        if (written <= 0)
            return;
        sent += (int)written;
    }
}

void fault_control_serve(rd_kafka_mock_cluster_t *cluster, int client)
{
    struct timeval idle = {CLIENT_IDLE_S, 0};
    char buffer[MAX_LINE], reply[MAX_LINE];
    size_t used = 0;

    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
    for (;;) {
        ssize_t got = recv(client, buffer + used, sizeof(buffer) - 1 - used, 0);
        char *newline;

        if (got <= 0)
            return;
        used += (size_t)got;
        buffer[used] = '\0';
        while ((newline = strchr(buffer, '\n')) != NULL) {
            *newline = '\0';
            fault_control_execute(cluster, buffer, reply, sizeof(reply));
            send_reply(client, reply);
            used -= (size_t)(newline + 1 - buffer);
            memmove(buffer, newline + 1, used + 1);
        }
        if (used == sizeof(buffer) - 1) {
            send_reply(client, "error: line too long");
            return;
        }
    }
}
