#!/bin/bash
# Runs one workload command and records its exit code in a file:
#     bash wrapper.sh <exit-file> [--sandboxed] -- <command> [args...]
# The agent launches it as the leader of a new session, so the workload outlives an agent crash; the
# exit file tells a restarted agent how a workload it did not parent has ended. SIGTERM is passed on
# to the whole process group (the workload and its children). Exit codes follow the shell: 128+N
# after signal N, 127 when the program is not found, 126 when it cannot be executed.
# A shell rather than Python: an interpreter start per workload cost ~60 ms of CPU, a shell ~1 ms. bash
# rather than sh: a non-interactive shell starts background commands with SIGINT and SIGQUIT ignored,
# which the workload would inherit (no KeyboardInterrupt, a launcher such as torchrun could not pass
# SIGINT on), and only bash lets the subshell set them back to their defaults before exec.
# --sandboxed: the command is bubblewrap, started with SIGTERM ignored: the SIGTERM sent to the group
# must reach the workload inside (which sets every signal back to its default), not kill bubblewrap
# and leave the workload running unwatched. Its exit code is the workload's.
exit_file=$1
shift
sandboxed=
if [ "$1" = --sandboxed ]; then
    sandboxed=1
    shift
fi
shift # --
interrupted=0
forward() {
    interrupted=1
    trap '' TERM # ignore our own copy of what we send the group
    kill -s TERM 0
}
trap forward TERM
(
    trap - INT QUIT
    if [ -n "$sandboxed" ]; then trap '' TERM; fi
    exec "$@"
) &
child=$!
while :; do
    interrupted=0
    wait "$child"
    code=$?
    # A trapped signal interrupts wait while the workload still runs: wait again for its real code.
    if [ "$interrupted" = 0 ] || ! kill -0 "$child" 2>/dev/null; then
        break
    fi
done
# Written aside and renamed, so a reader never sees a half-written code.
printf '%s\n' "$code" >"$exit_file.tmp" && mv -f "$exit_file.tmp" "$exit_file"
exit "$code"
