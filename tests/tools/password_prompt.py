#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, waits for its password prompt, types the password,
and prints what the terminal showed. Exits with the command's status. Used to check that the
CLI prompts on a terminal and does not echo the password.

Usage: password_prompt.py PROMPT PASSWORD COMMAND [ARGS...]"""
import os
import pty
import select
import signal
import sys
import termios
import time

prompt, password, argv = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

shown = b""
sent = False
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.1)
    if ready:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    # Type only once the prompt is shown and the program has turned the terminal's echo off
    # (a pty's master and slave share their settings): typing ahead of that would be echoed
    # by the terminal itself, whatever the program does.
    if not sent and prompt in shown and not termios.tcgetattr(fd)[3] & termios.ECHO:
        os.write(fd, password + b"\n")
        sent = True
done, status = os.waitpid(pid, os.WNOHANG)
reap_by = time.monotonic() + 5
while done == 0 and time.monotonic() < max(deadline, reap_by):
    time.sleep(0.02)
    done, status = os.waitpid(pid, os.WNOHANG)
if done == 0:
    # Still running at the deadline (e.g. it never turned echo off, so nothing was typed).
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
sys.stdout.write(shown.decode("utf-8", "replace"))
sys.stdout.write(f"\n[prompted: {sent}]\n")
sys.exit(os.waitstatus_to_exitcode(status))
