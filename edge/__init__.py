"""The site service: settings, errors, command line, HTTP API, gate logic, devices and web pages."""

import os

# The fingerprint matcher (MCC) multiplies small matrices many times; OpenBLAS's thread team took
# one comparison from 1 ms to 7 ms on a busy 2-core box. Set before NumPy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
