"""Issue 35's adversarial probe, as a script: each fault the issue lists, run against the jaxnets
of a checkout through its command line, counted as held or failed.

    python benchmarks/fault_probe.py [--tree PATH] [--only name,name] [--out /tmp/probe]

`--tree` is the checkout to probe (default: this one); its code runs as `python -m jaxnets` with
that folder first on PYTHONPATH, so an older commit (a `git worktree`) gives the "before" column.
Data come from $JAXNETS_DATA_DIR (MNIST, PTB, Tiny Shakespeare). Each probe prints one line:
name, held/FAILED, what was seen. The full-disk probe needs root (a 4 MiB tmpfs).
"""

from __future__ import annotations

import argparse
import gzip
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
MNIST = ["--config", "configs/mnist_mlp.py", "--config.model.hidden_sizes=(16,)", "--config.train.batch_size=50",
         "--config.train.log_every=10", "--config.train.checkpoint_every=10"]
CHARS = ["--config", "configs/char_rnn.py:gru", "--config.model.state_size=16", "--config.model.num_layers=1",
         "--config.train.steps=20", "--config.train.log_every=10", "--config.train.checkpoint_every=10",
         "--config.sample.length=20"]


class Probe:
    def __init__(self, tree: pathlib.Path, out: pathlib.Path):
        self.tree, self.out = tree, out

    def run(self, *args, cwd=None, timeout=300, env=None, stdin=None) -> subprocess.CompletedProcess:
        full_env = {**os.environ, "PYTHONPATH": str(self.tree), "JAX_PLATFORMS": "cpu", **(env or {})}
        try:
            return subprocess.run([sys.executable, "-m", "jaxnets", *args], cwd=cwd or self.tree, env=full_env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            return subprocess.CompletedProcess(err.cmd, -9, err.stdout or "", f"TIMEOUT after {timeout} s")

    def folder(self, name: str) -> pathlib.Path:
        path = self.out / name
        shutil.rmtree(path, ignore_errors=True)
        return path


def one_line(proc) -> bool:
    return len([line for line in proc.stderr.splitlines() if line.strip()]) == 1 and "Traceback" not in proc.stderr


def last(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit {proc.returncode}")[:140] + f" [exit {proc.returncode}, {len(lines)} lines]"


# Each probe: (probe) -> (held, what was seen).

def overwrite_foreign(p: Probe):
    work = p.folder("foreign")
    (work / "checkpoints").mkdir(parents=True)
    (work / "notes.txt").write_text("x")
    (work / "checkpoints" / "model.pt").write_text("weights")
    proc = p.run("train", *MNIST, "--config.train.steps=20", "--workdir", str(work), "--overwrite")
    kept = (work / "notes.txt").exists() and (work / "checkpoints" / "model.pt").exists()
    return kept and one_line(proc), last(proc)


def healthy_seeds_kept(p: Probe):
    work = p.folder("nan_sweep")
    proc = p.run("sweep", "--seeds", "4", "--config", "configs/mnist_advanced.py", "--config.optimizer.name=sgd",
                 "--config.optimizer.learning_rate=2", "--config.train.steps=100", "--config.train.log_every=10",
                 "--config.train.stop_on_nan=false", "--workdir", str(work))
    return proc.returncode == 0 and (work / "summary.json").exists(), last(proc) if proc.returncode else "exit 0"


def checked_before_training(p: Probe):
    seen, held = [], True
    for override in ("--config.sample.temperatures=(-1.0,)", "--config.analysis.gradient_distances=100000",
                     "--config.sample.top_k=20000"):
        work = p.folder("late_check")
        start = time.time()
        proc = p.run("train", "--config", "configs/truncated_bptt.py", "--config.train.steps=3", override,
                     "--workdir", str(work))
        ok = proc.returncode == 2 and one_line(proc) and not work.exists()
        held &= ok
        seen.append(f"{override.split('=')[0][9:]}: {'ok' if ok else last(proc)} ({time.time() - start:.0f} s)")
    return held, "; ".join(seen)


def sample_verifies(p: Probe):
    work = p.folder("chars")
    trained = p.run("train", *CHARS, "--workdir", str(work))
    if trained.returncode:
        return False, "could not train: " + last(trained)
    steps = sorted((int(d.name) for d in (work / "checkpoints").iterdir() if d.name.isdigit()), reverse=True)
    newest = work / "checkpoints" / str(steps[0])
    biggest = max((f for f in newest.rglob("*") if f.is_file() and "metadata" not in f.name.lower()),
                  key=lambda f: f.stat().st_size)
    data = bytearray(biggest.read_bytes())
    data[len(data) // 2] ^= 1
    biggest.write_bytes(bytes(data))
    flipped = p.run("sample", str(work), "--temperature", "0")
    said = "damaged" in flipped.stdout + flipped.stderr
    (work / "checkpoints" / str(steps[0])).joinpath(biggest.relative_to(newest)).write_bytes(b"")  # truncated too
    truncated = p.run("sample", str(work), "--temperature", "0")
    held = said and "Traceback" not in flipped.stderr + truncated.stderr and truncated.returncode in (0, 2)
    return held, f"flipped bit: exit {flipped.returncode}, damage said: {said}; truncated: exit {truncated.returncode}"


def tsv_bom_and_cr(p: Probe):
    code = ("from jaxnets.data.sentences import read_tsv; import sys, pathlib; "
            "f = pathlib.Path(sys.argv[1]); t = 'a\\tx y z w v\\nb\\tx y z w u\\nc\\tx y w v u\\n'; "
            "f.write_bytes(b'\\xef\\xbb\\xbf' + t.encode()); bom = sorted({l for l, _ in read_tsv(f)}); "
            "f.write_bytes(t.replace('\\n', '\\r').encode()); cr = len(read_tsv(f)); print(bom, cr)")
    proc = subprocess.run([sys.executable, "-c", code, str(p.folder("tsv.tsv"))], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(p.tree)}, cwd=p.tree)
    return proc.stdout.strip() == "['a', 'b', 'c'] 3", (proc.stdout.strip() or last(proc))


def data_fingerprint(p: Probe):
    data = p.folder("data_copy")
    shutil.copytree(pathlib.Path(os.environ["JAXNETS_DATA_DIR"]) / "mnist", data / "mnist")
    work = p.folder("data_changed")
    env = {"JAXNETS_DATA_DIR": str(data)}
    first = p.run("train", *MNIST, "--config.train.steps=20", "--workdir", str(work), env=env)
    labels = data / "mnist" / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[8:] = bytes((b + 1) % 10 for b in raw[8:])
    labels.write_bytes(gzip.compress(bytes(raw)))
    second = p.run("train", *MNIST, "--config.train.steps=40", "--workdir", str(work), env=env)
    return first.returncode == 0 and second.returncode == 2 and one_line(second), last(second)


def nonsense_numbers(p: Probe):
    work = p.folder("nan_lr")
    lr = p.run("train", *MNIST, "--config.train.steps=20", "--config.optimizer.learning_rate=nan", "--workdir", str(work))
    chars = p.folder("chars_for_nan")
    p.run("train", *CHARS, "--workdir", str(chars))
    temp = p.run("sample", str(chars), "--temperature", "nan")
    held = lr.returncode == 2 and one_line(lr) and temp.returncode == 2 and one_line(temp)
    return held, f"lr nan: {last(lr)}; temperature nan: {last(temp)}"


def resume_elsewhere(p: Probe):
    work = p.folder("elsewhere")
    p.run("train", *MNIST, "--config.train.steps=20", "--workdir", str(work))
    args = [str(p.tree / a) if a.startswith("configs/") else a for a in MNIST]
    proc = p.run("train", *args, "--config.train.steps=30", "--workdir", str(work), cwd=p.out)
    return proc.returncode == 0 and "resuming" in proc.stdout, last(proc) if proc.returncode else "resumed"


def zero_width_layer(p: Probe):
    work = p.folder("zero")
    proc = p.run("train", *MNIST, "--config.train.steps=20", "--config.model.hidden_sizes=(0,)",
                 "--workdir", str(work), timeout=90)
    return proc.returncode == 2 and one_line(proc), last(proc)


def full_disk(p: Probe):
    mount = p.folder("fs")
    mount.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True).returncode:
        return None, "skipped: cannot mount a tmpfs (not root)"
    try:
        proc = p.run("train", "--config", "configs/mnist_mlp.py", "--config.train.steps=40",
                     "--config.train.log_every=10", "--config.train.checkpoint_every=10",
                     "--config.model.hidden_sizes=(512,)", "--config.train.batch_size=20", "--workdir", str(mount / "big"))
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    (p.out / "full_disk_stderr.txt").write_text(proc.stderr)  # the whole of it, to see what was printed
    return proc.returncode == 2 and one_line(proc), last(proc)


def scheduler_signals(p: Probe):
    seen, held = [], True
    for signum, code in ((signal.SIGTERM, 143), (signal.SIGHUP, 129)):
        work = p.folder(f"signal{signum}")
        proc = subprocess.Popen([sys.executable, "-m", "jaxnets", "train", *MNIST, "--config.train.steps=3000",
                                 "--workdir", str(work)], cwd=p.tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "PYTHONPATH": str(p.tree)},
                                preexec_fn=lambda s=signum: signal.signal(s, signal.SIG_DFL))
        deadline = time.time() + 120
        while time.time() < deadline and not (work / "checkpoints" / "20").exists():
            time.sleep(0.05)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        lines = [line for line in err.splitlines() if line.strip()]
        ok = proc.returncode == code and len(lines) == 1
        held &= ok
        seen.append(f"{signal.Signals(signum).name}: exit {proc.returncode}, {len(lines)} lines")
    return held, "; ".join(seen)


