"""Command line: `python -m jaxnets {train,sweep,suite,sample,visualize,report,record,list,show}` (also `jaxnets`).

examples:
    python -m jaxnets list                                   # the experiments, their configs and variants
    python -m jaxnets show configs/char_rnn.py:gru           # every key and value of one config
    python -m jaxnets train --config configs/mnist_mlp.py [--config.train.steps=200] [--workdir runs/x]
    python -m jaxnets sweep --config configs/mnist_mlp.py --seeds 8
    python -m jaxnets sweep --config configs/batchnorm.py --seeds 5 --learning-rates 0.01,0.1,0.5
    python -m jaxnets suite --config configs/binary_neurons.py --seeds 5 --jobs 2
    python -m jaxnets sample runs/char_rnn --temperature 0.5 --length 300
    python -m jaxnets visualize runs/char_rnn                # runs/char_rnn/visualize.html: cells, guesses
    python -m jaxnets report [runs/]
    python -m jaxnets record runs/truncated_bptt_seeds1        # commit-able record in results/
    python -m jaxnets report --records [--check]             # RESULTS.md/README.md tables from results/

data: read from $JAXNETS_DATA_DIR/<name>/ (default ~/.cache/jaxnets); MNIST, Fashion-MNIST, PTB and
Tiny Shakespeare are downloaded there and verified on first use (JAXNETS_NO_DOWNLOAD=1: never;
offline machines point JAXNETS_DATA_DIR at a copy, e.g. ../shared/data).

Multi-host: start the same command on every host with JAXNETS_MULTIHOST=1; it then calls
`jax.distributed.initialize()` (auto-detecting Slurm, Open MPI, Kubernetes or Cloud TPU, or
reading JAX_COORDINATOR_ADDRESS, JAXNETS_NUM_PROCESSES, JAXNETS_PROCESS_ID) before JAX
touches a device, and the mesh spans all hosts' devices.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

USAGE_ERRORS = 2
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxnets", description=__doc__.split("\n\n")[0],
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:3]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("train", "train one seed"), ("sweep", "train many seeds as one compiled program (vmapped; one after another on CPU)")):
        p = sub.add_parser(name, help=help_, description=f"{help_}; any --config.section.key=value overrides the file")
        p.add_argument("--config", required=True, help="configs/<name>.py[:variant]")
        p.add_argument("--workdir", help="run directory (default runs/<config name>[_<variant>][_seeds<N>])")
        p.add_argument("--overwrite", action="store_true", help="replace a different run found in --workdir")
        p.add_argument("--record", nargs="?", const="results", help="when it finishes, copy the run into this "
                       "results folder (default results/), to be committed: config, summary, metrics, curves")
        if name == "sweep":
            p.add_argument("--seeds", type=int, required=True, help="number of seeds: config.seed, config.seed+1, ...")
            p.add_argument("--learning-rates", help="comma-separated rates: every seed at each rate, all of them one "
                           "program (e.g. 0.01,0.1,0.5); summary.json gives each metric per rate as <metric>@lr<rate>")
    p = sub.add_parser("suite", help="run every variant of a config file (a post's whole table) and tabulate it",
                       description="Runs each variant of a config file as a sweep (in --jobs worker processes), "
                                   "then writes <workdir>/results.md (published vs measured) and one figure per "
                                   "experiment; finished variants are reused, interrupted ones resume. Any "
                                   "--config.section.key=value overrides every variant; the suite's folder is "
                                   "then named after them (runs/<config>_<overrides>_seeds<N>), and the table "
                                   "marks rows that trained less than the file says as cut short.")
    p.add_argument("--config", required=True, help="configs/<name>.py (a file with VARIANTS)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per variant (default 5)")
    p.add_argument("--jobs", type=int, default=1, help="variants trained at once, each in its own process "
                   "with its share of the CPU cores (default 1: in this process)")
    p.add_argument("--variants", help="comma-separated variants, or 'all' (default: the file's SUITE, else all)")
    p.add_argument("--workdir", help="root directory (default runs/<config name>_seeds<N>)")
    p.add_argument("--overwrite", action="store_true", help="replace variant runs whose config changed")
    p.add_argument("--record", nargs="?", const="results", help="when it finishes, copy every finished variant "
                   "(and the figures) into this results folder (default results/)")
    p.add_argument("--grids", action="store_true", help="train the variants that differ only in "
                   "optimizer.learning_rate (a table's row of rates) as one program, then split it into the variants' folders: "
                   "for a GPU; the split runs keep no checkpoint and lack the experiment's own figures")
    p = sub.add_parser("sample", help="generate text from a trained language-model run (char_rnn, truncated_bptt)",
                       description="Samples one token (character or word) at a time (a jitted scan) from the newest valid "
                                   "checkpoint (verified as training verifies it) "
                                   "of a language-model run directory; prints the text and, with --output, saves it.")
    p.add_argument("workdir", help="a language-model run directory (config.json + checkpoints/)")
    p.add_argument("--prompt", help="text to read before sampling (default: the run's sample.prompt)")
    p.add_argument("--length", type=int, help="tokens to generate: characters for a char model, words for a word "
                   "model (default: the run's sample.length)")
    p.add_argument("--temperature", default="1.0", help="softmax temperature, or several separated by commas "
                   "(1.0,0.5,0.1: each text with the loop it falls into, if any); 0 = argmax (default 1.0)")
    p.add_argument("--top-k", type=int, help="draw among the k likeliest tokens only; 0 = all "
                   "(default: the run's sample.top_k)")
    p.add_argument("--seed", type=int, default=0, help="sampling key (default 0)")
    p.add_argument("--seed-index", type=int, default=0, help="which run of a sweep to sample (default 0; "
                   "in a learning-rate grid rate-major: rate i, seed j is i × seeds + j)")
    p.add_argument("--output", help="also write the text to this file")
    p = sub.add_parser("visualize", help="an HTML page of a char model over validation text: cell activations, "
                       "the cells that track quotes, brackets, line position, and the top-5 next-character guesses",
                       description="Writes one self-contained HTML file (no network): each character of a stretch of "
                                   "the run's validation text coloured by a cell's activation, the cells whose "
                                   "activation correlates most with simple features of the text listed first (with "
                                   "their correlations, also printed), and the five likeliest next characters on hover.")
    p.add_argument("workdir", help="a character language-model run directory")
    p.add_argument("--output", help="where to write the page (default <workdir>/visualize.html)")
    p.add_argument("--length", type=int, default=2000, help="characters of validation text (default 2000)")
    p.add_argument("--start", type=int, default=0, help="where in the validation text to start (default 0)")
    p.add_argument("--cells", help="more cells to offer, layer:cell pairs (layers from 1), e.g. 2:317,1:5")
    p.add_argument("--seed-index", type=int, default=0, help="which run of a sweep (default 0; in a "
                   "learning-rate grid rate-major: rate i, seed j is i × seeds + j)")
    p = sub.add_parser("report", help="collect summary.json files into a Markdown table; with --records, "
                       "rebuild the tables of RESULTS.md and README.md from results/")
    p.add_argument("root", nargs="?", default="runs")
    p.add_argument("--output", help="where to write the table (default <root>/results.md)")
    p.add_argument("--records", action="store_true", help="rewrite the generated tables of RESULTS.md and "
                   "README.md (in the current folder) from the records in results/")
    p.add_argument("--check", action="store_true", help="with --records: change nothing, exit 1 where a "
                   "table differs from the records")
    p = sub.add_parser("record", help="copy finished runs into results/ (kept in git), once",
                       description="Copies a finished run (or every finished variant of a suite folder) into "
                                   "results/<config>/<variant>/: config.json, summary.json, metrics.jsonl, its "
                                   "curves and record.json (which commit trained it). A record is written once.")
    p.add_argument("folders", nargs="+", help="run or suite folders")
    p.add_argument("--results", default="results", help="where records go (default results/)")
    p.add_argument("--commit", help="the commit that trained runs made outside a git checkout (their "
                   "config.json names none); recorded as stated")
    sub.add_parser("list", help="the experiments, their config files, variants and what each reproduces")
    p = sub.add_parser("show", help="every key and value of a config (and its variants)",
                       description="Prints every key = value of a config file (a variant, overrides applied), "
                                   "marks what differs from the file's default, and lists its variants.")
    p.add_argument("config", help="configs/<name>.py[:variant], or just <name>[:variant]")
    return parser


def _train(args, overrides) -> int:
    from jaxnets.config import ConfigError
    from jaxnets.runner import run_spec

    rates = None
    if getattr(args, "learning_rates", None):
        try:
            rates = [float(rate) for rate in args.learning_rates.split(",")]
        except ValueError:
            raise ConfigError(f"--learning-rates {args.learning_rates!r}: give numbers separated by commas, "
                              f"e.g. 0.01,0.1,0.5") from None
    run_spec(args.config, overrides, getattr(args, "seeds", None), args.workdir, args.overwrite, record=args.record,
             learning_rates=rates)
    return 0


def init_multihost() -> None:
    """jax.distributed.initialize(): cluster auto-detection (Slurm, Open MPI, Kubernetes, Cloud
    TPU), or JAX_COORDINATOR_ADDRESS plus JAXNETS_NUM_PROCESSES and JAXNETS_PROCESS_ID."""
    import jax

    kwargs = {}
    if "JAXNETS_NUM_PROCESSES" in os.environ:
        kwargs = {"num_processes": int(os.environ["JAXNETS_NUM_PROCESSES"]),
                  "process_id": int(os.environ["JAXNETS_PROCESS_ID"])}
    jax.distributed.initialize(**kwargs)


_received: list[int] = []  # the signals that stopped this process (SIGINT, SIGTERM, SIGHUP)


def _stop_signals() -> None:
    """SIGTERM and SIGHUP (what schedulers and closed terminals send) stop a run as Ctrl-C does:
    one line, the checkpoint kept, exit 128 + the signal. Each signal is also remembered, so one
    that Python swallows (a KeyboardInterrupt raised inside a finalizer is only printed) still
    ends the process as interrupted instead of exit 0."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        _received.append(signum)
        raise KeyboardInterrupt

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, stop)


