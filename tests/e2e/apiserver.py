#!/usr/bin/env python3
"""A small stand-in for the Kubernetes API server, for airlock's tests only.

It serves exactly what airlock-import calls, the way a real apiserver does:
the real paths, JSON and Status bodies, bearer tokens (401 without),
resourceVersion (a stale one is a 409; so is a patch without one, as
airlock promises to send the one it read: optimistic concurrency that a
real apiserver enforces only when given one), RFC 7386 merge patches (only with
application/merge-patch+json, else 415), creation with 409 AlreadyExists,
and ImageStreamImports that update the imagestream they name.

  apiserver.py PORT CERT KEY TOKEN STATE.json LOG [CLIENT_CA]

With CLIENT_CA, a TLS client certificate signed by it authenticates too.

STATE.json: {"objects": {PATH: OBJECT}, "forbid": [[METHOD, PATH]],
             "conflict_once": [PATH], "import_failure": "message",
             "unavailable": [STATUS, ...],   (the first requests answered
             with these statuses, as an overloaded or restarting apiserver
             does; 429 with Retry-After: 1)
             "slow_import": SECONDS}   (an ImageStreamImport is answered
             this late, as a real apiserver that imports synchronously from a
             slow registry does)
LOG: one JSON line per request (method, path, content type).
"""
import copy
import json
import ssl
import sys
import threading
import time
import http.server
import socketserver
import urllib.parse

port, cert, key, token, state_path, log_path = sys.argv[1:7]
client_ca = sys.argv[7] if len(sys.argv) > 7 else None
state = json.load(open(state_path))
objects = state.get("objects", {})
forbid = {tuple(f) for f in state.get("forbid", [])}
conflict_once = set(state.get("conflict_once", []))
unavailable = list(state.get("unavailable", []))
slow_import = float(state.get("slow_import", 0))
lock = threading.Lock()
version = [100]


def next_rv():
    version[0] += 1
    return str(version[0])


for o in objects.values():
    o.setdefault("metadata", {})["resourceVersion"] = next_rv()


