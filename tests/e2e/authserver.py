#!/usr/bin/env python3
"""Test servers that stand beside a real docker-registry.

  authserver.py token PORT CERT KEY SIGNING_KEY SIGNING_CERT ISSUER LOG USER:PASS
      A registry token server (the Docker token auth protocol): GET /token
      with service and scope, optional Basic credentials. USER:PASS gets what
      it asks for; anonymous callers get pull on repositories under public/.
      Tokens are RS256 JWTs with the signing certificate in x5c. One JSON line
      per request goes to LOG (never the password).

  authserver.py redirect PORT CERT KEY UPSTREAM CA USER:PASS LOG [DELAY [nomount]]
      A TLS reverse proxy in front of UPSTREAM (host:port) that answers blob
      GETs with 307 to https://localhost:PORT/cdn/..., as registries backed by
      object storage do, and serves that URL itself. Logs whether the /cdn/
      request carried an Authorization header. DELAY seconds per 64 KiB of
      blob slow the CDN down (for interruption tests). With "nomount", it
      drops the mount= and from= parameters of blob upload POSTs, so the
      registry answers as one that refuses cross-repository mounts (202 and
      a new upload session). Location headers are rewritten to the proxy.

  authserver.py flaky PORT CERT KEY UPSTREAM CA LOG PLAN
      A TLS reverse proxy in front of UPSTREAM that misbehaves first. PLAN is
      comma-separated: "503xN" and "429xN" answer the next N requests with
      that status (429 with Retry-After: 1), "cut" sends only half of every
      blob's first download and then drops the connection. Range requests
      pass through, so a client can resume. "bigindexxN" answers every
      manifest asked for by tag with an index of N children of about 4 MiB
      each, made up on the fly (a hostile registry's memory attack);
      "manylayersxN" the same with children of 4,000 distinct layers each
      (a planning-time attack).
      "badrange" answers every Range request with 206 and the whole blob
      (Content-Range "bytes 0-..."), a range other than the one asked for;
      "laterange" with the part from one byte after the one asked for;
      "nocontentrange" drops the Content-Range header of every 206.
      "refuse=TEXT" answers every manifest PUT whose path contains TEXT with
      400 MANIFEST_INVALID (an image the mirror will not take).
      "trickle" / "blobtrickle" send every manifest / blob body a byte every
      half second. "manifesttohttp" / "tohttp" answer manifest / blob GETs
      with 307 to a plain-http listener of the proxy's own (it logs every
      request as {"plainhttp": path} and answers 404). "tokentrickle" and
      "tokentohttp" point the WWW-Authenticate realm at the proxy's own
      /token, which relays the token service's answer a byte every half
      second, or redirects to the plain-http listener; "httprealm" points
      the realm at the plain-http listener directly. "deny=REPO" answers 401
      (a Basic challenge) to every request for repository REPO, as registries
      do for one a login is not entitled to.
      "slowselfmount" answers every blob upload POST that asks to mount a
      blob from its own repository (airlock's test of whether the mirror
      mounts) two seconds late. "slowmount" holds every cross-repository
      mount half a second and logs how many were held at once ("held").
"""
import base64
import hashlib
import http.client
import http.server
import json
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(port, cert, key, handler):
    srv = Server(("127.0.0.1", int(port)), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


log_lock = threading.Lock()


def log(path, rec):
    with log_lock, open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def token_main(port, cert, key, signing_key, signing_cert, issuer, logpath, userpass):
    der = subprocess.run(["openssl", "x509", "-in", signing_cert, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    header = b64url(json.dumps({"typ": "JWT", "alg": "RS256",
                                "x5c": [base64.b64encode(der).decode()]}).encode())

    def sign(claims):
        msg = header + "." + b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", signing_key],
                             input=msg.encode(), capture_output=True, check=True).stdout
        return msg + "." + b64url(sig)

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(u.query)
            auth = self.headers.get("Authorization", "")
            user = None
            if auth.startswith("Basic "):
                given = base64.b64decode(auth[6:]).decode(errors="replace")
                if given != userpass:
                    log(logpath, {"path": u.path, "user": "bad"})
                    self.send_response(401)
                    self.end_headers()
                    return
                user = given.split(":", 1)[0]
            access = []
            for scope in q.get("scope", []):
                typ, name, actions = scope.split(":", 2)
                acts = actions.split(",")
                if user is None:
                    acts = [a for a in acts if a == "pull" and name.startswith("public/")]
                if name.startswith("notentitled/"):
                    acts = []   # a login that is not entitled to this repository
                if acts:
                    access.append({"type": typ, "name": name, "actions": acts})
            now = int(time.time())
            tok = sign({"iss": issuer, "sub": user or "", "aud": q.get("service", [""])[0],
                        "exp": now + 300, "nbf": now - 10, "iat": now,
                        "jti": str(time.monotonic_ns()), "access": access})
            log(logpath, {"path": u.path, "user": user, "scope": q.get("scope", []),
                          "service": q.get("service", [None])[0]})
            body = json.dumps({"token": tok, "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    serve(port, cert, key, H)


def redirect_main(port, cert, key, upstream, ca, userpass, logpath, delay=0.0, nomount=False):
    ctx = ssl.create_default_context(cafile=ca)
    host, uport = upstream.rsplit(":", 1)
    basic = "Basic " + base64.b64encode(userpass.encode()).decode()

    def fetch(method, path, headers, body=None):
        c = http.client.HTTPSConnection(host, int(uport), context=ctx)
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return c, r

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def relay(self, r, c, slow=False):
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() == "location":
                    v = v.replace(f"https://{upstream}/", f"https://127.0.0.1:{port}/")
                if k.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                    self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                while True:
                    chunk = r.read(65536)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    if slow and delay:
                        time.sleep(delay)
            c.close()

        def do_any(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            u = urllib.parse.urlsplit(self.path)
            if u.path.startswith("/cdn/"):
                log(logpath, {"cdn": u.path, "authorization": "Authorization" in self.headers})
                c, r = fetch("GET", u.path[4:], {"Authorization": basic})
                return self.relay(r, c, slow=True)
            log(logpath, {"request": self.command, "path": u.path})
            parts = u.path.split("/")
            if self.command == "GET" and len(parts) > 4 and parts[-2] == "blobs":
                # check access as the registry would, then send the client away
                hdrs = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
                c, r = fetch("HEAD", u.path, hdrs)
                r.read()
                c.close()
                if r.status == 200:
                    self.send_response(307)
                    self.send_header("Location", f"https://localhost:{port}/cdn{u.path}?X-Signature=abc")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            hdrs = {k: v for k, v in self.headers.items()
                    if k.lower() in ("authorization", "accept", "content-type")}
            path = self.path
            if nomount and self.command == "POST" and "mount=" in u.query:
                log(logpath, {"mount_refused": u.path})
                path = u.path
            c, r = fetch(self.command, path, hdrs, body)
            self.relay(r, c)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_any

    serve(port, cert, key, H)


STALL_SECONDS = 40


def start_plain_listener(logpath):
    """A plain-http server on a free port that logs and refuses every request:
    whatever reaches it left TLS. Returns its port."""
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            log(logpath, {"plainhttp": self.path, "authorization": "Authorization" in self.headers})
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = Server(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def flaky_main(port, cert, key, upstream, ca, logpath, plan):
    ctx = ssl.create_default_context(cafile=ca)
    host, uport = upstream.rsplit(":", 1)
    failures = []
    cut = False
    big_n = [0]
    many_layers = [False]
    big_digests = {}
    # once each, on the first blob download (or upload commit for "lose"):
    # stall (half the body, then silence), longlen / shortlen (a
    # Content-Length 100 bytes over / under the body), wrongbody (one byte
    # flipped), lose (the commit answered 201 but never made)
    once = set()
    refuse = []
    for step in plan.split(","):
        if step.startswith("refuse="):
            refuse.append(step[len("refuse="):])
        elif step == "cut":
            cut = True
        elif step in ("stall", "longlen", "shortlen", "wrongbody", "lose"):
            once.add(step)
        elif step.startswith("bigindexx"):
            big_n[0] = int(step[len("bigindexx"):])
        elif step.startswith("manylayersx"):
            big_n[0] = int(step[len("manylayersx"):])
            many_layers[0] = True
        elif "x" in step:
            code, n = step.split("x")
            failures += [int(code)] * int(n)
    cut_done = set()
    held = [0]   # slowmount: mounts being held now
    lock = threading.Lock()
    steps = set(plan.split(","))
    realm = [None]   # the token service's own realm, when the proxy replaces it
    plain_port = None
    if steps & {"tohttp", "manifesttohttp", "tokentohttp", "httprealm"}:
        plain_port = start_plain_listener(logpath)

    def trickle(handler, data, what):
        """The body, after its head, a byte every half second."""
        sent = 0
        try:
            for b in data:
                handler.wfile.write(bytes([b]))
                handler.wfile.flush()
                sent += 1
                time.sleep(0.5)
        except OSError:
            pass
        log(logpath, {"trickled": what, "sent": sent, "of": len(data)})
        handler.close_connection = True

    def to_plain(handler, path):
        log(logpath, {"fault": "tohttp", "path": handler.path})
        handler.send_response(307)
        handler.send_header("Location", f"http://127.0.0.1:{plain_port}{path}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def token(handler):
        if "tokentohttp" in steps:
            return to_plain(handler, handler.path + "&X-Signature=abc")
        u = urllib.parse.urlsplit(realm[0])
        c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
        hdrs = {k: v for k, v in handler.headers.items() if k.lower() == "authorization"}
        c.request("GET", u.path + "?" + urllib.parse.urlsplit(handler.path).query, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        handler.send_response(r.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        trickle(handler, data, "token")

    def rewrite_realm(v):
        if not steps & {"tokentrickle", "tokentohttp", "httprealm"} or 'realm="' not in v:
            return v
        old = v.split('realm="', 1)[1].split('"', 1)[0]
        realm[0] = old
        new = f"http://127.0.0.1:{plain_port}/token" if "httprealm" in steps \
            else f"https://127.0.0.1:{port}/token"
        return v.replace(old, new)

    def take(fault):
        with lock:
            if fault in once:
                once.discard(fault)
                return True
        return False

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def big_child(self, i):
            if many_layers[0]:
                return json.dumps({
                    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": "sha256:" + "0" * 64, "size": 2},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                "digest": "sha256:" + hashlib.sha256(b"%d-%d" % (i, j)).hexdigest(),
                                "size": 1000} for j in range(4000)]}).encode()
            head = json.dumps({"schemaVersion": 2,
                               "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": "sha256:" + "0" * 64, "size": 2},
                               "layers": [], "annotations": {"pad": ""}})
            pad = "%08d" % i + "x" * (4 * 1024 * 1024 - 1024 - len(head) - 8)
            return head.replace('"pad": ""', '"pad": "%s"' % pad).encode()

        def send_manifest(self, mt, data):
            self.send_response(200)
            self.send_header("Content-Type", mt)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(data).hexdigest())
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def big_index(self):
            ref = self.path.split("/manifests/")[1]
            if ref.startswith("sha256:") and ref in big_digests:
                log(logpath, {"fault": "bigchild", "path": self.path})
                return self.send_manifest("application/vnd.oci.image.manifest.v1+json",
                                          self.big_child(big_digests[ref]))
            children = []
            for i in range(big_n[0]):
                data = self.big_child(i)
                d = "sha256:" + hashlib.sha256(data).hexdigest()
                with lock:
                    big_digests[d] = i
                children.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                 "digest": d, "size": len(data),
                                 "platform": {"os": "linux", "architecture": "amd64"}})
            log(logpath, {"fault": "bigindex", "path": self.path})
            self.send_manifest("application/vnd.oci.image.index.v1+json", json.dumps(
                {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": children}).encode())

        def do_any(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            if big_n[0] and self.command in ("GET", "HEAD") and "/manifests/" in self.path:
                return self.big_index()
            if self.path.startswith("/token?"):
                return token(self)
            if any(self.path.startswith("/v2/" + st[5:] + "/") for st in steps
                   if st.startswith("deny=")):
                log(logpath, {"fault": "deny", "path": self.path})
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="airlock-test"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.command == "GET" and (
                    ("tohttp" in steps and "/blobs/sha256:" in self.path) or
                    ("manifesttohttp" in steps and "/manifests/" in self.path)):
                return to_plain(self, "/cdn" + self.path + "?X-Signature=abc")
            with lock:
                fail = failures.pop(0) if failures else None
            if fail:
                log(logpath, {"fault": fail, "path": self.path})
                self.send_response(fail)
                if fail == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.command == "PUT" and "/manifests/" in self.path and \
                    any(t in self.path for t in refuse):
                log(logpath, {"fault": "refuse", "path": self.path})
                data = json.dumps({"errors": [{"code": "MANIFEST_INVALID",
                                               "message": "manifest invalid"}]}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            hdrs = {k: v for k, v in self.headers.items()
                    if k.lower() in ("authorization", "accept", "content-type", "range")}
            # "badrange": a Range request answered 206 with the whole blob
            # (and a Content-Range that says so), as a broken cache might;
            # "laterange": with the part from one byte later than asked
            badrange = "badrange" in steps and "Range" in self.headers
            if badrange:
                hdrs.pop("Range", None)
            if "laterange" in steps and self.headers.get("Range", "").startswith("bytes="):
                start = int(self.headers["Range"][6:].split("-")[0])
                hdrs["Range"] = f"bytes={start + 1}-"
                log(logpath, {"fault": "laterange", "path": self.path, "range": hdrs["Range"]})
            if self.command == "PUT" and "/blobs/uploads/" in self.path and "digest=" in self.path \
                    and take("lose"):
                digest = self.path.split("digest=")[1].split("&")[0].replace("%3A", ":")
                log(logpath, {"fault": "lose", "path": self.path.split("?")[0]})
                self.send_response(201)
                self.send_header("Docker-Content-Digest", digest)
                self.send_header("Location", self.path.split("/blobs/uploads/")[0] + "/blobs/" + digest)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if "slowselfmount" in steps and self.command == "POST" and \
                    "/blobs/uploads/" in self.path:
                repo = self.path[len("/v2/"):].split("/blobs/uploads/")[0]
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                if query.get("from") == [repo] and "mount" in query:
                    log(logpath, {"fault": "slowselfmount", "path": self.path})
                    time.sleep(2)
            if "slowmount" in steps and self.command == "POST" and "/blobs/uploads/" in self.path:
                repo = self.path[len("/v2/"):].split("/blobs/uploads/")[0]
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                if "mount" in query and query.get("from") not in (None, [repo]):
                    with lock:
                        held[0] += 1
                        now = held[0]
                    log(logpath, {"fault": "slowmount", "path": self.path, "held": now})
                    time.sleep(0.5)
                    with lock:
                        held[0] -= 1
            c = http.client.HTTPSConnection(host, int(uport), context=ctx)
            c.request(self.command, self.path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            c.close()
            is_blob = self.command == "GET" and "/blobs/sha256:" in self.path
            with lock:
                do_cut = cut and is_blob and r.status == 200 and self.path not in cut_done \
                    and len(data) > 1
                if do_cut:
                    cut_done.add(self.path)
            fault = None
            if is_blob and r.status == 200 and len(data) > 200:
                for f in ("stall", "longlen", "shortlen", "wrongbody"):
                    if take(f):
                        fault = f
                        break
            if fault:
                log(logpath, {"fault": fault, "path": self.path})
            if fault == "wrongbody":
                data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
            length = len(data) + (100 if fault == "longlen" else -100 if fault == "shortlen" else 0)
            if badrange and r.status == 200:
                log(logpath, {"fault": "badrange", "path": self.path,
                              "range": self.headers.get("Range")})
                self.send_response(206)
                self.send_header("Content-Range", f"bytes 0-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() == "location":
                    v = v.replace(f"https://{upstream}/", f"https://127.0.0.1:{port}/")
                if k.lower() == "www-authenticate":
                    v = rewrite_realm(v)
                if k.lower() == "content-range" and "nocontentrange" in steps:
                    log(logpath, {"fault": "nocontentrange", "path": self.path})
                    continue
                if k.lower() not in ("connection", "transfer-encoding", "keep-alive",
                                     "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command == "HEAD":
                return
            if r.status in (200, 206) and self.command == "GET" and (
                    ("trickle" in steps and "/manifests/" in self.path) or
                    ("blobtrickle" in steps and is_blob)):
                return trickle(self, data, self.path)
            if fault == "stall":
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                time.sleep(STALL_SECONDS)
                self.close_connection = True
                return
            if fault in ("longlen", "shortlen"):
                self.wfile.write(data[:length])
                self.wfile.flush()
                self.close_connection = True
                return
            if do_cut:
                log(logpath, {"cut": self.path, "sent": len(data) // 2, "of": len(data),
                              "range": self.headers.get("Range")})
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if self.headers.get("Range"):
                log(logpath, {"range": self.headers.get("Range"), "path": self.path,
                              "status": r.status})
            self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_any

    serve(port, cert, key, H)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "token":
        token_main(*args)
    elif mode == "flaky":
        flaky_main(*args)
    elif mode == "redirect":
        redirect_main(*args[:7], *(float(a) for a in args[7:8]), *(a == "nomount" for a in args[8:9]))
    else:
        sys.exit("authserver: unknown mode " + mode)
