"""Builds small real Debian images from the demo image's layer.

Each image keeps a few of the demo image's packages: their dpkg status
stanzas, their files as dpkg lists them, and os-release. The result is a
one-layer OCI layout per image under OUTDIR/NAME, tagged "faults", for
skopeo to push.

usage: make_images.py DEMO_LAYOUT OUTDIR NAME=PKG,PKG... [NAME=...]
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
STATUS = "var/lib/dpkg/status"


def read_blob(layout, digest):
    with open(os.path.join(layout, "blobs", *digest.split(":")), "rb") as blob:
        return blob.read()


def demo_layer(layout):
    index = json.loads(read_blob_path(layout, "index.json"))
    manifest = json.loads(read_blob(layout, index["manifests"][0]["digest"]))
    return read_blob(layout, manifest["layers"][0]["digest"])


def read_blob_path(layout, name):
    with open(os.path.join(layout, name), "rb") as file:
        return file.read()


def stanzas(status_text):
    """Splits a dpkg status file into {package: stanza text}."""
    found = {}
    for stanza in status_text.strip().split("\n\n"):
        for line in stanza.splitlines():
            if line.startswith("Package: "):
                found[line[len("Package: "):]] = stanza
                break
    return found


def list_name(package, members):
    for candidate in ("var/lib/dpkg/info/%s.list" % package,
                      "var/lib/dpkg/info/%s:amd64.list" % package):
        if candidate in members:
            return candidate
    raise SystemExit("no file list for package %s in the demo image" % package)


def write_blob(outdir, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = os.path.join(outdir, "blobs", "sha256", digest.split(":")[1])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as blob:
        blob.write(data)
    return {"digest": digest, "size": len(data)}


def build_image(source, members, statuses, packages, outdir):
    wanted = set(OS_RELEASE)
    for package in packages:
        listed = source.extractfile(members[list_name(package, members)])
        wanted.add(list_name(package, members))
        for line in listed.read().decode().splitlines():
            if line.strip("/"):
                wanted.add(line.strip("/"))

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.GNU_FORMAT) as out:
        for name in sorted(wanted):
            member = members.get(name)
            if member is None or member.islnk():
                continue
            data = source.extractfile(member) if member.isfile() else None
            out.addfile(member, data)
        status = ("\n\n".join(statuses[p] for p in packages) + "\n").encode()
        info = tarfile.TarInfo(STATUS)
        info.size = len(status)
        info.mode = 0o644
        out.addfile(info, io.BytesIO(status))
    tar_bytes = layer.getvalue()
    compressed = gzip.compress(tar_bytes, mtime=0)

    layer_descriptor = write_blob(outdir, compressed)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
    }).encode()
    config_descriptor = write_blob(outdir, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config_descriptor,
                       mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer_descriptor,
                        mediaType="application/vnd.oci.image.layer.v1.tar+gzip")],
    }).encode()
    manifest_descriptor = write_blob(outdir, manifest)
    with open(os.path.join(outdir, "index.json"), "w") as index:
        json.dump({"schemaVersion": 2, "manifests": [dict(
            manifest_descriptor,
            mediaType="application/vnd.oci.image.manifest.v1+json",
            annotations={"org.opencontainers.image.ref.name": "faults"})]},
            index)
    with open(os.path.join(outdir, "oci-layout"), "w") as marker:
        json.dump({"imageLayoutVersion": "1.0.0"}, marker)


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__.strip())
    layout, outdir = sys.argv[1], sys.argv[2]
    # Unpacked once: tarfile reads members out of order, which on a gzip
    # stream would decompress it again for every backward step.
    tar_bytes = gzip.decompress(demo_layer(layout))
    source = tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:")
    members = {m.name.lstrip("./"): m for m in source.getmembers()}
    statuses = stanzas(source.extractfile(members[STATUS]).read().decode())
    for spec in sys.argv[3:]:
        name, _, packages = spec.partition("=")
        build_image(source, members, statuses, packages.split(","),
                    os.path.join(outdir, name))
        print(name)


if __name__ == "__main__":
    main()
