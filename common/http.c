#include "airlock/http.h"

#include "airlock/auth.h"
#include "airlock/buf.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define STREAM_BUF_SIZE (512 * 1024)
#define UPLOAD_BUF_SIZE (256 * 1024)
#define CURL_BUFFER_SIZE (512 * 1024)   /* curl's maximum for downloads */
#define DEFAULT_CERTS_D "/etc/containers/certs.d"
/* The slowest a long body may come (bytes a second, averaged over the stall
 * time): below it a download is broken off, and resumed by the caller. */
#define LONG_BODY_FLOOR 1024L

struct host_trust {
    char *host;                 /* host[:port] as in the URL */
    STACK_OF(X509) *certs;      /* NULL when the host has no certs.d entry */
    struct host_trust *next;
};

struct al_http {
    CURLM *multi;
    int insecure;
    long connect_timeout_s;
    long stall_timeout_s;
    char *user_agent;
    char *certs_d;
    STACK_OF(X509) *extra_certs;
    char *extra_only;        /* the CA PEM that alone is trusted, or NULL */
    char *tls_hint;
    struct host_trust *hosts;
    char *client_cert_pem;
    char *client_key_pem;    /* secret */
    void (*trace)(void *, const char *, const char *, long, long, const char *);
    void *trace_ud;
};

struct al_http_stream {
    struct al_http *h;
    CURL *easy;
    struct curl_slist *headers;
    struct al_http_head head;
    int follow;
    int long_body;      /* bounded by the stall rule and the floor only */
    int from_https;     /* the request was https: no redirect may leave it */
    int headers_done;
    int done;
    int paused;
    CURLcode result;
    STACK_OF(X509) *host_certs;
    char *buf;
    size_t start, end;
    /* the reader's own buffer while it waits on an empty stream: body bytes
     * go there first, and only what does not fit into buf */
    char *direct;
    size_t direct_cap, direct_len;
    /* uploads: bytes from al_http_upload_write() waiting for curl */
    char *ubuf;
    size_t ustart, uend;
    long long usize, uwritten;
    int uploading, ueof, upaused;
    int added;          /* handed to the multi handle (an empty upload
                           waits for al_http_upload_finish) */
    /* al_http_upload_pull: the body straight from the caller's source */
    size_t (*fill)(void *ud, char *dst, size_t n);
    void *fill_ud;
    int fill_failed;
    char url_msg[256];
    char errbuf[CURL_ERROR_SIZE];
    char method[16];
    struct timespec t0;
};

/* Adds every PEM certificate `bio` holds to `stack`; `what` names the source. */
static int load_pem_bio(STACK_OF(X509) *stack, BIO *bio, const char *what,
                        struct al_err *e)
{
    X509 *cert;
    int count = 0;

    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(stack, cert)) {
            X509_free(cert);
            return al_err_set(e, AL_ENOMEM, "out of memory");
        }
        count++;
    }
    ERR_clear_error();
    return count ? 0 : al_err_set(e, AL_EINVAL, "no PEM certificate in %s", what);
}

static int load_pem_certs(STACK_OF(X509) *stack, const char *path,
                          struct al_err *e)
{
    BIO *bio = BIO_new_file(path, "r");
    char what[4200];
    int rc;

    if (bio == NULL) {
        ERR_clear_error();
        return al_err_sys(e, AL_EINVAL, errno, "cannot open CA file '%s'", path);
    }
    snprintf(what, sizeof(what), "CA file '%s'", path);
    rc = load_pem_bio(stack, bio, what, e);
    BIO_free(bio);
    return rc;
}

static int load_pem_memory(STACK_OF(X509) *stack, const char *pem,
                           struct al_err *e)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    int rc;

    if (bio == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    rc = load_pem_bio(stack, bio, "the CA data", e);
    BIO_free(bio);
    return rc;
}

/* The system's trust (libcurl's default CA bundle), parsed once a process.
 * curl would parse it for every connection (its own cache is off, see
 * stream_start): about 140 certificates, 15% of an export's CPU. NULL:
 * not loaded, curl loads its default as before. */
static pthread_once_t system_once = PTHREAD_ONCE_INIT;
static STACK_OF(X509) *system_certs;

static void load_system_certs(void)
{
#if LIBCURL_VERSION_NUM >= 0x075400
    CURL *c = curl_easy_init();
    char *path = NULL;
    STACK_OF(X509) *certs = sk_X509_new_null();

    if (c != NULL && certs != NULL &&
        curl_easy_getinfo(c, CURLINFO_CAINFO, &path) == CURLE_OK && path != NULL &&
        load_pem_certs(certs, path, NULL) == 0) {
        system_certs = certs;
        certs = NULL;
    }
    if (certs != NULL)
        sk_X509_pop_free(certs, X509_free);
    curl_easy_cleanup(c);
#endif
}

