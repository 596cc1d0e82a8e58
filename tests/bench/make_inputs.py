#!/usr/bin/python3
"""Generate the synthetic inputs of tests/bench/run.sh.

osv-db: a large OSV database made by cloning fixture records, and a dpkg
status file of a large image whose packages that database names.

layer: a gzip-compressed tar layer of many files, whose contents compress
about as well as a Debian layer's do.

sized-layer: a gzip-compressed tar layer of a given uncompressed size,
made of 1 MiB files of zeros beside os-release and a dpkg status file, so
that a scan of it succeeds. It compresses about 1000 to 1, which keeps a
5 GB layer at about 5 MB on disk; its sha256 before compression (the
image config's diff_id) is written beside it.

Every output is a pure function of the arguments (fixed seeds, fixed
times), and is written under a temporary name and renamed when complete.
"""

import argparse
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile

CVE_PATTERN = re.compile(r"CVE-(\d{4})-(\d+)")
# Clone rounds after the first that share one package name, so that each
# synthetic package has several records, as real source packages do.
ROUNDS_PER_NAME = 4


def clone_id(record_id, round_number):
    """Return a record id that no other round uses.

    CVE numbers move up by 10^8 per round, so that the id still names a
    CVE ("DEBIAN-CVE-2023-4911" becomes "DEBIAN-CVE-2023-300004911" in
    round 3). The fixtures' CVE numbers have at most 7 digits, so no two
    rounds give one id. Other ids get the round as a suffix.
    """
    renamed, found = CVE_PATTERN.subn(
        lambda m: "CVE-%s-%d" % (m[1], int(m[2]) + round_number * 10**8),
        record_id)
    return renamed if found else "%s-%d" % (record_id, round_number)


