#!/usr/bin/python3
"""Push a one-layer linux/amd64 OCI image to a plain-HTTP registry.

usage: push_image.py REGISTRY NAME TAG LAYER

LAYER is a .tar.gz file with its diff_id in LAYER.diff_id, as
make_inputs.py sized-layer writes them. The registry must be one the
benchmark started on 127.0.0.1 (dev/stack.sh): requests bypass any proxy.
"""

import hashlib
import json
import sys
import urllib.parse
import urllib.request

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(base, name, data):
    digest = digest_of(data)
    start = urllib.request.Request("%s/v2/%s/blobs/uploads/" % (base, name),
                                   method="POST")
    with OPENER.open(start) as response:
        location = response.headers["Location"]
    url = urllib.parse.urljoin(base, location)
    separator = "&" if "?" in url else "?"
    upload = urllib.request.Request(
        url + separator + "digest=" + urllib.parse.quote(digest), data=data,
        method="PUT", headers={"Content-Type": "application/octet-stream"})
    with OPENER.open(upload):
        pass
    return digest


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__.split("\n\n")[1])
    registry, name, tag, layer_path = sys.argv[1:]
    base = "http://" + registry

    with open(layer_path, "rb") as file:
        layer = file.read()
    with open(layer_path + ".diff_id", encoding="utf-8") as file:
        diff_id = file.read().strip()

    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode()
    config_digest = push_blob(base, name, config)
    layer_digest = push_blob(base, name, layer)

    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest, "size": len(layer)}],
    }).encode()
    request = urllib.request.Request(
        "%s/v2/%s/manifests/%s" % (base, name, tag), data=manifest,
        method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    with OPENER.open(request):
        pass
    print("%s/%s:%s" % (registry, name, tag))


if __name__ == "__main__":
    main()
