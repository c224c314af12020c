/* When and how long to wait before trying a request again: one policy for
 * the registries and the Kubernetes API. */
#ifndef AIRLOCK_RETRY_H
#define AIRLOCK_RETRY_H

struct al_retry {
    int retries;       /* further attempts after a transient failure */
    long delay_ms;     /* the first wait; doubles each time, 30 s at most */
    unsigned seed;     /* jitter */
};

/* 5 retries from 500 ms, seeded from the time and pid. */
void al_retry_init(struct al_retry *r);

/* Worth another try: overloaded or restarting servers and gateways
 * (HTTP 429, 500, 502, 503, 504). */
int al_retry_transient_status(long status);

/* True when `attempt` (0 for the first) failed transiently and tries are
 * left: a transport failure (rc AL_ENET) or a transient status (rc 0). */
int al_retry_again(const struct al_retry *r, int attempt, int rc, long status);

/* Sleeps before attempt `attempt` + 1: exponential backoff with jitter
 * (0.5x to 1.5x), or what Retry-After asked (retry_after_s >= 0, at most
 * 120 s). */
void al_retry_sleep(struct al_retry *r, int attempt, long retry_after_s);

#endif
