"""The documentation builds, its links resolve, and every `harness` command it shows exists.

The docs are Markdown under docs/ (plus README.md), built by mkdocs (mkdocs.yml). Three checks:
``mkdocs build --strict`` succeeds (nav, anchors, config); every relative link in README.md and docs/
resolves to a file or folder of the checkout (mkdocs cannot see links into leaderboards/ or
benchmarks/); and every ``harness <command> --option`` in a code block or code span names a command of
the CLI and options that command has.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from harness.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
sys.path.insert(0, str(ROOT / "scripts"))
from mkdocs_hooks import extend_nav, unlisted_pages  # noqa: E402

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`]+)`")  # a code span may wrap onto the next line
LINK = re.compile(r"\]\(([^)\s]+)\)")
# `harness bench ...`, `.venv/bin/harness bench|discover ...`: the command (alternatives with |), then
# everything up to the next command on the line
CALL = re.compile(r"(?:^|(?<=[\s/;&(]))harness\s+((?:[a-z][a-z-]*)(?:\|[a-z][a-z-]*)*)")
OPTION = re.compile(r"(?<![\w-])--[a-zA-Z][\w-]*")


def _code_texts(text: str) -> list[str]:
    """Code blocks (continued lines joined, comments dropped) and inline code spans. A line is continued
    by a trailing backslash, or by an indented next line of options (``    [--jobs N]``)."""
    out = []
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        joined = re.sub(r"\n[ \t]+(?=[\[-])", " ", joined)
        out += [line.split(" #")[0] for line in joined.splitlines()]
    prose = FENCE.sub("", text)
    return out + [span.replace("\n", " ") for span in SPAN.findall(prose)]


def _until_shell_operator(text: str) -> str:
    """``text`` up to a shell pipe, ``&&``, ``;`` or redirection outside [...] (``[-a | -b]`` is syntax)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "[") - (ch == "]")
        if depth == 0 and re.match(r"\s(?:\||&&|>)\s|;", text[i:]):
            return text[:i]
    return text


def harness_calls(code: str) -> list[tuple[str, list[str]]]:
    """[(command, [--options])] for every `harness <command>` in one line of code."""
    return [(name, opts) for name, opts, _ in _calls(code)]


def _calls(code: str) -> list[tuple[str, list[str], str]]:
    """[(command, [--options], the rest of the call)]."""
    matches = list(CALL.finditer(code))
    calls = []
    for i, m in enumerate(matches):
        rest = code[m.end():matches[i + 1].start() if i + 1 < len(matches) else len(code)]
        rest = _until_shell_operator(rest)
        for name in m.group(1).split("|"):
            calls.append((name, OPTION.findall(rest), rest))
    return calls


def _options(name: str, rest: str = "") -> set[str]:
    """The options of command ``name``, or of its subcommand when ``rest`` starts with one
    (``harness suites add SPEC``)."""
    cmd = main.get_command(click.Context(main), name)
    words = rest.split()
    if isinstance(cmd, click.Group) and words and words[0] in cmd.commands:
        cmd = cmd.commands[words[0]]
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


def _all_calls() -> list[tuple[str, str, list[str], str]]:
    return [(str(f.relative_to(ROOT)), name, opts, rest)
            for f in DOCS for code in _code_texts(f.read_text(encoding="utf-8"))
            for name, opts, rest in _calls(code)]


def test_the_parser_finds_commands_and_options():
    assert harness_calls(".venv/bin/harness bench --loss F [--seeds 3|auto [--seeds-cap 10]] | tee x --nope") == [
        ("bench", ["--loss", "--seeds", "--seeds-cap"])]
    assert harness_calls("harness ci [--losses a.py | --loss F] [--json r] > out --nope") == [
        ("ci", ["--losses", "--loss", "--json"])]
    assert harness_calls("harness bench|discover --executor docker") == [
        ("bench", ["--executor"]), ("discover", ["--executor"])]
    assert harness_calls("harness submit --loss F; harness leaderboard --write") == [
        ("submit", ["--loss"]), ("leaderboard", ["--write"])]
    assert harness_calls("pip install 'harness[gpu]' and harness/suites/tiny and harness.stats") == []
    assert _code_texts("a `harness ci --json x` b\n```bash\nharness bench \\\n  --loss F\n"
                       "              [--jobs N]  # --not-an-option\n```\n") == [
        "harness bench  --loss F [--jobs N] ", "harness ci --json x"]


def test_the_check_catches_an_unknown_command_and_option():
    assert "frobnicate" not in COMMANDS
    assert "--no-such-option" not in _options("bench")
    assert "--json" in _options("suites") and "--json" not in _options("suites", " add spec.json")


def test_every_harness_command_in_the_docs_exists():
    calls = _all_calls()
    assert len({name for _, name, _, _ in calls}) >= 10, "the docs should show most commands"
    unknown = sorted({(f, name) for f, name, _, _ in calls if name not in COMMANDS})
    assert not unknown, f"docs show commands the CLI does not have: {unknown}; choices: {sorted(COMMANDS)}"
    bad = sorted({(f, name, o) for f, name, opts, rest in calls for o in opts if o not in _options(name, rest)})
    assert not bad, f"docs show options their command does not have: {bad}"


def test_every_relative_link_resolves():
    broken = []
    for f in DOCS:
        for target in LINK.findall(f.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = target.split("#")[0]
            if path and not (f.parent / path).exists():
                broken.append(f"{f.relative_to(ROOT)}: {target}")
    assert not broken, "links to nothing: " + "; ".join(broken)


def test_the_readme_stays_short():
    size = (ROOT / "README.md").stat().st_size
    assert size <= 10 * 1024, f"README.md is {size} bytes; move detail into docs/ (limit 10 KB)"


def test_unlisted_pages_join_the_nav(tmp_path):
    (tmp_path / "results").mkdir()
    for name, head in [("index.md", "Home"), ("security.md", "Security"), ("results/2027-01-01-x.md", "X")]:
        (tmp_path / name).write_text(f"# {head}\n")
    nav = [{"Home": "index.md"}, {"Results": ["results/index.md"]}]
    assert unlisted_pages(tmp_path, nav) == ["results/2027-01-01-x.md", "security.md"]
    assert extend_nav(tmp_path, nav) == [{"Home": "index.md"}, {"Security": "security.md"},
                                         {"Results": ["results/index.md", {"X": "results/2027-01-01-x.md"}]}]


@pytest.mark.timeout(120)
def test_the_docs_build_strict(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                          "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=110)
    problems = [line for line in out.stderr.splitlines() if not line.startswith("INFO")]
    assert out.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(problems[-30:])
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "architecture" / "index.html").is_file()


def test_the_benchmarks_index_names_every_script():
    index = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    scripts = sorted(p.relative_to(ROOT / "benchmarks").as_posix() for p in (ROOT / "benchmarks").glob("*/*.py"))
    assert scripts and not list((ROOT / "benchmarks").glob("*.py")), "benchmark scripts live in a kind's folder"
    missing = [s for s in scripts if f"`{s}`" not in index]
    assert not missing, f"benchmarks/README.md does not describe: {missing}"
