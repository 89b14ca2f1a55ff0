"""Ctrl-C and ``kill`` stop a long annotation run cleanly, whatever the shell did.

A shell without job control starts background commands with SIGINT ignored,
and Python keeps an ignored SIGINT ignored: ``asyncio.run`` then never sees
Ctrl-C or ``kill -INT`` and the run cannot be interrupted (the cause of a test
that hung under a background ``scripts/test.sh``). So the run installs its own
handlers: the first SIGINT or SIGTERM cancels the run, whose ``finally`` blocks
flush every whole line and the report; a second one ends the process at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a signal


def run_interruptibly(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, stopped cleanly by SIGINT or SIGTERM (raises Interrupted)."""
    return asyncio.run(_until_signalled(main))


async def _until_signalled(main: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def stop(signum: int) -> None:
        if received:  # a second signal: do not wait for the clean stop
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        received.append(signum)
        task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await main
    except asyncio.CancelledError:
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
