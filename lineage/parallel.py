"""Data parallelism over a device mesh: one `jax.jit` step, the batch split on a 'data' axis.

This is what `jax.pmap` did, written the way JAX recommends since pmap went into maintenance
(jax 0.8; pmap itself now runs on jit + shard_map): a 1-D mesh of every device of every
process (`jax.make_mesh`), the batch sharded along it (`NamedSharding(mesh, P('data'))`),
parameters and optimizer state replicated (`NamedSharding(mesh, P())`). XLA's partitioner
inserts the gradient all-reduce, and BatchNorm's batch statistics are taken over the global
batch (no `axis_name`, no `pmean`).

The mesh axis is `AxisType.Auto`: the partitioner picks intermediate shardings as pjit did, so
no layer needs an explicit sharding rule (make_mesh's default became `Explicit` in jax 0.8).

Multi-host: each process holds its own slice of the global batch (`Dataset` yields it) and
`jax.make_array_from_process_local_data` assembles the global array without a gather.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import jax
import numpy as np
from absl import logging
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = 'data'


def initialize(
    distributed: bool,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Joins a multi-process run (`jax.distributed.initialize`) when asked to.

    On a TPU VM pod slice every worker runs the same command with `distributed` set, and JAX
    finds the coordinator, the number of processes and its own index itself (likewise under
    SLURM, Open MPI, Kubernetes). Elsewhere, e.g. several CPU processes on one machine, give
    all three explicitly; that alone starts a multi-process run. Must run before anything
    touches the devices; a second call does nothing.

    Args:
      distributed: join a run whose parameters JAX detects.
      coordinator_address: 'host:port' of process 0's coordination service.
      num_processes: how many processes take part.
      process_id: this process's index, 0 .. num_processes - 1.

    Raises:
      ValueError: some but not all of the explicit parameters, or an index out of range.
    """
    explicit = {
        'coordinator_address': coordinator_address,
        'num_processes': num_processes,
        'process_id': process_id,
    }
    given = [k for k, v in explicit.items() if v is not None]
    if given and len(given) < len(explicit):
        missing = ', '.join(f'--{k}' for k in explicit if k not in given)
        raise ValueError(
            f'{", ".join(f"--{k}" for k in given)} given without {missing}: a process joins a '
            'multi-process run with all three (or none, where JAX detects them, e.g. TPU VMs)'
        )
    if given and not 0 <= process_id < num_processes:
        raise ValueError(
            f'--process_id={process_id} is outside 0..{num_processes - 1} '
            f'(--num_processes={num_processes})'
        )
    if not (distributed or given) or jax.distributed.is_initialized():
        return
    # CPU processes need gloo for cross-process collectives; TPU and GPU ignore the setting.
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        coordinator_bind_address=bind_address(coordinator_address),
    )
    logging.info(
        'process %d of %d, %d local devices of %d',
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )


def bind_address(coordinator_address: str | None) -> str | None:
    """Where process 0's coordination service listens: the address given, when it is an IP
    address or localhost; None (JAX's default, every interface) otherwise.

    A host name is not bound: on the host itself it may resolve to a loopback address (Debian
    maps its own name to 127.0.1.1 in /etc/hosts) that the other hosts cannot reach.
    """
    if not coordinator_address:
        return None
    host = coordinator_address.rpartition(':')[0].strip('[]')
    if host == 'localhost':
        return coordinator_address
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return coordinator_address


def make_mesh(num_devices: int = 0) -> Mesh:
    """A 1-D 'data' mesh over all devices of all processes, or the first `num_devices`.

    Args:
      num_devices: 0 for every device; n > 0 for the first n (a single process only: tests
        use it to compare 1 and 8 devices).

    Raises:
      ValueError: n larger than the devices there are, or a subset in a multi-process run.
    """
    devices = jax.devices()
    if num_devices:
        if num_devices > len(devices) or num_devices < 0:
            raise ValueError(
                f'--config.num_devices={num_devices} but {len(devices)} devices are present; '
                f'use 0 (all) or 1..{len(devices)}'
            )
        if jax.process_count() > 1 and num_devices != len(devices):
            raise ValueError(
                f'--config.num_devices={num_devices}: a multi-process run uses every device; use 0'
            )
        devices = devices[:num_devices]
    return jax.make_mesh(
        (len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,), devices=devices
    )


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (parameters, optimizer state, scalars)."""
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """The leading (batch) axis split over the 'data' axis."""
    return NamedSharding(mesh, P(DATA_AXIS))


def global_batch(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
    """Assembles this process's slice of each batch array into one global `jax.Array`.

    Args:
      local: this process's arrays, each `(global_batch / process_count, ...)`.
      sharding: `batch_sharded(mesh)`.

    Returns:
      The same keys, as global arrays sharded over the mesh (no data leaves this host).
    """
    return {
        key: jax.make_array_from_process_local_data(sharding, value) for key, value in local.items()
    }


def device_info(mesh: Mesh) -> dict[str, Any]:
    """What ran the job, for results.json."""
    device = mesh.devices.flat[0]
    return {
        'count': int(mesh.size),
        'platform': device.platform,
        'kind': device.device_kind,
        'processes': jax.process_count(),
    }