def one_line_errors(p: Probe):
    cases = [("mnist_mlp", "--config.train.num_epochs=inf"), ("mnist_mlp", f"--config.seed={2**64}"),
             ("mnist_mlp", "--config.model.hidden_sizes=(-3,)"), ("mnist_mlp", "--config.model.hidden_sizes=(1.5,)"),
             ("truncated_bptt", "--config.model.num_steps=0"), ("truncated_bptt", "--config.model.state_size=0"),
             ("truncated_bptt", "--config.model.num_layers=0"),
             ("initial_states.py:carried_zaremba_training", "--config.optimizer.clip_global_norm=-1.0"),
             ("initial_states.py:carried_zaremba_training", "--config.optimizer.decay_factor=2.0")]
    failed = []
    for config, override in cases:
        work = p.folder("bad")
        config = config if ":" in config else f"{config}.py"
        proc = p.run("train", "--config", f"configs/{config}", override, "--config.train.steps=2",
                     "--workdir", str(work), timeout=120)
        if not (proc.returncode == 2 and one_line(proc)):
            failed.append(f"{override[9:]} (exit {proc.returncode})")
    return not failed, f"{len(cases) - len(failed)} of {len(cases)} one line" + (f"; not: {', '.join(failed)}" if failed else "")


def nothing_left_behind(p: Probe):
    work = p.folder("no_data_run")
    proc = p.run("train", *MNIST, "--config.train.steps=20", "--workdir", str(work),
                 env={"JAXNETS_DATA_DIR": str(p.folder("empty_data")), "JAXNETS_NO_DOWNLOAD": "1"})
    return proc.returncode == 2 and not work.exists(), f"{last(proc)}; folder left: {work.exists()}"


