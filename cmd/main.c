/* cmd/main.c — the bitmon binary: global initialisation, then dispatch to a
 * subcommand. Everything else lives in the library. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *help;
} commands[] = {
    {"run", cmd_run, "run the worker pool (the daemon)"},
    {"version", cmd_version, "print the version"},
    {"connect", cmd_connect,
     "check a workspace's Bitrise token and store it when it works"},
    {"disconnect", cmd_disconnect, "remove a workspace's stored token"},
    {"tokens", cmd_tokens, "list stored tokens (fingerprints) or rekey them"},
    {"webhooks", cmd_webhooks,
     "register, list or remove an app's Bitrise webhook to bitmon"},
    {"config", cmd_config,
     "print or check the configuration, or its reference"},
    {"enqueue", cmd_enqueue,
     "submit monitor jobs (flags or JSON lines on stdin)"},
    {"tail", cmd_tail, "follow the results topic"},
    {"log", cmd_log,
     "write a build's whole log (a `log: full` job's copy) to stdout"},
    {"topics", cmd_topics, "create or check the Kafka topics"},
};

static void usage(FILE *f) {
        fprintf(f, "usage: bitmon COMMAND [options]\n\ncommands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
        if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "--help") == 0) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        /* Global inits before any thread starts (STYLE: threads). */
        signal(SIGPIPE, SIG_IGN);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                fprintf(stderr, "bitmon: cannot initialise libcurl\n");
                return 1;
        }
        int rc = 2;
        size_t i;
        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        break;
        if (i == sizeof(commands) / sizeof(commands[0])) {
                fprintf(stderr, "bitmon: unknown command '%s'\n", argv[1]);
                usage(stderr);
        } else {
                rc = commands[i].fn(argc - 1, argv + 1);
        }
        curl_global_cleanup();
        return rc;
}
