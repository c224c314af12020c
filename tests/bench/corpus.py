#!/usr/bin/env python3
"""Pushes a benchmark corpus modelled on the samples into a registry: every
image shares two base layers, has one layer of its own, three are multi-arch
indexes, one carries a 256 MiB layer. Layers are random bytes labelled as
gzip layers (like real ones, they do not compress further).

  corpus.py HOST CA USER PASS SCALE OUT.txt
SCALE 1.0 is about 1 GiB of unique layers. OUT.txt gets one repo:tag a line,
OUT.txt.blobs one "repo digest" a line for every unique config and layer (the
blobs of the bundle, each once, with a repository that holds it: the floors).
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import seed  # noqa: E402

MiB = 1024 * 1024


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


BLOBS = {}


def image(reg, repo, layers, arch="amd64"):
    config = json.dumps({"architecture": arch, "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(l[:64]) for l in layers]},
                         "config": {}}).encode()
    reg.blob(repo, config)
    BLOBS.setdefault(sha(config), repo)
    for l in layers:
        reg.blob(repo, l)
        BLOBS.setdefault(sha(l), repo)
    m = json.dumps({"schemaVersion": 2, "mediaType": seed.MT_DOCKER,
                    "config": {"mediaType": seed.MT_DOCKER_CONFIG, "size": len(config),
                               "digest": sha(config)},
                    "layers": [{"mediaType": seed.MT_DOCKER_LAYER, "size": len(l),
                                "digest": sha(l)} for l in layers]}).encode()
    d = reg.manifest(repo, sha(m), m, seed.MT_DOCKER)
    return d, m


def main():
    host, ca, user, pw, scale, out = sys.argv[1:7]
    scale = float(sys.argv[5])
    reg = seed.Registry(host, ca, user, pw)
    mb = lambda n: os.urandom(max(1, int(n * scale)) * MiB)  # noqa: E731
    base = [mb(64), mb(32)]
    names = []
    for i in range(12):
        repo, tag = f"bench/app-{i:02d}", "latest"
        own = [mb(256)] if i == 0 else [mb(40)]
        if i in (1, 2, 3):
            children = []
            for arch in ("amd64", "arm64"):
                layers = base + (own if arch == "amd64" else [mb(20)])
                d, m = image(reg, repo, layers, arch)
                children.append(({"architecture": arch, "os": "linux"}, d, m, seed.MT_DOCKER))
            seed.push_index(reg, repo, tag, children)
        else:
            d, m = image(reg, repo, base + own)
            reg.manifest(repo, tag, m, seed.MT_DOCKER)
        names.append(f"{repo}:{tag}")
    with open(out, "w") as f:
        f.write("\n".join(names) + "\n")
    with open(out + ".blobs", "w") as f:
        f.write("".join(f"{repo} {d}\n" for d, repo in BLOBS.items()))


if __name__ == "__main__":
    main()
