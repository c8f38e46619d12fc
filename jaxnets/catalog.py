"""What there is to run: `python -m jaxnets list` (every config file, its experiment, variants and
first sentence) and `python -m jaxnets show <config[:variant]>` (every key and value, and what a
variant changes) — from any folder, so a new user can find the experiments before reading code."""

from __future__ import annotations

import ast
import pathlib

from jaxnets import config as config_lib

__all__ = ["configs_dir", "first_sentence", "list_configs", "show", "resolve_spec"]


def configs_dir() -> pathlib.Path:
    """./configs when the working directory has one, else the configs/ beside the jaxnets package
    (a source checkout), so `list` works from any folder."""
    here = pathlib.Path("configs")
    return here if here.is_dir() else pathlib.Path(__file__).resolve().parents[1] / "configs"


def resolve_spec(spec: str) -> str:
    """`mnist_mlp`, `mnist_mlp.py:v` or `configs/mnist_mlp.py:v` -> a path that exists (the name
    alone is looked up in `configs_dir()`)."""
    path, variant = config_lib.split_spec(spec)
    if not pathlib.Path(path).is_file():
        candidate = configs_dir() / (path if path.endswith(".py") else f"{path}.py")
        if candidate.is_file():
            path = str(candidate)
    return path + (f":{variant}" if variant is not None else "")


def first_sentence(path: pathlib.Path) -> str:
    """The module docstring's first sentence, whole (it may run over several lines)."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    return paragraph.split(". ", 1)[0].rstrip(".") + "." if paragraph else ""


def _variants(path: str) -> list[str]:
    module = config_lib.load_module(path)
    return list(getattr(module, "VARIANTS", {}) or {})


def list_configs() -> str:
    """One block per config file: path, experiment, variants, first sentence."""
    from jaxnets import experiments

    folder = configs_dir()
    lines = [f"experiments (jaxnets/experiments/<name>.py): {', '.join(experiments.names())}",
             f"config files in {folder}/ (run one: python -m jaxnets train --config {folder}/<file>[:variant];"
             f" its keys: python -m jaxnets show <file>[:variant])", ""]
    for path in sorted(folder.glob("*.py")):
        try:
            config = config_lib.load_config_file(str(path))
            variants = _variants(str(path))
            lines.append(f"{path.name}  [{config.experiment}]  {first_sentence(path)}")
            if variants:
                shown = ", ".join(variants[:8]) + (f", ... ({len(variants)} in all)" if len(variants) > 8 else "")
                lines.append(f"    variants: {shown}")
        except Exception as err:  # a broken config must not hide the others
            lines.append(f"{path.name}  <error: {err}>")
    return "\n".join(lines)


def show(spec: str, overrides=()) -> str:
    """Every key = value of `spec` (with overrides applied), what its variant changes from the
    file's default, and the file's variants."""
    spec = resolve_spec(spec)
    path, variant = config_lib.split_spec(spec)
    config = config_lib.load(spec, overrides)
    base = dict(config_lib.flatten(config_lib.load_config_file(path)))
    lines = [f"{spec}  [{config.experiment}]  {first_sentence(pathlib.Path(path))}", ""]
    width = max(len(k) for k, _ in config_lib.flatten(config))
    for key, value in config_lib.flatten(config):
        changed = "  # file default: " + repr(base[key]) if key in base and base[key] != value else ""
        lines.append(f"  {key:<{width}} = {value!r}{changed}")
    variants = _variants(path)
    if variants:
        lines += ["", f"variants ({len(variants)}): {', '.join(variants)}",
                  f"  (python -m jaxnets show {path}:<variant>; the whole table: "
                  f"python -m jaxnets suite --config {path})"]
    lines += ["", "every key is documented in configs/README.md; override one with --config.<key>=<value>"]
    return "\n".join(lines)
