"""Launch-to-first-frame of `qlora-tutor`, measured the way a learner feels it.

Starts the real command in a pseudo-terminal (80x24 by default) and times how long until
the home screen's text has been drawn, then quits the app. Run: python bench/launch_time.py
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import sys
import tempfile
import termios
import time

TARGET_S = 1.0
MARKER = b"Learn QLoRA by doing it"  # the first line of the home screen
ANSI = re.compile(rb"\x1b\[[0-9;?<>=$]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\x1b[=>]")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_frame(command: list[str], columns: int, rows: int, timeout: float) -> tuple[float, float]:
    """(wall seconds, CPU seconds) from exec to the home screen's text on the terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # child: become the app
        os.execvpe(command[0], command, os.environ | {"TERM": "xterm-256color"})
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    start = time.perf_counter()
    screen = b""
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    screen += os.read(fd, 65536)
                except OSError:
                    break
                if MARKER in ANSI.sub(b"", screen):
                    return time.perf_counter() - start, cpu_seconds(pid)
        raise TimeoutError(f"no first frame within {timeout}s")
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        os.close(fd)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", default="80x24", help="terminal COLUMNSxROWS")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    columns, rows = map(int, args.size.split("x"))
    command = [shutil.which("qlora-tutor") or sys.executable, *([] if shutil.which("qlora-tutor") else ["-m", "tutor"])]
    with tempfile.TemporaryDirectory() as home:  # a fresh learner: no progress to read
        os.environ["QLORA_TUTOR_HOME"] = home
        runs = sorted(first_frame(command, columns, rows, args.timeout) for _ in range(args.runs))
    median_wall, median_cpu = runs[len(runs) // 2]
    print(f"launch to first frame ({args.size}, {args.runs} runs): median {median_wall:.3f} s "
          f"(best {runs[0][0]:.3f} s, worst {runs[-1][0]:.3f} s), CPU {median_cpu:.2f} s; "
          f"target <= {TARGET_S:.1f} s")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(a busy machine inflates wall time; CPU time is the steadier number)")
    return 0 if median_wall <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
