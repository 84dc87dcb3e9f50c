"""Lease holders: a process on this machine can tell that another one holding a lease has died."""

from __future__ import annotations

import os

from bot.holder import _machine, dead_here, make_holder
from tests.conftest import live_process


def _holder_of(pid: int) -> str:
    return f"{_machine()}:{pid}:0badc0de"


def test_it_declares_a_killed_process_on_this_machine_dead():
    with live_process() as child:
        alive = _holder_of(child.pid)
        me = make_holder()
        assert dead_here(alive, me) is False
    assert dead_here(alive, me) is True


def test_it_never_declares_a_holder_on_another_machine_dead():
    assert dead_here(f"elsewhere/1:{os.getpid() + 1_000_000}:0badc0de", make_holder()) is False


def test_it_keeps_every_holder_of_this_process_alive_but_not_a_predecessor_with_the_same_pid():
    first, second = make_holder(), make_holder()
    assert dead_here(first, second) is False
    assert dead_here(second, first) is False
    # Our pid, in our PID namespace on this boot, but not ours: a predecessor with the same pid, gone.
    assert dead_here(_holder_of(os.getpid()), first) is True


def test_it_ignores_holders_it_cannot_read():
    me = make_holder()
    assert not dead_here("", me)
    assert not dead_here("garbage", me)
    assert not dead_here(f"{_machine()}:notapid:x", me)
