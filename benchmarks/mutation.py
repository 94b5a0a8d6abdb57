"""Mutation testing (cosmic-ray) of the look-ahead and atomicity code; see docs/mutation.md.

Each target is one module, the functions that hold a known-at or atomicity rule, and the fast
tests that guard them. Only mutants inside those functions run, and of the operators only those
that can loosen a known-at rule: every comparison swap (but not to `is`/`in`), `+`<->`-`,
`&`<->`|`, numbers +-1, `not`, booleans, `and`/`or`, loops and exceptions; the other
arithmetic swaps (`+` -> `**`, `<<`, ...) are left out. cosmic-ray mutates the files
in place, so run this in a scratch copy of the repository, never in a tree you are editing:

    python benchmarks/mutation.py WORKDIR [TARGET ...]   # from the copy's root
    python benchmarks/mutation.py --summary WORKDIR      # counts and the survivors' diffs
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

EXCLUDED = (r"core/ReplaceBinaryOperator_(?!Add_Sub$|Sub_Add$|BitAnd_BitOr$|BitOr_BitAnd$)",
            r"core/ReplaceComparisonOperator_(Lt|LtE|Gt|GtE|Eq|NotEq)_(Is|IsNot|In|NotIn)$")
PYTEST = "python -m pytest -x -q -p no:cacheprovider"
LEAKS = "tests/test_leaks.py::test_"
TARGETS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "inputs": ("forecasting/inputs.py", ("panel_at", "_raw_at"),
               f"{LEAKS}backtest_fold_uses_the_panel_as_known_at_its_cutoff_not_the_final_one "
               f"{LEAKS}panel_at_a_cutoff_is_built_from_figures_up_to_it "
               f"{LEAKS}a_cutoff_whose_figures_are_not_out_yet_still_ends_at_the_cutoff "
               f"{LEAKS}bundled_model_input_at_a_cutoff_uses_only_figures_published_by_then"),
    "bundle": ("forecasting/data/bundle.py",
               ("known_at", "bundled_panel_at"),
               f"{LEAKS}bundled_panel_at_a_cutoff_uses_only_figures_published_by_then "
               "tests/test_bundle.py::"
               "test_a_figure_published_after_the_cutoff_leaves_that_cutoffs_panel_unchanged"),
    "splits": ("forecasting/backtest/splits.py", ("rolling_cutoffs",),
               "tests/test_backtest_metrics.py::test_cutoffs_end_h_before_the_last_month"),
    "run": ("forecasting/backtest/run.py", ("forecast_all", "run_backtest"),
            f"{LEAKS}backtest_fold_uses_the_panel_as_known_at_its_cutoff_not_the_final_one "
            f"{LEAKS}a_fold_given_the_whole_panel_forecasts_from_the_history_up_to_its_cutoff "
            "tests/test_backtest_metrics.py::test_backtest_frame_shape_and_horizons"),
    "selection": ("forecasting/backtest/selection.py", ("choice_at_cutoffs",),
                  "tests/test_selection.py"),
    "policy": ("forecasting/features/policy.py", ("build_policy",),
               f"{LEAKS}an_announcement_on_the_first_of_the_next_month_is_not_known_at_the_cutoff"
               " tests/test_features_policy.py"),
    "atomic": ("forecasting/atomic.py",
               ("write_files_atomic", "write_dir_atomic"),
               f"tests/test_atomic.py {LEAKS}a_rename_failing_midway_restores_the_files_already_"
               "replaced tests/test_publish_kill.py"),
}


def line_ranges(path: str, names: tuple[str, ...]) -> list[str]:
    """'start-end' line ranges of the named functions (methods included) of a module."""
    tree = ast.parse(Path(path).read_text())
    found = {node.name: f"{node.lineno}-{node.end_lineno}" for node in ast.walk(tree)
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names}
    missing = set(names) - set(found)
    if missing:
        raise SystemExit(f"{path}: no function(s) {sorted(missing)}")
    return [found[n] for n in names]


def config(name: str) -> str:
    """The cosmic-ray TOML config of one target."""
    module, functions, tests = TARGETS[name]
    ranges = ", ".join(json.dumps(r) for r in line_ranges(module, functions))
    return (f'[cosmic-ray]\nmodule-path = "{module}"\ntimeout = 300.0\nexcluded-modules = []\n'
            f"test-command = {json.dumps(f'{PYTEST} {tests}')}\n\n"
            f'[cosmic-ray.distributor]\nname = "local"\n\n'
            f'[cosmic-ray.filters.operators-filter]\n'
            f"exclude-operators = {json.dumps(list(EXCLUDED))}\n\n"
            f'[cosmic-ray.filters.line-filter.lines]\n"{module}" = [{ranges}]\n')


def run(workdir: Path, name: str) -> None:
    """Init (or resume), filter to the functions, execute, report into workdir/<name>.*."""
    cfg, db = workdir / f"{name}.toml", workdir / f"{name}.sqlite"
    cfg.write_text(config(name))
    steps = [["cr-filter-lines", "--config", cfg, db], ["cr-filter-operators", db, cfg],
             ["cosmic-ray", "exec", cfg, db]]
    if not db.exists():  # else resume the session: exec runs only what is still pending
        steps.insert(0, ["cosmic-ray", "init", cfg, db])
    for cmd in steps:
        subprocess.run([str(c) for c in cmd], check=True)
    report = subprocess.run(["cr-report", "--show-pending", str(db)], check=True,
                            capture_output=True, text=True).stdout
    (workdir / f"{name}.report.txt").write_text(report)
    print(report.splitlines()[-4:] if report else f"{name}: no report")


def summarise(workdir: Path) -> None:
    """Per target: mutants in scope, run, killed, survived, pending; then each survivor's diff."""
    survivors = []
    for db in sorted(workdir.glob("*.sqlite")):
        dump = subprocess.run(["cosmic-ray", "dump", str(db)], check=True, capture_output=True,
                              text=True).stdout
        counts = dict.fromkeys(("in scope", "killed", "survived", "other", "pending"), 0)
        for line in dump.splitlines():
            item, result = json.loads(line)
            if result is not None and result["worker_outcome"] == "skipped":
                continue
            counts["in scope"] += 1
            if result is None:
                counts["pending"] += 1
            elif result["test_outcome"] in ("killed", "survived"):
                counts[result["test_outcome"]] += 1
                if result["test_outcome"] == "survived":
                    survivors.append(result["diff"])
            else:
                counts["other"] += 1
        print(db.stem, counts)
    for diff in survivors:
        print(diff)


def main(argv: list[str]) -> None:
    if not argv or (argv[0].startswith("-") and argv[0] != "--summary"):  # -h, --help
        print(__doc__)
        return
    if argv[0] == "--summary":
        summarise(Path(argv[1]))
        return
    workdir = Path(argv[0])
    workdir.mkdir(parents=True, exist_ok=True)
    for name in argv[1:] or list(TARGETS):
        run(workdir, name)


if __name__ == "__main__":
    main(sys.argv[1:])
