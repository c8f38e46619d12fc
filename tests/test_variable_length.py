"""Variable-length sequences: the WordNet and TSV readers and the post's preprocessing, padded and
bucketed batches in fixed shapes, masks and the last relevant output, and training that compiles
once per padded length."""

import gzip
import pathlib

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxnets.data import DataError
from jaxnets.data.sentences import UNK, prepare, read_tsv, read_wordnet, tokenize
from jaxnets.experiments import variable_length as vl
from jaxnets.models import sequence_classifier as sc
from jaxnets.train.batches import VariableLength, bucket_lengths, by_length_class

HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n"


def _wordnet(folder: pathlib.Path) -> pathlib.Path:
    folder.mkdir()
    (folder / "lexnames").write_text("03\tnoun.Tops\tunique beginner for nouns\n05\tnoun.animal\tnouns denoting "
                                     "animals\n29\tverb.body\tverbs of grooming\n")
    lines = {"noun": [HEADER, "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived; "
                              "\"an example\"  \n",
                      "01323781 05 n 01 young_mammal 0 000 | any immature mammal  \n"],
             "verb": [HEADER, "00001740 29 v 04 breathe 0 000 | draw air into, and expel out of, the lungs  \n"],
             "adj": [HEADER], "adv": [HEADER]}
    for pos, text in lines.items():
        with gzip.open(folder / f"data.{pos}.gz", "wt", encoding="utf-8") as f:
            f.writelines(text)
    return folder


def test_wordnet_glosses_are_definitions_labelled_by_lexicographer_file(tmp_path):
    examples = read_wordnet(_wordnet(tmp_path / "wn"))
    assert examples == [("noun.Tops", "that which is perceived"), ("noun.animal", "any immature mammal"),
                        ("verb.body", "draw air into, and expel out of, the lungs")]


def test_a_damaged_wordnet_line_is_named(tmp_path):
    folder = _wordnet(tmp_path / "wn")
    with gzip.open(folder / "data.adv.gz", "wt", encoding="utf-8") as f:
        f.write(HEADER + "00001740 99 r 01 oddly | a lexicographer file that does not exist\n")
    with pytest.raises(DataError, match=r"data\.adv\.gz, line 2: not a wndb synset line"):
        read_wordnet(folder)
    (folder / "data.verb.gz").write_bytes(b"\x1f\x8b\x08 truncated")
    with pytest.raises(DataError, match=r"data\.verb\.gz cannot be read .*truncated or corrupt"):
        read_wordnet(folder)
    (folder / "lexnames").unlink()
    with pytest.raises(DataError, match=r"lexnames is missing \(the folder exists\)"):
        read_wordnet(folder)


@pytest.mark.parametrize("content, problem", [
    (b"animal\tthe cat sat on the mat\nno tab here\n", r"line 2: no tab"),
    (b"animal\tthe cat sat on the mat\nplant\t  \n", r"line 2: empty text"),
    (b"\tthe cat sat on the mat\n", r"line 1: empty label"),
    (b"animal\tthe cat sat on the mat\nplant\tcaf\xe9 au lait\n", r"line 2: not UTF-8"),
])
def test_bad_tsv_lines_are_named_with_file_and_line(tmp_path, content, problem):
    path = tmp_path / "mine.tsv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=rf"mine\.tsv, {problem}"):
        read_tsv(path)


def test_preprocessing_is_the_posts():
    assert tokenize("The Cat's 2 toys, in 1,000 rooms!") == ["the", "cat's", "<#>", "toys", ",", "in", "<#>",
                                                             "rooms", "!"]
    examples = [("b", "a a a a b"), ("a", "a a b b c c"), ("a", "too short"), ("b", " ".join(["a"] * 31)),
                ("a", "a b c d e f g"), ("b", "b c d e f")]
    data = prepare(examples, vocab_size=3, test_fraction=0.25, seed=0)
    assert data.classes == ("a", "b")
    assert sum(len(s["label"]) for s in data.splits.values()) == 4  # 2 tokens and 31 tokens are dropped
    assert data.vocabulary[0] == UNK and len(data.vocabulary) == 3
    train = data.splits["train"]
    chex.assert_shape(train["tokens"], (3, 30))
    chex.assert_type([train["tokens"], train["length"], train["label"]], int)
    for row, length in zip(train["tokens"], train["length"]):
        assert np.all(row[length:] == 0) and length >= 5  # padded with <UNK>'s id 0
    again = prepare(examples, vocab_size=3, test_fraction=0.25, seed=0)
    np.testing.assert_array_equal(again.splits["test"]["tokens"], data.splits["test"]["tokens"])
    other = prepare(examples, vocab_size=3, test_fraction=0.25, seed=1)
    assert data.class_rates("train")["chance_rate"] == 0.5 and other.vocabulary[0] == UNK


