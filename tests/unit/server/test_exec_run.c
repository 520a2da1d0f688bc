/* tests/unit/server/test_exec_run.c: srv_exec_run runs real programs (/bin/echo, /bin/sh
 * as a test program, /bin/sleep): arguments arrive verbatim with no shell in between,
 * exit codes and signals, stdout+stderr in one capture, the 4095-byte cut while the child
 * runs to completion, the timeout killing the whole process group, and the two refusals.
 * Static helpers are prefixed ex_ (this file shares unit_server). */
#include "server/actions.h"
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static srv_exec_result ex_res; /* 4 KB: keep it off the stack */

static int ex_run(int64_t timeout_ms, char *const argv[], ax_err *e) {
    memset(e, 0, sizeof *e);
    return srv_exec_run(argv, timeout_ms, &ex_res, e);
}

static double ex_secs(uint64_t t0) { return (double)(ax_mono_ns() - t0) / 1e9; }

/* No child of ours is left unreaped. */
static void ex_no_zombie(void) {
    int st;
    pid_t w = waitpid(-1, &st, WNOHANG);
    if (w > 0) FAILF("a child (pid %d) was left unreaped", (int)w);
}

TEST(test_exec_run_args_verbatim) {
    char *argv[] = {"/bin/echo", "a b", "$(id)", ";rm", "*", "`x`", "'q'", "\"dq\"", "$HOME", NULL};
    ax_err e;
    CHECK_EQ_INT(0, ex_run(5000, argv, &e));
    CHECK_EQ_STR("a b $(id) ;rm * `x` 'q' \"dq\" $HOME\n", ex_res.output);
    CHECK_EQ_INT(strlen(ex_res.output), ex_res.output_len);
    CHECK_EQ_INT(0, ex_res.exit_code);
    CHECK_EQ_INT(0, ex_res.term_signal);
    CHECK(!ex_res.timed_out);
    CHECK(!ex_res.output_cut);
    ex_no_zombie();
}

TEST(test_exec_run_exit_code) {
    char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
    ax_err e;
    CHECK_EQ_INT(0, ex_run(5000, argv, &e));
    CHECK_EQ_INT(3, ex_res.exit_code);
    CHECK_EQ_INT(0, ex_res.term_signal);
    CHECK_EQ_STR("", ex_res.output);
    CHECK_EQ_INT(0, ex_res.output_len);
    CHECK(!ex_res.timed_out);
}

