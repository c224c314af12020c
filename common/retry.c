#include "airlock/retry.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "airlock/err.h"

#define BACKOFF_MAX_MS 30000L
#define RETRY_AFTER_MAX_S 120L

void al_retry_init(struct al_retry *r)
{
    r->retries = 5;
    r->delay_ms = 500;
    r->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(size_t)r;
}

int al_retry_transient_status(long st)
{
    return st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

int al_retry_again(const struct al_retry *r, int attempt, int rc, long status)
{
    return attempt < r->retries &&
           (rc == AL_ENET || (rc == 0 && al_retry_transient_status(status)));
}

void al_retry_sleep(struct al_retry *r, int attempt, long retry_after_s)
{
    long ms = r->delay_ms > 0 ? r->delay_ms : 1;
    struct timespec ts;
    int i;

    for (i = 0; i < attempt && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    ms = ms / 2 + (long)(rand_r(&r->seed) % (unsigned)(ms + 1));
    if (retry_after_s >= 0)
        ms = (retry_after_s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : retry_after_s) * 1000;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}
