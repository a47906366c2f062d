"""Run a command from a small process and report that command's own peak RSS.

A child forked from pytest starts with pytest's memory counted as its own: the kernel carries the
high-water mark of the address space a process forks with across its exec (ru_maxrss of a
`python -m megachat` spawned by a 200 MB pytest read 200 MB). Forked from this small launcher
instead, the command's ru_maxrss is its own (at least this launcher's ~10 MB).

Usage: python -m tests.faults.rss_launcher REPORT_PATH AS_LIMIT_BYTES(0: none) CMD...
Writes "EXIT_CODE MAXRSS_KIB" to REPORT_PATH; the command's stdio is this process's.
"""

from __future__ import annotations

import os
import resource
import signal
import sys


def main() -> None:
    report, limit, command = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    pid = os.fork()
    if pid == 0:
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.execv(command[0], command)
    # Killed by the test (its deadline): take the command along.
    signal.signal(signal.SIGTERM, lambda *_: (os.kill(pid, signal.SIGKILL), sys.exit(1)))
    _, status, usage = os.wait4(pid, 0)
    with open(report, "w", encoding="ascii") as out:
        out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}\n")


if __name__ == "__main__":
    main()
