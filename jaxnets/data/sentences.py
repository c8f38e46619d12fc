"""Labelled sentences of varying length, prepared as R2RT's "RNNs in Tensorflow III" prepared the
Blog Authorship Corpus: lowercased, tokenized, kept when 5–30 tokens long, the 9,999 most
frequent training tokens plus `<UNK>` (id 0, which also pads), a shuffled 80/20 split fixed by a
seed.

Two sources: WordNet's glosses (`$JAXNETS_DATA_DIR/wordnet/`, each synset's definition — the
gloss before its first ';' — labelled with its lexicographer file, one of 45 supersenses such as
`noun.animal`), standing in for the blogs corpus, which cannot be had here; and the user's own
`label<TAB>text` file (`read_tsv`), the way to run the post's corpus once exported, or any other.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import pathlib
import re

import numpy as np

from jaxnets.data import download
from jaxnets.data.idx import DataError

__all__ = ["UNK", "WORDNET_POS", "Sentences", "tokenize", "read_wordnet", "read_tsv", "prepare", "sentence_set",
           "from_config"]

UNK = "<UNK>"  # id 0: out-of-vocabulary tokens, and the padding (the post pads with 0 as well)
NUMBER = "<#>"  # every number, as the post's preprocessing
WORDNET_POS = ("noun", "verb", "adj", "adv")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:['’-]\w+)*|[^\w\s]")
_NUMERIC = re.compile(r"^\d+(?:[.,]\d+)*$")


@dataclasses.dataclass(frozen=True)
class Sentences:
    """A labelled sentence set as arrays: per split {'tokens' int32 [N, max_len] (0-padded),
    'length' int32 [N], 'label' int32 [N]}; token id i is vocabulary[i], class c is classes[c]."""

    vocabulary: tuple[str, ...]
    classes: tuple[str, ...]
    splits: dict[str, dict[str, np.ndarray]]

    @property
    def max_len(self) -> int:
        return self.splits["train"]["tokens"].shape[1]

    def class_rates(self, split: str = "test") -> dict[str, float]:
        """The two baselines a classifier must beat: always the most frequent training class
        (its rate on `split`), and guessing uniformly among the classes."""
        counts = np.bincount(self.splits["train"]["label"], minlength=len(self.classes))
        majority = int(np.argmax(counts))
        return {"majority_class": self.classes[majority],
                "majority_rate": float(np.mean(self.splits[split]["label"] == majority)),
                "chance_rate": 1.0 / len(self.classes)}


def tokenize(text: str) -> list[str]:
    """Lowercased words (with inner apostrophes and hyphens) and single punctuation marks;
    numbers become `<#>`."""
    return [NUMBER if _NUMERIC.match(t) else t for t in _TOKEN.findall(text.lower())]


def _open_text(path: pathlib.Path):
    opener = gzip.open if path.suffix == ".gz" else open
    return opener(path, "rt", encoding="utf-8")


def read_wordnet(folder: pathlib.Path) -> list[tuple[str, str]]:
    """(supersense, definition) for every synset of `data.{noun,verb,adj,adv}[.gz]` (WordNet's
    wndb format: the second field is the lexicographer file number, named in `lexnames`; the
    gloss follows ' | '; licence header lines start with two spaces)."""
    folder = pathlib.Path(folder)
    lexnames_path = folder / "lexnames"
    if not lexnames_path.is_file():
        raise DataError(_missing(lexnames_path))
    lexnames = {}
    for number, line in enumerate(lexnames_path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].isdigit():
            raise DataError(f"{lexnames_path}, line {number}: expected 'number<TAB>name<TAB>contents', got {line!r}")
        lexnames[int(fields[0])] = fields[1]
    examples = []
    for pos in WORDNET_POS:
        path = next((p for p in (folder / f"data.{pos}.gz", folder / f"data.{pos}") if p.is_file()), None)
        if path is None:
            raise DataError(_missing(folder / f"data.{pos}.gz"))
        try:
            with _open_text(path) as lines:
                for number, line in enumerate(lines, 1):
                    if line.startswith("  "):
                        continue
                    head, bar, gloss = line.partition(" | ")
                    fields = head.split(" ", 2)
                    if not bar or len(fields) < 3 or not fields[1].isdigit() or int(fields[1]) not in lexnames:
                        raise DataError(f"{path}, line {number}: not a wndb synset line "
                                        f"(offset, lexicographer file number, ..., ' | ' gloss): {line[:80]!r}")
                    definition = gloss.split(";", 1)[0].strip()
                    examples.append((lexnames[int(fields[1])], definition))
        except (OSError, EOFError, UnicodeDecodeError) as err:
            raise DataError(f"{path} cannot be read ({err}): a truncated or corrupt file? "
                            + download.where_to_get("wordnet")) from None
    return examples


def _missing(path: pathlib.Path) -> str:
    where = "the folder exists" if path.parent.is_dir() else f"nor does {path.parent}"
    return (f"{path} is missing ({where}). WordNet is the database files data.{{noun,verb,adj,adv}}[.gz] "
            f"and lexnames; it downloads itself when its folder does not exist. "
            + download.where_to_get("wordnet"))


def read_tsv(path) -> list[tuple[str, str]]:
    """(label, text) from a UTF-8 file of `label<TAB>text` lines; a line without a tab, with an
    empty label or text, or with bytes that are not UTF-8, is an error naming the file and line."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path} is missing: data.path must name a file of 'label<TAB>text' lines")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is not part of the first label
    except UnicodeDecodeError as err:
        number = len(re.split(rb"\r\n|\r|\n", path.read_bytes()[:err.start]))
        raise DataError(f"{path}, line {number}: not UTF-8 ({err.reason} at byte {err.start})") from None
    examples = []
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):  # \n, \r\n and old-Mac \r alike
        if not line.strip():
            continue
        label, tab, text_ = line.partition("\t")
        if not tab:
            raise DataError(f"{path}, line {number}: no tab; each line is 'label<TAB>text'")
        if not label.strip() or not text_.strip():
            raise DataError(f"{path}, line {number}: empty {'label' if not label.strip() else 'text'}; "
                            f"each line is 'label<TAB>text'")
        examples.append((label.strip(), text_))
    if not examples:
        raise DataError(f"{path} has no examples")
    return examples