def merge(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(out.get(k), v)
    return out


IDMS = "/apis/config.openshift.io/v1/imagedigestmirrorsets"


def invalid(path, obj):
    """What the ImageDigestMirrorSet CRD (config.openshift.io/v1, cluster
    scoped) would refuse, as a message; None when valid or another kind."""
    if not path.startswith(IDMS + "/"):
        return None
    if obj.get("apiVersion") != "config.openshift.io/v1" or obj.get("kind") != "ImageDigestMirrorSet":
        return "not a config.openshift.io/v1 ImageDigestMirrorSet"
    if obj.get("metadata", {}).get("name") != path.rsplit("/", 1)[1]:
        return "metadata.name does not match the path"
    if obj.get("metadata", {}).get("namespace"):
        return "imagedigestmirrorsets are cluster-scoped"
    for m in obj.get("spec", {}).get("imageDigestMirrors", []):
        src, mirrors = m.get("source"), m.get("mirrors", [])
        if not isinstance(src, str) or not src or "@" in src:
            return "spec.imageDigestMirrors[].source: a repository is required"
        if len(set(mirrors)) != len(mirrors):
            return "spec.imageDigestMirrors[].mirrors: duplicate entries (a set)"
        if any(not isinstance(x, str) or "@" in x or ":" in x.split("/", 1)[-1] for x in mirrors):
            return "spec.imageDigestMirrors[].mirrors: a repository without tag or digest"
        if m.get("mirrorSourcePolicy", "AllowContactingSource") not in ("AllowContactingSource", "NeverContactSource"):
            return "spec.imageDigestMirrors[].mirrorSourcePolicy: unsupported value"
    return None


def status(code, reason, message):
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                  "message": message, "reason": reason, "code": code}


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        path = urllib.parse.urlsplit(self.path).path
        ctype = self.headers.get("Content-Type", "")
        with lock, open(log_path, "a") as f:
            f.write(json.dumps({"method": self.command, "path": path,
                                "content_type": ctype}) + "\n")
        has_cert = bool(self.connection.getpeercert())
        if self.headers.get("Authorization", "") != "Bearer " + token and not has_cert:
            return self.reply(*status(401, "Unauthorized", "Unauthorized"))
        if slow_import and self.command == "POST" and path.endswith("/imagestreamimports"):
            time.sleep(slow_import)
        with lock:
            code, body = self.route(path, ctype, raw)
        self.reply(code, body)

    def route(self, path, ctype, raw):
        m = self.command
        if unavailable:
            code = unavailable.pop(0)
            with open(log_path, "a") as f:
                f.write(json.dumps({"fault": code, "path": path}) + "\n")
            return status(code, "TooManyRequests" if code == 429 else "ServiceUnavailable",
                          "the server is currently unable to handle the request")
        if (m, path) in forbid:
            verb = {"GET": "get", "PATCH": "patch", "POST": "create"}[m]
            return status(403, "Forbidden", f'user "tester" cannot {verb} resource at {path}')
        if m == "GET":
            if path not in objects:
                return status(404, "NotFound", f"{path} not found")
            return 200, objects[path]
        body = json.loads(raw or b"{}")
        if m == "PATCH":
            if ctype != "application/merge-patch+json":
                return status(415, "UnsupportedMediaType", "unsupported patch type " + ctype)
            if path not in objects:
                return status(404, "NotFound", f"{path} not found")
            cur = objects[path]
            if path in conflict_once:
                conflict_once.discard(path)
                cur["metadata"]["resourceVersion"] = next_rv()   # someone else wrote
                return status(409, "Conflict", "the object has been modified")
            want_rv = (body.get("metadata") or {}).get("resourceVersion")
            if want_rv is None:
                with open(log_path, "a") as f:
                    f.write(json.dumps({"refused": "no resourceVersion", "path": path}) + "\n")
                return status(409, "Conflict", "the patch carries no resourceVersion "
                              "(this test apiserver requires the one read)")
            if want_rv != cur["metadata"]["resourceVersion"]:
                with open(log_path, "a") as f:
                    f.write(json.dumps({"refused": "stale resourceVersion", "path": path}) + "\n")
                return status(409, "Conflict", "the object has been modified")
            new = merge(cur, body)
            why = invalid(path, new)
            if why:
                return status(422, "Invalid", why)
            new["metadata"]["resourceVersion"] = next_rv()
            objects[path] = new
            return 200, new
        if m == "POST" and path.endswith("/imagestreamimports"):
            return self.image_import(path, body)
        if m == "POST":
            name = body.get("metadata", {}).get("name")
            target = path + "/" + name
            if target in objects:
                return status(409, "AlreadyExists", f"{name} already exists")
            why = invalid(target, body)
            if why:
                return status(422, "Invalid", why)
            body.setdefault("metadata", {})["resourceVersion"] = next_rv()
            objects[target] = body
            return 201, body
        return status(405, "MethodNotAllowed", m)

    def image_import(self, path, body):
        ns = path.split("/")[5]
        name = body["metadata"]["name"]
        img = body["spec"]["images"][0]
        failure = state.get("import_failure")
        st = {"status": "Failure", "message": failure} if failure else {"status": "Success"}
        # as openshift-apiserver does: the spec tag is set either way; the
        # status tag gets the image on success, a failed ImportSuccess
        # condition (and its older items) on failure
        isp = f"/apis/image.openshift.io/v1/namespaces/{ns}/imagestreams/{name}"
        stream = objects.get(isp, {"kind": "ImageStream", "apiVersion": "image.openshift.io/v1",
                                   "metadata": {"name": name, "namespace": ns},
                                   "spec": {"tags": []}})
        to = img["to"]["name"]
        tags = [t for t in stream["spec"]["tags"] if t["name"] != to]
        tags.append({"name": to, "from": img["from"],
                     "importPolicy": img.get("importPolicy", {}),
                     "referencePolicy": img.get("referencePolicy", {})})
        stream["spec"]["tags"] = tags
        status_tags = stream.setdefault("status", {}).setdefault("tags", [])
        old = next((t for t in status_tags if t["tag"] == to), {"tag": to, "items": []})
        status_tags[:] = [t for t in status_tags if t["tag"] != to]
        if failure:
            old["conditions"] = [{"type": "ImportSuccess", "status": "False", "message": failure}]
        else:
            ref = img["from"]["name"]
            old = {"tag": to, "items": [{"dockerImageReference": ref,
                                         "image": ref.split("@", 1)[1] if "@" in ref else ""}]
                   + old["items"]}
        status_tags.append(old)
        stream["metadata"]["resourceVersion"] = next_rv()
        objects[isp] = stream
        body["status"] = {"images": [{"status": st}]}
        return 201, body

    do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = handle_any


srv = Server(("127.0.0.1", int(port)), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if client_ca:
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(client_ca)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
