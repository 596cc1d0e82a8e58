/* Naming an image location the same way in every topic and program. */
#ifndef IMGASSURE_LOCATION_H
#define IMGASSURE_LOCATION_H

#include "event.h"

#include <stddef.h>

/*
 * Writes the Kafka message key of an image: "account/environment/digest",
 * or "account/environment/registry/repository:tag" while the digest is
 * unknown, so that one image's events share a partition. Returns 0, or -1
 * when it does not fit.
 */
int location_format_key(const struct image_location *image, char *out,
                        size_t out_size);

/* Writes "registry/repository[:tag][@digest]". Returns 0, or -1 when it does
 * not fit. */
int location_format_reference(const struct image_location *image, char *out,
                              size_t out_size);

#endif
