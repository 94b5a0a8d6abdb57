"""`forecast`: the Hydra entry point over conf/ (run `forecast --help` for the config groups)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from forecasting.publish import PublishExistsError
from forecasting.schema import InputError
from forecasting.settings import check_overrides

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
EXIT_BAD_INPUT, EXIT_PUBLISHED = 2, 3


def format_report(result: object, *, choice: str = "auto") -> str:
    """The leaderboard, the published choice with its evidence and the picks per series."""
    board = result.leaderboard.copy()
    for col in ("mase", "skill", "smape", "coverage_80", "coverage_95", "msis_80", "msis_95",
                "scaled_crps", "mae", "wape", "bias"):
        board[col] = board[col].map(lambda v: f"{v:.3f}" if pd.notna(v) else "-")
    picks = result.choice[["unique_id", "champion", "ranked", "n_cells"]].copy()
    picks["ranked"] = picks["ranked"].map(", ".join)
    scope = board["score_on"].iloc[0] if len(board) else "-"
    published = result.published_choice
    return "\n".join([
        *([published.summary(), ""] if published is not None else []),
        f"Leaderboard (backtest, {scope} cells; every model on the same cells; skill = 1 - "
        "MASE/MASE[baseline]):",
        board.drop(columns="score_on").to_string(index=False),
        "",
        "Per series, chosen on all backtest cells: the champion and the ranked top models "
        f"(publish.choice={choice}):",
        picks.to_string(index=False),
    ])


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
    print(format_report(result, choice=cfg.publish.choice))
    print(f"\ndata: {result.data_source}")
    if result.series is not None:
        print(result.series.line())
    cells = sum(result.provenance.values())
    print(f"history: {cells} cells, " + ", ".join(
        f"{n} {status} ({n / max(cells, 1):.0%})" for status, n in result.provenance.items())
        + " (scores use " + cfg.backtest.score_on.replace("_", "+") + " cells)")
    print(f"\nfiles: {run_dir}")
    if result.published is not None:
        print(f"published: {result.published.directory}")
    if result.run_id is not None:
        print(f"mlflow run: {result.run_id} ({cfg.tracking.uri})")


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
