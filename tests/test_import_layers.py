"""Import direction: core -> data -> features -> models -> backtest -> job -> cli, no circles.

Every `forecasting` module's imports (module level and inside functions) are parsed with ast; a
module may import its own layer or a lower one. Subpackages are layers by name; the top-level
modules are placed by what they do:

- core: schema.py (column names, InputError), atomic.py (file writes), engine.py (where the
  statistical fits run: local or a dask cluster), the package itself
- data: scenarios.py (named future policy events: data the policy features consume)
- features: inputs.py (the model input from the loaders, months via features.base)
- models: scenario_effect.py (the ridge regression of the policy effect)
- backtest: reconcile.py (coherence of forecasts, after the models), nowcast.py (splitting a
  known total, with bands from the backtest)
- job: job.py, settings.py, scenario_config.py (the run's scenarios from the composed config),
  publish.py, publish_lock.py, plots.py, tracking.py, tracking_store.py, scorecard.py (scores
  earlier publications), report.py (report.html), mlflow_model.py (the registered pyfunc),
  summary.py (the parts of the printed summary)
- cli: cli.py, runs_cli.py, ingest_cli.py, scorecard_cli.py, api.py (the Python API: the job
  from a notebook)
"""

from __future__ import annotations

import ast
from pathlib import Path

import forecasting

LAYERS: tuple[str, ...] = ("core", "data", "features", "models", "backtest", "job", "cli")
TOP_LEVEL: dict[str, str] = {
    "forecasting": "core", "forecasting.schema": "core", "forecasting.atomic": "core",
    "forecasting.engine": "core",
    "forecasting.scenarios": "data",
    "forecasting.inputs": "features",
    "forecasting.scenario_effect": "models",
    "forecasting.reconcile": "backtest", "forecasting.nowcast": "backtest",
    **{f"forecasting.{m}": "job" for m in ("job", "settings", "scenario_config", "publish",
                                           "publish_lock", "plots", "tracking", "tracking_store",
                                           "scorecard", "report", "mlflow_model", "summary")},
    "forecasting.cli": "cli", "forecasting.runs_cli": "cli", "forecasting.ingest_cli": "cli",
    "forecasting.scorecard_cli": "cli", "forecasting.api": "cli",
}
PACKAGE = Path(forecasting.__file__).resolve().parent


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The forecasting modules `name` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])
            for alias in node.names:  # `from forecasting.data import suspensions` is a module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known}


def layer(name: str) -> str:
    """The layer of a module: its subpackage, or its place in TOP_LEVEL."""
    parts = name.split(".")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS):
        return parts[1]
    assert name in TOP_LEVEL, f"{name}: put this new top-level module in a layer (TOP_LEVEL)"
    return TOP_LEVEL[name]


def graph() -> dict[str, set[str]]:
    """Module -> the forecasting modules it imports."""
    found = modules()
    return {name: imports(name, path, set(found)) - {name} for name, path in found.items()}


def test_every_import_goes_down_the_layers() -> None:
    edges = graph()
    assert "forecasting.features.policy" in edges["forecasting.scenario_effect"]  # parsed
    wrong = [f"{a} ({layer(a)}) imports {b} ({layer(b)})" for a, deps in edges.items()
             for b in deps if LAYERS.index(layer(a)) < LAYERS.index(layer(b))]
    assert not wrong, "\n".join(wrong)


def test_no_import_circles() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                raise AssertionError(" -> ".join([*stack[stack.index(dep):], dep]))
            if dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])


def test_scenarios_sit_below_the_features_that_consume_them() -> None:
    edges = graph()
    assert "forecasting.scenarios" in edges["forecasting.features.policy"]
    assert not {m for m in edges["forecasting.scenarios"] if layer(m) != "core"} - {
        "forecasting.data.policy_calendar", "forecasting.data.suspensions"}