def clone_record(record, round_number):
    """Return a copy of record for a round: round 0 is the record itself.

    Later rounds get new ids and package names, and keep the ecosystems,
    ranges and ratings.
    """
    if round_number == 0:
        return record
    clone = json.loads(json.dumps(record))
    clone["id"] = clone_id(record["id"], round_number)
    for field in ("aliases", "upstream", "related"):
        if field in clone:
            clone[field] = [clone_id(i, round_number) for i in clone[field]]
    suffix = "-s%d" % ((round_number - 1) // ROUNDS_PER_NAME)
    for affected in clone.get("affected", []):
        affected["package"]["name"] += suffix
    return clone


def read_templates(fixtures_osv):
    templates = []
    for folder, _, names in sorted(os.walk(fixtures_osv)):
        for name in sorted(names):
            if not name.endswith(".json"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as file:
                record = json.load(file)
            templates.append((os.path.relpath(folder, fixtures_osv), record))
    if not templates:
        sys.exit("make_inputs: no .json records under %s" % fixtures_osv)
    return templates


def first_fixed(affected):
    for range_ in affected.get("ranges", []):
        for event in range_.get("events", []):
            if "fixed" in event:
                return event["fixed"]
    return None


def write_db(templates, records, out):
    """Write the records and return {name: [fixed versions]} of the
    synthetic names in ecosystem Debian:12."""
    versions = {}
    written = set()
    for index in range(records):
        folder, template = templates[index % len(templates)]
        record = clone_record(template, index // len(templates))
        if record["id"] in written:
            sys.exit("make_inputs: two clones have the id %s; clone_id() "
                     "needs a larger CVE offset" % record["id"])
        written.add(record["id"])
        os.makedirs(os.path.join(out, folder), exist_ok=True)
        path = os.path.join(out, folder, record["id"] + ".json")
        with open(path, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=2)
        if index < len(templates):
            continue
        for affected in record.get("affected", []):
            if affected["package"]["ecosystem"] != "Debian:12":
                continue
            name = affected["package"]["name"]
            fixed = first_fixed(affected)
            versions.setdefault(name, [])
            if fixed:
                versions[name].append(fixed)
    return versions


def status_stanza(name, version, source):
    lines = [
        "Package: " + name,
        "Status: install ok installed",
        "Priority: optional",
        "Section: misc",
        "Installed-Size: 100",
        "Maintainer: imgassure benchmarks <bench@example.invalid>",
        "Architecture: amd64",
    ]
    if source:
        lines.append("Source: " + source)
    lines += [
        "Version: " + version,
        "Description: synthetic package for tests/bench",
        " A package of the benchmark inventory, with no files.",
    ]
    return "\n".join(lines) + "\n\n"


def write_inventory(versions, packages, out):
    """Write a dpkg status file that lists the given number of packages.

    Three in five are binaries of a synthetic source package of the
    database, installed at the middle one of its records' fixed versions,
    so that some of its records affect them and others do not. The others
    are packages that no record names, as most packages of an image are.
    """
    sources = sorted(versions)
    if not sources:
        sys.exit("make_inputs: no Debian:12 records to build an inventory on")
    stanzas = []
    for index in range(packages):
        if index % 5 >= 3:
            stanzas.append(status_stanza("nodb%05d" % index, "1.0-1", None))
            continue
        source = sources[(index * 7) % len(sources)]
        fixed = versions[source]
        version = fixed[len(fixed) // 2] if fixed else "1.0-1"
        stanzas.append(
            status_stanza("%s-bin%05d" % (source, index), version, source))
    with open(out, "w", encoding="utf-8") as file:
        file.write("".join(stanzas))


def make_osv_db(args):
    templates = read_templates(args.fixtures)
    partial = args.out + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    versions = write_db(templates, args.records, partial)
    write_inventory(versions, args.packages, partial + ".status")
    shutil.rmtree(args.out, ignore_errors=True)
    os.rename(partial + ".status", args.inventory)
    os.rename(partial, args.out)


WORDS = ("the of and to in is for on that with as by this be are from at "
         "or an it not which have if can error file data value return "
         "size type name path user config version package library shared "
         "object symbol section header buffer stream string number list "
         "table index key entry debian usr lib share doc man locale").split()


def content_pool(rng, size):
    """Return size bytes that gzip -6 compresses about 2.7 times.

    Layers are mostly binaries and text. The pool mixes 4 KiB blocks of
    random bytes (incompressible, like compressed data), random words
    (like text) and short repeated records (like tables in binaries).
    """
    blocks = []
    total = 0
    while total < size:
        kind = rng.random()
        if kind < 0.18:
            block = rng.randbytes(4096)
        elif kind < 0.62:
            text = " ".join(rng.choice(WORDS) for _ in range(800))
            block = text.encode()[:4096]
        else:
            record = rng.randbytes(rng.randrange(8, 48))
            block = bytearray()
            while len(block) < 4096:
                block += record
                block[-1] = rng.randrange(256)
            block = bytes(block[:4096])
        blocks.append(block)
        total += len(block)
    return b"".join(blocks)[:size]


def file_sizes(rng, total_bytes):
    """Yield file sizes until total_bytes: log-normal around 4 kB, capped
    at 8 MiB, with a mean of about 14 kB. The Debian 12 minbase layer's
    regular files average 24 kB, so this layer has more entries per byte
    and more per-entry work."""
    remaining = total_bytes
    while remaining > 0:
        size = int(math.exp(rng.gauss(math.log(4000), 1.6)))
        size = min(max(size, 0), 8 << 20, remaining)
        remaining -= size
        yield size


def tar_info(name, kind, size=0, target=None):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mtime = 1700000000
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.uname = info.gname = "root"
    if target is not None:
        info.linkname = target
    return info


def write_layer_tar(stream, total_bytes):
    rng = random.Random(1)
    pool = content_pool(rng, 8 << 20)
    # Twice the pool, so that any start gives a slice of up to 8 MiB.
    pool = pool + pool
    with tarfile.open(fileobj=stream, mode="w|",
                      format=tarfile.PAX_FORMAT) as tar:
        os_release = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' \
            b'ID=debian\nVERSION_ID="12"\n'
        for folder in ("etc", "usr", "usr/lib", "usr/share"):
            tar.addfile(tar_info(folder, tarfile.DIRTYPE))
        tar.addfile(tar_info("etc/os-release", tarfile.REGTYPE,
                             len(os_release)), io.BytesIO(os_release))

        folder = None
        for index, size in enumerate(file_sizes(rng, total_bytes)):
            if index % 20 == 0:
                top = "usr/lib" if index % 40 == 0 else "usr/share"
                folder = "%s/pkg%04d" % (top, index // 20)
                tar.addfile(tar_info(folder, tarfile.DIRTYPE))
            path = "%s/file%06d" % (folder, index)
            start = rng.randrange(len(pool) // 2)
            data = pool[start:start + size]
            tar.addfile(tar_info(path, tarfile.REGTYPE, size),
                        io.BytesIO(data))
            if index % 10 == 5:
                tar.addfile(tar_info(path + ".link", tarfile.SYMTYPE,
                                     target=os.path.basename(path)))
            if index % 100 == 50:
                tar.addfile(tar_info(path + ".hard", tarfile.LNKTYPE,
                                     target=path))


def make_layer(args):
    partial = args.out + ".partial"
    with open(partial, "wb") as out:
        gzip_process = subprocess.Popen(["gzip", "-6", "-n", "-c"],
                                        stdin=subprocess.PIPE, stdout=out)
        write_layer_tar(gzip_process.stdin, args.bytes)
        gzip_process.stdin.close()
        if gzip_process.wait() != 0:
            sys.exit("make_inputs: gzip failed")
    os.rename(partial, args.out)


SIZED_FILE_BYTES = 1 << 20
SIZED_STATUS = b"""Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

"""


class HashingWriter:
    """Pass writes on to a stream and hash them."""

    def __init__(self, stream):
        self.stream = stream
        self.hash = hashlib.sha256()

    def write(self, data):
        self.hash.update(data)
        self.stream.write(data)


def write_sized_tar(out, total_bytes):
    """Write the tar stream by hand: tarfile would copy every zero."""
    os_release = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' \
        b'ID=debian\nVERSION_ID="12"\n'
    for folder in ("etc", "var", "var/lib", "var/lib/dpkg", "data"):
        out.write(tar_info(folder, tarfile.DIRTYPE).tobuf(tarfile.PAX_FORMAT))
    for path, data in (("etc/os-release", os_release),
                       ("var/lib/dpkg/status", SIZED_STATUS)):
        info = tar_info(path, tarfile.REGTYPE, len(data))
        out.write(info.tobuf(tarfile.PAX_FORMAT))
        out.write(data + bytes(-len(data) % tarfile.BLOCKSIZE))

    zeros = bytes(SIZED_FILE_BYTES)
    for index in range(total_bytes // SIZED_FILE_BYTES):
        info = tar_info("data/file%06d" % index, tarfile.REGTYPE,
                        SIZED_FILE_BYTES)
        out.write(info.tobuf(tarfile.PAX_FORMAT))
        out.write(zeros)
    out.write(bytes(2 * tarfile.BLOCKSIZE))


def make_sized_layer(args):
    partial = args.out + ".partial"
    compressor = shutil.which("igzip") and ["igzip", "-1", "-c"] or \
        ["gzip", "-1", "-n", "-c"]
    with open(partial, "wb") as out:
        process = subprocess.Popen(compressor, stdin=subprocess.PIPE,
                                   stdout=out)
        writer = HashingWriter(process.stdin)
        write_sized_tar(writer, args.bytes)
        process.stdin.close()
        if process.wait() != 0:
            sys.exit("make_inputs: %s failed" % compressor[0])
    with open(args.out + ".diff_id", "w", encoding="utf-8") as diff_id:
        diff_id.write("sha256:%s\n" % writer.hash.hexdigest())
    os.rename(partial, args.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    osv = commands.add_parser("osv-db", help="the OSV database and inventory")
    osv.add_argument("--fixtures", required=True,
                     help="folder of OSV records to clone")
    osv.add_argument("--records", type=int, required=True)
    osv.add_argument("--packages", type=int, required=True,
                     help="packages of the synthetic inventory")
    osv.add_argument("--out", required=True, help="database folder")
    osv.add_argument("--inventory", required=True,
                     help="dpkg status file to write")

    layer = commands.add_parser("layer", help="the synthetic gzip layer")
    layer.add_argument("--bytes", type=int, required=True,
                       help="bytes of file contents, before compression")
    layer.add_argument("--out", required=True, help=".tar.gz file to write")

    sized = commands.add_parser("sized-layer",
                                help="a layer of zeros of a given size")
    sized.add_argument("--bytes", type=int, required=True,
                       help="bytes of file contents, before compression")
    sized.add_argument("--out", required=True, help=".tar.gz file to write")

    args = parser.parse_args()
    if args.command == "osv-db":
        make_osv_db(args)
    elif args.command == "sized-layer":
        make_sized_layer(args)
    else:
        make_layer(args)


if __name__ == "__main__":
    main()
