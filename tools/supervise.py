"""Runs a command and stops it, with everything it started, when whoever started this
supervisor goes away, even by SIGKILL (a timed-out test run gets no chance to clean up).

Usage: supervise.py COMMAND [ARG...]
"""

import os
import signal
import subprocess
import sys
import time


def main():
    parent = os.getppid()
    child = subprocess.Popen(sys.argv[1:], start_new_session=True)

    def stop(*_):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 5
            while child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if child.poll() is not None and sig == signal.SIGTERM:
                # the leader is gone; make sure nothing it started lingers
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while child.poll() is None:
        if os.getppid() != parent:
            stop()
        time.sleep(0.2)
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
