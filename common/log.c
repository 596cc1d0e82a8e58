#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char program_name[64] = "imgassure";
static int lowest_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* A loop that fails the same way every millisecond writes its line once a
 * second plus a count: identical lines within one second are suppressed. */
static char last_line[1024];
static time_t last_second;
static unsigned long suppressed;

void log_setup(const char *program, int min_level)
{
    snprintf(program_name, sizeof(program_name), "%s", program);
    lowest_level = min_level;
}

static const char *level_name(int level)
{
    switch (level) {
    case LOG_EMERG:
    case LOG_ALERT:
    case LOG_CRIT:
        return "CRIT";
    case LOG_ERR:
        return "ERROR";
    case LOG_WARNING:
        return "WARN";
    case LOG_NOTICE:
        return "NOTICE";
    case LOG_INFO:
        return "INFO";
    default:
        return "DEBUG";
    }
}

static void write_timestamp(FILE *out)
{
    struct timespec now;
    struct tm parts;
    char text[32];

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &parts);
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &parts);
    fprintf(out, "%s.%03ldZ ", text, now.tv_nsec / 1000000);
}

void log_write(int level, const char *facility, const char *format, ...)
{
    char line[1024];
    va_list args;
    time_t now = time(NULL);

    if (level > lowest_level)
        return;

    va_start(args, format);
    vsnprintf(line, sizeof(line), format, args);
    va_end(args);

    pthread_mutex_lock(&log_lock);
    if (now == last_second && strcmp(line, last_line) == 0) {
        suppressed++;
        pthread_mutex_unlock(&log_lock);
        return;
    }
    if (suppressed > 0) {
        write_timestamp(stderr);
        fprintf(stderr, "%s %s %s previous line repeated %lu times\n",
                program_name, level_name(level), facility, suppressed);
        suppressed = 0;
    }
    snprintf(last_line, sizeof(last_line), "%s", line);
    last_second = now;

    write_timestamp(stderr);
    fprintf(stderr, "%s %s %s %s\n", program_name, level_name(level), facility,
            line);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
