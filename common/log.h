/*
 * One logger for every imgassure program: syslog levels, a facility tag,
 * one line per event on stderr. Libraries report errors through errbuf and
 * never call this; programs do.
 */
#ifndef IMGASSURE_LOG_H
#define IMGASSURE_LOG_H

#include <syslog.h>

/* Sets the lowest level written (LOG_INFO by default, LOG_DEBUG enables
 * debug lines) and the program name printed on every line. */
void log_setup(const char *program, int min_level);

/* Writes one line: "<time> <program> <LEVEL> <FACILITY> message".
 * A line identical to the previous one within the same second is counted,
 * not written, and the count is written with the next line. Thread-safe. */
void log_write(int level, const char *facility, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

#endif
