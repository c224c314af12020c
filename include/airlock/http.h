/* HTTP over libcurl: TLS trust, pull-style response streams, redirects.
 *
 * One al_http client owns a curl multi handle, so connections (and their TLS
 * sessions) are reused across requests to the same host. A response body is
 * read through al_http_stream_read() in the caller's rhythm: the transfer
 * pauses while the caller is busy, so memory stays fixed whatever the size. */
#ifndef AIRLOCK_HTTP_H
#define AIRLOCK_HTTP_H

#include <stddef.h>

#include "airlock/buf.h"
#include "airlock/err.h"

struct al_http_opts {
    const char *const *ca_files;  /* extra PEM CA files, added to system trust */
    size_t n_ca_files;
    const char *certs_d;          /* "/etc/containers/certs.d" by default;
                                     <dir>/<host[:port]>/NAME.crt are trusted for
                                     that host; "" for none */
    int insecure;                 /* skip TLS verification (explicit flag only) */
    long connect_timeout_s;       /* 0: 30 s */
    long stall_timeout_s;         /* --timeout; 0: 60 s. A response is
                                     abandoned when it takes this long as a
                                     whole; a long body (al_http_req) when it
                                     moves slower than 1 KiB a second (an
                                     upload: 1 byte) for this long */
    const char *user_agent;
    const char *ca_pem;           /* extra CA certificates in memory (PEM) */
    int ca_pem_only;              /* with ca_pem: trust ca_pem alone, not the
                                     system trust, ca_files or certs.d (a
                                     kubeconfig's certificate-authority, as
                                     kubectl does) */
    const char *tls_hint;         /* what to do when verification fails;
                                     NULL: name --ca-file and certs.d */
    const char *client_cert_pem;  /* TLS client certificate and key (PEM) */
    const char *client_key_pem;
    /* Told of every request when it ends (--verbose): the method, the URL
     * without credentials, the status (0 when none came), the time taken and
     * the transport error or NULL. Called from whichever thread made the
     * request. NULL for none. */
    void (*trace)(void *ud, const char *method, const char *url, long status,
                  long ms, const char *error);
    void *trace_ud;
};

struct al_http;        /* a client; not thread-safe */
struct al_http_stream; /* one response being read */

int al_http_new(struct al_http **out, const struct al_http_opts *opts,
                struct al_err *e);
void al_http_free(struct al_http *h);   /* accepts NULL */

/* The certificates a client made with these ca_files and certs_d trusts
 * `host` ("host[:port]") with beyond the system's, as PEM: every certificate
 * of the files and of certs_d/<host>/NAME.crt, and nothing else they hold (a
 * private key kept beside a certificate stays there). For a cluster that must
 * trust the same registry. Unlike al_http_opts, a NULL certs_d means none
 * (give the directory the client was given). *out is NULL (and 0 returned)
 * when there are none; free() it. */
int al_http_trusted_pem(const char *const *ca_files, size_t n_ca_files, const char *certs_d,
                        const char *host, char **out, struct al_err *e);

struct al_http_req {
    const char *method;          /* "GET", "HEAD", "POST", "PUT", ... */
    const char *url;             /* no userinfo; never printed with a query */
    const char *const *headers;  /* NULL-terminated "Name: value" list or NULL */
    const void *body;            /* request body for POST/PUT, or NULL */
    size_t body_len;
    int follow_redirects;        /* follow 3xx (Authorization is never sent
                                    to another host; from https, never to
                                    plain http: AL_ETLS naming both URLs) */
    int long_body;               /* a body that may rightly take long (a
                                    blob): not bounded as a whole, only by
                                    the stall rule and its floor; uploads
                                    always are */
};

/* Response headers airlock cares about; strings owned by the stream/resp. */
struct al_http_head {
    long status;
    char *content_type;
    char *www_authenticate;   /* the first challenge header */
    char *docker_digest;      /* Docker-Content-Digest */
    char *location;
    char *content_range;      /* Content-Range, as sent */
    long long content_length; /* -1 when absent */
    long retry_after;         /* Retry-After in seconds, -1 when absent */
};