TEST(test_exec_run_signal_recorded) {
    char *argv[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
    ax_err e;
    CHECK_EQ_INT(0, ex_run(5000, argv, &e));
    CHECK_EQ_INT(-1, ex_res.exit_code);
    CHECK_EQ_INT(SIGTERM, ex_res.term_signal);
    CHECK(!ex_res.timed_out);
}

TEST(test_exec_run_stderr_captured) {
    char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; echo out2", NULL};
    ax_err e;
    CHECK_EQ_INT(0, ex_run(5000, argv, &e));
    CHECK_EQ_STR("out\nerr\nout2\n", ex_res.output);
    CHECK_EQ_INT(0, ex_res.exit_code);
}

TEST(test_exec_run_stdin_is_dev_null) {
    /* cat must see EOF at once, not hang on the test's stdin */
    char *argv[] = {"/bin/sh", "-c", "cat; echo done", NULL};
    ax_err e;
    uint64_t t0 = ax_mono_ns();
    CHECK_EQ_INT(0, ex_run(5000, argv, &e));
    CHECK_EQ_STR("done\n", ex_res.output);
    CHECK(!ex_res.timed_out);
    CHECK(ex_secs(t0) < 4.0);
}

TEST(test_exec_run_environment_inherited) {
    setenv("AX_EXEC_TEST_VAR", "hello world", 1);
    char *argv[] = {"/bin/sh", "-c", "printf '%s' \"$AX_EXEC_TEST_VAR\"", NULL};
    ax_err e;
    CHECK_EQ_INT(0, ex_run(5000, argv, &e));
    CHECK_EQ_STR("hello world", ex_res.output);
    unsetenv("AX_EXEC_TEST_VAR");
}

TEST(test_exec_run_output_cut) {
    char *argv[] = {"/bin/sh", "-c", "yes | head -c 100000; echo finished >&2", NULL};
    ax_err e;
    CHECK_EQ_INT(0, ex_run(10000, argv, &e));
    CHECK_EQ_INT(4095, ex_res.output_len);
    CHECK(ex_res.output_cut);
    CHECK_EQ_INT(0, ex_res.exit_code); /* ran to the end: the pipe was drained */
    CHECK(!ex_res.timed_out);
    CHECK_EQ_INT('\0', ex_res.output[4095]);
    CHECK_EQ_INT(4095, strlen(ex_res.output));
    int bad = 0;
    for (size_t i = 0; i < 4095; i++) bad += ex_res.output[i] != (i % 2 ? '\n' : 'y');
    CHECK_EQ_INT(0, bad);
}

TEST(test_exec_run_exactly_4095_not_cut) {
    char *argv[] = {"/bin/sh", "-c", "yes | head -c 4095", NULL};
    ax_err e;
    CHECK_EQ_INT(0, ex_run(10000, argv, &e));
    CHECK_EQ_INT(4095, ex_res.output_len);
    CHECK(!ex_res.output_cut);
}

TEST(test_exec_run_timeout_kills) {
    char *argv[] = {"/bin/sleep", "10", NULL};
    ax_err e;
    uint64_t t0 = ax_mono_ns();
    CHECK_EQ_INT(0, ex_run(200, argv, &e));
    double el = ex_secs(t0);
    CHECK(ex_res.timed_out);
    CHECK_EQ_INT(-1, ex_res.exit_code);
    CHECK_EQ_INT(SIGKILL, ex_res.term_signal);
    if (!(el < 5.0)) FAILF("took %.3f s, expected about 0.2 s", el);
    ex_no_zombie();
}

/* Is pid gone (or a zombie waiting for its new parent)? */
static int ex_dead(long pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

TEST(test_exec_run_timeout_kills_group) {
    char *argv[] = {"/bin/sh", "-c", "sleep 10 & echo $!; sleep 10", NULL};
    ax_err e;
    uint64_t t0 = ax_mono_ns();
    CHECK_EQ_INT(0, ex_run(300, argv, &e));
    double el = ex_secs(t0);
    CHECK(ex_res.timed_out);
    CHECK_EQ_INT(SIGKILL, ex_res.term_signal);
    if (!(el < 5.0)) FAILF("took %.3f s: the grandchild kept the pipe open?", el);
    char *end = NULL;
    long gpid = strtol(ex_res.output, &end, 10);
    if (gpid <= 0 || end == ex_res.output) {
        FAILF("no grandchild pid in output \"%s\"", ex_res.output);
        return;
    }
    /* SIGKILL is delivered asynchronously: wait (bounded) for the condition */
    int dead = 0;
    for (int i = 0; i < 200 && !(dead = ex_dead(gpid)); i++) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (!dead) {
        FAILF("grandchild %ld still alive", gpid);
        kill((pid_t)gpid, SIGKILL);
    }
}

TEST(test_exec_run_relative_path_refused) {
    char *argv[] = {"echo", "hi", NULL};
    ax_err e;
    CHECK_EQ_INT(AX_EINVAL, ex_run(1000, argv, &e));
    CHECK_EQ_INT(AX_EINVAL, e.code);
    CHECK(strstr(e.msg, "absolute") != NULL);
    CHECK(strstr(e.msg, "echo") != NULL);
    CHECK_EQ_INT(-1, ex_res.exit_code);
    char *argv2[] = {"./bin/echo", NULL};
    CHECK_EQ_INT(AX_EINVAL, ex_run(1000, argv2, &e));
    char *argv3[] = {NULL};
    CHECK_EQ_INT(AX_EINVAL, ex_run(1000, argv3, &e));
}

TEST(test_exec_run_missing_program) {
    char *argv[] = {"/nonexistent/auspex-no-such-program", "x", NULL};
    ax_err e;
    CHECK_EQ_INT(AX_EIO, ex_run(1000, argv, &e));
    CHECK_EQ_STR("cannot run /nonexistent/auspex-no-such-program: No such file or directory", e.msg);
    CHECK_EQ_INT(-1, ex_res.exit_code);
    CHECK_EQ_INT(0, ex_res.term_signal);
    ex_no_zombie();
}
