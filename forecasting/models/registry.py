"""Build the forecasters of a run from the `models` config group (`_target_` + `alias`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from hydra.utils import instantiate

from forecasting.models.base import Forecaster


def build_forecasters(models_cfg: Mapping) -> list[Forecaster]:
    """Instantiate every forecaster under `models.forecasters`; check the aliases it names.

    Aliases must be unique across all forecasters (they name output columns and MLflow
    child runs); the baseline (`models.baseline`, so every score has its reference) and the
    routing targets must be among them.
    """
    forecasters = [instantiate(spec) for spec in models_cfg["forecasters"].values()]
    aliases = [a for f in forecasters for a in f.aliases]
    dupes = sorted(a for a, n in Counter(aliases).items() if n > 1)
    if dupes:
        raise ValueError(f"model aliases must be unique, repeated: {dupes}")
    for f in forecasters:
        unknown = [m for m in getattr(f, "members", []) if m not in aliases]
        if unknown:
            raise ValueError(f"combination {f.aliases[0]!r}: members {unknown} are not among "
                             f"the models {aliases}")
    named = {"baseline": models_cfg["baseline"], **{
        f"routing.{k}": v for k, v in models_cfg.get("routing", {}).items()}}
    for key, alias in named.items():
        if alias not in aliases:
            raise ValueError(f"models.{key}={alias!r} is not among the models {aliases}")
    return forecasters
