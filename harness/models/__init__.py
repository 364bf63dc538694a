"""Real language models the suites train: located, converted once, cached (see smollm2.py)."""
