"""Where the statistical fits run: `engine=local` (this machine's processes), `dask` or `ray`.

Under `engine=dask` or `engine=ray` a job runs inside `engine_session`, which connects to the
cluster at `engine.address` (or starts one on this machine when it is null: a
`dask.distributed.LocalCluster`, or a local ray instance of `engine.num_cpus` CPUs) and shuts
down what it started. statsforecast then fits through its own fugue backend when handed a
dask DataFrame or a ray Dataset (`distribute`), and `collect` brings the result back as the
pandas frame the local engine returns.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from forecasting.schema import ID_COL, TIME_COL, InputError

ENGINES: tuple[str, ...] = ("local", "dask", "ray")
CONNECT_TIMEOUT_S = 5
DEFAULT_PORTS = {"tcp": 8786, "tls": 8786, "ray": 6379}  # dask scheduler, ray head (GCS)
PACKAGES = {"dask": ("dask", "distributed"), "ray": ("ray",)}  # top-level modules
_active: dict[str, object] = {}  # "engine", "partitions" (and dask's "client") in a session


@contextmanager
def engine_session(engine_cfg: Mapping | None) -> Iterator[str]:
    """Run the block on the configured engine; yields its name. InputError on a bad address."""
    cfg = dict(engine_cfg or {})
    name = cfg.get("name", "local")
    if name == "local":
        yield name
        return
    check_engine(cfg)
    with ExitStack() as stack:
        opened = _open_ray(cfg, stack) if name == "ray" else _open_dask(cfg, stack)
        _active.update(opened, engine=name)
        try:
            yield name
        finally:
            _active.clear()


def check_engine(engine_cfg: Mapping | None) -> None:
    """InputError unless the engine's packages are installed and something listens at
    `engine.address` within CONNECT_TIMEOUT_S: checked before the job writes anything (ray
    itself waits minutes for an absent head node)."""
    cfg = dict(engine_cfg or {})
    name, address = cfg.get("name", "local"), cfg.get("address")
    if name == "local":
        return
    if name == "ray" and str(address).startswith("ray://"):  # ray-project/ray#42739
        raise InputError("config", f"engine.address={address!r}: ray Data (which statsforecast "
                         "uses on ray) does not run over Ray Client (ray://); run the job on a "
                         "node of the cluster with engine.address=auto or host:6379, or submit "
                         "it with `ray job submit`", column="engine.address")
    if address and address != "auto":
        _probe(name, address)
    missing = [m for m in PACKAGES[name] if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError("config", f"engine.name={name!r} needs {', '.join(missing)}: pip "
                         f"install -e '.[{name}]'", column="engine.name")


def _probe(name: str, address: str) -> None:
    """InputError unless something listens at `address` within CONNECT_TIMEOUT_S."""
    try:
        parts = urlsplit(address if "://" in address else f"{name}://{address}")
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme)
        if host and port:  # other addresses (dask's inproc://...) are left to the client
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as err:
        raise _bad_address(address, f"{name} cluster", err) from err


def _bad_address(address: str, what: str, err: BaseException) -> InputError:
    reason = " ".join(str(err).split())[:200]  # one line
    return InputError("config", f"engine.address={address!r}: no {what} answered ({reason})",
                      column="engine.address")


def _open_dask(cfg: dict, stack: ExitStack) -> dict[str, object]:
    """Connect to (or start) a dask cluster as the default client for the session."""
    import dask
    from dask.distributed import Client, LocalCluster

    address = cfg.get("address")
    if address:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as err:
            raise _bad_address(address, "dask scheduler", err) from err
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
    return {"client": client, "partitions": cfg.get("partitions") or 2 * workers}


def _open_ray(cfg: dict, stack: ExitStack) -> dict[str, object]:
    """Connect to (or start) ray unless this process already runs it; shut down only what
    was started here. Ray Data shuffles by sorting in the session: its default hash shuffle
    starts aggregator actors that cost about 10 s per statsforecast call on a small panel."""
    address = cfg.get("address")
    import ray
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    if not ray.is_initialized():
        if address:
            try:
                ray.init(address=address, log_to_driver=False)
            except (OSError, RuntimeError, ValueError) as err:
                raise _bad_address(address, "ray cluster", err) from err
        else:
            ray.init(address="local", num_cpus=cfg.get("num_cpus", 2),  # never a ray already
                     include_dashboard=False, log_to_driver=False)  # running on this machine
        stack.callback(ray.shutdown)
    ctx = DataContext.get_current()
    settings = {"shuffle_strategy": ShuffleStrategy.SORT_SHUFFLE_PULL_BASED,
                "enable_progress_bars": False, "print_on_execution_start": False}
    for key, value in settings.items():
        stack.callback(setattr, ctx, key, getattr(ctx, key))  # restored on leaving
        setattr(ctx, key, value)
    log = logging.getLogger("ray.data")
    stack.callback(log.setLevel, log.level)
    log.setLevel(logging.ERROR)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return {"partitions": cfg.get("partitions") or 2 * max(cpus, 1)}


def distributed() -> bool:
    """True inside a dask or ray engine session."""
    return "engine" in _active


def distribute(df: pd.DataFrame | None) -> object:
    """`df` split by series into the session's partitions: a dask DataFrame or a ray Dataset
    inside an engine session; else `df` unchanged."""
    if df is None or not distributed():
        return df
    n = min(int(_active["partitions"]), max(df[ID_COL].nunique(), 1))
    if _active["engine"] == "ray":
        import ray.data

        ids = np.array_split(df[ID_COL].unique(), n)
        return ray.data.from_pandas([df[df[ID_COL].isin(part)].reset_index(drop=True)
                                     for part in ids])
    import dask.dataframe as dd

    return dd.from_pandas(df.reset_index(drop=True), npartitions=n, sort=False)


def collect(result: object, like: pd.DataFrame) -> pd.DataFrame:
    """A dask or ray result as pandas, sorted by series and month with `like`'s id dtype.

    statsforecast's fugue backend declares its forecast columns float32 (about 7 significant
    digits): they come back as float64 holding the float32 values, so forecasts on a
    distributed engine agree with the local ones to a relative 1e-6, not bit for bit.
    """
    if isinstance(result, pd.DataFrame):
        return result
    if hasattr(result, "compute"):
        out = result.compute()
    elif hasattr(result, "to_pandas"):
        out = result.to_pandas()
    else:
        out = pd.DataFrame(result)
    out[ID_COL] = out[ID_COL].astype(like[ID_COL].dtype)
    out[TIME_COL] = pd.to_datetime(out[TIME_COL])
    values = [c for c in out.columns if c not in (ID_COL, TIME_COL)]
    out[values] = out[values].astype("float64")
    return out.sort_values([ID_COL, TIME_COL], ignore_index=True)
