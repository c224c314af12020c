#!/usr/bin/env python3
"""Independent checker of an airlock bundle (does not use airlock's code).

  verify_bundle.py BUNDLE PUBKEY.pem OUTDIR

Decompresses with the zstd CLI, reads the tar with Python's tarfile, checks
the entry order, the signature (openssl CLI), every blob's SHA-256 and size
against bundle.json, that every manifest's references are in the bundle and
come before it, and unpacks into OUTDIR (an OCI image layout). Prints
"bundle ok" or the first problem, exit 1.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tarfile


def fail(msg):
    print("bundle check failed: " + msg)
    sys.exit(1)


def main():
    bundle, pub, out = sys.argv[1:4]
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    z = subprocess.Popen(["zstd", "-dc", bundle], stdout=subprocess.PIPE)
    names, seen = [], {}
    with tarfile.open(fileobj=z.stdout, mode="r|") as t:
        for m in t:
            if not m.isfile():
                fail(f"entry {m.name} is not a regular file")
            data = t.extractfile(m).read()
            names.append(m.name)
            if m.name in seen:
                fail(f"duplicate entry {m.name}")
            seen[m.name] = len(data)
            with open(os.path.join(out, m.name), "wb") as f:
                f.write(data)
    if z.wait() != 0:
        fail("zstd failed")
    if names[:4] != ["bundle.json", "bundle.json.sig", "oci-layout", "index.json"]:
        fail(f"first entries are {names[:4]}")
    meta_path = os.path.join(out, "bundle.json")
    sig = json.load(open(os.path.join(out, "bundle.json.sig")))
    with open(os.path.join(out, "sig.bin"), "wb") as f:
        f.write(base64.b64decode(sig["signature"]))
    if sig["algorithm"] == "ed25519":
        cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin",
               "-in", meta_path, "-sigfile", os.path.join(out, "sig.bin")]
    else:
        cmd = ["openssl", "dgst", "-sha256", "-verify", pub, "-signature",
               os.path.join(out, "sig.bin"), meta_path]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        fail("signature does not verify with openssl")
    os.unlink(os.path.join(out, "sig.bin"))
    meta = json.load(open(meta_path))
    if meta.get("format") != "airlock-bundle" or meta.get("version") != 1:
        fail("bad format/version")
    listed = {b["digest"]: b for b in meta["blobs"]}
    if len(listed) != len(meta["blobs"]):
        fail("bundle.json lists a blob twice")
    blob_entries = [n for n in names[4:]]
    position = {}
    for i, n in enumerate(blob_entries):
        if not n.startswith("blobs/sha256/"):
            fail(f"unexpected entry {n}")
        d = "sha256:" + n[len("blobs/sha256/"):]
        data = open(os.path.join(out, n), "rb").read()
        if "sha256:" + hashlib.sha256(data).hexdigest() != d:
            fail(f"{n}: content does not match its name")
        if d not in listed:
            fail(f"{n} not listed in bundle.json")
        if listed[d]["size"] != len(data):
            fail(f"{n}: size differs from bundle.json")
        position[d] = i
    if set(position) != set(listed):
        fail(f"bundle.json lists blobs that are missing: {set(listed) - set(position)}")
    for d, b in listed.items():
        if b["kind"] != "manifest":
            continue
        m = json.load(open(os.path.join(out, "blobs", "sha256", d[7:])))
        refs = [x["digest"] for x in m.get("manifests", [])]
        if "config" in m:
            refs.append(m["config"]["digest"])
        refs += [x["digest"] for x in m.get("layers", [])]
        relied = {b["digest"] for b in meta.get("relies_on", [])}
        for r in refs:
            if r in relied:
                continue   # an increment: an earlier bundle carried it
            if r not in position:
                fail(f"manifest {d} references {r}, which the bundle lacks")
            if position[r] > position[d]:
                fail(f"manifest {d} comes before {r}")
    for img in meta["images"]:
        for m in img["manifests"]:
            if m["digest"] not in position:
                fail(f"image {img['name']}: manifest {m['digest']} missing")
        if img["manifests"][-1]["digest"] != img["digest"]:
            fail(f"image {img['name']}: root manifest is not last")
    print("bundle ok")


if __name__ == "__main__":
    main()
