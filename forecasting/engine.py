"""Where the statistical fits run: `engine=local` (this machine's processes) or `engine=dask`.

Under `engine=dask` a job runs inside `engine_session`, which connects to the scheduler at
`engine.address` (or starts a `dask.distributed.LocalCluster` when it is null) and makes it
the default client; statsforecast then fits through its own fugue backend when handed a dask
DataFrame (`distribute`), and `collect` brings the result back as the pandas frame the local
engine returns.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

import pandas as pd

from forecasting.schema import ID_COL, TIME_COL, InputError

ENGINES: tuple[str, ...] = ("local", "dask")
CONNECT_TIMEOUT_S = 5
_active: dict[str, object] = {}  # "client", "partitions" while a dask session is open


@contextmanager
def engine_session(engine_cfg: Mapping | None) -> Iterator[str]:
    """Run the block on the configured engine; yields its name. InputError on a bad address."""
    cfg = dict(engine_cfg or {})
    name = cfg.get("name", "local")
    if name == "local":
        yield name
        return
    import dask
    from dask.distributed import Client, LocalCluster

    with ExitStack() as stack:
        address = cfg.get("address")
        if address:
            try:
                client = Client(address, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as err:
                raise InputError("config", f"engine.address={address!r}: no dask scheduler "
                                 f"answered ({err})", column="engine.address") from err
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=cfg.get("n_workers", 2), threads_per_worker=cfg.get(
                    "threads_per_worker", 1), processes=cfg.get("processes", True),
                dashboard_address=cfg.get("dashboard_address"), silence_logs=40))
            client = Client(cluster)
        stack.enter_context(client)
        stack.enter_context(dask.config.set({"dataframe.convert-string": False}))
        stack.enter_context(warnings.catch_warnings())  # fugue's groupby-apply, in dask
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"dask\.")
        workers = max(len(client.scheduler_info().get("workers", {})), 1)
        _active.update(client=client, partitions=cfg.get("partitions") or 2 * workers)
        try:
            yield name
        finally:
            _active.clear()


def distributed() -> bool:
    """True inside a dask engine session."""
    return "client" in _active


def distribute(df: pd.DataFrame | None) -> object:
    """`df` as a dask DataFrame split by series inside a dask session; else `df` unchanged."""
    if df is None or not distributed():
        return df
    import dask.dataframe as dd

    n = min(int(_active["partitions"]), max(df[ID_COL].nunique(), 1))
    return dd.from_pandas(df.reset_index(drop=True), npartitions=n, sort=False)


def collect(result: object, like: pd.DataFrame) -> pd.DataFrame:
    """A dask result as pandas, sorted by series and month with `like`'s id dtype.

    statsforecast's fugue backend declares its forecast columns float32 (about 7 significant
    digits): they come back as float64 holding the float32 values, so forecasts on the dask
    engine agree with the local ones to a relative 1e-6, not bit for bit.
    """
    if isinstance(result, pd.DataFrame):
        return result
    out = result.compute() if hasattr(result, "compute") else pd.DataFrame(result)
    out[ID_COL] = out[ID_COL].astype(like[ID_COL].dtype)
    out[TIME_COL] = pd.to_datetime(out[TIME_COL])
    values = [c for c in out.columns if c not in (ID_COL, TIME_COL)]
    out[values] = out[values].astype("float64")
    return out.sort_values([ID_COL, TIME_COL], ignore_index=True)