def _sentences(n=600, seed=0):
    rng = np.random.default_rng(seed)
    length = rng.integers(5, 31, n).astype(np.int32)
    tokens = np.where(np.arange(30)[None, :] < length[:, None], rng.integers(1, 50, (n, 30)), 0).astype(np.int32)
    return {"tokens": tokens, "length": length, "label": (length > 17).astype(np.int32)}


@pytest.mark.parametrize("bucketed", [False, True])
def test_batches_come_in_fixed_lengths_and_cover_an_epoch(bucketed):
    data = jax.tree.map(jnp.asarray, _sentences())
    lengths = bucket_lengths(data["length"], 5)
    batches = VariableLength(32, lengths, bucketed=bucketed)
    per_epoch = batches.steps_per_epoch(data)
    assert per_epoch == (5 * (120 // 32) if bucketed else 600 // 32)
    plan_fn = jax.jit(batches.plan, static_argnums=3)
    plan = plan_fn(data, jax.random.key(7), jnp.int32(0), 2 * per_epoch)
    chex.assert_shape(plan, (2 * per_epoch, 32))
    assert len(np.unique(np.asarray(plan[:per_epoch]))) == per_epoch * 32  # nobody twice in an epoch
    np.testing.assert_array_equal(plan_fn(data, jax.random.key(8), jnp.int32(5), 9), plan[5:14])
    ranks = np.argsort(np.argsort(np.asarray(data["length"]), kind="stable"), kind="stable")
    classes, paddings = [], []
    take = jax.jit(lambda indices: batches.take(data, None, indices))
    for indices in plan[:per_epoch]:
        batch = take(indices)
        longest = int(jnp.max(batch["length"]))
        assert lengths[int(batch["length_class"])] >= longest
        assert int(batch["length_class"]) == 0 or lengths[int(batch["length_class"]) - 1] < longest
        assert float(batch["padding"]) == float(jnp.sum(longest - batch["length"]))
        if bucketed:  # every batch from one bucket (a fifth of the sentences sorted on length)
            assert len(set(ranks[np.asarray(indices)] // 120)) == 1
        classes.append(int(batch["length_class"]))
        paddings.append(float(batch["padding_computed"]))
    if bucketed:
        assert sorted(set(classes)) == [0, 1, 2, 3, 4] and np.mean(paddings) < 32 * 4
    else:
        assert set(classes) == {4}  # a random batch of 32 holds a long sentence


def test_the_last_relevant_output_ignores_padding():
    """Padded steps leave the state alone: each sequence's logits equal those of the sequence
    run alone at its own length; seq2seq's masked loss is the mean over real steps."""
    key = jax.random.key(0)
    params = sc.init(key, 50, 8, 16, 3)
    data = _sentences(3)
    tokens, length = jnp.asarray(data["tokens"]), jnp.asarray(data["length"])
    logits = sc.apply(params, tokens, length)
    chex.assert_shape(logits, (3, 3))
    for i in range(3):
        alone = sc.apply(params, tokens[i:i + 1, : int(length[i])], length[i:i + 1])
        np.testing.assert_allclose(logits[i], alone[0], rtol=1e-5, atol=1e-6)
    per_step = sc.apply(params, tokens, length, readout="seq2seq")
    chex.assert_shape(per_step, (3, 30, 3))
    labels = jnp.asarray(data["label"])
    metrics = vl.metrics_of(per_step, {"label": labels, "length": length}, "seq2seq")
    log_p = np.asarray(jax.nn.log_softmax(per_step))
    brute = [-log_p[i, t, labels[i]] for i in range(3) for t in range(int(length[i]))]
    np.testing.assert_allclose(metrics["loss"][0] / metrics["loss"][1], np.mean(brute), rtol=1e-5)
    np.testing.assert_allclose(per_step[jnp.arange(3), length - 1], logits, rtol=1e-5, atol=1e-6)


def test_training_compiles_once_per_length_class(tmp_path, monkeypatch):
    """Two chunks of training on bucketed batches: the model is traced once per padded length
    (chex.assert_max_traces would raise on a retrace) and each step computes only its length."""
    from jaxnets.rundir import RunWriter
    from jaxnets.train import fit, make_optimizer

    data = _sentences()
    lengths = bucket_lengths(data["length"], 3)
    real_apply = sc.apply
    once_per_length = chex.assert_max_traces(real_apply, n=len(lengths))
    seen = []

    def traced(params, tokens, length, **kw):
        if kw.get("key") is None:  # evaluation: whole splits at full length
            return real_apply(params, tokens, length, **kw)
        seen.append(tokens.shape[1])
        return once_per_length(params, tokens, length, **kw)

    monkeypatch.setattr(sc, "apply", traced)
    model = ml_collections.ConfigDict({"cell": "gru", "n_embed": 8, "n_hidden": 16, "keep_prob": 1.0,
                                       "readout": "last_output"})  # (dropout's RNG doubles the compile time)
    task = vl.sequence_classifier_task(model, 50, 2, VariableLength(32, lengths, bucketed=True))
    train = ml_collections.ConfigDict({"batch_size": 32, "num_epochs": 1.0, "steps": 10, "log_every": 5,
                                       "eval_every": 5, "checkpoint_every": 0, "eval_batch_size": 256,
                                       "stop_on_nan": True, "tensorboard": False})
    optimizer = make_optimizer(ml_collections.ConfigDict({"name": "adam", "learning_rate": 1e-2}))
    result = fit(task, optimizer, data, {"test": _sentences(100, seed=1)}, train, RunWriter(tmp_path / "run"),
                 seeds=[0, 1], log=lambda m: None)
    assert sorted(seen) == sorted(lengths)  # one trace per length class, for both chunks and all seeds
    assert result.steps == 10 and np.all(np.isfinite(result.final_eval["test_accuracy"]))
    chex.assert_shape(result.final_eval["test_accuracy"], (2,))


def test_by_length_class_cuts_only_the_time_axis():
    lengths = (3, 5)
    fn = by_length_class(lambda params, batch: (batch["tokens"].shape[1] * params, batch["label"].sum()), lengths)
    batch = {"tokens": jnp.ones((2, 5), jnp.int32), "label": jnp.array([1, 2]), "length_class": jnp.int32(0)}
    assert [int(v) for v in jax.jit(fn)(jnp.int32(1), batch)] == [3, 3]
    assert [int(v) for v in jax.jit(fn)(jnp.int32(1), {**batch, "length_class": jnp.int32(1)})] == [5, 3]


def test_a_sweep_runs_one_branch_per_step_not_all():
    """Seeds of a sweep share the batch order, planned outside their vmap: each step's length
    class stays one unbatched number, so `lax.switch` stays a `cond` (batched, vmap would turn it
    into a select that computes every length: a 3-seed epoch took 5× a 1-seed one)."""
    from jaxnets.train import init_state, make_optimizer, sharding
    from jaxnets.train.loop import sharded_chunk

    data = jax.tree.map(jnp.asarray, _sentences())
    batches = VariableLength(32, bucket_lengths(data["length"], 5), bucketed=True)
    model = ml_collections.ConfigDict({"cell": "gru", "n_embed": 8, "n_hidden": 16, "keep_prob": 0.6,
                                       "readout": "last_output"})
    task = vl.sequence_classifier_task(model, 50, 2, batches)
    optimizer = make_optimizer(ml_collections.ConfigDict({"name": "adam", "learning_rate": 1e-2}))
    states = jax.vmap(lambda k: init_state(task, optimizer, k))(jax.random.split(jax.random.key(0), 3))
    chunk = sharded_chunk(task, optimizer, batches, sharding.make_mesh(3, 32, shard_batch="never"), 2)
    program = str(jax.make_jaxpr(chunk)(states, data))
    assert program.count("cond[") >= 1 and "branches=(" in program


@pytest.mark.parametrize("encode", [
    lambda text: b"\xef\xbb\xbf" + text.encode(),  # a UTF-8 byte-order mark (Windows editors)
    lambda text: text.replace("\n", "\r").encode(),  # old-Mac line endings
    lambda text: text.replace("\n", "\r\n").encode(),  # Windows line endings
])
def test_a_tsv_reads_the_same_whatever_its_bom_and_line_endings(tmp_path, encode):
    """Issue 35.5: a BOM became part of the first label (4 classes instead of 3), CR line
    endings made the file one line."""
    text = "animal\tthe cat sat on the mat\nplant\ta tall green tree\nanimal\ta dog ran\nstone\ta grey rock\n"
    path = tmp_path / "mine.tsv"
    path.write_bytes(encode(text))
    examples = read_tsv(path)
    assert examples == [("animal", "the cat sat on the mat"), ("plant", "a tall green tree"),
                        ("animal", "a dog ran"), ("stone", "a grey rock")]
    assert sorted({label for label, _ in examples}) == ["animal", "plant", "stone"]
