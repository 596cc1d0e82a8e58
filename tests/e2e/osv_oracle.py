#!/usr/bin/python3
"""Recompute the vulnerability findings of one imgassure scan result.

usage: osv_oracle.py [-v] RESULT_JSON OSV_DIR
       osv_oracle.py --self-test

RESULT_JSON is one scan result object as printed by
`imgassure results --json` ("-" reads standard input). OSV_DIR is a directory
tree of OSV records (*.json). The script derives the OSV ecosystem from the
result's "os" (alpine 3.10.4 gives Alpine:v3.10, debian 12 gives Debian:12).
It looks every package up by its source package (Alpine origin, Debian
Source) at the source version, else by the package's own name and version,
and evaluates the records itself. A record whose id is not a CVE id counts
once for each CVE id in its "upstream" and "aliases" (its own id when there
is none). Withdrawn records are ignored, only ECOSYSTEM ranges are
evaluated, and records that are not valid OSV are skipped with a warning.
The resulting set of (CVE, binary package) pairs is compared with the
result's findings, which must not repeat a pair.

Exit status: 0 when both sets are equal, 1 when they differ, 2 on invalid
input or usage.

The matching here is written from public documentation only, independently
of the C worker, so that both can be checked against each other:
  - OSV evaluation: the IsVulnerable pseudocode of the OSV schema
    (ossf/osv-schema, docs/schema.md, section "Evaluation").
  - Debian ordering: deb-version(7) of dpkg; --self-test also checks it
    against `dpkg --compare-versions` where dpkg is installed.
  - Alpine ordering: apk's version format (numbers, letter, _suffixes, -rN)
    as described below; --self-test includes a selection of the examples in
    apk-tools' test/version.data (alpinelinux/apk-tools).
"""

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys

MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_RESULT_BYTES = 256 * 1024 * 1024
MAX_RECORD_FILES = 2_000_000
MAX_VERSION_LENGTH = 1024

CVE_ID = re.compile(r"^CVE-[0-9]{4}-[0-9]{4,}$")


class InputError(Exception):
    """An input that the oracle cannot evaluate."""


def compare_text(left, right):
    return (left > right) - (left < right)


# ---------------------------------------------------------------------------
# Debian: deb-version(7). A version is [epoch:]upstream[-revision]. Epochs
# compare as integers. Upstream and revision are each compared as alternating
# runs of non-digits and digits. Non-digit runs compare character by
# character, where '~' sorts before everything (even the end of the run), the
# end of the run before letters, and letters before all other characters.
# Digit runs compare as integers, an empty run counting as 0. A missing
# revision compares like "0".
# ---------------------------------------------------------------------------


def debian_char_weight(char):
    if char == "~":
        return -1
    if "A" <= char <= "Z" or "a" <= char <= "z":
        return ord(char)
    return ord(char) + 256


def debian_runs(text):
    """Split text into (non-digit weights, digit value) pairs."""
    runs = []
    for letters, digits in re.findall(r"([^0-9]*)([0-9]*)", text):
        if not letters and not digits:
            continue
        weights = [debian_char_weight(char) for char in letters]
        weights.append(0)
        runs.append((weights, int(digits) if digits else 0))
    return runs


def debian_compare_part(left, right):
    left_runs = debian_runs(left)
    right_runs = debian_runs(right)
    empty = ([0], 0)
    for index in range(max(len(left_runs), len(right_runs))):
        left_run = left_runs[index] if index < len(left_runs) else empty
        right_run = right_runs[index] if index < len(right_runs) else empty
        if left_run[0] != right_run[0]:
            return -1 if left_run[0] < right_run[0] else 1
        if left_run[1] != right_run[1]:
            return -1 if left_run[1] < right_run[1] else 1
    return 0


