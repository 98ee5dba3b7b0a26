"""The coordinator of a multi-process run listens on the address it is given, not everywhere."""

import os
import subprocess
import sys

import jax
import pytest
from xla_codegen import CHEAPEST

from lineage import parallel
from tests.test_multiprocess import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize(
    'address,bind',
    [
        ('127.0.0.1:12345', '127.0.0.1:12345'),
        ('[::1]:12345', '[::1]:12345'),
        ('localhost:12345', 'localhost:12345'),
        # A host name may resolve to a loopback address on the host itself (Debian's 127.0.1.1
        # line in /etc/hosts), where the other hosts could not reach it: JAX's default stays.
        ('node0:12345', None),
    ],
)
def test_the_coordinator_binds_the_address_given(monkeypatch, address, bind):
    calls = []
    monkeypatch.setattr(jax.distributed, 'is_initialized', lambda: False)
    monkeypatch.setattr(jax.distributed, 'initialize', lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(jax.config, 'update', lambda *a: None)
    parallel.initialize(False, address, 2, 0)
    assert calls == [((address, 2, 0), {'coordinator_bind_address': bind})]


LISTENING = """
import sys
from lineage import parallel
port = int(sys.argv[1])
parallel.initialize(False, f'127.0.0.1:{port}', 1, 0)
for table in ('/proc/net/tcp', '/proc/net/tcp6'):
    for line in open(table).read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == '0A' and int(local.rsplit(':', 1)[1], 16) == port:  # 0A: LISTEN
            print(table, local.rsplit(':', 1)[0])
"""


@pytest.mark.skipif(not os.path.exists('/proc/net/tcp'), reason='reads Linux /proc/net/tcp')
def test_the_coordinator_listens_on_loopback_only():
    port = free_port()
    result = subprocess.run(
        [sys.executable, '-c', LISTENING, str(port)],
        cwd=ROOT,
        env={**os.environ, 'XLA_FLAGS': CHEAPEST, 'PYTHONPATH': ROOT, 'JAX_PLATFORMS': 'cpu'},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # 127.0.0.1 as /proc writes it (little-endian hex), plain or IPv4-mapped IPv6
    # (::ffff:127.0.0.1), and nothing on 0.0.0.0 or [::].
    listening = [line.split()[1] for line in result.stdout.splitlines()]
    loopback = {'0100007F', '0000000000000000FFFF00000100007F'}
    assert listening and set(listening) <= loopback, result.stdout
