/* Identifiers and identity checks shared by producers and workers. */
#ifndef IMGASSURE_IDS_H
#define IMGASSURE_IDS_H

#include <stddef.h>

#define UUID_TEXT_SIZE 37

/* Writes a random (version 4) UUID in its 36-character text form.
 * Returns 0, or -1 when the system has no randomness to give. */
int uuid_generate_text(char out[UUID_TEXT_SIZE]);

/* Returns 1 when name is a valid account or environment id: 1 to 128
 * characters from [A-Za-z0-9._-]. Redis keys embed these in a hash tag,
 * so braces and colons must never reach them. */
int ids_valid_name(const char *name);

#endif