def debian_split(version):
    text = version.strip()
    if not text or len(text) > MAX_VERSION_LENGTH:
        raise InputError(f"invalid Debian version {version!r}")
    epoch = 0
    if ":" in text:
        epoch_text, text = text.split(":", 1)
        if not epoch_text.isascii() or not epoch_text.isdigit():
            raise InputError(
                f"invalid Debian version {version!r}: epoch is not a number"
            )
        epoch = int(epoch_text)
    revision = ""
    if "-" in text:
        text, revision = text.rsplit("-", 1)
    if not text:
        raise InputError(
            f"invalid Debian version {version!r}: empty upstream version"
        )
    return epoch, text, revision


def debian_compare(left, right):
    left_epoch, left_upstream, left_revision = debian_split(left)
    right_epoch, right_upstream, right_revision = debian_split(right)
    if left_epoch != right_epoch:
        return -1 if left_epoch < right_epoch else 1
    result = debian_compare_part(left_upstream, right_upstream)
    if result:
        return result
    return debian_compare_part(left_revision, right_revision)


# ---------------------------------------------------------------------------
# Alpine: a version is numbers separated by dots, an optional lowercase
# letter, any number of suffixes, an optional ~hash and an optional -rN
# package release. The suffixes _alpha, _beta, _pre and _rc mark
# pre-releases and sort before the plain version, _cvs, _svn, _git, _hg and
# _p sort after it, each kind in that order and each with an optional
# number. Comparison goes part by part:
#   - numbers one by one. The first compares as an integer. A later one with
#     leading zeros sorts below one without, fewer zeros above more, then by
#     its remaining digits (1.0 < 1.05 < 1.1, 1.002 < 1.01). Where the shared
#     numbers are equal, fewer numbers sort lower (1.2 < 1.2.0).
#   - a letter above no letter (1.0 < 1.0a < 1.0.1).
#   - suffixes pairwise by kind, then number, where no number sorts below 0.
#     An extra suffix sorts lower when it marks a pre-release and higher
#     otherwise (1.0_alpha_pre2 < 1.0_alpha < 1.0 < 1.0_p1).
#   - the release, where none sorts below -r0.
# A string that does not fit is compared by its longest fitting prefix, then
# by the rest as plain text (1.0 < 1.0bc, 23_foo > 4_beta, as apk orders
# them). A string with no fitting prefix sorts below every version.
# NOTE: leading-zero cases beyond apk-tools' examples (such as 1.020 against
# 1.02) are not checked against apk itself.
# ---------------------------------------------------------------------------

ALPINE_SUFFIX_RANK = {
    "alpha": -4,
    "beta": -3,
    "pre": -2,
    "rc": -1,
    "cvs": 1,
    "svn": 2,
    "git": 3,
    "hg": 4,
    "p": 5,
}

ALPINE_VERSION = re.compile(
    r"(?P<numbers>[0-9]+(?:\.[0-9]+)*)"
    r"(?P<letter>[a-z])?"
    r"(?P<suffixes>(?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*)"
    r"(?:~(?P<hash>[0-9a-f]+))?"
    r"(?:-r(?P<release>[0-9]+))?"
)
ALPINE_SUFFIX = re.compile(r"_([a-z]+)([0-9]*)")

# Stand-ins for a part one version lacks. Numbers are (-zeros, digits) or
# (0, value), so a missing number sorts below all of them. Present suffixes
# never have rank 0.
ALPINE_MISSING_NUMBER = (-(MAX_VERSION_LENGTH + 1), -1)
ALPINE_MISSING_SUFFIX = (0, -1)
ALPINE_ABSENT = -1


def alpine_number_key(text, first):
    if first or not text.startswith("0"):
        return (0, int(text))
    digits = text.lstrip("0")
    zeros = len(text) - len(digits)
    return (-zeros, int(digits) if digits else ALPINE_ABSENT)


def alpine_key(version):
    """Return (comparable parts or None, text that does not fit)."""
    if len(version) > MAX_VERSION_LENGTH:
        raise InputError(f"invalid Alpine version {version!r}: too long")
    match = ALPINE_VERSION.match(version)
    if not match:
        return None, version

    numbers = [
        alpine_number_key(text, index == 0)
        for index, text in enumerate(match.group("numbers").split("."))
    ]
    letter = match.group("letter")
    suffixes = [
        (ALPINE_SUFFIX_RANK[name], int(number) if number else ALPINE_ABSENT)
        for name, number in ALPINE_SUFFIX.findall(match.group("suffixes"))
    ]
    release = match.group("release")
    parts = (
        numbers,
        ord(letter) if letter else ALPINE_ABSENT,
        suffixes,
        match.group("hash") or "",
        int(release) if release else ALPINE_ABSENT,
    )
    return parts, version[match.end():]


