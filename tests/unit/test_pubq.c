/* Unit tests for workers/pubq: a real producer whose broker is not there
 * (127.0.0.1:1) and whose queue holds 2 messages, on a real loop. Sends
 * never block; what does not fit waits; status events are refused once the
 * line is full; the end gives up the waiting results through their acks. */
#include <stdatomic.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tests/assert.h"
#include "workers/pubq.h"

typedef struct ctx {
        loop_t *loop;
        producer_t *p;
        _Atomic long waiting;
        atomic_int acks, ack_errors, done;
        int rc[5], refused_rc;
        size_t waiting_mid, lost;
        long waiting_mid_shared;
        int64_t took_ms;
} ctx_t;

static void on_ack(void *arg, int32_t part, int64_t off,
                   rd_kafka_resp_err_t err) {
        ctx_t *c = arg;
        (void)part, (void)off;
        atomic_fetch_add(&c->acks, 1);
        if (err)
                atomic_fetch_add(&c->ack_errors, 1);
}

static void on_loop(void *arg) {
        ctx_t *c         = arg;
        char err[256]    = "";
        pubq_opts_t o    = {.loop     = c->loop,
                            .producer = c->p,
                            .topic    = "pubq-test",
                            .waiting  = &c->waiting};
        pubq_t *q        = pubq_new(&o);
        int64_t t0       = time_mono_ms();
        producer_ack_t a = {on_ack, c, 0, 0};
        for (int i = 0; i < 4; i++) { /* 2 fit the queue, 2 wait */
                a.off    = i;
                c->rc[i] = pubq_send(q, PRODUCER_EPOCH_ANY, "k", 1, "{}", 2, &a,
                                     1, err, sizeof(err));
        }
        /* a status event behind them waits too (in order) */
        c->rc[4] = pubq_send(q, PRODUCER_EPOCH_ANY, "k", 1, "{}", 2, NULL, 0,
                             err, sizeof(err));
        c->waiting_mid        = pubq_waiting(q);
        c->waiting_mid_shared = atomic_load(&c->waiting);
        for (int i = 0; i < PUBQ_STATUS_MAX; i++)
                pubq_send(q, PRODUCER_EPOCH_ANY, "k", 1, "{}", 2, NULL, 1, err,
                          sizeof(err));
        c->refused_rc = pubq_send(q, PRODUCER_EPOCH_ANY, "k", 1, "{}", 2, NULL,
                                  0, err, sizeof(err));
        c->took_ms    = time_mono_ms() - t0;
        c->lost       = pubq_destroy(q);
        atomic_store(&c->done, 1);
}

static void test_pubq_waits_instead_of_blocking(void) {
        static const char *const kv[] = {"queue.buffering.max.messages", "2"};
        producer_opts_t po            = {.bootstrap        = "127.0.0.1:1",
                                         .kafka            = {kv, 1},
                                         .flush_timeout_ms = 100};
        char err[256];
        static ctx_t c;
        memset(&c, 0, sizeof(c));
        c.p = producer_new(&po, err, sizeof(err));
        T_ASSERTF(c.p, "%s", err);
        c.loop = loop_new(NULL, err, sizeof(err));
        T_ASSERTF(c.loop && loop_start(c.loop, err, sizeof(err)) == 0, "%s",
                  err);
        loop_post(c.loop, on_loop, &c);
        for (int i = 0; i < 2000 && !atomic_load(&c.done); i++)
                usleep(1000);
        T_ASSERT(atomic_load(&c.done));
        loop_destroy(c.loop);
        for (int i = 0; i < 5; i++)
                T_EQ_INT(c.rc[i], 0);
        T_EQ_INT(c.waiting_mid, 3); /* 2 results and the status event */
        T_EQ_INT(c.waiting_mid_shared, 3);
        T_EQ_INT(c.refused_rc, PRODUCER_ERR_TRANSIENT);
        T_ASSERTF(c.took_ms < 1000, "sending took %lld ms",
                  (long long)c.took_ms);
        /* given up at the end: the 2 waiting acked results and the 1024
         * ending ones without an ack */
        T_EQ_INT(c.lost, 2 + PUBQ_STATUS_MAX);
        T_EQ_INT(atomic_load(&c.waiting), 0);
        T_EQ_INT(atomic_load(&c.acks), 2); /* the waiting ones, now */
        T_EQ_INT(atomic_load(&c.ack_errors), 2);
        producer_destroy(c.p); /* purges the 2 queued: their acks fail */
        T_EQ_INT(atomic_load(&c.acks), 4);
        T_EQ_INT(atomic_load(&c.ack_errors), 4);
}

int main(void) {
        T_RUN(test_pubq_waits_instead_of_blocking);
        return t_done();
}
