"""Run a command with a private ``/dev/log`` and write what it sent there as JSON.

Usage, as root: ``unshare --mount --propagation private -- python devlog.py REPORT -- CMD…``

Inside that mount namespace only, a tmpfs goes over /dev (so nothing is created in the
host's /dev), /dev/null is bound back, and a datagram socket is bound at /dev/log. The
command runs with stdin from /dev/null and this process's environment; the report holds its
pid, exit code, stdout and every datagram received.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys


def main() -> None:
    report, separator, *command = sys.argv[1:]
    if separator != "--" or not command:
        raise SystemExit(__doc__)
    # unshare execs this script, so the parent is the caller, in the host's namespace
    if os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{os.getppid()}/ns/mnt"):
        raise SystemExit("devlog.py: refusing to run outside a private mount namespace")
    null = f"{report}.null"
    open(null, "w").close()  # a bind target
    subprocess.run(["/usr/bin/mount", "--bind", "/dev/null", null], check=True)
    subprocess.run(["/usr/bin/mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/dev"], check=True)
    open("/dev/null", "w").close()
    subprocess.run(["/usr/bin/mount", "--bind", null, "/dev/null"], check=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("/dev/log")
    os.chmod("/dev/log", 0o666)  # noqa: S103 - like the real /dev/log, for any reader user
    with open("/dev/null", "rb") as stdin:
        process = subprocess.Popen(
            command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        stdout, _ = process.communicate()
    listener.setblocking(False)
    datagrams = []
    while True:  # syslog(3) has sent synchronously: everything is queued by now
        try:
            datagrams.append(listener.recv(65536).decode("utf-8", "replace"))
        except BlockingIOError:
            break
    for mount_point in ("/dev/null", null):
        subprocess.run(["/usr/bin/umount", mount_point], check=True)
    os.unlink(null)  # outside the namespace it was only ever an empty file
    with open(report, "w") as handle:
        json.dump(
            {
                "pid": process.pid,
                "returncode": process.returncode,
                "stdout": stdout.decode("utf-8", "replace"),
                "datagrams": datagrams,
            },
            handle,
        )


if __name__ == "__main__":
    main()
