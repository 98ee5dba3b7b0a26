"""The workdir lock: a second run on a workdir in use is refused in one line; a lock left by a
killed run blocks nothing."""

import fcntl
import os
import signal
import socket
import subprocess
import sys

import pytest

from lineage import train, workdir_lock
from tests.test_faults import tiny_config


def test_a_second_run_on_a_workdir_in_use_is_refused_naming_the_holder(tmp_path):
    workdir = tmp_path / 'run'
    workdir.mkdir()
    # Another run holds it: this process's own flock on another open of the file conflicts.
    fd = os.open(workdir / '.lock', os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b'host otherhost, pid 4242\n')
    try:
        with pytest.raises(ValueError) as error:
            train.train_and_evaluate(tiny_config(), str(workdir))
    finally:
        os.close(fd)
    assert str(error.value) == (
        f'workdir {workdir} is in use by another run (host otherhost, pid 4242); wait for it to '
        'finish, or pass another --workdir'
    )
    assert sorted(os.listdir(workdir)) == ['.lock']  # nothing of a run written


def test_the_lock_names_its_holder_and_is_released(tmp_path):
    workdir = str(tmp_path)
    with workdir_lock.hold(workdir):
        with open(os.path.join(workdir, '.lock')) as f:
            assert f.read() == f'host {socket.gethostname()}, pid {os.getpid()}\n'
        with pytest.raises(
            ValueError, match=rf'in use by another run \(host .*, pid {os.getpid()}\)'
        ):
            with workdir_lock.hold(workdir):
                pass
    with workdir_lock.hold(workdir):  # released on exit: taken again
        pass


def test_a_lock_left_by_a_killed_run_blocks_nothing(tmp_path):
    code = (
        'import fcntl, os, signal, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); '
        'fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b"host h, pid 1\\n"); '
        'os.kill(os.getpid(), signal.SIGKILL)'
    )
    killed = subprocess.run([sys.executable, '-c', code, str(tmp_path / '.lock')], check=False)
    assert killed.returncode == -signal.SIGKILL
    with workdir_lock.hold(str(tmp_path)):
        pass
