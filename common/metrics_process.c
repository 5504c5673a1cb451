/* common/metrics_process.c — the process series every exporter has: build
 * info, start time, CPU time, resident memory and open descriptors (the last
 * three read when scraped).
 */
#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/metrics.h"
#include "common/timeutil.h"

static double resident_bytes(void *opaque) {
        (void)opaque;
        unsigned long size = 0, resident = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f)
                return 0;
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
                resident = 0;
        fclose(f);
        return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static double cpu_seconds(void *opaque) {
        (void)opaque;
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) != 0)
                return 0;
        return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double open_fds(void *opaque) {
        (void)opaque;
        DIR *d   = opendir("/proc/self/fd");
        double n = 0;
        if (!d)
                return 0;
        for (struct dirent *e; (e = readdir(d)) != NULL;)
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the descriptor of the listing itself */
}

int metrics_process_register(metrics_t *m, const char *version) {
        metrics_gauge_t *info = metrics_gauge(
            m, "bitmon_build_info", "Version of this bitmon (always 1).",
            "version", version, NULL);
        metrics_gauge_t *start = metrics_gauge(
            m, "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds.", NULL);
        metrics_gauge_t *rss = metrics_gauge_fn(
            m, "process_resident_memory_bytes",
            "Resident memory size in bytes.", resident_bytes, NULL, NULL);
        metrics_gauge_t *cpu =
            metrics_gauge_fn(m, "process_cpu_seconds_total",
                             "Total user and system CPU time spent in seconds.",
                             cpu_seconds, NULL, NULL);
        metrics_gauge_t *fds = metrics_gauge_fn(
            m, "process_open_fds", "Number of open file descriptors.", open_fds,
            NULL, NULL);
        metrics_gauge_set(info, 1);
        metrics_gauge_set(start, (double)time_wall_ms() / 1000.0);
        return info && start && cpu && rss && fds ? 0 : -1;
}