def compare_sequences(left, right, missing):
    for index in range(max(len(left), len(right))):
        left_item = left[index] if index < len(left) else missing
        right_item = right[index] if index < len(right) else missing
        if left_item != right_item:
            return -1 if left_item < right_item else 1
    return 0


def alpine_compare(left, right):
    left_parts, left_rest = alpine_key(left)
    right_parts, right_rest = alpine_key(right)
    if left_parts is None or right_parts is None:
        if left_parts is not None:
            return 1
        if right_parts is not None:
            return -1
        return compare_text(left_rest, right_rest)

    left_numbers, left_letter, left_suffixes, left_hash, left_release = (
        left_parts
    )
    right_numbers, right_letter, right_suffixes, right_hash, right_release = (
        right_parts
    )
    result = compare_sequences(
        left_numbers, right_numbers, ALPINE_MISSING_NUMBER
    )
    if result:
        return result
    result = compare_text(left_letter, right_letter)
    if result:
        return result
    result = compare_sequences(
        left_suffixes, right_suffixes, ALPINE_MISSING_SUFFIX
    )
    if result:
        return result
    result = compare_text(left_hash, right_hash)
    if result:
        return result
    result = compare_text(left_release, right_release)
    if result:
        return result
    return compare_text(left_rest, right_rest)


# ---------------------------------------------------------------------------
# OSV evaluation.
# ---------------------------------------------------------------------------

EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


def ecosystem_of(os_info):
    """Return the OSV ecosystem and version comparison for an os object."""
    if not isinstance(os_info, dict):
        raise InputError('result has no "os" object (was the scan SCANNED?)')
    os_id = os_info.get("id")
    version_id = os_info.get("version_id") or ""
    if os_id == "alpine":
        match = re.match(r"^([0-9]+)\.([0-9]+)", version_id)
        if not match:
            raise InputError(
                f"invalid Alpine version_id {version_id!r}: "
                "expected MAJOR.MINOR[.PATCH]"
            )
        return f"Alpine:v{match.group(1)}.{match.group(2)}", alpine_compare
    if os_id == "debian":
        if not re.match(r"^[0-9]+$", version_id):
            raise InputError(
                f"invalid Debian version_id {version_id!r}: "
                "expected the release number, e.g. 12"
            )
        return f"Debian:{version_id}", debian_compare
    raise InputError(f"unsupported os id {os_id!r}: expected alpine or debian")


def list_field(container, name):
    """Return a list field, where a missing field or null means empty."""
    return container.get(name) or []


def event_of(event):
    """Return the (kind, version) of an event validated by check_record."""
    return next(iter(event.items()))


def describe_events(events):
    return ", ".join("{} {}".format(*event_of(event)) for event in events)


def is_before_limits(version, events, compare):
    limits = [event["limit"] for event in events if "limit" in event]
    if not limits:
        return True
    for limit in limits:
        if "*" in limit or compare(version, limit) < 0:
            return True
    return False


def sort_timeline(events, compare):
    """Sort the non-limit events by version, keeping ties in record order.

    "introduced": "0" sorts before every version.
    """

    def compare_events(left, right):
        left_kind, left_version = event_of(left)
        right_kind, right_version = event_of(right)
        left_zero = left_kind == "introduced" and left_version == "0"
        right_zero = right_kind == "introduced" and right_version == "0"
        if left_zero or right_zero:
            return right_zero - left_zero
        return compare(left_version, right_version)

    timeline = [event for event in events if "limit" not in event]
    return sorted(timeline, key=functools.cmp_to_key(compare_events))