/* Reads a Content-Range value "bytes FIRST-LAST/TOTAL" (TOTAL may be "*")
 * into *first and *last: 0, or -1 when `v` is NULL or not of that form
 * (FIRST > LAST, numbers out of range, anything trailing). */
int al_http_parse_content_range(const char *v, long long *first, long long *last);

/* Starts a request and returns once the final response's headers have
 * arrived (or the transfer ended). The status is in head->status; any status
 * is a success here, only transport failures are errors. */
int al_http_stream_open(struct al_http *h, const struct al_http_req *req,
                        struct al_http_stream **out, struct al_err *e);

/* The response head of an open stream. */
const struct al_http_head *al_http_stream_head(const struct al_http_stream *s);

/* Reads up to `n` body bytes into `p`; *got = 0 means the body ended cleanly.
 * A transport failure mid-body is an error. */
int al_http_stream_read(struct al_http_stream *s, void *p, size_t n,
                        size_t *got, struct al_err *e);

/* Ends the transfer (aborting it if unfinished) and frees `s`. NULL is ok. */
void al_http_stream_close(struct al_http_stream *s);

/* Starts a request whose body, exactly `size` bytes, the caller supplies with
 * al_http_upload_write() as it produces them: the bytes go out as they come,
 * through a fixed buffer, except the body's last byte, which is sent only by
 * al_http_upload_finish() (an empty body's request is only then started):
 * the request cannot complete before the caller says so. Finish waits for
 * the response head; after it the stream reads like any other and is closed
 * with al_http_stream_close(), which also aborts an unfinished upload (the
 * server sees a body cut short). */
int al_http_upload_open(struct al_http *h, const struct al_http_req *req,
                        long long size, struct al_http_stream **out,
                        struct al_err *e);
int al_http_upload_write(struct al_http_stream *s, const void *p, size_t n,
                         struct al_err *e);
int al_http_upload_finish(struct al_http_stream *s, struct al_err *e);

/* Instead of write and finish: the whole body (not empty) is pulled from
 * `fill` as curl sends it, written straight into curl's own buffer (no
 * copy in between). fill puts 1 to n bytes at dst and returns how many, or
 * 0 to abandon the body (the transfer is aborted, the server sees it cut
 * short: AL_EINTR). It is called on this thread, from within this call,
 * and asked for no byte beyond the declared size: whether to give the last
 * one is its own decision. Returns once the response head arrived. */
int al_http_upload_pull(struct al_http_stream *s,
                        size_t (*fill)(void *ud, char *dst, size_t n), void *ud,
                        struct al_err *e);

/* Resolves `ref` (a Location header: absolute, or relative to `base`) into a
 * newly allocated absolute URL; NULL when it is not a usable http(s) URL. */
char *al_http_url_join(const char *base, const char *ref);

/* True when two URLs name the same scheme, host and port (credentials may be
 * sent to the second only then). */
int al_http_same_origin(const char *a, const char *b);

/* A whole request: head plus body into `body` (bounded by its maximum). */
struct al_http_resp {
    struct al_http_head head;
    struct al_buf body;
};

/* Performs `req` and reads up to `max_body` bytes of body. The caller must
 * al_http_resp_release() the response, also on failure. */
int al_http_do(struct al_http *h, const struct al_http_req *req,
               struct al_http_resp *resp, size_t max_body, struct al_err *e);
void al_http_resp_release(struct al_http_resp *resp);

/* Reads the rest of an open stream's body into resp->body (at most
 * `max_body` bytes: a longer body is AL_ETOOBIG and the transfer is
 * abandoned, so an endless body cannot hold the caller), moves the head into
 * resp->head and closes `s`, whatever happens. `resp` must be initialised
 * (al_http_do() does it; or zero it with content_length = -1). */
int al_http_stream_finish(struct al_http_stream *s, struct al_http_resp *resp,
                          size_t max_body, struct al_err *e);

/* Copies `url` into out without userinfo or query string, for messages. */
void al_http_url_for_message(const char *url, char *out, size_t n);

#endif
