"""What a long run tells its user while it trains: a progress line per logged step, and a
heartbeat between lines that are far apart."""

from __future__ import annotations

import math
import time
from typing import Callable


def fmt_time(seconds: float) -> str:
    """12m05s, or 1h02m past an hour."""
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


HEARTBEAT_SECONDS = 30.0  # a run quiet this long (an epoch in one chunk) says where it probably is


class Heartbeat:
    """Between the progress lines of long chunks (char_rnn logs once an epoch, ~30 s), a line
    every HEARTBEAT_SECONDS with the step the run has probably reached, estimated from its
    measured rate. It never asks the device (that would synchronize it), so it changes nothing
    that is computed; it only keeps a long run from looking hung."""

    def __init__(self, log: Callable[[str], None], total: int, every: float = HEARTBEAT_SECONDS,
                 chunk: int | None = None):
        import threading

        # `chunk`: the steps between progress lines. The next line comes at most that far past
        # the last one, so an estimate beyond it is not a position but a late chunk (a busy or
        # paused machine): said as such, not as "about step 19359/19360, ETA 0m00s"
        self.log, self.total, self.every, self.chunk = log, total, every, chunk
        self.step, self.at, self.seconds_per_step = 0, time.time(), None
        self.beaten = self.at  # the last heartbeat line; the estimate counts from the last progress line
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="jaxnets-heartbeat")

    def mark(self, step: int, seconds_per_step: float | None) -> None:
        self.step, self.at, self.seconds_per_step = step, time.time(), seconds_per_step
        self.beaten = self.at

    def _beat(self) -> None:
        while not self.done.wait(self.every / 3):
            now = time.time()
            if now - self.beaten < self.every:
                continue
            quiet = now - self.at
            if self.seconds_per_step:
                horizon = min(self.total, self.step + self.chunk) if self.chunk else self.total
                guess = self.step + int(quiet / self.seconds_per_step)
                if guess < horizon:
                    left = (self.total - guess) * self.seconds_per_step
                    self.log(f"  … {fmt_time(quiet)} since the last progress line: about step {guess}/{self.total} "
                             f"({100 * guess / self.total:.0f}%), ETA {fmt_time(left)}")
                else:
                    late = quiet - (horizon - self.step) * self.seconds_per_step
                    self.log(f"  … {fmt_time(quiet)} since the last progress line: the next one (step {horizon}/"
                             f"{self.total}) is {fmt_time(late)} late at the measured {self.seconds_per_step:.3g} "
                             f"s/step (the machine is busier, or the process was paused)")
            else:
                self.log(f"  … {fmt_time(quiet)} since the last progress line: the first chunk (compiling, then "
                         f"training) is still running")
            self.beaten = now

    def start(self) -> "Heartbeat":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=1.0)

    def __enter__(self) -> "Heartbeat":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()



UNIT_ABBREVIATIONS = {"examples": "ex", "tokens": "tok"}


def progress_line(step: int, total: int, steps_per_epoch: int, values: dict[str, float], rate: float, unit: str,
                  n_seeds: int, eta: float, preferred=(), width: int = 100, note: str = "") -> str:
    """'epoch 3.0/20 (15%) · step 300/2000 | loss: train 0.31 test 0.29 | 9,800 ex/s | ETA 2m10s',
    lines of at most `width` columns: metrics grouped by name (train/validation/test side by
    side), the wanted ones first (`preferred` names, e.g. the metrics with a published number,
    then loss). Too long for one line, the step count goes, then the groups wrap onto indented
    lines: no metric is ever dropped. The rate is the total over all seeds, with the per-seed
    rate beside it in sweeps; `note` (e.g. how many runs diverged) comes last."""
    groups: dict[str, list[str]] = {}
    rank = {"train": 0, "validation": 1, "test": 2}
    for key, value in sorted(values.items(), key=lambda kv: rank.get(kv[0].partition("_")[0], 3)):
        split, _, name = key.partition("_")
        split = {"validation": "val"}.get(split, split)
        groups.setdefault(name or split, []).append(f"{split} {value:.4g}")
    wanted = [n.removeprefix("min_").removeprefix("max_").partition("_")[2] or n for n in preferred]
    order = sorted(groups, key=lambda n: (n not in wanted, n != "loss", list(groups).index(n)))
    abbreviation = UNIT_ABBREVIATIONS.get(unit, unit)
    speed = f"{rate:,.0f} {abbreviation}/s" + (f" ({rate / n_seeds:,.0f}/seed)" if n_seeds > 1 else "")
    eta_text = f"ETA {fmt_time(eta) if math.isfinite(eta) else '?'}"
    percent = f"({100 * step / total:.0f}%)"
    if steps_per_epoch < total:
        epoch, epochs = step / steps_per_epoch, total / steps_per_epoch
        epochs_text = f"{epochs:g}" if epochs.is_integer() else f"{epochs:.{2 if epochs < 10 else 1}f}"
        where, step_text = f"epoch {epoch:.{2 if epoch < 10 else 1}f}/{epochs_text} {percent}", \
            f" · step {step}/{total}"
    else:
        where, step_text = f"step {step}/{total} {percent}", ""
    metrics = [f"{name}: {' '.join(groups[name])}" for name in order]
    tail = [speed, eta_text, *([note] if note else [])]
    text = " | ".join([where + step_text, *metrics, *tail])
    if len(text) <= width:
        return text
    lines, current = [], where
    for segment in [*metrics, *tail]:
        if len(current) + 3 + len(segment) > width and current.strip():
            lines.append(current)
            current = "    " + segment
        else:
            current += (" | " if current.strip() else "") + segment
    return "\n".join([*lines, current])
