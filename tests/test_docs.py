"""README holds: two quick-start commands, no figures that age, every entry point and group."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The README text under `## title` up to the next `## ` heading."""
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def test_quick_start_has_exactly_the_two_make_commands():
    blocks = re.findall(r"```bash\n(.*?)```", section("Quick start"), flags=re.S)
    commands = [line.split("#")[0].strip() for line in blocks[0].splitlines() if line.strip()]
    assert commands == ["make forecast", "make test"]


def test_no_hard_coded_test_counts_or_job_times_in_readme():
    assert not re.search(r"\b\d+ (tests|passed)\b", README)
    assert "BENCHMARKS.md" in section("Quick start")  # the job's time lives there, measured


def test_every_console_script_and_config_group_is_documented():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for script in scripts:
        assert script in README, script
    table = section("Configuration")
    for group in sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir()):
        assert f"`{group}`" in table, group


def test_files_the_readme_links_exist():
    for link in re.findall(r"\]\(([^)#]+?)\)", README):
        if not link.startswith(("http://", "https://")):
            assert (ROOT / link).exists(), link