/* containers-certs.d(5): every NAME.crt in <certs.d>/<host[:port]>/ is a CA. */
static int load_certs_d(const char *certs_d, const char *host,
                        STACK_OF(X509) **out, struct al_err *e)
{
    char dir[1024], path[2048];
    DIR *d;
    struct dirent *de;
    STACK_OF(X509) *certs;
    int rc = 0;

    *out = NULL;
    snprintf(dir, sizeof(dir), "%s/%s", certs_d, host);
    d = opendir(dir);
    if (d == NULL)
        return 0;
    certs = sk_X509_new_null();
    if (certs == NULL) {
        closedir(d);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    while ((de = readdir(d)) != NULL && rc == 0) {
        if (!al_str_ends_with(de->d_name, ".crt"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        rc = load_pem_certs(certs, path, e);
    }
    closedir(d);
    if (rc != 0) {
        sk_X509_pop_free(certs, X509_free);
        return rc;
    }
    *out = certs;
    return 0;
}

static int trust_for_host(struct al_http *h, const char *host,
                          STACK_OF(X509) **out, struct al_err *e)
{
    struct host_trust *t;
    int rc;

    *out = NULL;
    if (h->certs_d[0] == '\0')
        return 0;
    for (t = h->hosts; t != NULL; t = t->next) {
        if (strcmp(t->host, host) == 0) {
            *out = t->certs;
            return 0;
        }
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL || (t->host = strdup(host)) == NULL) {
        free(t);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    rc = load_certs_d(h->certs_d, host, &t->certs, e);
    if (rc != 0) {
        free(t->host);
        free(t);
        return rc;
    }
    t->next = h->hosts;
    h->hosts = t;
    *out = t->certs;
    return 0;
}

int al_http_new(struct al_http **out, const struct al_http_opts *opts,
                struct al_err *e)
{
    struct al_http *h;
    size_t i;
    int rc = 0;

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return al_err_set(e, AL_ENET, "cannot initialise libcurl");
    pthread_once(&system_once, load_system_certs);
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    h->multi = curl_multi_init();
    h->trace = opts->trace;
    h->trace_ud = opts->trace_ud;
    h->extra_certs = sk_X509_new_null();
    h->certs_d = strdup(opts->certs_d ? opts->certs_d : DEFAULT_CERTS_D);
    h->user_agent = strdup(opts->user_agent ? opts->user_agent : "airlock");
    h->tls_hint = strdup(opts->tls_hint ? opts->tls_hint
                                        : "give the registry's CA with --ca-file or "
                                          "/etc/containers/certs.d");
    if (h->multi == NULL || h->extra_certs == NULL || h->certs_d == NULL ||
        h->user_agent == NULL || h->tls_hint == NULL) {
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
        goto out;
    }
    h->insecure = opts->insecure;
    h->connect_timeout_s = opts->connect_timeout_s ? opts->connect_timeout_s : 30;
    h->stall_timeout_s = opts->stall_timeout_s ? opts->stall_timeout_s : 60;
    for (i = 0; i < opts->n_ca_files && rc == 0; i++)
        rc = load_pem_certs(h->extra_certs, opts->ca_files[i], e);
    if (rc == 0 && opts->ca_pem != NULL)
        rc = load_pem_memory(h->extra_certs, opts->ca_pem, e);
    if (rc == 0 && opts->ca_pem_only && opts->ca_pem != NULL &&
        (h->extra_only = strdup(opts->ca_pem)) == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    if (rc == 0 && opts->client_cert_pem != NULL && opts->client_key_pem != NULL) {
        h->client_cert_pem = strdup(opts->client_cert_pem);
        h->client_key_pem = strdup(opts->client_key_pem);
        if (h->client_cert_pem == NULL || h->client_key_pem == NULL)
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
    }
out:
    if (rc != 0) {
        al_http_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

int al_http_trusted_pem(const char *const *ca_files, size_t n_ca_files, const char *certs_d,
                        const char *host, char **out, struct al_err *e)
{
    STACK_OF(X509) *certs = sk_X509_new_null(), *from_dir = NULL;
    BIO *mem = NULL;
    char *data;
    long len;
    size_t i;
    int rc = certs ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");

    *out = NULL;
    for (i = 0; rc == 0 && i < n_ca_files; i++)
        rc = load_pem_certs(certs, ca_files[i], e);
    if (rc == 0 && certs_d != NULL && certs_d[0] != '\0' && host != NULL)
        rc = load_certs_d(certs_d, host, &from_dir, e);
    while (rc == 0 && from_dir != NULL && sk_X509_num(from_dir) > 0) {
        X509 *c = sk_X509_shift(from_dir);
        if (!sk_X509_push(certs, c)) {
            X509_free(c);
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
        }
    }
    if (rc == 0 && sk_X509_num(certs) > 0) {
        mem = BIO_new(BIO_s_mem());
        for (i = 0; mem != NULL && i < (size_t)sk_X509_num(certs); i++)
            if (!PEM_write_bio_X509(mem, sk_X509_value(certs, (int)i)))
                break;
        len = mem ? BIO_get_mem_data(mem, &data) : 0;
        if (mem == NULL || i < (size_t)sk_X509_num(certs) || len <= 0 ||
            (*out = malloc((size_t)len + 1)) == NULL) {
            ERR_clear_error();
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
        } else {
            memcpy(*out, data, (size_t)len);
            (*out)[len] = '\0';
        }
    }
    BIO_free(mem);
    sk_X509_pop_free(from_dir, X509_free);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

void al_http_free(struct al_http *h)
{
    struct host_trust *t, *next;

    if (h == NULL)
        return;
    for (t = h->hosts; t != NULL; t = next) {
        next = t->next;
        if (t->certs)
            sk_X509_pop_free(t->certs, X509_free);
        free(t->host);
        free(t);
    }
    if (h->extra_certs)
        sk_X509_pop_free(h->extra_certs, X509_free);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    free(h->certs_d);
    free(h->user_agent);
    free(h->tls_hint);
    free(h->extra_only);
    free(h->client_cert_pem);
    al_secret_free(h->client_key_pem);
    free(h);
}

static void add_certs(X509_STORE *store, STACK_OF(X509) *certs)
{
    int i;

    for (i = 0; certs != NULL && i < sk_X509_num(certs); i++)
        X509_STORE_add_cert(store, sk_X509_value(certs, i));
    ERR_clear_error(); /* duplicates are reported as errors; they are fine */
}

/* Adds the extra CAs to the trust curl loaded: the system's, or with
 * extra_only the same CAs (curl was given no other). */
static CURLcode ssl_ctx_cb(CURL *curl, void *sslctx, void *parm)
{
    struct al_http_stream *s = parm;
    X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);

    (void)curl;
    if (s->h->extra_only == NULL)
        add_certs(store, system_certs);
    add_certs(store, s->h->extra_certs);
    add_certs(store, s->host_certs);
    return CURLE_OK;
}

static void head_release(struct al_http_head *hd)
{
    free(hd->content_type);
    free(hd->www_authenticate);
    free(hd->docker_digest);
    free(hd->location);
    free(hd->content_range);
    memset(hd, 0, sizeof(*hd));
    hd->content_length = -1;
    hd->retry_after = -1;
}

static char *trimmed_dup(const char *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' ' ||
                     p[n - 1] == '\t'))
        n--;
    return strndup(p, n);
}

static void set_header_once(char **slot, const char *v, size_t n)
{
    if (*slot == NULL)
        *slot = trimmed_dup(v, n);
}

/* Decimal digits at *p into *out, refusing none, a sign and overflow. */
static int parse_digits(const char **p, long long *out)
{
    long long v = 0;
    const char *q = *p;

    if (*q < '0' || *q > '9')
        return -1;
    for (; *q >= '0' && *q <= '9'; q++) {
        if (v > (LLONG_MAX - (*q - '0')) / 10)
            return -1;
        v = v * 10 + (*q - '0');
    }
    *p = q;
    *out = v;
    return 0;
}

int al_http_parse_content_range(const char *v, long long *first, long long *last)
{
    long long a, b, total;

    if (v == NULL || strncasecmp(v, "bytes", 5) != 0 || v[5] != ' ')
        return -1;
    v += 5;
    while (*v == ' ')
        v++;
    if (parse_digits(&v, &a) != 0 || *v++ != '-' || parse_digits(&v, &b) != 0 ||
        *v++ != '/' || a > b)
        return -1;
    if (*v == '*')
        v++;
    else if (parse_digits(&v, &total) != 0 || b >= total)
        return -1;
    if (*v != '\0')
        return -1;
    *first = a;
    *last = b;
    return 0;
}

static size_t header_cb(char *p, size_t size, size_t nitems, void *ud)
{
    struct al_http_stream *s = ud;
    size_t n = size * nitems;
    const char *colon;
    size_t name_len;

    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', n);
        head_release(&s->head);
        s->head.status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return n;
    }
    if (n <= 2) {
        long st = s->head.status;
        int redirect = s->follow && st >= 300 && st < 400 && s->head.location;
        if (st >= 200 && !redirect)
            s->headers_done = 1;
        return n;
    }
    colon = memchr(p, ':', n);
    if (colon == NULL)
        return n;
    name_len = (size_t)(colon - p);
    colon++;
#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(p, name, name_len) == 0)
    if (IS("content-type"))
        set_header_once(&s->head.content_type, colon, n - (size_t)(colon - p));
    else if (IS("www-authenticate"))
        set_header_once(&s->head.www_authenticate, colon, n - (size_t)(colon - p));
    else if (IS("docker-content-digest"))
        set_header_once(&s->head.docker_digest, colon, n - (size_t)(colon - p));
    else if (IS("location"))
        set_header_once(&s->head.location, colon, n - (size_t)(colon - p));
    else if (IS("content-range"))
        set_header_once(&s->head.content_range, colon, n - (size_t)(colon - p));
    else if (IS("content-length"))
        s->head.content_length = strtoll(colon, NULL, 10);
    else if (IS("retry-after"))
        s->head.retry_after = strtol(colon, NULL, 10);  /* HTTP-date form: 0 */
#undef IS
    return n;
}

static size_t write_cb(char *p, size_t size, size_t nitems, void *ud)
{
    struct al_http_stream *s = ud;
    size_t n = size * nitems, k = 0;

    s->headers_done = 1;
    if (s->direct != NULL && s->start == s->end) {
        k = s->direct_cap - s->direct_len;
        if (k > n)
            k = n;
        memcpy(s->direct + s->direct_len, p, k);
        s->direct_len += k;
        if (k == n)
            return n;
        p += k;
        n -= k;
    }
    if (s->end + n > STREAM_BUF_SIZE && s->start > 0) {
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->end -= s->start;
        s->start = 0;
    }
    if (s->end + n > STREAM_BUF_SIZE) {
        if (k > 0) {   /* curl cannot take back a part: keep this piece */
            s->direct_len -= k;
        }
        s->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    memcpy(s->buf + s->end, p, n);
    s->end += n;
    return n + k;
}

/* al_http_upload_pull: the source writes into curl's own buffer. */
static size_t read_from_source(struct al_http_stream *s, char *p, size_t n)
{
    size_t k;

    if (s->fill_failed)   /* abandoned bodies stay abandoned */
        return CURL_READFUNC_ABORT;
    if (s->uwritten >= s->usize)
        return 0;
    if ((long long)n > s->usize - s->uwritten)
        n = (size_t)(s->usize - s->uwritten);
    k = s->fill(s->fill_ud, p, n);
    if (k == 0 || k > n) {
        s->fill_failed = 1;
        return CURL_READFUNC_ABORT;
    }
    s->uwritten += (long long)k;
    return k;
}

static size_t read_cb(char *p, size_t size, size_t nitems, void *ud)
{
    struct al_http_stream *s = ud;
    size_t n = size * nitems, avail = s->uend - s->ustart;

    if (s->fill != NULL)
        return read_from_source(s, p, n);

    /* The body's last byte goes only after al_http_upload_finish(): until
     * then the request cannot complete, so the server never acts on a body
     * the caller may still disown (a blob PUT commits when its body ends,
     * and the caller learns only at the end whether the bytes verified). */
    if (!s->ueof && s->uwritten == s->usize && avail > 0)
        avail--;
    if (avail == 0) {
        if (s->ueof)
            return 0;
        s->upaused = 1;
        return CURL_READFUNC_PAUSE;
    }
    if (n > avail)
        n = avail;
    memcpy(p, s->ubuf + s->ustart, n);
    s->ustart += n;
    if (s->ustart == s->uend)
        s->ustart = s->uend = 0;
    return n;
}

static int stream_setup(struct al_http_stream *s, const struct al_http_req *req,
                        struct al_err *e)
{
    struct al_http *h = s->h;
    CURL *c = s->easy;
    const char *const *hp;
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, hostport[300];
    int rc = 0;

    if (u == NULL || curl_url_set(u, CURLUPART_URL, req->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = al_err_set(e, AL_EINVAL, "invalid URL '%s'", s->url_msg);
        goto out;
    }
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    snprintf(hostport, sizeof(hostport), "%s%s%s", host, port ? ":" : "",
             port ? port : "");
    if (!h->extra_only)
        rc = trust_for_host(h, hostport, &s->host_certs, e);
    if (rc != 0)
        goto out;
    for (hp = req->headers; hp != NULL && *hp != NULL; hp++) {
        struct curl_slist *l = curl_slist_append(s->headers, *hp);
        if (l == NULL) {
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
            goto out;
        }
        s->headers = l;
    }
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PRIVATE, s);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* never from https to plain http: transport_error() names the refusal */
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR,
                     s->from_https ? "https" : "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    /* Custom Authorization headers stay with the original host; this must
     * never be turned on. */
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->connect_timeout_s);
    /* A short answer (manifest, token, API object) is bounded as a whole, so
     * that one trickling a byte a second cannot hold the run; a long body
     * (a blob) by a stall time and a floor, and resumed by its reader. An
     * upload pauses while its bytes are being read, which curl counts
     * against the speed, so its floor stays at a byte a second. */
    if (!s->long_body)
        curl_easy_setopt(c, CURLOPT_TIMEOUT, h->stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT,
                     s->long_body && !s->uploading ? LONG_BODY_FLOOR : 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->stall_timeout_s);
    /* fewer, larger hand-overs between curl and us (measured: about 5% less
     * time for an export) */
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, (long)CURL_BUFFER_SIZE);
#if LIBCURL_VERSION_NUM >= 0x075700
    /* ssl_ctx_cb changes the store curl loaded; a store curl caches would
     * carry one host's certs.d CAs to the next host */
    curl_easy_setopt(c, CURLOPT_CA_CACHE_TIMEOUT, 0L);
#endif
    if (h->extra_only != NULL) {
        /* no system bundle or directory, only these CAs (curl may load
         * its trust after ssl_ctx_cb, so dropping it there is not enough) */
        struct curl_blob ca = {h->extra_only, strlen(h->extra_only), CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
    } else if (system_certs != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, NULL);   /* ssl_ctx_cb adds it, parsed */
    }
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, s);
    if (h->client_cert_pem != NULL) {
        struct curl_blob cert = {h->client_cert_pem, strlen(h->client_cert_pem),
                                 CURL_BLOB_NOCOPY};
        struct curl_blob key = {h->client_key_pem, strlen(h->client_key_pem),
                                CURL_BLOB_NOCOPY};
        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (h->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    /* Every request goes over HTTP/1.1. Over HTTP/2 a body travels in 16
     * KiB frames, an upload's under the server's flow-control window (1 MiB a
     * stream for Go's registries, so at most 25 MB/s at 40 ms); both ends pay
     * for the framing: uploads cost twice the CPU, and downloads made the
     * export 14% slower on loopback (make bench). Short requests gain
     * nothing from it either: each thread has its own client, so there is
     * nothing to multiplex, and a Go registry spends about 3% more CPU a
     * request on HTTP/2 (the small images' import, docs/PERFORMANCE.md). One
     * protocol also means one connection a thread, not two. */
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (s->uploading) {
        curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, (long)CURL_BUFFER_SIZE);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->usize);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(c, CURLOPT_READDATA, s);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body ? req->body_len : 0));
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
out:
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* Drives the multi handle once and records finished transfers; with
 * `wait`, first waits (at most a second) for a socket or a timer. Waiting
 * before driving, never after: a drive may already have done what the
 * caller waits for (headers, body), and a transfer paused meanwhile is not
 * polled, so a wait after it would sleep the whole second for nothing
 * (make bench found this with HTTP/1.1). */
static int pump(struct al_http *h, int wait, struct al_err *e)
{
    int running = 0, left = 0;
    CURLMcode mc;
    CURLMsg *msg;

    if (wait) {
        mc = curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK)
            return al_err_set(e, AL_ENET, "libcurl: %s", curl_multi_strerror(mc));
    }
    mc = curl_multi_perform(h->multi, &running);
    if (mc != CURLM_OK)
        return al_err_set(e, AL_ENET, "libcurl: %s", curl_multi_strerror(mc));
    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        struct al_http_stream *s = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (s != NULL) {
            s->done = 1;
            s->result = msg->data.result;
        }
    }
    return 0;
}

