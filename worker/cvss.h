/*
 * CVSS v3.0 and v3.1 base scores, computed from a vector string with the
 * formulas of FIRST's CVSS v3.0 and v3.1 specification documents.
 *
 * A vector is "CVSS:3.0/" or "CVSS:3.1/" followed by metric:value pairs
 * separated by '/'. All eight base metrics (AV AC PR UI S C I A) must be
 * present. Temporal (E RL RC) and environmental (CR IR AR MAV MAC MPR MUI
 * MS MC MI MA) metrics may be present and their values are checked, but
 * only the base score is computed. Metrics may come in any order, as real
 * records write them (CVE-2021-28831's CNA starts with "AC:L/AV:N"), but
 * none may repeat.
 *
 * All functions are thread-safe and allocate nothing.
 */
#ifndef IMGASSURE_CVSS_H
#define IMGASSURE_CVSS_H

#include <stddef.h>

/* Maximum vector length accepted. A vector with every base, temporal and
 * environmental metric and the prefix is about 110 bytes. */
#define CVSS_MAX_VECTOR_BYTES 256

enum cvss_version {
    CVSS_V3_0,
    CVSS_V3_1,
};

/* The qualitative severity rating scale of the specification. */
enum cvss_rating {
    CVSS_RATING_NONE,     /* 0.0 */
    CVSS_RATING_LOW,      /* 0.1 to 3.9 */
    CVSS_RATING_MEDIUM,   /* 4.0 to 6.9 */
    CVSS_RATING_HIGH,     /* 7.0 to 8.9 */
    CVSS_RATING_CRITICAL, /* 9.0 to 10.0 */
};

struct cvss_score {
    enum cvss_version version;
    /* The base score in tenths (0 to 100), so that 7.5 is 75. Integers
     * compare exactly, where the double 7.5 might not after arithmetic. */
    int base_tenths;
    enum cvss_rating rating;
};

/*
 * Parses a CVSS v3.0 or v3.1 vector and computes its base score.
 * Returns 0 and fills *score, or -1 with the reason in errbuf when the
 * vector has another prefix, a missing base metric, a repeated metric, an
 * unknown metric or value, an empty component, or is longer than
 * CVSS_MAX_VECTOR_BYTES.
 */
int cvss_score_vector(const char *vector, struct cvss_score *score,
                      char *errbuf, size_t errbuf_size);

/*
 * Rounds value up to one decimal and returns the result in tenths. v3.1
 * uses its integer-based Roundup, which absorbs floating-point error, so
 * 4.000000000000001 gives 40. v3.0 computes ceil(value * 10) in floating
 * point, which gives 41 there. No base score differs between the two, as
 * tests/unit/test_cvss.c checks for all 2592 base vectors.
 */
int cvss_roundup_tenths(enum cvss_version version, double value);

/* Returns the rating of a score given in tenths (0 to 100). */
enum cvss_rating cvss_rating_from_tenths(int tenths);

/* Returns "None", "Low", "Medium", "High" or "Critical", or NULL for a
 * value outside the enum. */
const char *cvss_rating_name(enum cvss_rating rating);

#endif
