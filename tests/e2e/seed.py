#!/usr/bin/env python3
"""Pushes test images into a real registry through the distribution API.

Independent of airlock: standard library only. Writes a JSON description of
what it pushed (name -> manifest digest, every blob) for the assertions.

  seed.py fixtures HOST CA USER PASS OUT.json SHARED_DIR
  seed.py samples  HOST CA USER PASS OUT.json CONFIGMAP IMAGESTREAM_DIR
  seed.py update   HOST CA USER PASS OUT.json   (a new build of one fixture)
  seed.py samples-release HOST CA USER PASS OUT.json SHARED_DIR IMAGESTREAM_DIR
                   (a release whose cluster-samples-operator carries those files)
"""
import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import re
import ssl
import subprocess
import sys
import tarfile
import urllib.parse

MT_DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_OCI = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Registry:
    def __init__(self, host, ca, user, password):
        self.host = host
        self.ctx = ssl.create_default_context(cafile=ca)
        tok = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.basic = "Basic " + tok
        self.auth = {"Authorization": self.basic}
        self.tokens = {}
        self.challenge = None
        self.conn = None
        self.pushed_blobs = set()

    def bearer(self, challenge, path):
        """Fetches a push token when the registry wants Bearer auth."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        repo = path[len("/v2/"):].split("/manifests/")[0].split("/blobs/")[0]
        scope = f"repository:{repo}:pull,push"
        if scope not in self.tokens:
            realm = urllib.parse.urlsplit(params["realm"])
            q = urllib.parse.urlencode({"service": params.get("service", ""), "scope": scope})
            c = http.client.HTTPSConnection(realm.hostname, realm.port, context=self.ctx)
            c.request("GET", realm.path + "?" + q, headers={"Authorization": self.basic})
            r = c.getresponse()
            self.tokens[scope] = json.loads(r.read())["token"]
            c.close()
        return {"Authorization": "Bearer " + self.tokens[scope]}

    def request(self, method, path, body=None, headers=None):
        if self.challenge is None:
            # learn how the registry authenticates before sending any body
            r, _ = self._request("GET", "/v2/", None, None, {})
            self.challenge = r.getheader("WWW-Authenticate") or ""
        auth = self.auth
        if self.challenge.startswith("Bearer "):
            auth = self.bearer(self.challenge, path)
        return self._request(method, path, body, headers, auth)

    def _request(self, method, path, body, headers, auth):
        for attempt in range(2):
            if self.conn is None:
                h, p = self.host.rsplit(":", 1)
                self.conn = http.client.HTTPSConnection(h, int(p), context=self.ctx)
            try:
                self.conn.request(method, path, body=body, headers={**auth, **(headers or {})})
                r = self.conn.getresponse()
                data = r.read()
                return r, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def blob(self, repo, data):
        d = sha(data)
        if (repo, d) in self.pushed_blobs:
            return d
        r, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        if r.status != 202:
            sys.exit(f"seed: upload start {repo}: HTTP {r.status}")
        loc = urllib.parse.urlsplit(r.getheader("Location"))
        q = loc.query + ("&" if loc.query else "") + "digest=" + urllib.parse.quote(d)
        r, body = self.request("PUT", loc.path + "?" + q, body=data,
                               headers={"Content-Type": "application/octet-stream"})
        if r.status != 201:
            sys.exit(f"seed: upload {repo} {d}: HTTP {r.status} {body[:200]!r}")
        self.pushed_blobs.add((repo, d))
        return d

    def manifest(self, repo, ref, data, mt):
        r, body = self.request("PUT", f"/v2/{repo}/manifests/{ref}", body=data,
                               headers={"Content-Type": mt})
        if r.status != 201:
            sys.exit(f"seed: manifest {repo}:{ref}: HTTP {r.status} {body[:300]!r}")
        return sha(data)


def tar_of(files):
    """A deterministic tar of {path: bytes}."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def gz(b):
    return gzip.compress(b, mtime=0)


class Layer:
    def __init__(self, files, compress=True, oci=False, zstd=False):
        self.tar = tar_of(files)
        self.data = gz(self.tar) if compress else self.tar
        if zstd:
            self.data = subprocess.run(["zstd", "-q", "-c"], input=self.tar, check=True,
                                       stdout=subprocess.PIPE).stdout
            self.mt = MT_OCI_LAYER_ZSTD
        elif compress:
            self.mt = MT_OCI_LAYER_GZ if oci else MT_DOCKER_LAYER
        else:
            self.mt = MT_OCI_LAYER
        self.diff_id = sha(self.tar)


def noise(seed, n):
    return random.Random(seed).randbytes(n)


