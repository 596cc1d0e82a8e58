"""Write pairs of Debian versions with the order dpkg gives them.

Usage: /usr/bin/python3 dpkg-pairs.py VERSIONS TRICKY VALIDITY OUTDIR

VERSIONS contains one real version a line (from the apt lists), TRICKY
hand-written versions that dpkg accepts, VALIDITY strings (with Python
escapes) whose validity dpkg judges. Writes into OUTDIR:

  dpkg-pairs.tsv     A <tab> B <tab> -1|0|1, the order of A against B
  dpkg-validity.tsv  TEXT <tab> valid|warning|error, as dpkg parses TEXT

The reference for the pairs from the apt lists is python3-apt's
apt_pkg.version_compare(), libapt-pkg's C implementation of dpkg's
algorithm, because running dpkg once per pair would take minutes. A random
sample of DPKG_SAMPLE_PAIRS of those pairs also runs through
`dpkg --compare-versions`, and any disagreement between dpkg and apt_pkg
fails the script. The hand-written pairs and the validity strings all run
through dpkg itself.
"""

import functools
import random
import subprocess
import sys

import apt_pkg

# The least count of pairs from the apt lists.
MIN_LIST_PAIRS = 100_000
DPKG_SAMPLE_PAIRS = 400
SEED = 20240601


def sign(value):
    return (value > 0) - (value < 0)


def apt_order(a, b):
    return sign(apt_pkg.version_compare(a, b))


def dpkg_order(a, b):
    """Return the order of a against b from dpkg itself.

    Raise RuntimeError when dpkg rejects either version.
    """
    for relation, result in (("lt", -1), ("eq", 0)):
        process = subprocess.run(
            ["dpkg", "--compare-versions", "--", a, relation, b],
            capture_output=True, text=True, check=False)
        if process.returncode == 0:
            return result
        if process.returncode != 1:
            raise RuntimeError(
                f"dpkg rejected {a!r} {relation} {b!r}: "
                f"{process.stderr.strip()}")
    return 1


def dpkg_validity(text):
    process = subprocess.run(
        ["dpkg", "--compare-versions", "--", text, "eq", text],
        capture_output=True, text=True, check=False)
    if process.returncode == 2:
        return "error"
    if process.returncode == 0 and "warning" in process.stderr:
        return "warning"
    if process.returncode == 0 and process.stderr == "":
        return "valid"
    raise RuntimeError(
        f"unexpected dpkg result for {text!r}: exit {process.returncode}, "
        f"{process.stderr.strip()}")


def read_lines(path):
    """Return the lines of path except blank lines and # comments."""
    with open(path, encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle]
    return [line for line in lines if line and not line.startswith("#")]


def list_pairs(versions, rng):
    """Return pairs that include near misses, not only easy ones."""
    pairs = []
    by_bytes = sorted(versions)
    # Neighbours in byte order share long prefixes.
    for distance in (1, 2, 3):
        pairs += zip(by_bytes, by_bytes[distance:])
    # Neighbours in version order differ in their last detail.
    by_version = sorted(versions, key=functools.cmp_to_key(apt_order))
    pairs += zip(by_version, by_version[1:])
    pairs += [(version, version) for version in rng.sample(versions, 1000)]
    while len(pairs) < MIN_LIST_PAIRS + 30_000:
        pairs.append((rng.choice(versions), rng.choice(versions)))
    return pairs


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    versions_path, tricky_path, validity_path, outdir = sys.argv[1:]
    apt_pkg.init_config()
    apt_pkg.init_system()
    rng = random.Random(SEED)

    versions = sorted(set(read_lines(versions_path)))
    pairs = list_pairs(versions, rng)
    rows = [(a, b, apt_order(a, b)) for a, b in pairs]

    disagreements = []
    for a, b, expected in rng.sample(rows, DPKG_SAMPLE_PAIRS):
        actual = dpkg_order(a, b)
        if actual != expected:
            disagreements.append(f"{a} {b}: apt_pkg {expected}, dpkg {actual}")
    if disagreements:
        print("apt_pkg and dpkg disagree, so apt_pkg is no reference here:")
        print("\n".join(disagreements))
        sys.exit(1)

    tricky = read_lines(tricky_path)
    for i, a in enumerate(tricky):
        for b in tricky[i:]:
            rows.append((a, b, dpkg_order(a, b)))

    with open(f"{outdir}/dpkg-pairs.tsv", "w", encoding="utf-8") as out:
        for a, b, order in rows:
            out.write(f"{a}\t{b}\t{order}\n")

    with open(f"{outdir}/dpkg-validity.tsv", "w", encoding="utf-8") as out:
        for line in read_lines(validity_path):
            text = line.encode("ascii").decode("unicode_escape")
            out.write(f"{text}\t{dpkg_validity(text)}\n")

    print(f"dpkg pairs: {len(pairs)} from {len(versions)} versions in the "
          f"apt lists (apt_pkg, {DPKG_SAMPLE_PAIRS} also checked with dpkg), "
          f"{len(rows) - len(pairs)} hand-written (dpkg)")


if __name__ == "__main__":
    main()
