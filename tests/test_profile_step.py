"""The step profiler reads real profiler traces and names each op by its HLO instruction."""

import jax
import jax.numpy as jnp
import pytest
from absl import app
from absl.testing import flagsaver

from experiments.bench import profile_step


def test_op_seconds_times_the_ops_of_a_compiled_function(tmp_path):
    x = jnp.ones((512, 512))
    # XLA's default CPU code generation (DefaultDebugOptionsIgnoringFlags in XLA's
    # debug_options_flags.cc), as a train step gets; the suite's default is the cheapest.
    default_codegen = {
        'xla_backend_optimization_level': 3,
        'xla_llvm_disable_expensive_passes': False,
    }
    compiled = jax.jit(lambda x: jnp.tanh(x @ x) + 1.0).lower(x).compile(default_codegen)
    jax.block_until_ready(compiled(x))
    jax.profiler.start_trace(str(tmp_path), create_perfetto_trace=True)
    for _ in range(3):
        jax.block_until_ready(compiled(x))
    jax.profiler.stop_trace()

    ops = profile_step.hlo_ops(compiled.as_text())
    seconds = profile_step.op_seconds(str(tmp_path), 3, ops)
    assert seconds and set(seconds) <= set(ops) and all(s > 0 for s in seconds.values())
    # The matmul (512^3 multiply-adds against 512^2 tanh) takes most of the time, by far even on
    # a loaded machine; its row names its output and the JAX op it came from.
    top = max(seconds, key=seconds.get)
    assert ops[top] == ('f32[512,512]', 'jit(<lambda>)/dot_general')
    lines = profile_step.report([0.1, 0.2], 0.3, seconds, ops, top=3)
    assert lines[0].startswith('Step: 0.150 s wall (median of 2, 0.100-0.200), 0.150 CPU s')
    assert f'| {top} | {seconds[top]:.4f} | f32[512,512] | jit(<lambda>)/dot_general |' in lines


@pytest.mark.parametrize(
    'options, ladder_block, message',
    [
        ('{"mid_act": ', 'separable', 'not JSON'),
        ('["elu"]', 'separable', 'give a JSON object'),
        ('{"mid_act": "elu"}', None, 'name the rung too'),
    ],
)
def test_bad_block_options_stop_before_anything_compiles(options, ladder_block, message):
    profile_step.FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(block_options=options, ladder_block=ladder_block):
        with pytest.raises(app.UsageError, match=message):
            profile_step.main(['profile_step'])
