#!/usr/bin/env python3
"""Writes the "many small images" corpus straight into a docker-registry's
filesystem storage (before the registry starts: pushing thousands of images
through the API would take longer than the bench). N images, each in its own
repository small/app-NNNNN:1, each a Docker schema 2 manifest of a small
base layer shared by all, one small layer of its own and its own config
(a few KiB an image). Layers are random bytes labelled as gzip layers.

  smallcorpus.py ROOTDIRECTORY N OUT.txt
ROOTDIRECTORY is the registry's storage.filesystem.rootdirectory; OUT.txt gets
one repo:tag a line.
"""
import hashlib
import json
import os
import random
import sys

MT_DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


class Store:
    def __init__(self, root):
        self.v2 = os.path.join(root, "docker", "registry", "v2")
        self.seen = set()

    def blob(self, data):
        h = hashlib.sha256(data).hexdigest()
        if h not in self.seen:
            write(os.path.join(self.v2, "blobs", "sha256", h[:2], h, "data"), data)
            self.seen.add(h)
        return h

    def link(self, repo, kind, h):
        write(os.path.join(self.v2, "repositories", repo, kind, "sha256", h, "link"),
              ("sha256:" + h).encode())

    def image(self, repo, tag, blobs):
        """blobs: [(media type, bytes)], the config first."""
        descs = []
        for mt, data in blobs:
            h = self.blob(data)
            self.link(repo, "_layers", h)
            descs.append({"mediaType": mt, "size": len(data), "digest": "sha256:" + h})
        m = json.dumps({"schemaVersion": 2, "mediaType": MT_DOCKER, "config": descs[0],
                        "layers": descs[1:]}, indent=3).encode()
        h = self.blob(m)
        self.link(repo, "_manifests/revisions", h)
        self.link(repo, f"_manifests/tags/{tag}/index", h)
        write(os.path.join(self.v2, "repositories", repo, "_manifests", "tags", tag,
                           "current", "link"), ("sha256:" + h).encode())


def main():
    root, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rnd = random.Random(15)
    st = Store(root)
    base = rnd.randbytes(4096)
    names = []
    for i in range(n):
        repo, tag = f"small/app-{i:05d}", "1"
        own = rnd.randbytes(2048)
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"n": str(i)}},
                             "rootfs": {"type": "layers", "diff_ids": [
                                 "sha256:" + hashlib.sha256(b).hexdigest() for b in (base, own)]}}).encode()
        st.image(repo, tag, [(MT_DOCKER_CONFIG, config), (MT_DOCKER_LAYER, base), (MT_DOCKER_LAYER, own)])
        names.append(f"{repo}:{tag}")
    with open(out, "w") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    main()
