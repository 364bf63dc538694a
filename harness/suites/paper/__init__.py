"""The DiscoPOP paper's setups (MT-Bench, Alpaca Eval 2.0, TL;DR, IMDb) as suites for GPU hosts."""

from harness.suites.paper.config import PAPER_SUITES, PaperSuiteConfig
from harness.suites.paper.suite import PaperArtifacts, PaperSuite

__all__ = ["PAPER_SUITES", "PaperSuiteConfig", "PaperSuite", "PaperArtifacts"]
