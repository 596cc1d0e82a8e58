/*
 * faults-publish: publishes COUNT scan requests through the producer
 * library, cycling over the images given, and prints "REQUEST_ID IMAGE"
 * per request once Kafka acknowledged every one of them. The fault suite
 * uses it because a process per request would take minutes for a
 * thousand.
 *
 * usage: faults-publish COUNT WAVE IMAGE... (IMGASSURE_BROKERS is read)
 */
#include "imgassure.h"

#include <stdio.h>
#include <stdlib.h>

#define ACCOUNTS 10

int main(int argc, char **argv)
{
    const char *brokers = getenv("IMGASSURE_BROKERS");
    imgassure_producer_t *producer;
    char errbuf[512], account[32], (*ids)[40];
    long count;

    if (argc < 4 || brokers == NULL || (count = atol(argv[1])) <= 0) {
        fprintf(stderr, "usage: IMGASSURE_BROKERS=... faults-publish COUNT "
                        "WAVE IMAGE...\n");
        return 2;
    }
    producer =
        imgassure_producer_new(brokers, NULL, NULL, 0, errbuf, sizeof(errbuf));
    ids = calloc((size_t)count, sizeof(*ids));
    if (producer == NULL || ids == NULL) {
        fprintf(stderr, "faults-publish: %s\n",
                producer ? "out of memory" : errbuf);
        return 1;
    }

    for (long i = 0; i < count; i++) {
        struct imgassure_image image = {
            .account = account,
            .environment_id = argv[2],
            .environment_kind = "KUBERNETES",
            .reference = argv[3 + i % (argc - 3)],
        };

        snprintf(account, sizeof(account), "faults-%ld", i % ACCOUNTS);
        if (imgassure_request_scan(producer, &image, ids[i], sizeof(ids[i]),
                                   errbuf, sizeof(errbuf)) != 0) {
            fprintf(stderr, "faults-publish: request %ld: %s\n", i, errbuf);
            return 1;
        }
    }
    if (imgassure_producer_flush(producer, 120000, errbuf, sizeof(errbuf)) !=
        0) {
        fprintf(stderr, "faults-publish: %s\n", errbuf);
        return 1;
    }
    for (long i = 0; i < count; i++)
        printf("%s %s\n", ids[i], argv[3 + i % (argc - 3)]);
    imgassure_producer_free(producer);
    free(ids);
    return 0;
}
