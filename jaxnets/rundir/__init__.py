"""The run directory: config.json, metrics.jsonl, summary.json, checkpoints/, plots/.

A run directory belongs to one (config, seeds) pair. Rerunning the same command resumes it;
a different config there is an error unless the caller asks to overwrite, so no run ever
replaces another by accident. One module per concern:

- `identity`: what makes two configs the same run, what a resume may change, the fingerprint;
- `claim`: the lock, the marker of a folder jaxnets made, opening (or refusing) a folder;
- `provenance`: each session's command, commit and versions;
- `stream`: metrics.jsonl and its TensorBoard mirror;
- `files` and `writer`: atomic writes, and the `RunWriter` everything written goes through;
- `summary`: summary.json's statistics over seeds.
"""

import shutil  # noqa: F401  (tests interrupt a deletion through rundir.shutil)

from jaxnets.rundir.claim import (LOCK_FILE, MARKER, RUN_FILES, RunDirError, exclusive, never_trained, open_run,
                                  remove_if_untrained)
from jaxnets.rundir.files import write_atomic, write_json_atomic
from jaxnets.rundir.identity import (RESUMABLE_KEYS, config_fingerprint, differences, result_neutral, result_relevant,
                                     same_results)
from jaxnets.rundir.provenance import git_commit, provenance, read_sessions
from jaxnets.rundir.stream import MetricsLog, TensorBoardLog, read_metrics, read_metrics_checked
from jaxnets.rundir.summary import diverged, done_line, grid_key, make_grid_summary, make_summary, seed_stats
from jaxnets.rundir.writer import RunWriter

__all__ = ["LOCK_FILE", "MARKER", "RESUMABLE_KEYS", "RUN_FILES", "MetricsLog", "RunDirError", "RunWriter",
           "TensorBoardLog", "config_fingerprint", "differences", "diverged", "done_line", "exclusive", "git_commit",
           "grid_key", "make_grid_summary", "make_summary", "never_trained", "open_run", "provenance", "read_metrics",
           "read_metrics_checked", "read_sessions", "remove_if_untrained", "result_neutral", "result_relevant",
           "same_results", "seed_stats", "write_atomic", "write_json_atomic"]