/* True when the last response redirected to a plain-http URL. */
static int redirected_to_http(const struct al_http_stream *s)
{
    const char *loc = s->head.location;

    return s->from_https && loc != NULL && strncasecmp(loc, "http://", 7) == 0;
}

/* Whether libcurl takes `url` through a proxy from the environment, as it
 * does: *_PROXY set and the host not excluded by NO_PROXY (a rough match:
 * an exact host, a domain suffix, or "*"). */
static int proxy_in_use(const char *url)
{
    static const char *const vars[] = {"https_proxy", "HTTPS_PROXY", "http_proxy",
                                       "ALL_PROXY", "all_proxy"};
    const char *no = getenv("NO_PROXY") ? getenv("NO_PROXY") : getenv("no_proxy");
    const char *host = strstr(url, "://");
    char name[256], list[1024], *tok, *save = NULL;
    size_t i, n;
    int set = 0;

    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        set |= getenv(vars[i]) != NULL && getenv(vars[i])[0] != '\0';
    if (!set || host == NULL)
        return 0;
    host += 3;
    n = strcspn(host, ":/?#");
    snprintf(name, sizeof(name), "%.*s", (int)n, host);
    snprintf(list, sizeof(list), "%s", no ? no : "");
    for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        size_t tl = strlen(tok), nl = strlen(name);
        if (strcmp(tok, "*") == 0 || strcasecmp(tok, name) == 0 ||
            (tl < nl && strcasecmp(name + nl - tl, tok) == 0 &&
             (tok[0] == '.' || name[nl - tl - 1] == '.')))
            return 0;
    }
    return 1;
}

