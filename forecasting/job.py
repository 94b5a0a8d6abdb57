"""The main job: backtest, score, forecast under scenarios, reconcile, publish, track."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from forecasting import tracking
from forecasting.atomic import write_bytes_atomic
from forecasting.backtest.calibration import calibrate_backtest, factors, stretch
from forecasting.backtest.leaderboard import PublishedChoice, leaderboard, published_choice
from forecasting.backtest.metrics import (
    SCORE_ON,
    cell_errors,
    in_scope,
    score,
    seasonal_scale,
    summarise,
)
from forecasting.backtest.run import (
    FALLBACK_COL,
    FinalForecast,
    PendingBacktest,
    fold_workers,
    n_fallbacks,
    start_backtest,
)
from forecasting.backtest.selection import (
    GROUP_COL,
    SelectionRule,
    add_champion_and_ensemble,
    apply_choice,
    choice_at_cutoffs,
    final_choice,
)
from forecasting.backtest.splits import rolling_cutoffs
from forecasting.data.hierarchy import SeriesSummary
from forecasting.engine import check_engine, engine_session
from forecasting.features.pipeline import build_features
from forecasting.inputs import ModelInput, load_input
from forecasting.models.registry import build_forecasters
from forecasting.models.routing import CLASS_COL, classify_series, model_columns, route
from forecasting.nowcast import apply_nowcast, band_quantiles, known_totals, split_errors
from forecasting.plots import plot_backtest, plot_fan, plot_mase_by_horizon, plot_scenarios
from forecasting.publish import publish, refuse_republish
from forecasting.publish_lock import check_publish_dir, month_lock
from forecasting.reconcile import FORECAST_COL, reconcile
from forecasting.report import write_report
from forecasting.scenario_config import reference_scenario, scenarios_for
from forecasting.scenario_effect import PolicyEffect, apply_multiplier
from forecasting.scenarios import Scenario
from forecasting.schema import (
    CUTOFF_COL,
    ID_COL,
    STATUS_COL,
    STATUSES,
    TARGET_COL,
    TIME_COL,
    InputError,
)
from forecasting.scorecard import CARD_NAME, Scorecard, scorecard, summary_metrics, write_scorecard
from forecasting.settings import check_settings
from forecasting.tracking_store import prepare_store

ROUTED, CHAMPION, ENSEMBLE = "Routed", "Champion", "Ensemble"


@dataclass
class JobResult:
    """What a job produced: tables, files written and the MLflow run id."""

    leaderboard: pd.DataFrame
    choice: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    run_id: str | None = None
    published: object | None = None
    series: SeriesSummary | None = None
    published_choice: PublishedChoice | None = None
    provenance: dict[str, int] = field(default_factory=dict)
    scorecard: Scorecard | None = None
    panel: pd.DataFrame | None = None
    backtest: pd.DataFrame | None = None
    forecasts: dict[str, pd.DataFrame] = field(default_factory=dict)
    registered_model: str | None = None
    data_source: str = ""


def _plain(node: object) -> object:
    """A config node as plain Python containers."""
    return OmegaConf.to_container(node, resolve=True)


def _write_csv(df: pd.DataFrame, path: Path, files: dict[str, Path]) -> Path:
    """Write `df` atomically as CSV and remember it (and log it when a run is active)."""
    write_bytes_atomic(path, df.to_csv(index=False, lineterminator="\n").encode())
    _keep(path, files)
    return path


def _keep(path: Path, files: dict[str, Path]) -> None:
    """Remember a file the job wrote and log it to the active run."""
    files[path.name] = path
    tracking.log_artifact(path)


def check_publish_target(cfg: DictConfig, label: str) -> None:
    """Fail fast (before any model fits) when the month is already published."""
    if cfg.publish.enabled:
        check_publish_dir(cfg.publish.dir)
        refuse_republish(cfg.publish.dir, as_of=label, overwrite=cfg.publish.overwrite)


def publication_label(as_of: pd.Timestamp, totals: pd.DataFrame) -> str:
    """The publication's directory name: the as_of month, or `<last total's month>-preliminary`
    when known WORLD totals are nowcast (the final publication of that month comes with the
    detail, under its own as_of)."""
    if totals.empty:
        return f"{as_of:%Y-%m}"
    return f"{totals[TIME_COL].max():%Y-%m}-preliminary"


def selection_rule(cfg: DictConfig) -> SelectionRule:
    """The choice settings (models.selection.*, backtest.score_on); InputError naming a bad one."""
    sel = cfg.models.selection
    try:
        return SelectionRule(top_k=sel.top_k, metric=sel.get("metric", "mae"),
                             scope=sel.get("scope", "series"), shrink=sel.get("shrink", 1.0),
                             weights=sel.get("weights", "equal"), score_on=cfg.backtest.score_on)
    except ValueError as err:
        raise InputError("config", str(err), column="models.selection") from err


def fold_scales(data: ModelInput, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    """The MASE scale of every series at every cutoff, from the panel as known then."""
    return pd.concat([seasonal_scale(data.panel_at(c), [c]) for c in cutoffs],
                     ignore_index=True)


def _groups(classes: pd.DataFrame) -> pd.DataFrame:
    """Demand class per series (and cutoff) as the choice's groups."""
    return classes.rename(columns={CLASS_COL: GROUP_COL})


def fold_jobs(cfg: DictConfig) -> int:
    """backtest.n_jobs, or 1 under a distributed engine (the fits run on its cluster, which
    fold processes would not see)."""
    engine = cfg.get("engine") or {}
    return cfg.backtest.n_jobs if engine.get("name", "local") == "local" else 1


def start_models(cfg: DictConfig, data: ModelInput, forecasters: list, *,
                 scenario: Scenario, cutoffs: list[pd.Timestamp], panel: pd.DataFrame,
                 scenarios: list[Scenario]) -> PendingBacktest:
    """Start the rolling-origin backtest under `scenario` and, in the same worker processes,
    every model's forecast from the last month of `panel` under each of `scenarios`."""
    bt_cfg = cfg.backtest
    actuals = data.actuals()  # what the scores compare against (data.vintage with a store)
    n_jobs = fold_jobs(cfg)
    finals = [FinalForecast(panel=panel, h=cfg.publish.h, scenario=s) for s in scenarios]
    data.prebuild(cutoffs, n_jobs=fold_workers(n_jobs, n_series=actuals[ID_COL].nunique(),
                                               n_cutoffs=len(cutoffs) + len(finals)))
    return start_backtest(actuals, forecasters, h=bt_cfg.h, cutoffs=cutoffs, scenario=scenario,
                          level=tuple(bt_cfg.level), progress=cfg.progress,
                          history_at=data.panel_at, baseline=cfg.models.baseline,
                          n_jobs=n_jobs, finals=finals)


def backtest_models(cfg: DictConfig, data: ModelInput, forecasters: list,
                    pending: PendingBacktest, cutoffs: list[pd.Timestamp],
                    ) -> tuple[pd.DataFrame, list[str], list[pd.DataFrame]]:
    """The started backtest plus the routed, champion and ensemble pseudo-models; the final
    forecasts computed with it."""
    level = tuple(cfg.backtest.level)
    bt, finals = pending.result()
    base = [a for f in forecasters for a in f.aliases]
    classes = pd.concat([classify_series(data.panel_at(c), as_of=c).assign(**{CUTOFF_COL: c})
                         for c in cutoffs], ignore_index=True)
    bt = route(bt, classes, smooth=cfg.models.routing.smooth,
               intermittent=cfg.models.routing.intermittent, alias=ROUTED, levels=level)
    candidates = [*base, ROUTED]
    choice = choice_at_cutoffs(bt, models=candidates, scale=fold_scales(data, cutoffs),
                               groups=_groups(classes), rule=selection_rule(cfg))
    bt = add_champion_and_ensemble(bt, choice, models=candidates, champion_alias=CHAMPION,
                                   ensemble_alias=ENSEMBLE, levels=level)
    return bt, candidates, finals


def final_forecasts(cfg: DictConfig, panel: pd.DataFrame, raw: list[pd.DataFrame],
                    scenarios: list[Scenario], choice: pd.DataFrame, candidates: list[str],
                    raw_backtest: pd.DataFrame, pick: str, *, reference: Scenario,
                    hierarchy: str = "world", several: bool = False) -> dict[str, pd.DataFrame]:
    """Per scenario: every model's forecast (`raw`, in `scenarios` order), routed, then the
    published pick per series (reconciled to WORLD under hierarchy world, per product with
    `several`; as forecast under hierarchy none), moved by the policy effect relative to the
    `reference` scenario (magnet policy: not with several products)."""
    as_of = panel[TIME_COL].max()
    level = tuple(cfg.backtest.level)
    classes = classify_series(panel, as_of=as_of)
    eff_cfg = cfg.publish.scenario_effect
    effect = None
    if eff_cfg.enabled and hierarchy == "world" and not several:  # about magnet partners
        effect = PolicyEffect(features=list(eff_cfg.features), alpha=eff_cfg.alpha).fit(
            panel, as_of=as_of)
        tracking.log_metrics({f"effect_{k}": v for k, v in effect.coef_.items()}
                             | {"effect_n_rows": effect.n_rows_})
    out = {}
    for scenario, fc in zip(scenarios, raw, strict=True):
        fc = route(fc, classes, smooth=cfg.models.routing.smooth,
                   intermittent=cfg.models.routing.intermittent, alias=ROUTED, levels=level)
        fc = apply_choice(fc, choice, models=candidates, champion_alias=CHAMPION,
                          ensemble_alias=ENSEMBLE, levels=level)
        if cfg.backtest.calibrate:
            steps = (fc[TIME_COL].dt.year - as_of.year) * 12 + fc[TIME_COL].dt.month - as_of.month
            fc = stretch(fc, factors(raw_backtest, models=[pick, cfg.models.baseline],
                                     levels=level, score_on=cfg.backtest.score_on),
                         horizon=steps)
        frame = _published_pick(fc, choice, pick=pick, baseline=cfg.models.baseline,
                                level=level)
        frame["model"] = _with_fallbacks(frame["model"], fc[FALLBACK_COL], cfg.models.baseline)
        if effect is not None and scenario.name != reference.name:
            mult = effect.multiplier(panel, h=cfg.publish.h, scenario=scenario,
                                     reference=reference)
            frame = apply_multiplier(frame, mult, model_columns(FORECAST_COL, level))
            frame["model"] = frame["model"] + f" x effect({scenario.name})"
        out[scenario.name] = frame if hierarchy == "none" else reconcile(
            frame, method=cfg.reconcile.method, insample=_insample(raw_backtest, pick),
            several=several)
    return out


def split_known_totals(cfg: DictConfig, data: ModelInput) -> tuple[ModelInput, pd.DataFrame]:
    """The input cut at the detail's last month and the WORLD totals known after it (empty
    unless publish.nowcast and the data hold such totals under hierarchy world)."""
    if not cfg.publish.get("nowcast", True) or data.hierarchy != "world":
        return data, pd.DataFrame(columns=[TIME_COL, TARGET_COL])
    totals = known_totals(data.figures())
    if totals.empty:
        return data, totals
    detail_end = totals[TIME_COL].min() - pd.offsets.MonthBegin(1)
    return data.truncated(detail_end), totals


def nowcast_forecasts(forecasts: dict[str, pd.DataFrame], totals: pd.DataFrame,
                      backtest: pd.DataFrame, pick: str) -> dict:
    """Split the known totals across destinations in every scenario's frame (in place) with
    bands from the pick's backtest split errors; what was done, for the manifest and MLflow."""
    if totals.empty:
        return {}
    errors = split_errors(backtest, pick, horizons=range(1, len(totals) + 1))
    bands = band_quantiles(errors)
    for name, frame in forecasts.items():
        forecasts[name] = apply_nowcast(frame, totals, point=FORECAST_COL, bands=bands)
    info = {"months": [f"{m:%Y-%m}" for m in totals[TIME_COL]],
            "world_tonnes": [float(v) for v in totals[TARGET_COL]],
            "band_cells": len(errors), "bands": "backtest split errors" if bands else
            "the forecast's own bands scaled to the total (too few realised cells)"}
    tracking.log_metrics({"nowcast_months": len(totals), "nowcast_band_cells": len(errors)})
    return info


def model_params(models_cfg: DictConfig) -> dict[str, dict]:
    """Per model alias, the config that built it (the MLflow params of its child run)."""
    out: dict[str, dict] = {}
    for name, forecaster in _plain(models_cfg.forecasters).items():
        shared = {k: v for k, v in forecaster.items() if k != "models"} | {"forecaster": name}
        for model in forecaster.get("models", [forecaster]):
            out[model["alias"]] = shared | model
    out[ROUTED] = _plain(models_cfg.routing)
    out[CHAMPION] = out[ENSEMBLE] = _plain(models_cfg.selection)
    return out


def _published_pick(fc: pd.DataFrame, choice: pd.DataFrame, *, pick: str, baseline: str,
                    level: tuple[int, ...]) -> pd.DataFrame:
    """The internal forecast frame of the pick; series without a backtest choice (no scored
    cell in any fold, e.g. a destination first reported after the cutoffs) get the baseline."""
    names = choice.set_index(ID_COL)
    if pick in (CHAMPION, ENSEMBLE):
        label = (names["champion"] if pick == CHAMPION
                 else names["ranked"].map(lambda r: "ensemble:" + "+".join(r)))
        chosen = fc[ID_COL].isin(names.index).to_numpy()
    else:
        label = pd.Series(pick, index=fc[ID_COL].unique())
        chosen = fc[pick].notna().to_numpy()
    frame = fc[[ID_COL, TIME_COL]].copy()
    frame["model"] = fc[ID_COL].map(label).fillna(f"{baseline} (no backtest choice)")
    for out, col, fallback in zip(model_columns(FORECAST_COL, level), model_columns(pick, level),
                                  model_columns(baseline, level), strict=True):
        frame[out] = np.where(chosen, fc[col].to_numpy(), fc[fallback].to_numpy())
    return frame


def _with_fallbacks(labels: pd.Series, fallbacks: pd.Series, baseline: str) -> pd.Series:
    """Published model labels, each naming the models in it that fell back to the baseline."""
    def one(label: str, fell: str) -> str:
        hit = sorted(set(fell.split("+")) & set(label.replace(":", "+").split("+"))) if fell else []
        return f"{label} ({'+'.join(hit)} fell back to {baseline})" if hit else label
    return pd.Series([one(a, b) for a, b in zip(labels, fallbacks, strict=True)],
                     index=labels.index)


def _insample(backtest: pd.DataFrame, pick: str) -> pd.DataFrame:
    """One-step-ahead backtest forecasts of the pick as the 'fitted values' MinT shrink needs."""
    one = backtest.loc[backtest["horizon"] == 1, [ID_COL, TIME_COL, "y", pick]]
    return one.rename(columns={pick: "forecast"}).dropna().reset_index(drop=True)


def score_backtest(cfg: DictConfig, data: ModelInput, bt: pd.DataFrame, models: list[str],
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cell errors and the long metrics table, on the cells of backtest.score_on.

    The MASE scale of a fold comes from the panel as known at its cutoff.
    """
    scale = fold_scales(data, sorted(bt[CUTOFF_COL].unique()))
    cells = cell_errors(bt, scale, models, levels=tuple(cfg.backtest.level))
    return cells, score(cells, score_on=cfg.backtest.score_on)


def provenance(panel: pd.DataFrame) -> dict[str, int]:
    """History cells by status (reported, derived, estimated) of the modelled panel."""
    counts = panel[STATUS_COL].value_counts()
    return {status: int(counts.get(status, 0)) for status in STATUSES}


def score_earlier(cfg: DictConfig, data: ModelInput, as_of: pd.Timestamp, run_dir: Path,
                  files: dict[str, Path]) -> Scorecard:
    """Score the publications in publish.dir made before `as_of` against the panel known now;
    write scorecard.csv into the run dir and log it with a few pooled metrics."""
    card = scorecard(cfg.publish.dir, data, before=f"{as_of:%Y-%m}")
    _keep(write_scorecard(card, run_dir / CARD_NAME), files)
    tracking.log_metrics(summary_metrics(card))
    return card


def publish_month(cfg: DictConfig, forecasts: dict[str, pd.DataFrame], panel: pd.DataFrame, *,
                  run_id: str | None, tags: dict[str, str], hierarchy: str = "world",
                  nowcast: dict | None = None, board: pd.DataFrame | None = None,
                  card: Scorecard | None = None, fans: dict[str, Path] | None = None,
                  products: tuple[str, ...] = ()) -> object:
    """Publish the scenario CSVs, history and manifest (then the comparison plot and
    report.html); log them to MLflow. Several `products`: a `product` column."""
    published = publish(forecasts, as_of=tags["as_of"], out_dir=cfg.publish.dir,
                        overwrite=cfg.publish.overwrite, coherent=hierarchy == "world",
                        label=tags["publication"], history=panel, several=len(products) > 1,
                        manifest_extra={
                            "products": list(products),
                            "data_hash": tags["data_hash"],
                            "config": OmegaConf.to_container(cfg, resolve=True),
                            "data_source": tags["data_source"],
                            "mlflow_run_id": run_id, "git_commit": tags["git_commit"],
                            "git_dirty": tags["git_dirty"] == "True",
                            "package_version": tags["package_version"],
                            "history_cells_by_status": provenance(panel),
                            "nowcast": nowcast or {}})
    paths = [*published.csv_paths.values(), published.history_path, published.manifest_path]
    comparison = None
    if cfg.plots:
        comparison = plot_scenarios(forecasts, history=panel,
                                    path=published.directory / "scenarios.png")
        paths.append(comparison)
    paths.append(write_report(published, forecasts=forecasts, history=panel, board=board,
                              card=card, fans=fans, comparison=comparison))
    for path in paths:  # under published/: the run directory has its own forecast_*.csv
        tracking.log_artifact(path, artifact_path="published")
    tracking.set_tag("published", str(published.directory))
    return published


def checked_cutoffs(cfg: DictConfig, data: ModelInput) -> list[pd.Timestamp]:
    """The backtest cutoffs, or an InputError when the data are too short for the settings."""
    bt = cfg.backtest
    try:
        return rolling_cutoffs(data.panel_at(data.last_month), h=bt.h, n_windows=bt.n_windows,
                               step=bt.step, min_train=bt.min_train)
    except ValueError as err:
        raise InputError(data.source, f"{err}; lower backtest.n_windows or backtest.h",
                         column="month") from err


def check_publish_choice(cfg: DictConfig, forecasters: list) -> None:
    """publish.choice is auto, ensemble, champion or the alias of a model of the suite."""
    known = [ENSEMBLE, CHAMPION, ROUTED, *(a for f in forecasters for a in f.aliases)]
    if cfg.publish.choice != "auto" and cfg.publish.choice.lower() not in {
            k.lower() for k in known}:
        raise InputError("config", f"publish.choice={cfg.publish.choice!r} is not auto or one "
                         f"of {known}", column="publish.choice")


def run_job(cfg: DictConfig, *, run_dir: Path, run_name: str = "forecast",
            extra_tags: dict[str, str] | None = None, data: ModelInput | None = None,
            ) -> JobResult:
    """Run the whole job and write its files under `run_dir`; track it when enabled.

    `data`: an input already loaded (the Python API's DataFrame); None reads `cfg.data`.
    """
    check_settings(cfg)
    selection_rule(cfg)
    data = load_input(cfg.data) if data is None else data
    if cfg.as_of is not None:
        data = data.truncated(cfg.as_of)
    data.check_scored(SCORE_ON[cfg.backtest.score_on], score_on=cfg.backtest.score_on)
    data, totals = split_known_totals(cfg, data)
    panel = data.panel_at(data.last_month)
    as_of = panel[TIME_COL].max()
    cutoffs = checked_cutoffs(cfg, data)
    label = publication_label(as_of, totals)
    check_publish_target(cfg, label)
    forecasters = build_forecasters(cfg.models)
    check_publish_choice(cfg, forecasters)
    check_engine(cfg.get("engine"))  # before the store and the lock are written
    scenarios = scenarios_for(cfg)
    reference = reference_scenario(cfg, scenarios)
    # backtest and feature frame under the reference scenario when it is among those run
    main_scenario = reference if reference.name in {s.name for s in scenarios} else scenarios[0]
    # the models run in worker processes while this one prepares the MLflow store and run
    pending = start_models(cfg, data, forecasters, scenario=main_scenario, cutoffs=cutoffs,
                           panel=panel, scenarios=scenarios)
    try:
        if cfg.tracking.enabled:
            prepare_store(cfg.tracking.uri, cfg.tracking.experiment)
        lock = (month_lock(cfg.publish.dir, label) if cfg.publish.enabled
                else contextlib.nullcontext())
        with lock, engine_session(cfg.get("engine")):
            check_publish_target(cfg, label)  # again under the lock: a racing job may have won
            return _run_checked(cfg, data=data, panel=panel, cutoffs=cutoffs,
                                forecasters=forecasters, scenarios=scenarios,
                                reference=reference, main_scenario=main_scenario,
                                pending=pending, run_dir=run_dir,
                                run_name=run_name, extra_tags=extra_tags, totals=totals)
    finally:
        pending.close()  # tasks still running when the job stops early


def _run_checked(cfg: DictConfig, *, data: ModelInput, panel: pd.DataFrame,
                 cutoffs: list[pd.Timestamp], forecasters: list, scenarios: list[Scenario],
                 reference: Scenario, main_scenario: Scenario, pending: PendingBacktest,
                 run_dir: Path, run_name: str,
                 extra_tags: dict[str, str] | None, totals: pd.DataFrame) -> JobResult:
    """The job after every check passed: compute, write, publish, track."""
    as_of = panel[TIME_COL].max()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True).encode())
    commit, dirty = tracking.git_state()
    tags = {
        "git_commit": commit, "git_dirty": str(dirty), "data_hash": tracking.data_hash(panel),
        "data_source": data.source, "data_format": data.format, "as_of": f"{as_of:%Y-%m}",
        "publication": publication_label(as_of, totals),
        "scenario": ",".join(s.name for s in scenarios), "features": cfg.features.set,
        "package_version": tracking.package_version(), "hierarchy": data.hierarchy,
        **data.summary.tags(), **(extra_tags or {}),
    }
    ctx = (tracking.job_run(cfg, run_name=run_name, tags=tags) if cfg.tracking.enabled
           else contextlib.nullcontext(None))
    files: dict[str, Path] = {}
    with ctx as run_id:
        if run_id is not None:
            tracking.log_panel(panel, source=data.source, name=f"magnets-{as_of:%Y-%m}")
        raw_bt, candidates, finals = backtest_models(cfg, data, forecasters, pending, cutoffs)
        tracking.log_metrics({"n_fallbacks": n_fallbacks(raw_bt)})
        bt = raw_bt
        if cfg.backtest.calibrate:
            bt = calibrate_backtest(raw_bt, models=[*candidates, CHAMPION, ENSEMBLE],
                                    levels=tuple(cfg.backtest.level),
                                    score_on=cfg.backtest.score_on)
        _write_csv(bt, run_dir / "backtest.csv", files)
        models = [*candidates, CHAMPION, ENSEMBLE]
        cells, metrics = score_backtest(cfg, data, bt, models)
        _write_csv(metrics, run_dir / "metrics.csv", files)
        board = leaderboard(cells, baseline=cfg.models.baseline,
                            score_on=cfg.backtest.score_on)
        _write_csv(board, run_dir / "leaderboard.csv", files)
        pub = published_choice(board, setting=cfg.publish.choice, candidates=[
            ENSEMBLE, CHAMPION, *candidates])
        tracking.set_tag("published_choice", pub.model)
        tracking.log_published(pub.summary(), pub.evidence)
        choice = final_choice(bt, models=candidates, scale=fold_scales(data, cutoffs),
                              groups=_groups(classify_series(panel, as_of=as_of)),
                              rule=selection_rule(cfg))
        _write_csv(choice.assign(ranked=choice["ranked"].map("+".join),
                                 weights=choice["weights"].map(
                                     lambda w: "+".join(f"{x:.3f}" for x in w))),
                   run_dir / "champions.csv", files)
        train, future = build_features(panel, builders=_plain(cfg.features.builders),
                                       h=cfg.publish.h,
                                       as_of=as_of, scenario=main_scenario)
        _write_csv(pd.concat([train.assign(part="train"), future.assign(part="future")]),
                   run_dir / "features.csv", files)
        scored = in_scope(cells, cfg.backtest.score_on)
        by_horizon = summarise(scored, ["model", "horizon"])
        _write_csv(by_horizon, run_dir / "metrics_by_horizon.csv", files)
        if run_id is not None:
            tracking.log_summary(board)
            tracking.set_tag("score_on", cfg.backtest.score_on)
            tracking.log_model_runs(summarise(scored, ["model", CUTOFF_COL]),
                                    board.drop(columns="score_on"), by_horizon,
                                    params=model_params(cfg.models))
        if cfg.plots:
            _keep(plot_backtest(bt, panel, models=[pub.model, cfg.models.baseline],
                                published=pub.model, path=run_dir / "backtest.png"), files)
            _keep(plot_mase_by_horizon(by_horizon, path=run_dir / "mase_by_horizon.png",
                                       baseline=cfg.models.baseline, published=pub.model),
                  files)
        forecasts = final_forecasts(cfg, panel, finals, scenarios, choice, candidates,
                                    raw_bt, pub.model, reference=reference,
                                    hierarchy=data.hierarchy, several=data.several)
        nowcast = nowcast_forecasts(forecasts, totals, raw_bt, pub.model)
        for name, frame in forecasts.items():
            _write_csv(frame, run_dir / f"forecast_{name}.csv", files)
            if cfg.plots:
                _keep(plot_fan(frame, panel, path=run_dir / f"fan_{name}.png", scenario=name),
                      files)
        published = card = None
        if cfg.publish.enabled:
            card = score_earlier(cfg, data, as_of, run_dir, files)
            published = publish_month(cfg, forecasts, panel, run_id=run_id, tags=tags,
                                      hierarchy=data.hierarchy, nowcast=nowcast, board=board,
                                      card=card, fans={n: files[f"fan_{n}.png"] for n in forecasts}
                                      if cfg.plots else None, products=data.products)
        registered = (tracking.register_forecaster(forecasts, as_of=tags["as_of"],
                                                   evidence=pub.summary())
                      if run_id is not None and cfg.tracking.register_model else None)
    return JobResult(leaderboard=board, choice=choice, files=files, run_id=run_id,
                     published=published, series=data.summary, published_choice=pub,
                     provenance=provenance(panel), scorecard=card, panel=panel, backtest=bt,
                     forecasts=forecasts, registered_model=registered, data_source=data.source)
