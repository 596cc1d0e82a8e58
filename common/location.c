#include "location.h"

#include <stdio.h>

static int fits(int written, size_t out_size)
{
    return written >= 0 && (size_t)written < out_size ? 0 : -1;
}

int location_format_key(const struct image_location *image, char *out,
                        size_t out_size)
{
    if (image->digest != NULL)
        return fits(snprintf(out, out_size, "%s/%s/%s", image->account,
                             image->environment_id, image->digest),
                    out_size);
    return fits(snprintf(out, out_size, "%s/%s/%s/%s:%s", image->account,
                         image->environment_id, image->registry,
                         image->repository, image->tag ? image->tag : "latest"),
                out_size);
}

int location_format_reference(const struct image_location *image, char *out,
                              size_t out_size)
{
    return fits(snprintf(out, out_size, "%s/%s%s%s%s%s", image->registry,
                         image->repository, image->tag ? ":" : "",
                         image->tag ? image->tag : "", image->digest ? "@" : "",
                         image->digest ? image->digest : ""),
                out_size);
}
