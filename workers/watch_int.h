/* workers/watch_int.h — what the watch machine (watch.c) and the table of
 * watches (watch_table.c) share. Not an API: nothing outside those two files
 * includes it. Loop thread only, like everything in watch.h.
 */
#ifndef BITMON_WORKERS_WATCH_INT_H
#define BITMON_WORKERS_WATCH_INT_H

#include <stdint.h>

#include "workers/schedule.h"
#include "workers/watch.h"

#define WATCH_FAC   "watch"
#define WATCH_NEVER INT64_MAX

typedef enum {
        WATCH_STAGE_BUILD = 0,
        WATCH_STAGE_LOG_INFO,
        WATCH_STAGE_RAW_LOG,
} watch_stage_t;

typedef enum {
        WATCH_STATE_ON_HOLD = 0,
        WATCH_STATE_RUNNING,
        WATCH_STATE_FINISHED,
} watch_state_t;

typedef struct watch_sub { /* one job subscribed to a watch */
        void *job;
        int follow;
        watch_log_t log;
        int64_t deadline_at; /* loop ms; WATCH_NEVER = none */
        struct watch_sub *next;
} watch_sub_t;

enum { WATCH_WAIT_NONE = 0, WATCH_WAIT_QUEUED, WATCH_WAIT_ADMITTED };

/* One per watched build, for as long as a job follows it (250,000 of them
 * in a process): pointers first, then the narrow fields and the flags,
 * and the key at the end of the same allocation (watch_create allocates
 * offsetof(watch_t, key) + the key's length). */
typedef struct watch {
        watch_table_t *tbl;
        struct watch *hnext; /* bucket chain */
        watch_sub_t *subs;
        loop_timer_t *timer;
        int64_t next_at;                     /* loop ms of the next step */
        struct watch *wait_next, *wait_prev; /* the line (tbl->wait_*) */
        watch_request_t *req; /* while in_flight (request_start's) */
        void *build;          /* latest BUILD payload */
        void *log_info;       /* LOG_INFO payload for the raw log */
        int64_t log_since;
        struct app_group *grp;
        struct watch *gnext, *gprev;
        uint32_t hash; /* of the key (watch_table.c) */
        uint32_t nsubs;
        uint32_t seen_round; /* the group's round that showed its build */
        uint16_t key_len;    /* bounded by JOB_WORKSPACE_MAX, JOB_SLUG_MAX */
        uint16_t app_off, build_off; /* into key */
        uint16_t attempts;           /* transient failures in a row */
        uint16_t raw_tries;
        /* Flags, two bytes in all. */
        unsigned stage : 2;        /* watch_stage_t */
        unsigned state : 2;        /* watch_state_t */
        unsigned waiting : 2;      /* WATCH_WAIT_*: in line for a slot */
        unsigned in_flight : 1;    /* req is started */
        unsigned rate_wait : 1;    /* waiting for budget or a 429 block */
        unsigned lease_held : 1;   /* build cache refresh lease */
        unsigned known : 1;        /* state is known */
        unsigned valid_cached : 1; /* the last validity_get said VALID */
        unsigned log_first : 1;    /* the next /log answer is its first
                                    * (archive lag) */
        /* The app group (apppoll.c). */
        unsigned parked : 1; /* waits for its group's list call */
        unsigned solo : 1;   /* its next look is its own GET (list miss,
                              * failed list call, hint) */
        unsigned fresh : 1;  /* its next look skips the build cache (hint) */
        char fp[WATCH_FP_MAX];
        char key[]; /* "workspace\0app\0build\0" */
} watch_t;

static inline const char *watch_workspace(const watch_t *w) {
        return w->key;
}

static inline const char *watch_app(const watch_t *w) {
        return w->key + w->app_off;
}

static inline const char *watch_build(const watch_t *w) {
        return w->key + w->build_off;
}

struct watch_table {
        loop_t *loop;
        sched_lag_t log_lag; /* Bitrise's archive lag, learnt (schedule.h) */
        watch_opts_t opts;
        watch_seams_t seams;
        watch_t **buckets;
        size_t nbuckets; /* power of two */
        size_t nwatches;
        size_t njobs;
        size_t in_flight; /* requests started and not answered */
        size_t admitted;  /* watches let out of the line, timer armed */
        watch_t *wait_head, *wait_tail; /* due watches waiting for a slot */
        _Atomic long *counter;          /* watch_table_count_into */
        struct apppoll *ap;             /* app groups (apppoll.c) */
        loop_timer_t *check;            /* watch_table_check */
};

/* watch.c: after any change, free the watch when no job is left, else arm
 * its timer for the next step or the earliest deadline. */
void watch_settle(watch_t *w);

/* watch.c: what a job joining a watch that knows its build gets at once. */
void watch_greet(watch_t *w, watch_sub_t *sub);

/* watch.c: a hint says the build may have changed: the next look at it
 * is now (BUILD stage only; a request in flight or a wait for budget or a
 * 429 block stays as it is). */
void watch_look_now(watch_t *w);

/* watch.c: a BUILD answer that did not come from the watch's own request
 * (the app poller's list call or the shared cache): handled exactly as its
 * own GET's answer would be; takes ans->payload. The watch may be freed
 * when this returns (no job left). */
void watch_feed_build(watch_t *w, watch_answer_t *ans);

/* watch.c: the watch's own look at its build is due now (unparked). */
void watch_due_now(watch_t *w);

/* watch.c: 1 when nothing will step the watch again: not in flight, not
 * in line, and neither its timer nor (parked) its group's call is due.
 * Never, unless the machine has a defect; watch_table_check looks. */
int watch_stalled(const watch_t *w);

/* watch.c: one line on the watch's state, for such a log line. */
void watch_describe(const watch_t *w, char *buf, size_t size);

/* watch.c: a stalled watch looks at its build itself, now. */
void watch_restart(watch_t *w);

/* watch.c: lets watches waiting in line for a request slot out for the
 * free slots (after any request of the table ended). */
void watch_line_admit(watch_table_t *tbl);

/* watch.c: an interval with the table's jitter. */
int64_t watch_jittered(const watch_table_t *tbl, int64_t ms);

/* watch_table.c: the watch of (workspace, app, build), or NULL. */
watch_t *watch_table_find(watch_table_t *tbl, const char *workspace,
                          const char *app, const char *build);

/* watch.c: removes *pp from w and frees it (the job has ended). */
void watch_sub_unlink(watch_t *w, watch_sub_t **pp);

/* watch_table.c: takes w out of its table's index. */
void watch_table_unlink(watch_table_t *tbl, watch_t *w);

#endif