def range_affects(version, events, compare):
    """Evaluate one ECOSYSTEM range as the OSV IsVulnerable pseudocode does."""
    if not is_before_limits(version, events, compare):
        return False
    affected = False
    for event in sort_timeline(events, compare):
        kind, bound = event_of(event)
        if kind == "introduced":
            if bound == "0" or compare(version, bound) >= 0:
                affected = True
        elif kind == "fixed":
            if compare(version, bound) >= 0:
                affected = False
        elif kind == "last_affected":
            if compare(version, bound) > 0:
                affected = False
    return affected


def affected_entry_reason(entry, version, compare, notes):
    """Return why version is affected by one affected[] entry, or None.

    A versions list matches a version that compares equal, so "1.0" in a
    Debian list matches "0:1.0".
    """
    for listed in list_field(entry, "versions"):
        if compare(version, listed) == 0:
            return f"versions lists {listed}"
    for osv_range in list_field(entry, "ranges"):
        if osv_range["type"] != "ECOSYSTEM":
            notes.add(f"{osv_range['type']} range ignored")
            continue
        events = osv_range["events"]
        if range_affects(version, events, compare):
            return f"range [{describe_events(events)}]"
    return None


def cve_ids_of(record):
    """Return the CVE ids of a record, else its own id."""
    record_id = record["id"]
    if CVE_ID.match(record_id):
        return [record_id]
    ids = []
    for field in ("upstream", "aliases"):
        for other in list_field(record, field):
            if CVE_ID.match(other) and other not in ids:
                ids.append(other)
    return ids or [record_id]


def check_string_list(record, field):
    values = list_field(record, field)
    if not isinstance(values, list) or not all(
        isinstance(value, str) for value in values
    ):
        raise InputError(f'"{field}" is not a list of strings')


def check_range(osv_range):
    if not isinstance(osv_range, dict):
        raise InputError("a range is not an object")
    if not isinstance(osv_range.get("type"), str):
        raise InputError("a range has no type")
    events = osv_range.get("events")
    if not isinstance(events, list) or not events:
        raise InputError("a range has no events")
    for event in events:
        if not isinstance(event, dict) or len(event) != 1:
            raise InputError(f"invalid event {event!r}: expected one key")
        kind, value = event_of(event)
        if kind not in EVENT_KINDS:
            raise InputError(f"unknown event {kind!r}")
        if not isinstance(value, str) or not value:
            raise InputError(f"invalid {kind} version {value!r}")
        if len(value) > MAX_VERSION_LENGTH:
            raise InputError(f"{kind} version longer than "
                             f"{MAX_VERSION_LENGTH} characters")


def check_record(record):
    """Raise InputError unless record has the OSV fields this script reads."""
    if not isinstance(record, dict):
        raise InputError("not a JSON object")
    if not isinstance(record.get("id"), str) or not record["id"]:
        raise InputError('no "id"')
    for field in ("upstream", "aliases"):
        check_string_list(record, field)
    affected = list_field(record, "affected")
    if not isinstance(affected, list):
        raise InputError('"affected" is not a list')
    for entry in affected:
        if not isinstance(entry, dict):
            raise InputError("an affected entry is not an object")
        package = entry.get("package")
        if not isinstance(package, dict) or not all(
            isinstance(package.get(key), str) for key in ("ecosystem", "name")
        ):
            raise InputError("an affected entry has no package ecosystem "
                             "and name")
        check_string_list(entry, "versions")
        ranges = list_field(entry, "ranges")
        if not isinstance(ranges, list):
            raise InputError('"ranges" is not a list')
        for osv_range in ranges:
            check_range(osv_range)


def read_record(path, counts):
    """Return the record in path, or None (with a warning) when invalid."""
    try:
        size = os.path.getsize(path)
        if size > MAX_RECORD_BYTES:
            raise InputError(f"{size} bytes, limit {MAX_RECORD_BYTES}")
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
        check_record(record)
    except (OSError, UnicodeDecodeError, ValueError, InputError) as error:
        warn(f"{path}: skipped: {error}")
        counts["invalid"] += 1
        return None
    return record