static int transport_error(struct al_http_stream *s, struct al_err *e)
{
    const char *why = s->errbuf[0] ? s->errbuf : curl_easy_strerror(s->result);
    char hint[320] = "", to[256];
    int code = AL_ENET;

    if (s->result == CURLE_UNSUPPORTED_PROTOCOL && redirected_to_http(s)) {
        /* not transient: never retried, whoever asked */
        al_http_url_for_message(s->head.location, to, sizeof(to));
        return al_err_set(e, AL_ETLS, "refusing the redirect from '%s' to the "
                          "plain-http '%s': nothing leaves TLS; ask the "
                          "registry's operator to serve it over https",
                          s->url_msg, to);
    }
    if (s->result == CURLE_PEER_FAILED_VERIFICATION ||
        s->result == CURLE_SSL_CACERT_BADFILE) {
        snprintf(hint, sizeof(hint), "%s", s->h->tls_hint);
        code = AL_ETLS;
    } else if (s->result == CURLE_OPERATION_TIMEDOUT && s->long_body) {
        snprintf(hint, sizeof(hint), " (slower than %ld bytes a second for "
                 "--timeout, %ld s)", s->uploading ? 1L : LONG_BODY_FLOOR,
                 s->h->stall_timeout_s);
    } else if (s->result == CURLE_OPERATION_TIMEDOUT) {
        snprintf(hint, sizeof(hint), " (no whole answer within --timeout, %ld s)",
                 s->h->stall_timeout_s);
    }
    if (code == AL_ENET && proxy_in_use(s->url_msg))
        snprintf(hint + strlen(hint), sizeof(hint) - strlen(hint),
                 " (through the proxy that HTTPS_PROXY, HTTP_PROXY or ALL_PROXY "
                 "names: check it, or exclude this host with NO_PROXY)");
    if (code == AL_ETLS)
        return al_err_set(e, code, "cannot transfer '%s': %s (TLS verification failed: "
                          "%s)", s->url_msg, why, hint);
    return al_err_set(e, code, "cannot transfer '%s': %s%s", s->url_msg, why, hint);
}

