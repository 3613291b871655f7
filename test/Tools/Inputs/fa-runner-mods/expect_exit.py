"""Runs a command; succeeds only when it exits with the given code.

usage: expect_exit.py CODE COMMAND [ARGS...]
The command's stdout and stderr pass through (for FileCheck).
"""

import subprocess
import sys

code = int(sys.argv[1])
rc = subprocess.call(sys.argv[2:])
if rc != code:
    sys.stdout.flush()
    print("expect_exit.py: expected exit code %d, got %d" % (code, rc))
    sys.exit(1)
