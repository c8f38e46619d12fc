"""Character corpora as integer ids: the vocabulary is the text's sorted set of characters.

Source: `$JAXNETS_DATA_DIR/<name>/input.txt` (Tiny Shakespeare, the char-rnn corpus, is
downloaded there on first use; any other corpus is a folder with an input.txt). Splits are by
position (the tail is held out), so validation text is text the model never saw.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from jaxnets.data import download
from jaxnets.data.idx import DataError

__all__ = ["Vocabulary", "Corpus", "read_text", "char_corpus", "text_rows", "tf_style_windows", "WordCorpus",
           "PTB_FILES", "read_words", "word_corpus", "WORD_CORPORA", "language_corpus"]


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """What a language model's ids mean: id i is tokens[i]; words are separated by spaces,
    characters by nothing. A run stores it (vocabulary.json) so that sampling needs no corpus."""

    tokens: tuple[str, ...]
    words: bool

    @property
    def separator(self) -> str:
        return " " if self.words else ""

    def split(self, text: str) -> list[str]:
        return text.split() if self.words else list(text)

    def encode(self, text: str) -> np.ndarray:
        index = {t: i for i, t in enumerate(self.tokens)}
        tokens = self.split(text)
        unknown = sorted({t for t in tokens if t not in index})
        if unknown:
            kind = "words" if self.words else "characters"
            raise ValueError(f"{kind} {unknown[:10]!r} are not in the corpus vocabulary")
        return np.array([index[t] for t in tokens], np.int32)

    def decode(self, ids) -> str:
        return self.separator.join(self.tokens[int(i)] for i in ids)

    def continuation(self, prompt: str, ids) -> str:
        """The prompt followed by the decoded ids, as one text."""
        return prompt + self.separator + self.decode(ids)

    def to_json(self) -> str:
        return json.dumps({"words": self.words, "tokens": list(self.tokens)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        record = json.loads(text)
        return cls(tuple(record["tokens"]), bool(record["words"]))


@dataclasses.dataclass(frozen=True)
class Corpus:
    chars: str  # the vocabulary, sorted; id i is chars[i]
    train: np.ndarray  # int32 ids
    validation: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(tuple(self.chars), words=False)

    def encode(self, text: str) -> np.ndarray:
        return self.vocabulary.encode(text)

    def decode(self, ids) -> str:
        return self.vocabulary.decode(ids)


def read_text(name: str) -> str:
    path = download.ensure(name) / "input.txt"
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise DataError(f"{path} is not UTF-8 text ({err})") from err
    known = f" ({', '.join(sorted(download.SOURCES))} download themselves)"
    where = "the folder exists" if path.parent.is_dir() else f"nor does {path.parent}"
    raise DataError(f"{path} is missing ({where}). A character corpus is a folder <name>/ under "
                    f"JAXNETS_DATA_DIR with the text as input.txt{known}.")


def char_corpus(name: str, validation_fraction: float = 0.1) -> Corpus:
    """The corpus split by position: the first (1 − fraction) for training, the tail for validation."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), not {validation_fraction}")
    text = read_text(name)
    if not text:
        raise DataError(f"{name}: the corpus is empty")
    chars = "".join(sorted(set(text)))
    ids = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    lookup = {ord(c): i for i, c in enumerate(chars)}
    table = np.zeros(max(lookup) + 1, np.int32)
    for code, i in lookup.items():
        table[code] = i
    ids = table[ids]
    cut = int(round(len(ids) * (1.0 - validation_fraction)))
    return Corpus(chars, ids[:cut], ids[cut:])