static int stream_add(struct al_http_stream *s, struct al_err *e)
{
    if (curl_multi_add_handle(s->h->multi, s->easy) != CURLM_OK)
        return al_err_set(e, AL_ENET, "libcurl refused a transfer");
    s->added = 1;
    return 0;
}

/* Creates and starts a transfer; uploads when size >= 0. */
static int stream_start(struct al_http *h, const struct al_http_req *req,
                        long long upload_size, struct al_http_stream **out,
                        struct al_err *e)
{
    struct al_http_stream *s;
    int rc;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    s->h = h;
    s->head.content_length = -1;
    s->head.retry_after = -1;
    s->follow = req->follow_redirects;
    s->uploading = upload_size >= 0;
    s->long_body = req->long_body || s->uploading;
    s->from_https = strncasecmp(req->url, "https://", 8) == 0;
    s->usize = upload_size;
    al_http_url_for_message(req->url, s->url_msg, sizeof(s->url_msg));
    snprintf(s->method, sizeof(s->method), "%s", req->method ? req->method : "GET");
    clock_gettime(CLOCK_MONOTONIC, &s->t0);
    s->buf = malloc(STREAM_BUF_SIZE);
    s->ubuf = s->uploading ? malloc(UPLOAD_BUF_SIZE) : NULL;
    s->easy = curl_easy_init();
    if (s->buf == NULL || s->easy == NULL || (s->uploading && s->ubuf == NULL)) {
        al_http_stream_close(s);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    rc = stream_setup(s, req, e);
    /* curl would otherwise wait for "100 Continue" before a body: that of
     * every upload, and a manifest of over 1 MiB (up to a second where the
     * server never sends it) */
    if (rc == 0) {
        struct curl_slist *l = curl_slist_append(s->headers, "Expect:");
        if (l == NULL)
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
        else
            s->headers = l;
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    }
    /* an empty body would complete the request at once: it waits for
     * al_http_upload_finish() (see read_cb) */
    if (rc == 0 && !(s->uploading && s->usize == 0))
        rc = stream_add(s, e);
    if (rc != 0) {
        al_http_stream_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int al_http_upload_open(struct al_http *h, const struct al_http_req *req,
                        long long size, struct al_http_stream **out,
                        struct al_err *e)
{
    return stream_start(h, req, size < 0 ? 0 : size, out, e);
}

/* The server answered before taking the whole body. */
static int upload_cut_short(struct al_http_stream *s, struct al_err *e)
{
    if (s->result != CURLE_OK)
        return transport_error(s, e);
    return al_err_set(e, AL_EHTTP, "'%s' answered HTTP %ld before the upload "
                      "was complete", s->url_msg, s->head.status);
}

int al_http_upload_write(struct al_http_stream *s, const void *p, size_t n,
                         struct al_err *e)
{
    const char *c = p;
    int rc;

    if ((long long)n > s->usize - s->uwritten)
        return al_err_set(e, AL_EINVAL, "upload to '%s' is larger than its declared "
                          "%lld bytes", s->url_msg, s->usize);
    while (n > 0) {
        size_t space, k;
        if (s->done)
            return upload_cut_short(s, e);
        if (s->ustart > 0 && UPLOAD_BUF_SIZE - s->uend < n) {
            memmove(s->ubuf, s->ubuf + s->ustart, s->uend - s->ustart);
            s->uend -= s->ustart;
            s->ustart = 0;
        }
        space = UPLOAD_BUF_SIZE - s->uend;
        if (space == 0) {
            rc = pump(s->h, 0, e);
            if (rc == 0 && s->uend - s->ustart == UPLOAD_BUF_SIZE)
                rc = pump(s->h, 1, e);
            if (rc != 0)
                return rc;
            continue;
        }
        k = n < space ? n : space;
        memcpy(s->ubuf + s->uend, c, k);
        s->uend += k;
        s->uwritten += (long long)k;
        c += k;
        n -= k;
        if (s->upaused) {
            s->upaused = 0;
            curl_easy_pause(s->easy, CURLPAUSE_CONT);
        }
    }
    return 0;
}

/* Lets the body go (starting the request if it waited) and drives the
 * transfer until the response head has come, or the transfer ended. */
static int send_until_answered(struct al_http_stream *s, struct al_err *e)
{
    int rc = s->added ? 0 : stream_add(s, e);

    if (s->upaused) {
        s->upaused = 0;
        curl_easy_pause(s->easy, CURLPAUSE_CONT);
    }
    while (rc == 0 && !s->headers_done && !s->done)
        rc = pump(s->h, 1, e);
    return rc;
}

int al_http_upload_finish(struct al_http_stream *s, struct al_err *e)
{
    int rc = 0;

    if (s->uwritten != s->usize)
        return al_err_set(e, AL_EINVAL, "upload to '%s' has %lld of its %lld bytes",
                          s->url_msg, s->uwritten, s->usize);
    s->ueof = 1;
    rc = send_until_answered(s, e);
    if (rc == 0 && s->done && s->result != CURLE_OK)
        rc = transport_error(s, e);
    return rc;
}

int al_http_upload_pull(struct al_http_stream *s,
                        size_t (*fill)(void *ud, char *dst, size_t n), void *ud,
                        struct al_err *e)
{
    int rc = 0;

    if (s->uwritten != 0 || s->usize == 0)
        return al_err_set(e, AL_EINVAL, "upload to '%s': a pulled body must be whole "
                          "and not empty", s->url_msg);
    s->fill = fill;
    s->fill_ud = ud;
    rc = send_until_answered(s, e);
    if (rc == 0 && s->fill_failed)
        rc = al_err_set(e, AL_EINTR, "upload to '%s' abandoned by its source",
                        s->url_msg);
    else if (rc == 0 && s->uwritten != s->usize)
        rc = upload_cut_short(s, e);
    else if (rc == 0 && s->done && s->result != CURLE_OK)
        rc = transport_error(s, e);
    return rc;
}

int al_http_stream_open(struct al_http *h, const struct al_http_req *req,
                        struct al_http_stream **out, struct al_err *e)
{
    struct al_http_stream *s;
    int rc;

    *out = NULL;
    rc = stream_start(h, req, -1, &s, e);
    if (rc != 0)
        return rc;
    while (rc == 0 && !s->headers_done && !s->done)
        rc = pump(h, 1, e);
    if (rc == 0 && s->done && s->result != CURLE_OK)
        rc = transport_error(s, e);
    if (rc != 0) {
        al_http_stream_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

const struct al_http_head *al_http_stream_head(const struct al_http_stream *s)
{
    return &s->head;
}

int al_http_stream_read(struct al_http_stream *s, void *p, size_t n,
                        size_t *got, struct al_err *e)
{
    size_t avail;
    int rc;

    *got = 0;
    while (s->start == s->end && !s->done) {
        if (s->paused) {
            s->paused = 0;
            curl_easy_pause(s->easy, CURLPAUSE_CONT);
            if (s->start != s->end)
                break;
        }
        /* Drive curl without waiting first: after an unpause it may hold
         * data already, and a wait on the socket would stall for nothing.
         * Meanwhile the body goes straight into the caller's buffer (one
         * copy fewer); the pointer is never left behind for a later drive. */
        s->direct = p;
        s->direct_cap = n;
        s->direct_len = 0;
        rc = pump(s->h, 0, e);
        if (rc == 0 && s->start == s->end && s->direct_len == 0 && !s->done)
            rc = pump(s->h, 1, e);
        s->direct = NULL;
        if (rc == 0 && s->direct_len > 0) {
            *got = s->direct_len;
            return 0;
        }
        if (rc != 0)
            return rc;
    }
    if (s->start == s->end) {
        if (s->result != CURLE_OK)
            return transport_error(s, e);
        return 0;
    }
    avail = s->end - s->start;
    if (n > avail)
        n = avail;
    memcpy(p, s->buf + s->start, n);
    s->start += n;
    if (s->start == s->end)
        s->start = s->end = 0;
    *got = n;
    return 0;
}

static void trace_end(const struct al_http_stream *s)
{
    struct timespec t1;
    const char *error = NULL;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (s->result != CURLE_OK)
        error = s->errbuf[0] ? s->errbuf : curl_easy_strerror(s->result);
    s->h->trace(s->h->trace_ud, s->method, s->url_msg, s->head.status,
                (t1.tv_sec - s->t0.tv_sec) * 1000 + (t1.tv_nsec - s->t0.tv_nsec) / 1000000,
                error);
}

void al_http_stream_close(struct al_http_stream *s)
{
    if (s == NULL)
        return;
    if (s->h->trace != NULL && s->added)
        trace_end(s);
    if (s->added)
        curl_multi_remove_handle(s->h->multi, s->easy);
    if (s->easy)
        curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    head_release(&s->head);
    free(s->buf);
    free(s->ubuf);
    free(s);
}

int al_http_stream_finish(struct al_http_stream *s, struct al_http_resp *resp,
                          size_t max_body, struct al_err *e)
{
    char chunk[16384];
    size_t got;
    int rc;

    al_buf_release(&resp->body);
    al_buf_init(&resp->body, max_body);
    do {
        rc = al_http_stream_read(s, chunk, sizeof(chunk), &got, e);
        if (rc == 0 && got > 0)
            rc = al_buf_append(&resp->body, chunk, got, s->url_msg, e);
    } while (rc == 0 && got > 0);
    if (rc == 0 && resp->body.data == NULL)
        rc = al_buf_append(&resp->body, "", 0, s->url_msg, e);
    head_release(&resp->head);
    resp->head = s->head;
    memset(&s->head, 0, sizeof(s->head));
    s->head.status = resp->head.status;   /* for the -v line (not owned) */
    al_http_stream_close(s);
    return rc;
}

int al_http_do(struct al_http *h, const struct al_http_req *req,
               struct al_http_resp *resp, size_t max_body, struct al_err *e)
{
    struct al_http_stream *s = NULL;
    int rc;

    memset(resp, 0, sizeof(*resp));
    resp->head.content_length = -1;
    resp->head.retry_after = -1;
    al_buf_init(&resp->body, max_body);
    rc = al_http_stream_open(h, req, &s, e);
    if (rc != 0)
        return rc;
    return al_http_stream_finish(s, resp, max_body, e);
}

void al_http_resp_release(struct al_http_resp *resp)
{
    head_release(&resp->head);
    al_buf_release(&resp->body);
}