def load_records(osv_dir, ecosystem):
    """Index the affected entries naming ecosystem by package name."""
    if not os.path.isdir(osv_dir):
        raise InputError(f"OSV directory not found: {osv_dir}")
    by_package = {}
    counts = {"files": 0, "withdrawn": 0, "invalid": 0}
    for root, dirs, files in os.walk(osv_dir):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".json"):
                continue
            counts["files"] += 1
            if counts["files"] > MAX_RECORD_FILES:
                raise InputError(
                    f"more than {MAX_RECORD_FILES} records in {osv_dir}"
                )
            record = read_record(os.path.join(root, name), counts)
            if record is None:
                continue
            if record.get("withdrawn"):
                counts["withdrawn"] += 1
                continue
            for entry in list_field(record, "affected"):
                package = entry["package"]
                if package["ecosystem"] == ecosystem:
                    by_package.setdefault(package["name"], []).append(
                        (record, entry)
                    )
    return by_package, counts


def lookup_of(package):
    """Return (binary name, name and version to look up in the records).

    The source package is looked up where the result names one. A missing
    source version means the binary version, as in a dpkg Source field
    without a version.
    """
    if not isinstance(package, dict):
        raise InputError(f"invalid package {package!r}")
    name = package.get("name")
    version = package.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise InputError(f"package without name or version: {package!r}")
    for field in ("source_name", "source_version"):
        if not isinstance(package.get(field), (str, type(None))):
            raise InputError(f"package {name}: {field} is not a string")
    lookup_name = package.get("source_name") or name
    lookup_version = package.get("source_version") or version
    return name, lookup_name, lookup_version


def expected_pairs(packages, by_package, compare):
    """Map each expected (CVE, binary package) pair to its reasons."""
    expected = {}
    notes = set()
    for package in packages:
        binary, lookup_name, lookup_version = lookup_of(package)
        for record, entry in by_package.get(lookup_name, []):
            try:
                reason = affected_entry_reason(
                    entry, lookup_version, compare, notes
                )
            except InputError as error:
                raise InputError(f"record {record['id']}: {error}") from None
            if not reason:
                continue
            for cve in cve_ids_of(record):
                expected.setdefault((cve, binary), []).append(
                    f"{record['id']}: {lookup_name} {lookup_version} "
                    f"in {reason}"
                )
    return expected, notes


def why_not_expected(cve, binary, packages, by_package):
    """Explain why the oracle did not expect a reported pair."""
    matches = [
        package for package in packages if package.get("name") == binary
    ]
    if not matches:
        return "no package of that name in the result's package list"
    lines = []
    for package in matches:
        _, lookup_name, lookup_version = lookup_of(package)
        for record, entry in by_package.get(lookup_name, []):
            if cve not in cve_ids_of(record):
                continue
            ranges = [
                f"[{describe_events(osv_range['events'])}]"
                for osv_range in list_field(entry, "ranges")
            ]
            lines.append(
                f"{record['id']}: {lookup_name} {lookup_version} not in "
                + ("; ".join(ranges) or "any range")
            )
    if not lines:
        lines.append(f"no record of {cve} names the package in this "
                     "ecosystem")
    return "; ".join(lines)


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def warn(message):
    print(f"osv_oracle: warning: {message}", file=sys.stderr)


def read_result(path):
    """Read one result object, as plain JSON or as a single JSON line."""
    if path == "-":
        text = sys.stdin.read(MAX_RESULT_BYTES + 1)
    else:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_RESULT_BYTES + 1)
    if len(text) > MAX_RESULT_BYTES:
        raise InputError(f"{path}: larger than {MAX_RESULT_BYTES} bytes")
    try:
        objects = [json.loads(text)]
    except json.JSONDecodeError:
        try:
            objects = [
                json.loads(line) for line in text.splitlines() if line.strip()
            ]
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: invalid JSON: {error}") from None
    if len(objects) != 1:
        raise InputError(
            f"{path}: {len(objects)} results, expected one (select one with "
            "imgassure results --request-id or --image and --until-status "
            "SCANNED, then keep the last line)"
        )
    if not isinstance(objects[0], dict):
        raise InputError(f"{path}: not a JSON object")
    return objects[0]


