"""R2RT, "Recurrent Neural Networks in Tensorflow III – Variable Length Sequences" (2016), on
WordNet's glosses: the blogs corpus of the post (blogs.h5) cannot be had here.

Data: each WordNet 3.0 synset's definition (its gloss before the first ';') labelled with its
lexicographer file (45 supersenses, e.g. noun.animal); the post's preprocessing — lowercase,
tokenize, keep 5–30 tokens, numbers -> <#>, the 9,999 most frequent training tokens + <UNK> (id
0, also the padding), a shuffled 80/20 split fixed by data.split_seed. Your own data:
--config.data.name=tsv --config.data.path=file.tsv (label<TAB>text lines).
Model: embedding 10k x 64 -> GRU(64), trained initial state (zeros at init) -> dropout keep 0.6
on its outputs (training only) -> the last relevant output (index length - 1) -> softmax; or
seq2seq: the label predicted at every step, loss and accuracy over real steps only. Adam 1e-4,
batch 256, 10 epochs. Batches: padded (a permutation each epoch; the post's PaddedDataIterator)
or bucketed (5 buckets of equal size by length, each batch from a random bucket), in 5 fixed
padded lengths (one compilation each). Per epoch: train accuracy (running mean, with dropout)
and test accuracy, as the post prints.

    python -m jaxnets train --config configs/variable_length.py:last_output_bucketed
    python -m jaxnets suite --config configs/variable_length.py --seeds 3      # the three variants
"""

import ml_collections

from jaxnets.config import apply_variant, train_section

SOURCE = ("R2RT 2016, RNNs in Tensorflow III (Blog Authorship Corpus, 6 classes; here WordNet glosses, "
          "45 classes: compare against each set's majority and chance rates, not the raw accuracy)")
VARIANTS = {
    "last_output_padded": {"data.bucketed": False, "model.readout": "last_output",
                           "reference.blogs_padding_per_batch": 3279.9, "reference.blogs_epoch_time_s": 100.90},
    "last_output_bucketed": {"data.bucketed": True, "model.readout": "last_output"},
    "seq2seq_bucketed": {"data.bucketed": True, "model.readout": "seq2seq",
                         "reference.blogs_test_accuracy": 0.326069803531},
}
# The post's numbers are for another corpus (6 classes, majority ≈ chance × 2): shown, not compared.
BLOGS = {"last_output_padded": "0.3604 (blogs)", "last_output_bucketed": "0.3492 after 1 epoch (blogs)",
         "seq2seq_bucketed": "0.3261 (blogs)"}
TABLE = [("variable length", f"{name}: test accuracy", name, "test_accuracy", BLOGS[name]) for name in VARIANTS] + \
        [("variable length", "seq2seq_bucketed: test accuracy at the last real step", "seq2seq_bucketed",
          "test_last_accuracy", "(not published)")]
FIGURES = {"test_accuracy": ("Variable-length sentences (WordNet glosses): test accuracy per epoch",
                             {name: name for name in VARIANTS}, ["test_accuracy"])}


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "variable_length"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "wordnet"  # or tsv (with data.path)
    c.data.path = ""  # tsv: a UTF-8 file of label<TAB>text lines
    c.data.min_len = 5  # sentences of min_len..max_len tokens are kept
    c.data.max_len = 30
    c.data.vocab_size = 10_000  # the most frequent training tokens, <UNK> (id 0) included
    c.data.test_fraction = 0.2
    c.data.split_seed = 0  # the shuffled train/test split: the same for every seed of a sweep
    c.data.bucketed = True  # False: padded batches (a permutation of all sentences)
    c.data.n_buckets = 5  # buckets by length; also the number of padded lengths compiled
    c.data.order_seed = 0  # the batch order (shared by a sweep's seeds, which differ in init and dropout)

    c.model = ml_collections.ConfigDict()
    c.model.cell = "gru"
    c.model.n_embed = 64
    c.model.n_hidden = 64
    c.model.keep_prob = 0.6  # dropout on the recurrent outputs, training only
    c.model.readout = "last_output"  # or seq2seq

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-4

    c.train = train_section(
        batch_size=256,
        num_epochs=10.0,
        log_every=0,  # one epoch per metrics line: the running train accuracy, as the post prints
        eval_every=0,  # test accuracy after every epoch
        checkpoint_every=-1,  # every epoch
        eval_batch_size=2048,
        without=("shuffle",),  # the order is data.bucketed's
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.blogs_test_accuracy = 0.36041535804  # last output, bucketed or padded: the post's epoch 10
    c.reference.blogs_padding_per_batch = 573.49  # bucketed; padded: 3279.9
    c.reference.blogs_epoch_time_s = 71.45  # bucketed; padded: 100.90 (the post's machine)
    c.reference.source = SOURCE
    return apply_variant(c, VARIANTS, arg, default="last_output_bucketed")
