#!/usr/bin/env python3
"""Makes damaged and hostile variants of a good airlock bundle, with Python's
tarfile and the zstd command line (nothing from airlock).

  craft_bundle.py KIND GOOD.tar.zst OUT.tar.zst

KIND: tamper-json   bundle.json changed, the old signature kept
      dotdot        an entry named ../evil after the metadata
      symlink       a symbolic link entry after the metadata
      unlisted      an extra regular blob entry at the end
      tar-trailer   non-zero bytes after the end of the tar, inside zstd
      two-frames    a second zstd frame after the first
      two-frames-aligned  the same, the first frame (raw blocks, made here)
                    ending exactly where one of the importer's reads ends
                    (a multiple of ZSTD_DStreamInSize(), 131,075 bytes): the
                    second frame is only in the next read
      duplicate     the first blob entry twice in a row
      short-blob    the first blob one byte shorter than bundle.json says
      huge-json     a bundle.json entry declaring 65 MiB and 1 byte
      bomb-size     the first blob's header declares 1 TiB (zeros follow)
      bomb-unlisted an unlisted entry declaring 10 GiB of zeros (compressed
                    to almost nothing: a zstd bomb)
      many-entries  20000 empty entries after the metadata
      deep          an entry 400 directories deep
      json-last     bundle.json and its signature moved to the end
      missing-blob  the first blob's entry left out
  craft_bundle.py KIND GOOD.tar.zst OUT.tar.zst KEY   (signed again with KEY, as
  a signer who lies would):
      ghost-manifest an image whose manifest is in no entry
      ghost-blob     bundle.json lists a blob no entry carries
  The same-size alterations, with KEY (bundle.json re-written and signed
  again, the signature valid) or without (the original bundle.json and
  signature kept); bundle.json still names the original digests, so only
  the importer's digest compare can refuse them:
      manifest-child  a child manifest of a multi-arch image, one digit of a
                      "size" changed (same size, still valid JSON, still
                      naming the same blobs)
      manifest-index  the root index of a multi-arch image, likewise
      manifest-root   the root manifest of a single-arch image, likewise
      blob-same-size  one byte of the largest layer changed
"""
import base64
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile


def read_entries(path):
    raw = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
    out = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as t:
        for m in t.getmembers():
            out.append((m, t.extractfile(m).read() if m.isfile() else b""))
    return out


def write(entries, extra_tail=b""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:", format=tarfile.PAX_FORMAT) as t:
        for m, data in entries:
            t.addfile(m, io.BytesIO(data) if m.isfile() else None)
    return buf.getvalue() + extra_tail


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                          check=True).stdout


# ZSTD_DStreamInSize(): the importer's read size. Should the importer read
# in other sizes, two-frames-aligned stops landing on a boundary (it is still
# refused, by the check's other branch) and make mutants reports
# zstd-one-frame as surviving.
READ_SIZE = 131075


def zstd_raw_aligned(tar):
    """One zstd frame of raw blocks carrying `tar` and up to READ_SIZE zero
    bytes after it (end-of-archive padding, which a reader must accept),
    its length a multiple of READ_SIZE."""
    header = b"\x28\xb5\x2f\xfd" + b"\x00" + b"\x38"   # no size, a 128 KiB window
    blocks = len(tar) // 131072 + 1
    while True:
        pad = -(len(header) + 3 * blocks + len(tar)) % READ_SIZE
        if len(tar) + pad <= blocks * 131072:
            break
        blocks += 1
    body = tar + b"\0" * pad
    out = bytearray(header)
    step = -(-len(body) // blocks)
    for i in range(blocks):
        chunk = body[i * step:(i + 1) * step]
        out += ((len(chunk) << 3) | (i == blocks - 1)).to_bytes(3, "little") + chunk
    assert len(out) % READ_SIZE == 0 and len(out) == len(header) + 3 * blocks + len(body)
    return bytes(out)


def regular(name, data):
    m = tarfile.TarInfo(name)
    m.size = len(data)
    return m, data


def resign(data, key):
    """bundle.json.sig for `data` with the Ed25519 key in file `key`."""
    with tempfile.NamedTemporaryFile() as f:   # one-shot signing reads a file
        f.write(data)
        f.flush()
        raw = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin",
                              "-in", f.name], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return json.dumps({"algorithm": "ed25519",
                       "key_id": hashlib.sha256(der).hexdigest()[:16],
                       "signature": base64.b64encode(raw).decode()}).encode()


INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")


def altered_digest(kind, meta):
    """The digest of the manifest or blob that `kind` alters."""
    if kind == "blob-same-size":
        return max((b for b in meta["blobs"] if b["kind"] == "layer"),
                   key=lambda b: b["size"])["digest"]
    multi = [i for i in meta["images"] if i["media_type"] in INDEX_TYPES]
    single = [i for i in meta["images"] if i["media_type"] not in INDEX_TYPES]
    if kind == "manifest-child":
        return multi[0]["manifests"][0]["digest"]
    if kind == "manifest-index":
        return multi[0]["digest"]
    return single[0]["digest"]


