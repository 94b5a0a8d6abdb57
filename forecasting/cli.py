"""`forecast`: the Hydra entry point over conf/ (run `forecast --help` for the config groups)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from forecasting.publish import PublishExistsError
from forecasting.schema import ID_COL, TIME_COL, InputError
from forecasting.settings import check_overrides
from forecasting.summary import aliases_of, file_lines, merged_board, next_months, top_series

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PUBLISHED = 1, 2, 3
TOP_SERIES = 5  # series shown beside WORLD in the next months
DEFAULT_URI = "sqlite:///mlflow.db"  # the store `make ui` opens


def format_report(result: object, cfg: DictConfig) -> str:
    """The story of a run: what was published and why, the next three months of WORLD and the
    largest series with 80% bands, where the files are, how to open the UI; then the
    leaderboard (identical models on one row) and the choice per series."""
    board = merged_board(result.leaderboard, result.backtest)
    for col in ("mase", "skill", "smape", "coverage_80", "coverage_95", "msis_80", "msis_95",
                "scaled_crps", "mae", "wape", "bias"):
        board[col] = board[col].map(lambda v: f"{v:.3f}" if pd.notna(v) else "-")
    picks = result.choice[["unique_id", "champion", "ranked", "n_cells"]].copy()
    picks["ranked"] = picks["ranked"].map(", ".join)
    scope = board["score_on"].iloc[0] if len(board) else "-"
    return "\n".join([
        *_published_lines(result, cfg), "",
        "Files:", *file_lines(result.files, result.published), *_ui_lines(result, cfg), "",
        f"Leaderboard (backtest, {scope} cells; every model on the same cells; skill = 1 - "
        "MASE/MASE[baseline]; models with identical backtest forecasts share a row):",
        board.drop(columns="score_on").to_string(index=False),
        "",
        "Per series, chosen on all backtest cells: the champion and the ranked top models "
        f"(publish.choice={cfg.publish.choice}):",
        picks.to_string(index=False),
    ])


def _published_lines(result: object, cfg: DictConfig) -> list[str]:
    """What was published and why, the model per series, the next three months with bands."""
    published = result.published_choice
    if published is None or not result.forecasts:
        return []
    same = aliases_of(published.model, result.backtest, list(result.leaderboard["model"]))
    lines = [published.summary()
             + (f"; identical backtest forecasts: {', '.join(same)}" if same else "")]
    reference = cfg.publish.scenario_effect.reference
    scenario = reference if reference in result.forecasts else next(iter(result.forecasts))
    forecast = result.forecasts[scenario]
    per_series = forecast.groupby("model", sort=False)[ID_COL].nunique().sort_values(
        ascending=False, kind="stable")
    shown = [f"{model} ({n} series)" for model, n in per_series.iloc[:3].items()]
    more = f" and {len(per_series) - 3} more" if len(per_series) > 3 else ""
    lines.append(f"  forecast per series: {', '.join(shown)}{more}")
    if "kind" in forecast and (forecast["kind"] == "nowcast").any():
        known = forecast.loc[(forecast["kind"] == "nowcast") & (forecast[ID_COL] == "WORLD")]
        lines.append("  nowcast: " + ", ".join(
            f"{m:%Y-%m} (WORLD known: {t:,.1f} t)" for m, t in zip(
                known[TIME_COL], known["forecast"], strict=True))
            + " split across the destinations (rows of kind nowcast)")
    as_of = f"{result.panel[TIME_COL].max():%Y-%m}"
    table = next_months(forecast, as_of=as_of, scenario=scenario,
                        series=top_series(result.panel, n=TOP_SERIES))
    return [*lines, "", f"Next 3 months, scenario {scenario} (as of {as_of}; tonnes, in "
            "brackets the 80% interval; WORLD and the largest series over the last 12 months):",
            table]


def _ui_lines(result: object, cfg: DictConfig) -> list[str]:
    """The MLflow run, the registered model and the command that opens the UI."""
    if result.run_id is None:
        return []
    lines = [f"  mlflow run: {result.run_id} ({cfg.tracking.uri})"]
    if result.registered_model is not None:
        lines.append(f"  registered model: {result.registered_model} (alias candidate; "
                     "README, 'The registered model', says how to promote it)")
    ui = ("make ui" if cfg.tracking.uri == DEFAULT_URI
          else f"make ui TRACKING_URI={cfg.tracking.uri}")
    return [*lines, f"  review: `{ui}`, then open http://127.0.0.1:5000"]


def _run(cfg: DictConfig) -> None:
    from forecasting.job import run_job

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    tags = {"hydra_mode": "multirun" if multirun else "run",
            "run_group": cfg.tracking.run_group or (hc.sweep.dir if multirun else hc.run.dir)}
    name = hc.job.override_dirname or "default"
    if multirun:  # jobs of one sweep share an as_of: each publishes inside its own run dir
        with open_dict(cfg):
            cfg.publish.dir = str(run_dir / "published")
    try:
        check_overrides(hc.overrides.task, cfg)
        result = run_job(cfg, run_dir=run_dir, run_name=name, extra_tags=tags)
    except InputError as err:
        _drop_if_empty(run_dir)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except PublishExistsError as err:
        _drop_if_empty(run_dir)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_PUBLISHED)
    except Exception as err:  # any other failure: one line (the MLflow run is marked FAILED)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        text = str(err).strip().splitlines()
        print(f"error: {type(err).__name__}: {text[0] if text else ''} (the run failed; "
              "HYDRA_FULL_ERROR=1 shows the traceback)", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    print(format_report(result, cfg))
    print(f"\ndata: {result.data_source}")
    if result.series is not None:
        print(result.series.line())
    cells = sum(result.provenance.values())
    print(f"history: {cells} cells, " + ", ".join(
        f"{n} {status} ({n / max(cells, 1):.0%})" for status, n in result.provenance.items())
        + " (scores use " + cfg.backtest.score_on.replace("_", "+") + " cells)")
    if result.scorecard is not None:
        print(f"\n{result.scorecard.table()}")


def _drop_if_empty(path: Path) -> None:
    """Remove the run directory Hydra made when the job wrote nothing into it."""
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def _app(cfg: DictConfig) -> None:
    _run(cfg)


def main() -> None:
    """Console script `forecast`."""
    _app()


if __name__ == "__main__":
    main()
