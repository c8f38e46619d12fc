"""R2RT, "First Convergence Bias" (2016): end-to-end training vs greedy layer-wise pre-training.

MNIST 784 -> 100 -> 100 -> 100 tanh, a softmax head on every hidden layer; weights truncated
normal (std 0.1), biases 0.1; summed cross-entropy; plain SGD. Training cycles the first 1,000
training images (batch i = images [50i mod 1000, +50); "Google's load_mnist" is TF's
input_data, whose training set is train[5000:], so these are train[5000:6000]); test
accuracy of the top head on the full 10k test set.

  strategy A (all layers): 1,000 steps on head 3, lr 0.01, 0.003 from step 750
  strategy B (layer-wise): 200 steps on head 1, 200 on head 2 (lr 0.01), then A's schedule

The seeds of a strategy run as one compiled program; each strategy draws its initializations
from its own named random stream of the seeds (`jaxnets.train.run_keys`), so A's and B's are
independent. The post ran 400 per strategy (its text says 500): mean 0.87867 ±
0.00274 (A) vs 0.876439 ± 0.00234 (B).

    python -m jaxnets sweep --config configs/first_convergence_bias.py --seeds 400
"""

import ml_collections

from jaxnets.config import train_section

SOURCE = "R2RT 2016, First Convergence Bias (notebook: 400 initializations per strategy)"
PUBLISHED = {"test_accuracy_all_layers": 0.87867, "test_accuracy_layer_wise": 0.876439,
             "std_all_layers": 0.00274425, "std_layer_wise": 0.00234411}
TABLE = [  # the post printed the spread over its 400 initializations too: "std:" compares ours
    ("", "test_accuracy_all_layers", "default", "test_accuracy_all_layers", PUBLISHED["test_accuracy_all_layers"]),
    ("", "test_accuracy_layer_wise", "default", "test_accuracy_layer_wise", PUBLISHED["test_accuracy_layer_wise"]),
    ("", "std over seeds, all layers", "default", "std:test_accuracy_all_layers", PUBLISHED["std_all_layers"]),
    ("", "std over seeds, layer-wise", "default", "std:test_accuracy_layer_wise", PUBLISHED["std_layer_wise"]),
]


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "first_convergence_bias"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"
    c.data.train_split = "train[5000:6000]"  # input_data's mnist.train.images[:1000]
    c.data.eval_splits = ml_collections.ConfigDict({"test": "test"})

    c.model = ml_collections.ConfigDict()
    c.model.hidden_sizes = (100, 100, 100)
    c.model.activation = "tanh"
    c.model.w_init = "truncated_normal"  # TF's: N(0, 0.1²) redrawn beyond 2 std
    c.model.w_scale = 0.1
    c.model.b_init = "constant"
    c.model.b_scale = 0.1
    # (head, steps) per phase; head k is the softmax on hidden layer k
    c.model.phases_all_layers = ((3, 1000),)
    c.model.phases_layer_wise = ((1, 200), (2, 200), (3, 1000))
    c.model.time_single_run = True  # also time one seed alone per strategy (sweeps only)

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.01
    c.optimizer.final_drop_after = 750  # steps into the last phase
    c.optimizer.final_learning_rate = 0.003

    c.train = train_section(
        without=("num_epochs",),  # the phases say how long each strategy trains
        batch_size=50,
        steps=0,  # 0: the phases' total; > 0 cuts each strategy short (smoke tests)
        shuffle=False,  # batch i = examples [50i mod 1000, +50)
        log_every=200,
        eval_every=200_000,  # more than any strategy runs: evaluate at the end only
        checkpoint_every=0,  # at the end
        eval_batch_size=1000,
        stop_on_nan=True,
        shard_batch="never",
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.update(PUBLISHED)
    c.reference.source = SOURCE
    return c