def _quiet_orbax_leftovers() -> None:
    """After a failed checkpoint save (a full disk), tensorstore's callbacks still land on
    orbax's closed asyncio loop and each prints a 'RuntimeError: Event loop is closed'
    traceback through sys.unraisablehook: noise after the one line that says what failed.
    Those are dropped; every other unraisable exception is printed as before (--debug: all)."""
    default = sys.unraisablehook
    if getattr(default, "jaxnets", False):  # installed already (main called again in one process)
        return

    def hook(unraisable):
        if isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed":
            return
        default(unraisable)

    hook.jaxnets = True
    sys.unraisablehook = hook


def _signal_exit() -> int:
    return 128 + _received[0] if _received else INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    import signal

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    _received.clear()
    _stop_signals()
    try:
        code = _main(argv)
    finally:
        for s, handler in handlers.items():
            if handler is not None:
                signal.signal(s, handler)
    if _received and code == 0:  # a signal swallowed on the way out: the run is not reported as a success
        print(f"interrupted ({signal.Signals(_received[0]).name}) while finishing; rerun the same command to "
              f"check the run is complete", file=sys.stderr)
        return _signal_exit()
    return code


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, not only before the command
    args, rest = _parser().parse_known_args([a for a in argv if a != "--debug"])
    args.debug = debug
    if not debug:
        _quiet_orbax_leftovers()

    from jaxnets.train.sharding import cpu_devices_per_core

    cpu_devices_per_core()  # on a CPU, sweeps spread seeds over the cores
    if os.environ.get("JAXNETS_MULTIHOST") == "1":
        init_multihost()
    from jaxnets.config import ConfigError
    from jaxnets.data import DataError
    from jaxnets.tables.records import RecordError
    from jaxnets.rundir import RunDirError
    from jaxnets.train import Interrupted, NonFiniteLoss
    from jaxnets.train.checkpoint import CheckpointError

    try:
        if args.command in ("train", "sweep"):
            return _train(args, rest)
        if args.command == "suite":
            from jaxnets.tables import suite

            return suite.main(args.config, rest, args.seeds, args.jobs, args.variants, args.workdir, args.overwrite,
                              record=args.record, grids=args.grids)
        if args.command == "show":
            from jaxnets import catalog

            print(catalog.show(args.config, rest))
            return 0
        if rest:
            raise ConfigError(f"unrecognised arguments: {rest}")
        if args.command == "list":
            from jaxnets import catalog

            print(catalog.list_configs())
            return 0
        if args.command == "sample":
            from jaxnets.views.sample import describe_loop, run_vocabulary_of, samples_from_run

            try:
                temperatures = [float(t) for t in str(args.temperature).split(",")]
            except ValueError:
                raise ConfigError(f"--temperature {args.temperature!r}: give numbers, e.g. 1.0 or 1.0,0.5,0.1") from None
            texts = samples_from_run(args.workdir, args.prompt, args.length, temperatures, args.top_k, args.seed,
                                     args.seed_index)
            if len(texts) == 1:
                shown = texts[0]
            else:  # several temperatures: each with where its text falls into a loop, if it does
                vocabulary = run_vocabulary_of(args.workdir)
                shown = "\n\n".join(f"--- temperature {t:g}: {describe_loop(vocabulary.split(text), vocabulary.separator)} ---\n{text}"
                                     for t, text in zip(temperatures, texts))
            print(shown)
            if args.output:
                pathlib.Path(args.output).write_text(shown)
            return 0
        if args.command == "visualize":
            from jaxnets.views.page import describe, parse_cells, visualize

            path, found = visualize(args.workdir, args.output, args.length, args.start, args.seed_index,
                                    parse_cells(args.cells))
            print(f"cells that track features of the text (|r| largest first):\n{describe(found)}\nwrote {path}")
            return 0
        if args.command == "report":
            from jaxnets.tables import report

            if args.records:
                differing = report.update_documents(".", check=args.check)
                if args.check and differing:
                    print(f"error: {', '.join(differing)} {'differs' if len(differing) == 1 else 'differ'} from results/ (a number edited by hand, or "
                          f"a record added): `python -m jaxnets report --records` rewrites them", file=sys.stderr)
                    return 1
                return 0
            report.main(args.root, args.output)
            return 0
        if args.command == "record":
            from jaxnets.tables import records

            for folder in args.folders:
                records.record_folder(folder, args.results, commit=args.commit)
            return 0
    except (ConfigError, DataError, RunDirError, CheckpointError, RecordError) as err:
        if args.debug:
            raise
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return USAGE_ERRORS
    except OSError as err:  # a read-only folder, a full disk: what failed where, not a traceback
        if args.debug:
            raise
        where = f": {err.filename}" if err.filename else ""
        print(f"error: {err.strerror or err}{where} ({type(err).__name__}; files written before are kept; "
              f"--debug shows the traceback)", file=sys.stderr)
        return USAGE_ERRORS
    except NonFiniteLoss as err:
        print(f"stopped: {err}", file=sys.stderr)
        return 3
    except Interrupted as err:
        print(str(err), file=sys.stderr)
        return _signal_exit()
    except KeyboardInterrupt:  # before training started (loading, compiling) or outside a run
        print("interrupted", file=sys.stderr)
        return _signal_exit()
    return 1


def cli() -> None:
    """The command's entry point. A run stopped by a signal exits at once: its files are closed
    and its checkpoint kept by then, and the chunk still computing on the device (an epoch, for
    the language models: minutes) is abandoned — a normal exit would wait for it."""
    code = main()
    if _received:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    cli()
