#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define OFFSET_FILE_VARIABLE "IMGASSURE_TEST_CLOCK_OFFSET_FILE"

/* Reads the test offset; 0 when no file is named or it does not parse. */
static int64_t test_offset_ms(void)
{
    const char *path = getenv(OFFSET_FILE_VARIABLE);
    char text[32];
    ssize_t length;
    char *end;
    long long offset;
    int fd;

    if (path == NULL || *path == '\0')
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    length = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (length <= 0)
        return 0;
    text[length] = '\0';

    errno = 0;
    offset = strtoll(text, &end, 10);
    if (errno != 0 || end == text)
        return 0;
    return offset;
}

int64_t clock_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
           test_offset_ms();
}

int64_t clock_monotonic_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