def reported_pairs(result):
    """Count the result's findings by (id, package)."""
    findings = result.get("findings")
    if not isinstance(findings, list):
        raise InputError('result has no "findings" list')
    pairs = {}
    for finding in findings:
        if not isinstance(finding, dict):
            raise InputError(f"invalid finding {finding!r}")
        key = (str(finding.get("id")), str(finding.get("package")))
        pairs[key] = pairs.get(key, 0) + 1
    return pairs


def compare_result(result_path, osv_dir, verbose):
    result = read_result(result_path)
    if result.get("status") != "SCANNED":
        warn(f"result status is {result.get('status')!r}, not SCANNED")
    ecosystem, compare = ecosystem_of(result.get("os"))
    packages = result.get("packages")
    if not isinstance(packages, list):
        raise InputError('result has no "packages" list')

    by_package, counts = load_records(osv_dir, ecosystem)
    expected, notes = expected_pairs(packages, by_package, compare)
    reported = reported_pairs(result)

    print(
        f"ecosystem {ecosystem}: {len(packages)} packages, "
        f"{counts['files']} record files ({counts['withdrawn']} withdrawn, "
        f"{counts['invalid']} skipped as invalid)"
    )
    for note in sorted(notes):
        print(f"note: {note}")

    missing = sorted(set(expected) - set(reported))
    unexpected = sorted(set(reported) - set(expected))
    duplicated = sorted(pair for pair, count in reported.items() if count > 1)
    for cve, binary in missing:
        print(f"MISSING    {cve} {binary}: expected because "
              + "; ".join(expected[(cve, binary)]))
    for cve, binary in unexpected:
        print(f"UNEXPECTED {cve} {binary}: "
              + why_not_expected(cve, binary, packages, by_package))
    for cve, binary in duplicated:
        print(f"DUPLICATE  {cve} {binary}: reported "
              f"{reported[(cve, binary)]} times")
    if verbose:
        for pair in sorted(expected):
            print(f"expected   {pair[0]} {pair[1]}: "
                  + "; ".join(expected[pair]))

    if missing or unexpected or duplicated:
        print(
            f"differ: {len(expected)} expected, {len(reported)} reported, "
            f"{len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(duplicated)} duplicated (CVE, package) pairs"
        )
        return 1
    print(f"equal: {len(expected)} (CVE, package) pairs")
    return 0


# ---------------------------------------------------------------------------
# Self-test of the version orderings: documented examples, and dpkg itself
# where it is installed.
# ---------------------------------------------------------------------------

# Pairs in a < b, a = b or a > b order. Several are apk-tools' own examples
# (test/version.data); the first ones are the fixture images' boundaries.
ALPINE_CASES = [
    ("1.1.1d-r2", "<", "1.1.1d-r3"),
    ("1.1.1d-r3", "<", "1.1.1g-r0"),
    ("1.1.22-r3", "<", "1.1.22-r4"),
    ("1.30.1-r3", "<", "1.30.1-r5"),
    ("1.2.11-r1", "<", "1.2.11-r3"),
    ("1.0", ">", "1.0_rc1"),
    ("1.0_rc1", ">", "1.0_pre9"),
    ("1.0_pre1", ">", "1.0_beta9"),
    ("1.0_beta1", ">", "1.0_alpha9"),
    ("1.0", "<", "1.0_cvs"),
    ("1.0_cvs", "<", "1.0_svn"),
    ("1.0_svn", "<", "1.0_git"),
    ("1.0_git", "<", "1.0_hg"),
    ("1.0_hg", "<", "1.0_p"),
    ("1.0_p1", "<", "1.0_p2"),
    ("1.0_p9", "<", "1.0_p10"),
    ("1.3_alpha", "<", "1.3_alpha2"),
    ("0.1.0_alpha_pre2", "<", "0.1.0_alpha"),
    ("1.2.2-r1", ">", "1.2.2"),
    ("1.0-r0", ">", "1.0"),
    ("4.5_p1-r1", ">", "4.5_p1"),
    ("2.3.0b-r1", "<", "2.3.0b-r2"),
    ("2.5.1-r8", "<", "2.5.1a-r1"),
    ("1.7", "<", "1.7b"),
    ("1.0a", "<", "1.0.1"),
    ("1.2.1", ">", "1.2"),
    ("1.2.12.1", "<", "1.2.13"),
    ("1.06-r6", "<", "006"),
    ("4.01", "<", "4.20"),
    ("1.2.07.8", "<", "1.2.12.04"),
    ("1.07-r1", "<", "1.07.5"),
    ("3.0.20060720", "<", "20060720"),
    ("0.20070118", "<", "0.20070207_rc1"),
    ("1.0.0_pre20191002222144-r0", "<", "1.0.0_pre20210530193627-r0"),
    ("2.12r-r4", "<", "2.12r-r5"),
    ("1.0", "<", "1.0bc"),
    ("23_foo", ">", "4_beta"),
    ("1.1.24-r2", "=", "1.1.24-r2"),
]

