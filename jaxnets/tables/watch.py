"""The terminal's view of a suite's workers: their log files followed, one progress line per
variant at a time."""

from __future__ import annotations

import pathlib
import time


PROGRESS_PREFIXES = ("epoch ", "step ", "  … ", "resuming", "early stop")


class LogWatcher:
    """Live progress of the variants being trained: their log files are followed and each new
    progress line is shown, prefixed by the variant's name, at most one line per variant every
    `every` seconds (the newest one). Workers' output goes only to their logs; this is what the
    terminal sees of it while they run, in process (--jobs 1) or not."""

    def __init__(self, folder: pathlib.Path, out, every: float = 10.0):
        import threading

        self.folder, self.out, self.every = folder, out, every
        self.offsets: dict[pathlib.Path, int] = {}
        self.shown: dict[str, float] = {}
        self.waiting: dict[str, str] = {}
        self.done = threading.Event()
        self.lock = threading.Lock()  # polled by its thread and, as a variant ends, by the suite
        self.thread = threading.Thread(target=self._follow, daemon=True, name="jaxnets-suite-logs")

    def poll(self, force: bool = False) -> None:
        """Show the newest progress line of each variant (force: also those shown < every ago)."""
        with self.lock:
            self._poll(force)

    def _poll(self, force: bool) -> None:
        now = time.time()
        for path in sorted(self.folder.glob("*.log")):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    f.seek(self.offsets.get(path, 0))
                    text = f.read()
                    self.offsets[path] = f.tell()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith(PROGRESS_PREFIXES):
                    self.waiting[path.stem] = line
        for name, line in list(self.waiting.items()):
            if force or now - self.shown.get(name, 0.0) >= self.every:
                print(f"  [{name}] {line.strip()}", file=self.out, flush=True)
                self.shown[name] = now
                del self.waiting[name]

    def _follow(self) -> None:
        while not self.done.wait(1.0):
            self.poll()

    def start(self) -> "LogWatcher":
        for path in self.folder.glob("*.log"):  # earlier sessions' lines are not news
            self.offsets[path] = path.stat().st_size
        self.thread.start()
        return self

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=2.0)
        self.poll(force=True)
