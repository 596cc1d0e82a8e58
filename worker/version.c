#include "version.h"

#include <assert.h>
#include <stddef.h>

#include "version_internal.h"

int version_compare(enum version_scheme scheme, const char *a, const char *b)
{
    assert(a != NULL);
    assert(b != NULL);

    switch (scheme) {
    case VERSION_SCHEME_DPKG:
        return version_dpkg_compare(a, b);
    case VERSION_SCHEME_APK:
        return version_apk_compare(a, b);
    case VERSION_SCHEME_RPM:
        return version_rpm_compare(a, b);
    }
    assert(!"unknown version scheme");
    return 0;
}

int version_valid(enum version_scheme scheme, const char *text)
{
    if (text == NULL)
        return 0;

    switch (scheme) {
    case VERSION_SCHEME_DPKG:
        return version_dpkg_valid(text);
    case VERSION_SCHEME_APK:
        return version_apk_valid(text);
    case VERSION_SCHEME_RPM:
        return version_rpm_valid(text);
    }
    return 0;
}
