#!/usr/bin/env python3
"""Writes small, real airlock bundles as plain tar (no zstd, no signature
check needed) for the bundle_tar fuzz target: every digest and size right,
so that the reader's checks pass and mutations reach each refusal.

  make_bundle_corpus.py DIR     writes DIR/single.tar and DIR/index.tar
"""
import hashlib
import io
import json
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def image(arch, layer):
    config = json.dumps({"architecture": arch, "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": digest(config),
                                      "size": len(config)},
                           "layers": [{"mediaType": OCI_LAYER, "digest": digest(layer),
                                       "size": len(layer)}]}, indent=1).encode()
    return config, manifest


def bundle(multi):
    layers = [b"layer-" + a.encode() * 40 for a in (["amd64", "arm64"] if multi else ["amd64"])]
    images = [image(a, l) for a, l in zip(["amd64", "arm64"], layers)]
    blobs, entries, manifests = [], [], []
    for l in layers:
        blobs.append({"digest": digest(l), "size": len(l), "media_type": OCI_LAYER, "kind": "layer"})
        entries.append(l)
    for c, _ in images:
        blobs.append({"digest": digest(c), "size": len(c), "media_type": OCI_CONFIG, "kind": "config"})
        entries.append(c)
    for _, m in images:
        manifests.append({"digest": digest(m), "media_type": OCI_MANIFEST, "size": len(m)})
        entries.append(m)
    root = manifests[0]
    if multi:
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": m["digest"], "size": m["size"],
             "platform": {"architecture": a, "os": "linux"}}
            for m, a in zip(manifests, ["amd64", "arm64"])]}, indent=1).encode()
        root = {"digest": digest(index), "media_type": OCI_INDEX, "size": len(index)}
        manifests.append(root)
        entries.append(index)
    for m in manifests:
        blobs.append(dict(m, kind="manifest"))
    meta = {"format": "airlock-bundle", "version": 1, "id": "fuzz" + ("multi" if multi else "one"),
            "created": "2026-01-01T00:00:00Z", "generator": "make_bundle_corpus.py",
            "images": [{"name": "registry.redhat.io/ubi8/ruby-31:latest",
                        "pull_spec": "registry.redhat.io/ubi8/ruby-31:latest",
                        "source": "registry.redhat.io/ubi8/ruby-31",
                        "registry": "registry.redhat.io", "repository": "ubi8/ruby-31",
                        "tag": "latest", "role": "samples", "digest": root["digest"],
                        "media_type": root["media_type"], "tags": ["ruby:latest"],
                        "manifests": manifests,
                        "blobs": [b["digest"] for b in blobs if b["kind"] != "manifest"]}],
            "failed": [{"name": "registry.redhat.io/gone:1", "pull_spec": "registry.redhat.io/gone:1",
                        "role": "samples", "tags": ["gone:1"], "reason": "manifest unknown"}],
            "blobs": blobs}
    files = [("bundle.json", json.dumps(meta, indent=1).encode()),
             ("bundle.json.sig", json.dumps({"algorithm": "ed25519", "key_id": "0" * 16,
                                             "signature": "AA=="}).encode()),
             ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
             ("index.json", json.dumps({"schemaVersion": 2, "manifests": [
                 {"mediaType": root["media_type"], "digest": root["digest"], "size": root["size"]}]}).encode())]
    files += [("blobs/sha256/" + digest(e)[7:], e) for e in entries]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            m = tarfile.TarInfo(name)
            m.size = len(data)
            m.mode = 0o644
            t.addfile(m, io.BytesIO(data))
    return buf.getvalue()


if __name__ == "__main__":
    for name, multi in (("single", False), ("index", True)):
        with open(f"{sys.argv[1]}/{name}.tar", "wb") as f:
            f.write(bundle(multi))
