"""mkdocs hook: every page under docs/ is in the navigation, even one nobody added to ``nav`` yet.

A page listed in mkdocs.yml's ``nav`` keeps its place. An unlisted page under ``results/`` is added to
the Results section (sorted by file name, so dated pages ``YYYY-MM-DD-topic.md`` keep their order); any
other unlisted page is added before Results, titled by its first ``# `` heading. So adding a page is
only writing it; listing it in ``nav`` just chooses its place.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = "results/"


def _listed(nav) -> set[str]:
    found = set()
    for item in nav:
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            for value in item.values():
                found |= _listed(value) if isinstance(value, list) else {value}
    return found


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("-", " ").capitalize()


def unlisted_pages(docs_dir: Path, nav: list) -> list[str]:
    """Markdown pages under ``docs_dir`` (relative, posix) that ``nav`` does not name, sorted."""
    listed = _listed(nav)
    pages = (p.relative_to(docs_dir).as_posix() for p in docs_dir.rglob("*.md"))
    return sorted(p for p in pages if p not in listed)


def extend_nav(docs_dir: Path, nav: list) -> list:
    """``nav`` with every unlisted page added (see the module docstring)."""
    nav = list(nav)
    missing = unlisted_pages(docs_dir, nav)
    results_at = next((i for i, item in enumerate(nav) if isinstance(item, dict) and "Results" in item), None)
    general = [{_title(docs_dir / p): p} for p in missing if not p.startswith(RESULTS)]
    dated = [{_title(docs_dir / p): p} for p in missing if p.startswith(RESULTS)]
    if results_at is None:
        return nav + general + ([{"Results": dated}] if dated else [])
    nav[results_at] = {"Results": list(nav[results_at]["Results"]) + dated}
    return nav[:results_at] + general + nav[results_at:]


def on_config(config):
    if config.get("nav"):
        config["nav"] = extend_nav(Path(config["docs_dir"]), config["nav"])
    return config
