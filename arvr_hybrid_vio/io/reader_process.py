"""Iterate a reader (a generator function) in a child process, receiving its items in order.

``arvr-vio-infer`` decodes its bag this way: rosbags deserialisation and the sync buffer
run on the second core while this process imports torch, loads the model and steps the
estimator. A thread would not do it (the decoding is Python code: threads share the GIL;
measured, no gain). The items cross a bounded queue (pickled), so the reader stays at most
``queue_size`` items ahead and a long bag is never held in memory whole.

A reader can leave work to this process: given ``waiting_kwarg``, ``produce`` gets a callable
returning how many items this process has not taken yet (0: it is waiting for the next one), so
it can skip work this side would otherwise wait for (``arvr-vio-infer`` skips a frame's network
tracks; the estimator then computes them itself, with the same result).

The child is forked where that is safe (Linux, no other thread in this process: nothing is
re-imported) and spawned otherwise. An exception raised by the reader is raised again here
with its type and message; a child that dies without a word is a :class:`ReaderProcessError`.
"""
from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from arvr_hybrid_vio.core.errors import VioError

ItemT = TypeVar("ItemT")
_ITEM, _END, _ERROR = 0, 1, 2
_POLL_S = 0.5  # how often a waiting parent checks that the child is still alive
_STOP_TIMEOUT_S = 5.0


class ReaderProcessError(VioError):
    """The reader's child process ended without finishing or raising."""


def _start_method() -> str:
    """``fork`` on Linux when this process has one thread (cheap, nothing re-imported), else ``spawn``."""
    return "fork" if sys.platform.startswith("linux") and threading.active_count() == 1 else "spawn"


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a VioError with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure: fall back to the text
        return VioError(f"{type(exc).__name__}: {exc}")


class _Waiting:
    """How many items the parent has not taken yet (called in the child; an estimate, as
    ``multiprocessing.Queue.qsize`` is). Where the platform cannot tell, the queue counts as full."""

    def __init__(self, out: Any, size: int) -> None:
        self._out = out
        self._size = size

    def __call__(self) -> int:
        try:
            return int(self._out.qsize())
        except NotImplementedError:  # macOS: no sem_getvalue
            return self._size


def _child(out: Any, produce: Callable[..., Iterable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any],
           waiting_kwarg: str | None, queue_size: int) -> None:
    """Child process body: put every item, then the end mark or the exception."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # no-op when forked
    if waiting_kwarg is not None:
        kwargs = {**kwargs, waiting_kwarg: _Waiting(out, queue_size)}
    try:
        for item in produce(*args, **kwargs):
            out.put((_ITEM, item))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        out.put((_ERROR, _portable(exc)))
    else:
        out.put((_END, None))
    out.close()
    out.join_thread()


class ReaderProcess(Generic[ItemT]):
    """The items of ``produce(*args, **kwargs)``, computed in a child process started at once.

    Iterate it once; use it as a context manager (or call :meth:`close`) so that a reader left
    before its end is stopped.

    Args:
        produce: a picklable (module-level) function returning an iterable of picklable items.
        args, kwargs: its arguments (picklable).
        queue_size: how many items the child may run ahead.
        start_method: ``fork`` or ``spawn``; None picks (see the module docstring).
        waiting_kwarg: when given, ``produce`` also gets this keyword argument: a callable (in the
            child) returning how many of its items this process has not taken yet.
    """

    def __init__(self, produce: Callable[..., Iterable[ItemT]], args: tuple[Any, ...] = (),
                 kwargs: dict[str, Any] | None = None, *, queue_size: int = 64,
                 start_method: str | None = None, waiting_kwarg: str | None = None) -> None:
        context = multiprocessing.get_context(start_method or _start_method())
        self._queue = context.Queue(maxsize=queue_size)
        self._process = context.Process(target=_child, args=(self._queue, produce, args, kwargs or {},
                                                              waiting_kwarg, queue_size),
                                        name=f"reader:{getattr(produce, '__name__', 'reader')}", daemon=True)
        self._process.start()
        self._done = False

    def __iter__(self) -> Iterator[ItemT]:
        return self

    def __next__(self) -> ItemT:
        if self._done:
            raise StopIteration
        kind, value = self._receive()
        if kind == _ITEM:
            return value
        self._done = True
        self._process.join(timeout=_STOP_TIMEOUT_S)
        if kind == _ERROR:
            raise value
        raise StopIteration

    def _receive(self) -> tuple[int, Any]:
        while True:
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if not self._process.is_alive():
                    self._done = True
                    raise ReaderProcessError(f"reader process {self._process.name} ended with exit code "
                                             f"{self._process.exitcode} before its last item") from None

    def close(self) -> None:
        """Stop the child if it still runs (a reader abandoned early, or an error here)."""
        self._done = True
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=_STOP_TIMEOUT_S)
        self._queue.close()
        self._queue.cancel_join_thread()

    def __enter__(self) -> ReaderProcess[ItemT]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