DEBIAN_CASES = [
    ("1.0~rc1", "<", "1.0"),
    ("1.0", "<", "1.0+b1"),
    ("1.0~~", "<", "1.0~"),
    ("1.0~", "<", "1.0"),
    ("1.0", "<", "1.0a"),
    ("1.0a", "<", "1.0+"),
    ("1:1.0", ">", "2.0"),
    ("1.0", "=", "0:1.0"),
    ("1.0", "=", "1.0-0"),
    ("2.36-9+deb12u3", "<", "2.36-9+deb12u14"),
    ("2.36-9+deb12u14", ">", "2.36-9+deb12u7"),
    ("1:2.66-4+deb12u3+b1", ">", "1:2.66-4+deb12u3"),
    ("3.7.9-2+deb12u7", ">", "3.7.9-2+deb12u4"),
    ("1:1.2.13.dfsg-1+deb12u1", ">", "1:1.2.13.dfsg-1"),
    ("1.2-3-4", ">", "1.2-3"),
    ("10", ">", "9"),
    ("1.0-1~bpo1", "<", "1.0-1"),
]


def check_cases(name, compare, cases):
    failures = 0
    symbol = {-1: "<", 0: "=", 1: ">"}
    for left, expected, right in cases:
        forward = symbol[compare(left, right)]
        backward = symbol[compare(right, left)]
        mirrored = {"<": ">", ">": "<", "=": "="}[expected]
        if forward != expected or backward != mirrored:
            print(f"FAIL {name}: {left} {forward} {right}, "
                  f"expected {expected}")
            failures += 1
    return failures


def dpkg_differential():
    """Compare debian_compare with dpkg --compare-versions on a fixed list."""
    dpkg = shutil.which("dpkg")
    if not dpkg:
        print("skip dpkg differential: dpkg not installed")
        return 0
    parts = ["1.0", "1.0~rc1", "1.0+b1", "1:1.0", "1.0-1", "1.0-1~bpo1",
             "1.0a", "1.00", "1.0.0", "2:0.9", "1.0-1+deb12u2", "1.0-10",
             "1.0-9", "1.0~", "1.0~~", "1.a", "1.+", "1..0", "0:1.0-0",
             "2.36-9+deb12u14", "2.36-9+deb12u3", "1.0-a", "1.0-~"]
    failures = 0
    for left in parts:
        for right in parts:
            ours = debian_compare(left, right)
            for relation, holds in (("lt", ours < 0), ("eq", ours == 0)):
                status = subprocess.run(
                    [dpkg, "--compare-versions", left, relation, right],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=False,
                ).returncode
                if (status == 0) != holds:
                    print(f"FAIL dpkg differential: {left} {relation} "
                          f"{right}: dpkg {status == 0}, oracle {holds}")
                    failures += 1
    print(f"dpkg differential: {len(parts) ** 2} pairs checked")
    return failures


