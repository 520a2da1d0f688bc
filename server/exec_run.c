/* server/exec_run.c: run a scaling command as a program, never through a shell (see
 * actions.h: srv_exec_run).
 *
 * The program is started with posix_spawn in a new process group (pgid = its pid), stdin
 * from /dev/null, stdout and stderr both on the write end of one pipe. The pipe is made
 * O_CLOEXEC so a spawn on another thread never inherits it (the child gets it only through
 * the dup2 onto 1 and 2, which clears the flag). The caller's thread then:
 *   RUNNING: poll(pipe [, pidfd]) until the deadline; read everything (the first 4095
 *     bytes are kept, the rest is counted as cut and thrown away so the child never blocks
 *     on a full pipe); waitpid(WNOHANG) each round.
 *   RUNNING -(pipe EOF and child reaped)-> DONE
 *   RUNNING -(deadline)-> KILLED: kill(-pgid, SIGKILL) (the whole group: grandchildren
 *     too); timed_out is set when the direct child was still running.
 *   KILLED -(EOF and reaped, or GRACE_NS more: a process that left the group may hold the
 *     pipe; stop reading it)-> blocking waitpid -> DONE
 * Invariant: the direct child is always reaped before we return (no zombies); the read end
 *   of the pipe is always closed. EINTR from poll, read and waitpid is retried.
 * Where the kernel has pidfd_open, the child's exit wakes poll; otherwise (old kernels,
 * seccomp) poll wakes every 10 ms while the pipe is closed but the child still runs.
 */
#include "server/actions.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define GRACE_NS (2000ull * 1000000ull)          /* after the kill, how long to drain */
#define MAX_TIMEOUT_MS (30ll * 24 * 3600 * 1000) /* so the deadline cannot overflow */

static int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        (void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
        return (int)fd;
    }
#endif
    (void)pid;
    return -1;
}

static int poll_ms(uint64_t now, uint64_t until) {
    if (until <= now) return 0;
    uint64_t ms = (until - now + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Read what is there into r (or discard it once r is full). Returns false on EOF/error. */
static bool drain(int fd, srv_exec_result *r) {
    char scratch[4096];
    for (;;) {
        size_t room = sizeof r->output - 1 - r->output_len;
        char *dst = room ? r->output + r->output_len : scratch;
        size_t want = room ? room : sizeof scratch;
        ssize_t n = read(fd, dst, want);
        if (n > 0) {
            if (room) r->output_len += (size_t)n;
            else r->output_cut = true;
            if ((size_t)n < want) return true; /* probably empty now; poll says when not */
            continue;
        }
        if (n == 0) return false;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        return false;
    }
}

static void record_status(srv_exec_result *r, int status) {
    if (WIFEXITED(status)) {
        r->exit_code = WEXITSTATUS(status);
        r->term_signal = 0;
    } else if (WIFSIGNALED(status)) {
        r->exit_code = -1;
        r->term_signal = WTERMSIG(status);
    }
}

/* waitpid(pid) retrying EINTR. Returns true when the child was reaped (or is gone). */
static bool reap(pid_t pid, int flags, srv_exec_result *r) {
    for (;;) {
        int status = 0;
        pid_t w = waitpid(pid, &status, flags);
        if (w == pid) {
            record_status(r, status);
            return true;
        }
        if (w == 0) return false;
        if (errno == EINTR) continue;
        return true; /* ECHILD: someone else reaped it (SIGCHLD ignored); status unknown */
    }
}

static void not_started(srv_exec_result *out) {
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
}

int srv_exec_run(char *const argv[], int64_t timeout_ms, srv_exec_result *out, ax_err *e) {
    not_started(out);
    if (!argv || !argv[0] || argv[0][0] != '/')
        return ax_err_set(e, AX_EINVAL, "exec: program \"%.200s\" is not an absolute path",
                          argv && argv[0] ? argv[0] : "");
    if (timeout_ms <= 0)
        return ax_err_set(e, AX_EINVAL, "exec: timeout %lld ms must be positive", (long long)timeout_ms);
    if (timeout_ms > MAX_TIMEOUT_MS) timeout_ms = MAX_TIMEOUT_MS;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        char eb[128];
        return ax_err_set(e, AX_EIO, "exec: pipe: %s", strerror_r(errno, eb, sizeof eb));
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) {
        close(fds[0]);
        close(fds[1]);
        return ax_err_set(e, AX_ENOMEM, "exec: posix_spawn_file_actions_init failed");
    }
    rc = posix_spawnattr_init(&attr);
    if (rc) {
        posix_spawn_file_actions_destroy(&fa);
        close(fds[0]);
        close(fds[1]);
        return ax_err_set(e, AX_ENOMEM, "exec: posix_spawnattr_init failed");
    }
    /* stdin /dev/null; stdout and stderr onto the pipe (dup2 clears O_CLOEXEC on 1 and 2;
     * the pipe's own fds close at exec) */
    if (!rc) rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    /* own process group; signals blocked or ignored here (SIGPIPE by libuv) are reset */
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGHUP);
    sigaddset(&dfl, SIGQUIT);
    sigaddset(&dfl, SIGCHLD);
    if (!rc) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                      POSIX_SPAWN_SETSIGDEF);
    if (!rc) rc = posix_spawnattr_setpgroup(&attr, 0);
    if (!rc) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (!rc) rc = posix_spawnattr_setsigdefault(&attr, &dfl);
    pid_t pid = -1;
    if (!rc) rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (rc) {
        close(fds[0]);
        char eb[128];
        return ax_err_set(e, AX_EIO, "cannot run %.300s: %s", argv[0], strerror_r(rc, eb, sizeof eb));
    }
    (void)fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);

    srv_exec_result r;
    memset(&r, 0, sizeof r);
    r.exit_code = -1;
    int pidfd = open_pidfd(pid);
    uint64_t deadline = ax_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    uint64_t give_up = 0; /* set at the kill: stop reading at this time */
    bool eof = false, reaped = false, killed = false;

    for (;;) {
        if (!reaped) reaped = reap(pid, WNOHANG, &r);
        if (eof && reaped) break;
        uint64_t now = ax_mono_ns();
        if (!killed && now >= deadline) {
            kill(-pid, SIGKILL);
            if (!reaped) {
                kill(pid, SIGKILL); /* in case it moved itself to another group */
                r.timed_out = true;
            }
            killed = true;
            give_up = now + GRACE_NS;
        }
        if (killed && now >= give_up) break;

        struct pollfd pf[2];
        nfds_t npf = 0;
        if (!eof) pf[npf++] = (struct pollfd){.fd = fds[0], .events = POLLIN};
        if (!reaped && pidfd >= 0) pf[npf++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        int wait = poll_ms(now, killed ? give_up : deadline);
        if (!reaped && pidfd < 0 && wait > 10) wait = 10;
        int n = poll(pf, npf, wait);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (!eof) eof = !drain(fds[0], &r); /* should not happen; do not spin */
            if (!eof) {
                struct timespec ts = {0, 10 * 1000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        if (!eof && pf[0].revents) eof = !drain(fds[0], &r);
    }
    close(fds[0]);
    if (pidfd >= 0) close(pidfd);
    if (!reaped) {
        /* only after the kill: SIGKILL cannot be caught, so this ends */
        kill(pid, SIGKILL);
        reap(pid, 0, &r);
    }
    r.output[r.output_len] = '\0';
    *out = r;
    return 0;
}
