/* tests/support/sim_proc.c — start, query and stop build/bitrise-sim for tests.
 *
 * Each simulator gets a temporary directory (scenario, port file, log). A
 * registry of live simulators is drained at exit so a test that fails half
 * way never leaves one running.
 */
#include "tests/support/sim_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/timeutil.h"

struct sim_proc {
        pid_t pid;
        int port;
        char dir[256];
        char log_path[300];
        char root[64];
        char base[80];
        struct sim_proc *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_proc_t *reg_head;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

double sim_proc_timeout_scale(void) {
        const char *s = getenv("BITMON_TEST_TIMEOUT_SCALE");
        char *end;
        double v = s ? strtod(s, &end) : 1.0;
        return s && *end == '\0' && v >= 1.0 ? v : 1.0;
}

/* SIGTERM, then SIGKILL after the grace time; returns the wait status, or
 * -1 when the process was already reaped elsewhere. */
static int kill_and_reap(pid_t pid) {
        int64_t deadline =
            time_mono_ms() + (int64_t)(5000 * sim_proc_timeout_scale());
        int status = -1;
        pid_t r;
        kill(pid, SIGTERM);
        while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
                if (time_mono_ms() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        return status;
                }
                usleep(10000);
        }
        return r == pid ? status : -1;
}

static void rm_dir(const char *dir) {
        static const char *const names[] = {"scenario.json", "port", "sim.log"};
        char path[512];
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                unlink(path);
        }
        rmdir(dir);
}

static void stop_all_at_exit(void) {
        pthread_mutex_lock(&reg_lock);
        while (reg_head) {
                sim_proc_t *p = reg_head;
                reg_head      = p->next;
                kill_and_reap(p->pid);
                rm_dir(p->dir);
                free(p);
        }
        pthread_mutex_unlock(&reg_lock);
}

static void init(void) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        signal(SIGPIPE, SIG_IGN);
        atexit(stop_all_at_exit);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
        sim_http_resp_t *r = ud;
        r->body_bytes += (long long)(size * n);
        if (r->discard)
                return size * n;
        return buf_append(&r->body, data, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
        sim_http_resp_t *r = ud;
        buf_append(&r->headers, data, size * n);
        return size * n;
}

static int http_do(const char *method, const char *url, const char *auth,
                   const char *post, long timeout_ms, int discard,
                   sim_http_resp_t *r) {
        CURL *c;
        struct curl_slist *h = NULL;
        char hdr[1200];
        CURLcode rc;
        pthread_once(&init_once, init);
        memset(r, 0, sizeof(*r));
        buf_init(&r->body, (size_t)1 << 30);
        r->discard = discard;
        buf_init(&r->headers, 1 << 16);
        if (!(c = curl_easy_init()))
                return CURLE_FAILED_INIT;
        if (auth) {
                snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
                h = curl_slist_append(h, hdr);
        }
        if (post) {
                h = curl_slist_append(h, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
        }
        if (method)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        r->curl_code = (int)rc;
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        return (int)rc;
}

int sim_http_get(const char *url, const char *authorization, long timeout_ms,
                 int discard_body, sim_http_resp_t *resp) {
        return http_do(NULL, url, authorization, NULL, timeout_ms, discard_body,
                       resp);
}

int sim_http_request(const char *method, const char *url,
                     const char *authorization, const char *json,
                     long timeout_ms, sim_http_resp_t *resp) {
        return http_do(method, url, authorization, json, timeout_ms, 0, resp);
}

void sim_http_resp_release(sim_http_resp_t *resp) {
        if (!resp)
                return;
        buf_release(&resp->body);
        buf_release(&resp->headers);
}

const char *sim_http_header(const sim_http_resp_t *resp, const char *name,
                            char *out, size_t size) {
        const char *p = buf_cstr(&resp->headers);
        size_t nl     = strlen(name);
        while (p && *p) {
                const char *eol = strchr(p, '\n');
                size_t len      = eol ? (size_t)(eol - p) : strlen(p);
                if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
                        const char *v = p + nl + 1;
                        while (*v == ' ')
                                v++;
                        size_t vl = (size_t)(p + len - v);
                        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                                vl--;
                        snprintf(out, size, "%.*s", (int)vl, v);
                        return out;
                }
                p = eol ? eol + 1 : NULL;
        }
        return NULL;
}

cJSON *sim_http_resp_json(const sim_http_resp_t *resp) {
        const char *end = NULL;
        return cJSON_ParseWithOpts(buf_cstr(&resp->body), &end, 1);
}

