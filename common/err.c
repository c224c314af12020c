#include "airlock/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void al_err_init(struct al_err *e)
{
    if (e != NULL)
        memset(e, 0, sizeof(*e));
}

/* The length of the UTF-8 sequence at `p` (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t n, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    for (i = 1; i < n; i++, lo = 0x80, hi = 0xBF)
        if (p[i] < lo || p[i] > hi)   /* (also stops at the NUL) */
            return 0;
    return n;
}

void al_utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (*p != '\0') {
        size_t n = utf8_len(p);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

static void set_msg(struct al_err *e, const char *fmt, va_list ap)
{
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    al_utf8_scrub(e->msg);
}

int al_err_set(struct al_err *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return code;
    e->code = code;
    e->sys_errno = 0;
    e->http_status = 0;
    va_start(ap, fmt);
    set_msg(e, fmt, ap);
    va_end(ap);
    return code;
}

int al_err_sys(struct al_err *e, int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (e == NULL)
        return code;
    e->code = code;
    e->sys_errno = errnum;
    e->http_status = 0;
    va_start(ap, fmt);
    set_msg(e, fmt, ap);
    va_end(ap);
    n = strlen(e->msg);
    snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(errnum));
    al_utf8_scrub(e->msg);   /* (cut at the end, it may end mid-character) */
    return code;
}

int al_err_prefix(struct al_err *e, const char *fmt, ...)
{
    char head[AL_ERR_MSG_MAX];
    char old[AL_ERR_MSG_MAX];
    va_list ap;

    if (e == NULL)
        return AL_EINVAL;
    memcpy(old, e->msg, sizeof(old));
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    {
        size_t hn = strnlen(head, sizeof(e->msg) - 1);
        memcpy(e->msg, head, hn);
        if (hn + 2 < sizeof(e->msg)) {
            memcpy(e->msg + hn, ": ", 2);
            hn += 2;
        }
        snprintf(e->msg + hn, sizeof(e->msg) - hn, "%s", old);
    }
    al_utf8_scrub(e->msg);
    return e->code;
}

const char *al_code_name(int code)
{
    switch (code) {
    case AL_OK: return "success";
    case AL_EINVAL: return "invalid input";
    case AL_EIO: return "I/O error";
    case AL_ENOMEM: return "out of memory";
    case AL_ENET: return "network error";
    case AL_ETLS: return "TLS verification failed or refused";
    case AL_EHTTP: return "unexpected HTTP status";
    case AL_ENOTFOUND: return "not found";
    case AL_EDENIED: return "access denied";
    case AL_EDIGEST: return "digest mismatch";
    case AL_EUNSUPPORTED: return "unsupported";
    case AL_ESIG: return "bad signature";
    case AL_ETOOBIG: return "too large";
    case AL_EINTR: return "interrupted";
    case AL_ECONFLICT: return "conflict";
    case AL_EBUSY: return "busy";
    case AL_EAUTH: return "credentials refused";
    default: return "error";
    }
}