def prepare(examples: list[tuple[str, str]], *, min_len: int = 5, max_len: int = 30, vocab_size: int = 10_000,
            test_fraction: float = 0.2, seed: int = 0, source: str = "the data") -> Sentences:
    """The post's preprocessing of (label, text) pairs: tokenize, keep min_len..max_len tokens,
    shuffle (seed) and split, a vocabulary of the vocab_size − 1 most frequent training tokens
    (ties by the token) plus `<UNK>` at id 0, classes sorted by name."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), not {test_fraction}")
    kept = [(label, tokens) for label, text in examples
            if min_len <= len(tokens := tokenize(text)) <= max_len]
    if len(kept) < 2:
        raise DataError(f"{source}: {len(kept)} of {len(examples)} sentences have {min_len}–{max_len} tokens; "
                        f"too few to split")
    order = np.random.default_rng(seed).permutation(len(kept))
    n_test = max(1, int(round(len(kept) * test_fraction)))
    parts = {"train": [kept[i] for i in order[n_test:]], "test": [kept[i] for i in order[:n_test]]}
    counts = collections.Counter(t for _, tokens in parts["train"] for t in tokens)
    counts.pop(UNK, None)
    vocabulary = (UNK, *sorted(counts, key=lambda t: (-counts[t], t))[: vocab_size - 1])
    index = {t: i for i, t in enumerate(vocabulary)}
    classes = tuple(sorted({label for label, _ in kept}))
    class_index = {c: i for i, c in enumerate(classes)}
    splits = {}
    for name, part in parts.items():
        tokens = np.zeros((len(part), max_len), np.int32)
        for row, (_, words) in enumerate(part):
            tokens[row, : len(words)] = [index.get(t, 0) for t in words]
        splits[name] = {"tokens": tokens,
                        "length": np.fromiter((len(w) for _, w in part), np.int32, len(part)),
                        "label": np.fromiter((class_index[label] for label, _ in part), np.int32, len(part))}
    return Sentences(vocabulary, classes, splits)


def sentence_set(name: str, path: str = "", **options) -> Sentences:
    """`wordnet` (downloaded on first use) or `tsv` (the file at `path`), prepared (`prepare`'s
    options)."""
    if name == "wordnet":
        folder = download.ensure("wordnet")
        return prepare(read_wordnet(folder), source=str(folder), **options)
    if name == "tsv":
        if not path:
            raise DataError("data.name = 'tsv' needs data.path: a file of 'label<TAB>text' lines")
        return prepare(read_tsv(path), source=str(path), **options)
    raise DataError(f"unknown sentence set {name!r}: 'wordnet', or 'tsv' with data.path")


def from_config(data) -> Sentences:
    """The sentence set a config's data section names (configs/variable_length.py's keys)."""
    return sentence_set(data.name, data.path, min_len=data.min_len, max_len=data.max_len,
                        vocab_size=data.vocab_size, test_fraction=data.test_fraction, seed=data.split_seed)