static int write_file(const char *path, const char *data) {
        FILE *f = fopen(path, "w");
        if (!f)
                return -1;
        size_t n = strlen(data);
        int ok   = fwrite(data, 1, n, f) == n;
        return fclose(f) == 0 && ok ? 0 : -1;
}

static void log_tail(const sim_proc_t *p, char *out, size_t size) {
        char buf[2048] = "";
        FILE *f        = fopen(p->log_path, "r");
        if (f) {
                fseek(f, 0, SEEK_END);
                long len = ftell(f);
                fseek(f,
                      len > (long)sizeof(buf) - 1 ? len - (long)sizeof(buf) + 1
                                                  : 0,
                      SEEK_SET);
                size_t n = fread(buf, 1, sizeof(buf) - 1, f);
                buf[n]   = '\0';
                fclose(f);
        }
        snprintf(out, size, "%s", buf);
}

static pid_t spawn(sim_proc_t *p, const char *scenario,
                   const char *const *extra) {
        const char *bin = getenv("BITMON_SIM");
        char port_file[300];
        const char *argv[64];
        int n = 0;
        snprintf(port_file, sizeof(port_file), "%s/port", p->dir);
        argv[n++] = bin && *bin ? bin : "build/bitrise-sim";
        argv[n++] = "--scenario", argv[n++] = scenario;
        argv[n++] = "--listen", argv[n++] = "127.0.0.1:0";
        argv[n++] = "--port-file", argv[n++] = port_file;
        for (int i = 0; extra && extra[i] && n < 62; i++)
                argv[n++] = extra[i];
        argv[n]      = NULL;
        pid_t parent = getpid(), pid = fork();
        if (pid != 0)
                return pid;
        int fd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
        }
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
                _exit(1);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        fprintf(stderr, "cannot run %s: errno %d\n", argv[0], errno);
        _exit(127);
}

/* Waits for the port file and a healthy /_sim/health. */
static int wait_ready(sim_proc_t *p, char *errstr, size_t errstr_size) {
        int64_t deadline =
            time_mono_ms() + (int64_t)(10000 * sim_proc_timeout_scale());
        char port_file[300], url[128], tail[2048];
        snprintf(port_file, sizeof(port_file), "%s/port", p->dir);
        while (time_mono_ms() < deadline) {
                int status;
                if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
                        p->pid = -1;
                        log_tail(p, tail, sizeof(tail));
                        snprintf(errstr, errstr_size,
                                 "bitrise-sim exited at start: %s", tail);
                        return -1;
                }
                FILE *f = p->port ? NULL : fopen(port_file, "r");
                if (f) {
                        if (fscanf(f, "%d", &p->port) != 1)
                                p->port = 0;
                        fclose(f);
                }
                if (p->port) {
                        sim_http_resp_t r;
                        snprintf(url, sizeof(url),
                                 "http://127.0.0.1:%d/_sim/health", p->port);
                        int rc  = sim_http_get(url, NULL, 1000, 0, &r);
                        long st = r.status;
                        sim_http_resp_release(&r);
                        if (rc == 0 && st == 200)
                                return 0;
                }
                usleep(20000);
        }
        log_tail(p, tail, sizeof(tail));
        snprintf(errstr, errstr_size, "bitrise-sim did not answer in time: %s",
                 tail);
        return -1;
}

sim_proc_t *sim_proc_start_file(const char *path, const char *const *extra_args,
                                char *errstr, size_t errstr_size) {
        sim_proc_t *p   = calloc(1, sizeof(*p));
        const char *tmp = getenv("TMPDIR");
        pthread_once(&init_once, init);
        if (!p) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        snprintf(p->dir, sizeof(p->dir), "%s/bitrise-sim.XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(p->dir)) {
                snprintf(errstr, errstr_size,
                         "cannot create a temp dir: errno %d", errno);
                free(p);
                return NULL;
        }
        snprintf(p->log_path, sizeof(p->log_path), "%s/sim.log", p->dir);
        p->pid = spawn(p, path, extra_args);
        if (p->pid < 0) {
                snprintf(errstr, errstr_size, "cannot fork: errno %d", errno);
                rm_dir(p->dir);
                free(p);
                return NULL;
        }
        pthread_mutex_lock(&reg_lock);
        p->next  = reg_head;
        reg_head = p;
        pthread_mutex_unlock(&reg_lock);
        if (wait_ready(p, errstr, errstr_size) < 0) {
                sim_proc_stop(p);
                return NULL;
        }
        snprintf(p->root, sizeof(p->root), "http://127.0.0.1:%d", p->port);
        snprintf(p->base, sizeof(p->base), "%s/v0.1", p->root);
        return p;
}

