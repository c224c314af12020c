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
      duplicate     the first blob entry twice in a row
      short-blob    the first blob one byte shorter than bundle.json says
      huge-json     a bundle.json entry declaring 65 MiB and 1 byte
"""
import io
import subprocess
import sys
import tarfile


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


def regular(name, data):
    m = tarfile.TarInfo(name)
    m.size = len(data)
    return m, data


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
    data = zstd(write(entries, tail))
    if kind == "two-frames":
        data += zstd(b"another frame")
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
