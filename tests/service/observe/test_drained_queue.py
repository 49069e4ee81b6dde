"""The queue's thread outlives a drain that raises: work queued later is still done."""

from __future__ import annotations

import time

from service.observe.drained_queue import DrainedQueue


def test_a_drain_that_raises_does_not_stop_the_thread():
    done = []

    def drain(items):
        if any(item == "bad" for _, item in items):
            raise OSError("no space left on device")
        done.extend(item for _, item in items)

    queue = DrainedQueue("test", max_rows=100, interval=0.01, drain=drain)
    queue.start()
    assert queue.put(1, "bad")
    time.sleep(0.1)
    assert queue.put(1, "good")
    assert queue.close(timeout=5)
    assert done == ["good"]
    assert queue.queued_rows() == 0