def push_image(reg, repo, ref, layers, arch="amd64", oci=False, extra_config=None):
    """Pushes one image manifest; returns (digest, manifest bytes, media type, size)."""
    cfg = {"architecture": arch, "os": "linux", "config": extra_config or {},
           "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]}}
    cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
    mt = MT_OCI if oci else MT_DOCKER
    man = {"schemaVersion": 2, "mediaType": mt,
           "config": {"mediaType": MT_OCI_CONFIG if oci else MT_DOCKER_CONFIG,
                      "size": len(cfg_bytes), "digest": reg.blob(repo, cfg_bytes)},
           "layers": [{"mediaType": l.mt, "size": len(l.data), "digest": reg.blob(repo, l.data)}
                      for l in layers]}
    body = json.dumps(man, indent=3).encode()
    d = reg.manifest(repo, ref if ref else sha(body), body, mt)
    return d, body, mt


def push_index(reg, repo, tag, children, oci=False):
    """children: list of (platform dict, digest, body, mt). Pushes an index."""
    mt = MT_OCI_INDEX if oci else MT_DOCKER_LIST
    idx = {"schemaVersion": 2, "mediaType": mt,
           "manifests": [{"mediaType": cmt, "size": len(body), "digest": d, "platform": plat}
                         for plat, d, body, cmt in children]}
    body = json.dumps(idx, indent=3).encode()
    return reg.manifest(repo, tag, body, mt), body


def fixtures(reg, shared, out):
    rec = {"images": {}, "must_gather": {}, "samples_operator": {}}
    base = Layer({"etc/os-release": b"ID=test\n", "usr/lib/base.bin": noise(1, 300_000)})
    big = Layer({"opt/big.bin": noise(2, 6 * 1024 * 1024)})

    # registry.redhat.io/ubi8/ruby-31:latest: a Docker manifest list of two
    children = []
    for arch in ("amd64", "arm64"):
        own = Layer({f"opt/ruby-{arch}": noise("ruby" + arch, 40_000)})
        d, body, mt = push_image(reg, "ubi8/ruby-31", None, [base, own], arch=arch)
        children.append(({"architecture": arch, "os": "linux"}, d, body, mt))
    d, _ = push_index(reg, "ubi8/ruby-31", "latest", children)
    rec["images"]["ubi8/ruby-31:latest"] = d
    for plat, cd, _, _ in children:
        rec["images"]["ubi8/ruby-31:latest@" + plat["architecture"]] = cd

    # registry.redhat.io/ubi8/python-39:latest: an OCI index of three
    children = []
    for arch, variant in (("amd64", None), ("arm64", "v8"), ("ppc64le", None)):
        own = Layer({f"opt/python-{arch}": noise("py" + arch, 30_000)}, oci=True)
        d, body, mt = push_image(reg, "ubi8/python-39", None, [base, own], arch=arch, oci=True)
        plat = {"architecture": arch, "os": "linux"}
        if variant:
            plat["variant"] = variant
        children.append((plat, d, body, mt))
    d, _ = push_index(reg, "ubi8/python-39", "latest", children, oci=True)
    rec["images"]["ubi8/python-39:latest"] = d

    # registry.access.redhat.com/ubi8/nodejs-16:1: OCI, an uncompressed layer
    # and a large one (streams through many buffers)
    plain = Layer({"opt/node": noise(3, 50_000)}, compress=False)
    d, _, _ = push_image(reg, "ubi8/nodejs-16", "1", [base, plain, big], oci=True)
    rec["images"]["ubi8/nodejs-16:1"] = d

    # must-gather and tools, by digest only (as a release names them)
    for comp in ("must-gather", "tools", "must-gather-arm64"):
        own = Layer({f"usr/bin/{comp}": noise(comp, 20_000)})
        d, _, _ = push_image(reg, "openshift-release-dev/ocp-v4.0-art-dev", None, [base, own])
        rec["must_gather"][comp] = d

    # cluster-samples-operator: an index of two builds of the layers below
    children = []
    for arch in ("amd64", "arm64"):
        d, body, mt = push_image(reg, "openshift-release-dev/ocp-v4.0-art-dev", None,
                                 [base] + operator_layers(arch), arch=arch, oci=True)
        children.append(({"architecture": arch, "os": "linux"}, d, body, mt))
        rec["samples_operator"][arch] = d
    d, _ = push_index(reg, "openshift-release-dev/ocp-v4.0-art-dev", "samples-operator",
                      children, oci=True)
    rec["samples_operator"]["index"] = d

    # the release payloads: image-references in the last layer
    with open(os.path.join(shared, "samples", "release-4.12.0-image-references.json")) as f:
        refs_doc = json.load(f)
    art = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@"

    def payload(arch, mg):
        doc = json.loads(json.dumps(refs_doc))
        for t in doc["spec"]["tags"]:
            if t["name"] == "must-gather":
                t["from"]["name"] = art + rec["must_gather"][mg]
            if t["name"] == "tools":
                t["from"]["name"] = art + rec["must_gather"]["tools"]
            if t["name"] == "cluster-samples-operator":
                # a single-arch payload names its own build, a multi one the index
                own = "amd64" if arch == "amd64" else "index"
                t["from"]["name"] = art + rec["samples_operator"][own]
        last = Layer({"release-manifests/release-metadata": b'{"kind":"cincinnati-metadata-v0"}',
                      "release-manifests/image-references": json.dumps(doc, indent=2).encode(),
                      "release-manifests/0000_50_other.yaml": noise("yaml" + arch, 100_000)})
        cli = Layer({"usr/bin/cluster-version-operator": noise("cvo" + arch, 80_000)})
        return push_image(reg, "openshift-release-dev/ocp-release", None, [base, cli, last], arch=arch)

    d, body, mt = payload("amd64", "must-gather")
    reg.manifest("openshift-release-dev/ocp-release", "4.12.0-x86_64", body, mt)
    rec["images"]["release:4.12.0-x86_64"] = d
    da, bodya, mta = payload("arm64", "must-gather-arm64")
    d, _ = push_index(reg, "openshift-release-dev/ocp-release", "4.12.0-multi",
                      [({"architecture": "amd64", "os": "linux"}, d, body, mt),
                       ({"architecture": "arm64", "os": "linux"}, da, bodya, mta)])
    rec["images"]["release:4.12.0-multi"] = d
    with open(out, "w") as f:
        json.dump(rec, f, indent=1)


def stream(name, tags):
    """An ImageStream as the samples operator ships it: tags are (name, kind, from)."""
    return json.dumps({"kind": "ImageStream", "apiVersion": "image.openshift.io/v1",
                       "metadata": {"name": name, "annotations": {"openshift.io/display-name": name}},
                       "spec": {"tags": [{"name": t, "from": {"kind": k, "name": f},
                                          "referencePolicy": {"type": "Local"}}
                                         for t, k, f in tags]}}, indent=4).encode()


OP = "opt/openshift/operator/"


def operator_layers(arch):
    """The samples operator's files, built up the way image layers do it:
    a later layer deletes one stream by whiteout, replaces another with
    fewer tags, and hides a whole directory (opaque whiteout). Final x86_64
    streams: ruby (2 tags), nodejs (1), fresh (1), naming only
    ubi8/ruby-31:latest and ubi8/nodejs-16:1. Everything else names images
    that must never be requested."""
    rh, acc = "registry.redhat.io/", "registry.access.redhat.com/"
    binary = Layer({"usr/bin/cluster-samples-operator": noise("cso" + arch, 60_000)}, oci=True)
    streams = Layer({
        OP + "x86_64/ruby/imagestreams/ruby-rhel.json": stream("ruby", [
            ("3.1-ubi8", "DockerImage", rh + "ubi8/ruby-31:latest"),
            ("latest", "ImageStreamTag", "3.1-ubi8")]),
        OP + "x86_64/ruby/imagestreams/notes.txt": (rh + "ubi8/notes:1\n").encode(),
        OP + "x86_64/ruby/templates/rails-postgresql.json": json.dumps({
            "kind": "Template", "objects": [{"kind": "DeploymentConfig", "spec": {"template": {
                "spec": {"containers": [{"image": rh + "rhel8/template-only:1"}]}}}}]}).encode(),
        OP + "x86_64/ruby/README.md": ("uses " + rh + "ubi8/readme-only:1\n").encode(),
        OP + "x86_64/nodejs/imagestreams/nodejs-rhel.json": stream("nodejs", [
            ("16-ubi8", "DockerImage", acc + "ubi8/nodejs-16:1"),
            ("14-ubi8", "DockerImage", acc + "ubi8/dropped:14")]),
        OP + "x86_64/deleted/imagestreams/deleted.json": stream("deleted", [
            ("1", "DockerImage", rh + "ubi8/deleted:1")]),
        OP + "x86_64/old/imagestreams/old.json": stream("old", [
            ("1", "DockerImage", rh + "ubi8/opaque-gone:1")]),
        OP + "aarch64/python/imagestreams/python.json": stream("python", [
            ("3.9-ubi8", "DockerImage", rh + "ubi8/python-39:latest")]),
    }, compress=False, oci=True)
    update = Layer({
        OP + "x86_64/deleted/imagestreams/.wh.deleted.json": b"",
        OP + "x86_64/nodejs/imagestreams/nodejs-rhel.json": stream("nodejs", [
            ("16-ubi8", "DockerImage", acc + "ubi8/nodejs-16:1")]),
        OP + "x86_64/old/.wh..wh..opq": b"",
        OP + "x86_64/old/imagestreams/fresh.json": stream("fresh", [
            ("1", "DockerImage", rh + "ubi8/ruby-31:latest")]),
    }, zstd=True)
    return [binary, streams, update]


def samples_release(reg, shared, isdir, out):
    """A release whose cluster-samples-operator carries the real x86_64
    imagestream files (with a template beside them), and its must-gather."""
    base = Layer({"etc/os-release": b"ID=release\n"})
    art_repo = "openshift-release-dev/ocp-v4.0-art-dev"
    files = {}
    for name in sorted(os.listdir(isdir)):
        group = name.rsplit(".", 1)[0]
        with open(os.path.join(isdir, name), "rb") as f:
            files[OP + f"x86_64/{group}/imagestreams/{name}"] = f.read()
        files[OP + f"x86_64/{group}/templates/{group}-example.json"] = b'{"kind": "Template"}'
    op, _, _ = push_image(reg, art_repo, None, [base, Layer(files)], oci=True)
    mg, _, _ = push_image(reg, art_repo, None, [base, Layer({"usr/bin/gather": b"#!/bin/sh\n"})])
    with open(os.path.join(shared, "samples", "release-4.12.0-image-references.json")) as f:
        doc = json.load(f)
    for t in doc["spec"]["tags"]:
        if t["name"] == "cluster-samples-operator":
            t["from"]["name"] = f"quay.io/{art_repo}@{op}"
        if t["name"] == "must-gather":
            t["from"]["name"] = f"quay.io/{art_repo}@{mg}"
    last = Layer({"release-manifests/image-references": json.dumps(doc).encode()})
    d, _, _ = push_image(reg, "openshift-release-dev/ocp-release", "4.12.0-x86_64", [base, last])
    with open(out, "w") as f:
        json.dump({"release": d, "operator": op, "must_gather": mg}, f, indent=1)


def samples(reg, configmap, isdir, out):
    """One small image for every pull spec the samples name (both inputs)."""
    specs = set(json.load(open(configmap))["data"].values())
    for name in sorted(os.listdir(isdir)):
        doc = json.load(open(os.path.join(isdir, name)))
        for t in doc.get("spec", {}).get("tags", []):
            if t.get("from", {}).get("kind") == "DockerImage":
                specs.add(t["from"]["name"])
    base = Layer({"etc/os-release": b"ID=samples\n", "base.bin": noise(10, 100_000)})
    rec = {}
    # "x" and "x:latest" are one image
    specs = {s if ":" in s.rsplit("/", 1)[1] else s + ":latest" for s in specs}
    for spec in sorted(specs):
        host, rest = spec.split("/", 1)
        repo, tag = rest.split(":")
        own = Layer({"opt/what": spec.encode()})
        d, _, _ = push_image(reg, repo, tag, [base, own])
        rec[spec] = d
    with open(out, "w") as f:
        json.dump(rec, f, indent=1)


def update(reg, out):
    """A new build of ubi8/nodejs-16:1: the same base and large layers (so
    an increment can rely on them) plus one new layer."""
    base = Layer({"etc/os-release": b"ID=test\n", "usr/lib/base.bin": noise(1, 300_000)})
    plain = Layer({"opt/node": noise(3, 50_000)}, compress=False)
    big = Layer({"opt/big.bin": noise(2, 6 * 1024 * 1024)})
    fix = Layer({"opt/node-security-fix": noise("fix", 20_000)}, oci=True)
    d, _, _ = push_image(reg, "ubi8/nodejs-16", "1", [base, plain, big, fix], oci=True)
    with open(out, "w") as f:
        json.dump({"images": {"ubi8/nodejs-16:1": d}}, f, indent=1)


def main():
    mode, host, ca, user, pw, out = sys.argv[1:7]
    reg = Registry(host, ca, user, pw)
    if mode == "fixtures":
        fixtures(reg, sys.argv[7], out)
    elif mode == "update":
        update(reg, out)
    elif mode == "samples":
        samples(reg, sys.argv[7], sys.argv[8], out)
    elif mode == "samples-release":
        samples_release(reg, sys.argv[7], sys.argv[8], out)
    else:
        sys.exit("seed: unknown mode " + mode)


if __name__ == "__main__":
    main()
