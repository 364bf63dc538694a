"""The sandbox: untrusted loss code never runs in a trusted process (see harness/sandbox/jail.py)."""