def text_rows(series: np.ndarray, batch_size: int, num_steps: int) -> dict[str, np.ndarray]:
    """{'x', 'y'} [batch_size, n_windows · num_steps]: TF's `ptb_iterator` layout exactly. The
    series is cut into `batch_size` rows of len // batch_size tokens each (a contiguous stretch;
    the remainder is dropped), targets are the next token of the same row, and a row holds
    (row length − 1) // num_steps whole windows, so no target reaches into the next row.
    `jaxnets.train.batches.Windows` reads it window by window: row b of window k+1 continues row
    b of window k, so a carry passed from window to window is the state a model would have had
    reading the row straight through."""
    row_length = len(series) // batch_size
    n_windows = (row_length - 1) // num_steps
    if n_windows < 1:
        raise ValueError(f"a series of {len(series)} is too short for batch_size {batch_size} × num_steps {num_steps}")
    data = np.asarray(series)[: batch_size * row_length].reshape(batch_size, row_length)
    return {"x": data[:, : n_windows * num_steps], "y": data[:, 1: n_windows * num_steps + 1]}


def tf_style_windows(series: np.ndarray, batch_size: int, num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) [n_windows, batch_size, num_steps]: `text_rows` cut into its consecutive windows."""
    rows = text_rows(series, batch_size, num_steps)

    def cut(a):
        return a.reshape(batch_size, -1, num_steps).transpose(1, 0, 2)

    return cut(rows["x"]), cut(rows["y"])


@dataclasses.dataclass(frozen=True)
class WordCorpus:
    """A word-level corpus split into its published files: ids into `words`."""

    words: tuple[str, ...]  # the vocabulary; id i is words[i]
    splits: dict  # {'train' | 'valid' | 'test': int32 ids}

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.words, words=True)

    def encode(self, text: str) -> np.ndarray:
        return self.vocabulary.encode(text)

    def decode(self, ids) -> str:
        return self.vocabulary.decode(ids)


PTB_FILES = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}


def read_words(path) -> list[str]:
    """Whitespace-separated words with `<eos>` at each line end, as TF's ptb_reader reads them."""
    if not path.is_file():
        where = "the folder exists" if path.parent.is_dir() else f"nor does {path.parent}"
        raise DataError(f"{path} is missing ({where}). A word corpus is a folder with Mikolov's simple-examples "
                        f"files ptb.train.txt, ptb.valid.txt, ptb.test.txt (PTB downloads itself when its "
                        f"folder does not exist; tensorflow-datasets has no PTB builder).")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text ({err})") from err
    words = text.replace("\n", " <eos> ").split()
    if not words:
        raise DataError(f"{path} is empty")
    return words


def word_corpus(name: str = "ptb") -> WordCorpus:
    """Penn Treebank (or any folder with the three files) as ids. The vocabulary is the training
    file's words ordered as TF's ptb_reader orders them (by descending count, ties by the word),
    so ids match TF's; a validation or test word outside it is an error naming the file."""
    folder = download.ensure(name)
    texts = {split: read_words(folder / file) for split, file in PTB_FILES.items()}
    counts: dict[str, int] = {}
    for word in texts["train"]:
        counts[word] = counts.get(word, 0) + 1
    words = tuple(sorted(counts, key=lambda w: (-counts[w], w)))
    index = {w: i for i, w in enumerate(words)}
    splits = {}
    for split, tokens in texts.items():
        unknown = sorted({w for w in tokens if w not in index})
        if unknown:
            raise DataError(f"{folder / PTB_FILES[split]}: {len(unknown)} word(s) not in the training vocabulary, "
                            f"e.g. {unknown[:5]}")
        splits[split] = np.fromiter((index[w] for w in tokens), np.int32, len(tokens))
    return WordCorpus(words, splits)


WORD_CORPORA = ("ptb",)


def language_corpus(name: str, validation_fraction: float = 0.1):
    """(vocabulary-bearing corpus, {'train', 'validation'[, 'test']: ids}) for a language model:
    a word corpus with its published splits (PTB), else a character corpus with its tail held out."""
    if name in WORD_CORPORA:
        corpus = word_corpus(name)
        return corpus, {"train": corpus.splits["train"], "validation": corpus.splits["valid"],
                        "test": corpus.splits["test"]}
    corpus = char_corpus(name, validation_fraction)
    return corpus, {"train": corpus.train, "validation": corpus.validation}
