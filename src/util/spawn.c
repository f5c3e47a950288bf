#include "util/spawn.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int kn_run(const char *const argv[], const char *cwd, kn_error *err)
{
    pid_t pid = fork();
    if (pid < 0) return kn_fail(err, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0) _exit(126);
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return kn_fail(err, "waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return kn_fail(err, "%s: command not found", argv[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return kn_fail(err, "%s failed (exit status %d)", argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
