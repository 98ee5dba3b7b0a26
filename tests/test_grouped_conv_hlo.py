"""ShuffleNet v1's grouped 1x1 convs in a batch-sharded train step: no all-gather of the batch.

XLA's SPMD partitioner replicates a convolution with 1 < feature_group_count < channels: it
all-gathers the batch-sharded input onto every device, convolves the whole batch everywhere and
slices out the local shard (openxla/xla #47945). Data parallelism then stops dividing the work.

Measured here (jax 0.10.2, 8 simulated CPU devices): the trap springs for grouped 3x3 convs
(the control below) but not for the grouped 1x1 convs of a ShuffleNet v1 unit, under every
conv form of `lineage.blocks.conv_algorithms`, so the unit needs no workaround. The test compiles
the real train step (`lineage.run_builder.build_run`: loss, gradient, optimizer update) of
a ladder of ShuffleNet v1 units over a 'data' mesh and reads the compiled HLO.
"""

import re

import jax
import jax.numpy as jnp
import pytest
from ml_collections import ConfigDict

from configs import default
from lineage import run_builder

GLOBAL_BATCH = 16  # 2 examples on each of the 8 devices

# A ladder stem 3 -> 48, a stride-1 unit 48 -> 48 (bottleneck 12) and a stride-2 unit
# 48 -> 96 (branch 48, bottleneck 24): every width divides by 2, 3 and 4.
SHUFFLE = dict(block='shufflenet_v1', widths=(48, 96), depths=(1, 1), in_channels=3)
# The control: the same frame with the Xception spectrum's 3x3 conv grouped in 4 segments.
GROUPED_3X3 = dict(block='spectrum', widths=(48, 96), depths=(1, 1), in_channels=3)


def gathered_batches(hlo: str) -> list[str]:
    """Result shapes of the all-gathers whose leading axis is the global batch."""
    shapes = re.findall(r'= (\w+\[[\d,]*\])\S* all-gather(?:-start)?\(', hlo)
    return [s for s in shapes if re.match(rf'\w+\[{GLOBAL_BATCH},', s)]


def compiled_train_step(impl: str, **ladder) -> str:
    """The compiled HLO text of one data-parallel train step of a small ladder."""
    config = default.get_config()
    config.model = ConfigDict({'name': 'ladder', **ladder})
    config.batch_size, config.conv_impl = GLOBAL_BATCH, impl
    config.optimizer.update(learning_rate=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)
    run = run_builder.build_run(config, num_train=GLOBAL_BATCH, num_classes=10)
    sharded = run.batch_sharded
    batch = {
        'image': jax.ShapeDtypeStruct((GLOBAL_BATCH, 8, 8, 3), jnp.float32, sharding=sharded),
        'label': jax.ShapeDtypeStruct((GLOBAL_BATCH,), jnp.int32, sharding=sharded),
    }
    # The run's step is traced under its config's conv form.
    return run.train_step.trace(run.state.abstract, batch).lower().compile().as_text()


def test_eight_devices():
    assert jax.device_count() == 8, 'tests/conftest.py sets up 8 simulated CPU devices'


# Every group count under lax.conv (what 'auto' picks for grouped convs on CPU), and the two
# matmul forms ('auto' on GPU/TPU picks 'shift' for grouped convs).
@pytest.mark.parametrize(
    'groups,impl', [(2, 'xla'), (3, 'xla'), (4, 'xla'), (3, 'shift'), (3, 'im2col')]
)
def test_shufflenet_v1_step_keeps_the_batch_sharded(groups, impl):
    hlo = compiled_train_step(impl, **SHUFFLE, block_options={'groups': groups})
    assert 'all-reduce' in hlo  # the gradients are summed over devices: the step is sharded
    assert gathered_batches(hlo) == [], f'groups={groups}, {impl}: the batch is all-gathered'
    assert 'all-gather' not in hlo  # nor anything else: data parallelism needs none


def test_control_grouped_3x3_with_lax_conv_gathers_the_batch():
    # The detector finds the trap where it is known to spring. If this fails, XLA has fixed
    # openxla/xla #47945 (or the parser no longer reads the HLO: check both).
    hlo = compiled_train_step('xla', **GROUPED_3X3, block_options={'segments': 4})
    assert gathered_batches(hlo), 'no all-gather of the batch for a grouped 3x3 lax.conv'