sim_proc_t *sim_proc_start(const char *scenario_json,
                           const char *const *extra_args, char *errstr,
                           size_t errstr_size) {
        char dir[256], path[300];
        const char *tmp = getenv("TMPDIR");
        sim_proc_t *p;
        /* The scenario goes into a directory of its own, removed right after
         * start. */
        snprintf(dir, sizeof(dir), "%s/bitrise-scn.XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
                snprintf(errstr, errstr_size,
                         "cannot create a temp dir: errno %d", errno);
                return NULL;
        }
        snprintf(path, sizeof(path), "%s/scenario.json", dir);
        if (write_file(path, scenario_json) < 0) {
                snprintf(errstr, errstr_size, "cannot write %s", path);
                rmdir(dir);
                return NULL;
        }
        p = sim_proc_start_file(path, extra_args, errstr, errstr_size);
        unlink(path);
        rmdir(dir);
        return p;
}

int sim_proc_stop(sim_proc_t *p) {
        int ret = 0;
        if (!p)
                return 0;
        pthread_mutex_lock(&reg_lock);
        for (sim_proc_t **pp = &reg_head; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        pthread_mutex_unlock(&reg_lock);
        if (p->pid > 0) {
                int status = kill_and_reap(p->pid);
                if (status != -1 &&
                    !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                        /* a crash or a sanitizer report: show it before the log
                         * goes */
                        char tail[2048];
                        log_tail(p, tail, sizeof(tail));
                        fprintf(stderr,
                                "bitrise-sim (pid %d) ended badly (wait status "
                                "%d):\n%s\n",
                                (int)p->pid, status, tail);
                        ret = -1;
                }
        }
        rm_dir(p->dir);
        free(p);
        return ret;
}

const char *sim_proc_base_url(const sim_proc_t *p) {
        return p->base;
}

const char *sim_proc_root_url(const sim_proc_t *p) {
        return p->root;
}

int sim_proc_port(const sim_proc_t *p) {
        return p->port;
}

pid_t sim_proc_pid(const sim_proc_t *p) {
        return p->pid;
}

const char *sim_proc_log_path(const sim_proc_t *p) {
        return p->log_path;
}

long sim_proc_rss_kb(const sim_proc_t *p) {
        char path[64], line[256];
        long kb = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
        FILE *f = fopen(path, "r");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "VmRSS:", 6) == 0) {
                        kb = strtol(line + 6, NULL, 10);
                        break;
                }
        fclose(f);
        return kb;
}

static int admin(sim_proc_t *p, const char *path, const char *post, cJSON **out,
                 char *errstr, size_t errstr_size) {
        char url[1024];
        sim_http_resp_t r;
        int ret = -1;
        if (out)
                *out = NULL;
        snprintf(url, sizeof(url), "%s/_sim%s", p->root, path);
        int rc = http_do(NULL, url, NULL, post ? post : (const char *)NULL,
                         (long)(10000 * sim_proc_timeout_scale()), 0, &r);
        if (post && rc == 0 && r.status == 0)
                rc = -1;
        if (rc != 0 || r.status < 200 || r.status > 299) {
                snprintf(errstr, errstr_size,
                         "admin %s: curl %d HTTP %ld %.200s", path, rc,
                         r.status, buf_cstr(&r.body));
                goto out;
        }
        if (out) {
                const char *end = NULL;
                *out = cJSON_ParseWithOpts(buf_cstr(&r.body), &end, 1);
                if (!*out) {
                        snprintf(errstr, errstr_size,
                                 "admin %s: invalid JSON answer", path);
                        goto out;
                }
        }
        ret = 0;
out:
        sim_http_resp_release(&r);
        return ret;
}

int sim_proc_admin_get(sim_proc_t *p, const char *path, cJSON **out,
                       char *errstr, size_t errstr_size) {
        return admin(p, path, NULL, out, errstr, errstr_size);
}

int sim_proc_admin_post(sim_proc_t *p, const char *path, const char *json,
                        cJSON **out, char *errstr, size_t errstr_size) {
        return admin(p, path, json ? json : "{}", out, errstr, errstr_size);
}