def alter_same_size(kind, data):
    """`data` with one byte changed: a digit of the first "size" of a
    manifest, the middle byte of a blob."""
    if kind == "blob-same-size":
        i = len(data) // 2
        return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
    m = re.search(rb'"size":\s*\d*(\d)', data)
    i = m.start(1)
    digit = data[i] - ord("0")
    return data[:i] + bytes([ord("0") + (digit + 1 if digit < 9 else 8)]) + data[i + 1:]


def main():
    kind, good, out = sys.argv[1:4]
    entries = read_entries(good)
    tail = b""
    if kind == "tamper-json":
        m, data = entries[0]
        data = data.replace(b'"id": "', b'"id": "f', 1)
        m.size = len(data)
        entries[0] = (m, data)
    elif kind == "dotdot":
        entries.insert(4, regular("../evil", b"x"))
    elif kind == "symlink":
        link = tarfile.TarInfo("blobs/sha256/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        entries.insert(4, (link, b""))
    elif kind == "unlisted":
        entries.append(regular("blobs/sha256/" + "ab" * 32, b"not listed"))
    elif kind == "duplicate":
        entries.insert(5, entries[4])
    elif kind == "short-blob":
        m, data = entries[4]
        m.size -= 1
        entries[4] = (m, data[:-1])
    elif kind == "huge-json":
        m = tarfile.TarInfo("bundle.json")
        m.size = 64 * 1024 * 1024 + 1
        entries = [(m, bytes(m.size))]
    elif kind == "tar-trailer":
        tail = b"garbage after the end of the archive\n" + bytes(500)
    elif kind in ("bomb-size", "bomb-unlisted"):
        # written by hand, as tarfile would want the declared bytes: the
        # metadata entries, the hostile header, then 256 MiB of zeros, all in
        # one zstd frame of a few KiB
        head = b"".join(m.tobuf(tarfile.PAX_FORMAT) + data + bytes(-len(data) % 512)
                        for m, data in entries[:4])
        m = tarfile.TarInfo(entries[4][0].name if kind == "bomb-size"
                            else "blobs/sha256/" + "cd" * 32)
        m.size = (1 << 40) if kind == "bomb-size" else (10 << 30)
        raw = subprocess.run(["sh", "-c", "cat; head -c 268435456 /dev/zero"],
                             input=head + m.tobuf(tarfile.PAX_FORMAT),
                             capture_output=True, check=True).stdout
        with open(out, "wb") as f:
            f.write(zstd(raw))
        return
    elif kind in ("ghost-manifest", "ghost-blob", "header-media-type"):
        meta = json.loads(entries[0][1])
        ghost = "sha256:" + "ee" * 32
        if kind == "header-media-type":   # would go out as the PUT's Content-Type
            mf = meta["images"][0]["manifests"][-1]
            mf["media_type"] = mf["media_type"] + "\r\nX-Injected: 1"
        elif kind == "ghost-manifest":
            meta["images"][0]["manifests"][0]["digest"] = ghost
            meta["images"][0]["digest"] = ghost
        else:
            meta["blobs"].append({"digest": ghost, "size": 10, "kind": "layer",
                                  "media_type": "application/vnd.oci.image.layer.v1.tar"})
        data = json.dumps(meta, indent=1).encode()
        m = entries[0][0]
        m.size = len(data)
        entries[0] = (m, data)
        sig = resign(data, sys.argv[4])
        m = entries[1][0]
        m.size = len(sig)
        entries[1] = (m, sig)
    elif kind in ("manifest-child", "manifest-index", "manifest-root", "blob-same-size"):
        meta = json.loads(entries[0][1])
        name = "blobs/sha256/" + altered_digest(kind, meta)[7:]
        at = [i for i, (m, _) in enumerate(entries) if m.name == name][0]
        m, data = entries[at]
        entries[at] = (m, alter_same_size(kind, data))
        assert len(entries[at][1]) == len(data) and entries[at][1] != data
        if len(sys.argv) > 4:
            data = json.dumps(meta, indent=1).encode()
            m = entries[0][0]
            m.size = len(data)
            entries[0] = (m, data)
            sig = resign(data, sys.argv[4])
            m = entries[1][0]
            m.size = len(sig)
            entries[1] = (m, sig)
    elif kind == "many-entries":
        for i in range(20000):
            entries.insert(4 + i, regular("blobs/sha256/%064x" % i, b""))
    elif kind == "deep":
        entries.insert(4, regular("/".join(["a"] * 400) + "/blob", b"x"))
    elif kind == "json-last":
        entries = entries[2:] + entries[:2]
    elif kind == "missing-blob":
        del entries[4]
    data = zstd_raw_aligned(write(entries, tail)) if kind == "two-frames-aligned" \
        else zstd(write(entries, tail))
    if kind in ("two-frames", "two-frames-aligned"):
        data += zstd(b"another frame")
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
