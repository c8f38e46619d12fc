"""R2RT, "Implementing Batch Normalization in Tensorflow" (2016, edited version).

MNIST 784 -> 100 -> 100 -> 10, sigmoid, weights N(0, 1) shared by both nets (plain: zero
biases; BN: no pre-BN bias, γ = 1, β = 0, ε = 1e-3, population statistics by EMA with decay
0.999), summed cross-entropy, SGD 0.01, batch 60, 40,000 steps, both nets on the same batches.
TF `input_data` split: training = train[5000:]. Test accuracy every 200 steps (the post: every
50; each evaluation is 3 passes over 10k images); the BN net is evaluated with the test batch's
own statistics (eval_batch_size = 10,000, as the post's training graph did) and with the
population statistics. After training: the first 100 test images one at a time.

Variants (`configs/batchnorm.py:<name>`):
  inference      the post's retrained net for the inference demonstration: 10,000 steps, the
                 BN net's softmax without bias ("Final accuracy: 0.9721"; one at a time with
                 batch statistics "ACCURACY: 0.02", with population statistics "ACCURACY: 0.99")
  original_2016  the March 2016 version: 3 hidden layers, 10,000 steps
  inference_uniform_output, inference_lr0.1
                 the inference net with the softmax weights drawn U[0, 1) (as some copies of the
                 post's code), or at 10× the printed learning rate: the A/B of its gap
  compare_lr<r>  the comparison at learning rate 0.1, 0.5 or 1.0 (the post's claim that BN
                 "allows much higher learning rates"; a net that diverges trains on, its seeds
                 counted: train.stop_on_nan = false)

    python -m jaxnets sweep --config configs/batchnorm.py --seeds 5
    python -m jaxnets suite --config configs/batchnorm.py --seeds 5 --jobs 2
"""

import ml_collections

from jaxnets.config import apply_variant, train_section

SOURCE = "R2RT 2016, Implementing Batch Normalization in Tensorflow"
VARIANTS = {
    "compare": {},
    "inference": {"train.steps": 10_000, "model.output_bias": False, "reference.test_bn_accuracy": 0.9721,
                  "reference.single_example_batch_stats_accuracy": 0.02,
                  "reference.single_example_population_accuracy": 0.99},
    "original_2016": {"train.steps": 10_000, "model.hidden_sizes": (100, 100, 100)},
    **{f"compare_lr{lr}": {"optimizer.learning_rate": lr, "train.stop_on_nan": False} for lr in (0.1, 0.5, 1.0)},
}
# The inference demonstration's gap (issue 32), one change each, the same seeds:
VARIANTS["inference_uniform_output"] = {**VARIANTS["inference"], "model.bn_output_init": "uniform"}
VARIANTS["inference_lr0.1"] = {**VARIANTS["inference"], "optimizer.learning_rate": 0.1}
SUITE = tuple(VARIANTS)
TABLE = [("inference demo", "BN net, 10k steps: test accuracy", "inference", "test_bn_accuracy", 0.9721),
         ("inference demo", "one at a time, batch statistics", "inference", "single_example_batch_stats_accuracy", 0.02),
         ("inference demo", "one at a time, population statistics", "inference",
          "single_example_population_accuracy", 0.99),
         ("40k steps", "without BN (plot only)", "compare", "test_plain_accuracy", None),
         ("40k steps", "with BN (plot only)", "compare", "test_bn_accuracy", None),
         ("original 2016", "without BN, 3 layers (plot only)", "original_2016", "test_plain_accuracy", None),
         ("original 2016", "with BN, 3 layers (plot only)", "original_2016", "test_bn_accuracy", None),
         ("inference demo, A/B", "BN net, 10k steps, softmax weights U[0, 1)", "inference_uniform_output",
          "test_bn_accuracy", 0.9721),
         ("inference demo, A/B", "BN net, 10k steps, lr 0.1 (10× the printed 0.01)", "inference_lr0.1",
          "test_bn_accuracy", 0.9721),
         *[("learning rate (the post's claim)", f"{net}, lr {lr}", f"compare_lr{lr}", f"test_{key}_accuracy", None)
           for lr in (0.1, 0.5, 1.0) for net, key in (("without BN", "plain"), ("with BN", "bn"))]]
FIGURES = {"accuracy": ("Batch normalization: test accuracy",
                        {"40k steps": "compare", "10k steps (inference net)": "inference"},
                        ["test_plain_accuracy", "test_bn_accuracy"]),
           "learning_rates": ("Does BN allow higher learning rates? Test accuracy without (left) and with BN (right)",
                              {"lr 0.01": "compare", **{f"lr {lr}": f"compare_lr{lr}" for lr in (0.1, 0.5, 1.0)}},
                              ["test_plain_accuracy", "test_bn_accuracy"])}


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "batchnorm"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"
    c.data.train_split = "train[5000:]"  # TF input_data's mnist.train
    c.data.eval_splits = ml_collections.ConfigDict({"test": "test"})

    c.model = ml_collections.ConfigDict()
    c.model.hidden_sizes = (100, 100)
    c.model.activation = "sigmoid"
    c.model.w_init = "normal"  # N(0, w_scale²) for the weights of both nets (the same draw)
    c.model.w_scale = 1.0
    c.model.output_bias = True  # the BN net's softmax bias (the post's retrained net has none)
    c.model.bn_output_init = "shared"  # the BN net's softmax weights: shared (the N(0, 1) draw) or uniform (U[0, 1))
    c.model.bn_eps = 1e-3
    c.model.bn_decay = 0.999  # EMA decay of the population statistics
    c.model.loss_reduction = "sum"  # TF summed the per-example cross-entropy
    c.model.tracked_layer = 2  # whose mean pre-activations are logged and plotted
    c.model.tracked_neurons = 5
    c.model.demo_examples = 100  # first test images classified one at a time after training

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.01

    c.train = train_section(
        batch_size=60,
        num_epochs=0.0,
        steps=40_000,
        shuffle=True,  # input_data's next_batch reshuffles each epoch
        log_every=200,
        eval_every=200,
        checkpoint_every=10_000,
        eval_batch_size=10_000,  # = the test set: "batch statistics" are the test set's
        stop_on_nan=True,
        shard_batch="auto",
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.test_bn_accuracy = None  # 40k steps: plot only
    c.reference.single_example_batch_stats_accuracy = None
    c.reference.single_example_population_accuracy = None
    c.reference.source = SOURCE
    return apply_variant(c, VARIANTS, arg)
