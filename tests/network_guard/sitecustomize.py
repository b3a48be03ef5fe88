"""Run by Python at start-up in every process a test starts: only loopback (loopback_only.py)."""

import loopback_only

loopback_only.install()
