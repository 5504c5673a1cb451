/* Replays the fuzz corpora (tests/fuzz/corpus/) through the fuzz targets'
 * entry points in the ordinary (and sanitizer) test builds, so the suite
 * re-checks every saved input without clang or libFuzzer. Each target's
 * file is included with its entry point renamed. */
#include <dirent.h>
#include <stdio.h>

#include "tests/assert.h"
#include "common/buf.h"

#define LLVMFuzzerTestOneInput fuzz_logparse_one
#include "tests/fuzz/fuzz_logparse.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_bitrise_json_one
#include "tests/fuzz/fuzz_bitrise_json.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_classify_one
#include "tests/fuzz/fuzz_classify.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *, size_t);

/* Runs fn on every file in tests/fuzz/corpus/<name>/; returns the count. */
static int replay_dir(const char *name, fuzz_fn fn) {
        char dir[512];
        const char *build = getenv("BITMON_BUILD");
        /* tests/run.sh runs from the repository root; BITMON_BUILD is set */
        snprintf(dir, sizeof(dir), "%s%stests/fuzz/corpus/%s",
                 build ? build : ".", build ? "/../" : "/", name);
        DIR *d = opendir(dir);
        T_ASSERTF(d != NULL, "cannot open %.400s", dir);
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                        continue;
                char path[1024];
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                FILE *f = fopen(path, "rb");
                if (!f)
                        continue;
                buf_t b;
                buf_init(&b, 0);
                char tmp[65536];
                size_t k;
                while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
                        buf_append(&b, tmp, k);
                fclose(f);
                fn((const uint8_t *)(b.data ? b.data : ""), b.len);
                buf_release(&b);
                n++;
        }
        closedir(d);
        return n;
}

static void test_fuzz_replay_logparse(void) {
        T_ASSERT(replay_dir("logparse", fuzz_logparse_one) >= 15);
}

static void test_fuzz_replay_bitrise_json(void) {
        T_ASSERT(replay_dir("bitrise_json", fuzz_bitrise_json_one) >= 40);
}

static void test_fuzz_replay_classify(void) {
        T_ASSERT(replay_dir("classify", fuzz_classify_one) >= 5);
}

int main(void) {
        T_RUN(test_fuzz_replay_logparse);
        T_RUN(test_fuzz_replay_bitrise_json);
        T_RUN(test_fuzz_replay_classify);
        return t_done();
}
