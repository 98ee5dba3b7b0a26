"""Test setup: 8 simulated CPU devices, so data-parallel code is tested as it runs on a pod."""

import os
import tempfile

from xla_codegen import CHEAPEST

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count=8 {CHEAPEST}')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Caches the code keeps (image folders' decode checks) go to a fresh folder, not the user's.
os.environ['XDG_CACHE_HOME'] = tempfile.mkdtemp(prefix='lineage-test-cache-')

import jax  # noqa: E402

jax.config.update('jax_num_cpu_devices', 8)
