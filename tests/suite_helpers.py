"""Stand-ins for suite variants, importable by the suite's spawned worker processes."""

import os
import pathlib
import signal
import time


def flaky_variant(spec, marker_dir, *rest):
    """'dies_once' kills its worker the first time, 'dies_always' every time, others succeed."""
    name = spec.rpartition(":")[2]
    marker = pathlib.Path(marker_dir) / name
    if name == "dies_always" or (name == "dies_once" and not marker.exists()):
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    time.sleep(0.3)
    return spec, {"metrics": {}, "metrics_std": {}}, None, 0.3