PROBES = {"1 overwrite deletes a foreign folder": overwrite_foreign,
          "2 stop_on_nan=false keeps healthy seeds": healthy_seeds_kept,
          "3 values checked before training": checked_before_training,
          "4 sample verifies its checkpoint": sample_verifies,
          "5 TSV with BOM / CR endings": tsv_bom_and_cr,
          "6 data changed between sessions": data_fingerprint,
          "7 NaN learning rate / temperature": nonsense_numbers,
          "8 resume from another folder": resume_elsewhere,
          "9 hidden_sizes=(0,) does not hang": zero_width_layer,
          "10 full disk is one line": full_disk,
          "11 SIGTERM / SIGHUP like Ctrl-C": scheduler_signals,
          "12 out-of-range values are one line": one_line_errors,
          "13 a failed start leaves no folder": nothing_left_behind}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", default=str(ROOT), help="the checkout whose jaxnets is probed")
    parser.add_argument("--only", help="comma-separated probe numbers")
    parser.add_argument("--out", default="/tmp/jaxnets_fault_probe")
    args = parser.parse_args()
    tree, out = pathlib.Path(args.tree).resolve(), pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    probe = Probe(tree, out)
    chosen = {k: v for k, v in PROBES.items() if not args.only or k.split()[0] in args.only.split(",")}
    counts = {"held": 0, "failed": 0, "skipped": 0}
    for name, check in chosen.items():
        start = time.time()
        try:
            held, seen = check(probe)
        except Exception as err:  # a probe that breaks is a failed guarantee, said in one line
            held, seen = False, f"probe raised {type(err).__name__}: {err}"
        state = "skipped" if held is None else "held" if held else "failed"
        counts[state] += 1
        print(f"{name:<42} {state.upper() if state == 'failed' else state:<8} {time.time() - start:5.0f} s  {seen}",
              flush=True)
    print(f"\n{tree}: {len(chosen)} trials, {counts['held']} held, {counts['failed']} failed, "
          f"{counts['skipped']} skipped")


if __name__ == "__main__":
    main()