def check_evaluation():
    failures = 0
    introduced_0 = {"introduced": "0"}
    cases = [
        ([introduced_0, {"fixed": "1.0-r2"}], "1.0-r2", False),
        ([introduced_0, {"fixed": "1.0-r2"}], "1.0-r1", True),
        ([introduced_0], "9.9-r9", True),
        ([{"introduced": "1.0-r0"}, {"last_affected": "1.2-r0"}],
         "1.2-r0", True),
        ([{"introduced": "1.0-r0"}, {"last_affected": "1.2-r0"}],
         "1.2-r1", False),
        ([{"introduced": "1.0-r0"}], "0.9-r0", False),
        ([{"fixed": "2.0-r0"}, {"introduced": "1.0-r0"}], "1.5-r0", True),
        ([{"introduced": "1.0-r0"}, {"fixed": "1.1-r0"},
          {"introduced": "2.0-r0"}, {"fixed": "2.1-r0"}], "1.5-r0", False),
        ([{"introduced": "1.0-r0"}, {"fixed": "1.1-r0"},
          {"introduced": "2.0-r0"}, {"fixed": "2.1-r0"}], "2.0-r1", True),
        ([introduced_0, {"limit": "1.5-r0"}], "1.6-r0", False),
        ([introduced_0, {"limit": "1.5-r0"}], "1.4-r0", True),
        ([introduced_0, {"limit": "*"}], "1.4-r0", True),
        # Equal bounds keep record order: the fix comes last and wins.
        ([{"introduced": "1.0-r0"}, {"fixed": "1.0-r0"}], "1.0-r0", False),
    ]
    for events, version, expected in cases:
        got = range_affects(version, events, alpine_compare)
        if got != expected:
            print(f"FAIL evaluation: {version} in {events}: {got}, "
                  f"expected {expected}")
            failures += 1

    record = {
        "id": "DSA-1-1",
        "upstream": ["CVE-2020-1001", "CVE-2020-1002"],
        "aliases": ["CVE-2020-1001", "GHSA-x"],
    }
    if cve_ids_of(record) != ["CVE-2020-1001", "CVE-2020-1002"]:
        print(f"FAIL CVE ids of {record}: {cve_ids_of(record)}")
        failures += 1

    invalid_records = [
        {"affected": []},
        {"id": "X-1", "affected": [{"package": {"name": "zlib"}}]},
        {"id": "X-2", "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "zlib"},
            "ranges": [{"type": "ECOSYSTEM", "events": [
                {"introduced": "0", "fixed": "1.0"}]}],
        }]},
        {"id": "X-3", "aliases": "CVE-2020-1001"},
    ]
    for invalid in invalid_records:
        try:
            check_record(invalid)
        except InputError:
            continue
        print(f"FAIL check_record accepted {invalid}")
        failures += 1
    return failures


def self_test():
    failures = check_cases("alpine", alpine_compare, ALPINE_CASES)
    failures += check_cases("debian", debian_compare, DEBIAN_CASES)
    failures += check_evaluation()
    failures += dpkg_differential()
    if failures:
        print(f"self-test: {failures} failed")
        return 1
    print("self-test: all passed")
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="osv_oracle.py",
        description="Recompute the (CVE, package) pairs of one imgassure "
        "scan result from OSV records and compare them with its findings. "
        "Exits 0 when equal, 1 when they differ, 2 on invalid input.",
    )
    parser.add_argument(
        "result", nargs="?", metavar="RESULT_JSON",
        help="one result object from `imgassure results --json`, "
        "or - for standard input",
    )
    parser.add_argument(
        "osv_dir", nargs="?", metavar="OSV_DIR",
        help="directory tree of OSV records (*.json)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true",
        help="also print every expected pair with the record behind it",
    )
    parser.add_argument(
        "--self-test", action="store_true",
        help="check the version orderings and the range evaluation, "
        "then exit",
    )
    arguments = parser.parse_args(argv)
    if not arguments.self_test and arguments.osv_dir is None:
        parser.error("RESULT_JSON and OSV_DIR are required")
    return arguments


def main(argv):
    arguments = parse_arguments(argv[1:])
    if arguments.self_test:
        return self_test()
    try:
        return compare_result(
            arguments.result, arguments.osv_dir, arguments.verbose
        )
    except (InputError, OSError) as error:
        print(f"osv_oracle: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
