"""Retained events with autobahn-python (a WAMP client written by others).

Usage: autobahn_retained.py URL MODE
MODE "retain": a publisher publishes with retain=True; later subscribers that ask with get_retained=True get the
topic's last retained event first (Details.retained), exact and by prefix; one that does not ask gets nothing; a
publication without retain does not replace it; one whose white-list excludes the late subscriber is not handed to it;
live events after that are not marked retained.
MODE "refused": the router's rules allow this session to publish but not to retain: a retain publication is refused
with wamp.error.not_authorized, a plain one is accepted.
Prints OK when every check passed; any failure raises.
"""

import asyncio
import sys

from autobahn.wamp import types
from autobahn.wamp.exception import ApplicationError

from autobahn_pubsub import open_session  # the same session set-up (and TLS) as the pub/sub checks

TIMEOUT = 10


def collector():
    queue = asyncio.Queue()

    def on_event(*args, details=None, **kwargs):
        queue.put_nowait((args, kwargs, details.topic, details.retained))

    return queue, on_event


async def nothing_within(queue, seconds=0.5):
    try:
        got = await asyncio.wait_for(queue.get(), seconds)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected event {got}")


async def retain(url):
    publisher = await open_session(url, "json")
    ack = types.PublishOptions(acknowledge=True, retain=True)
    await publisher.publish("com.retain.a", 1, options=ack)
    await publisher.publish("com.retain.a", 2, color="blue", options=ack)
    await publisher.publish("com.retain.b", 20, options=ack)
    await publisher.publish("com.retain.a", 3, options=types.PublishOptions(acknowledge=True))
    # Retained with a white-list that names nobody who subscribes later: never handed out.
    await publisher.publish(
        "com.retain.c", 30, options=types.PublishOptions(acknowledge=True, retain=True, eligible_authrole=["nobody"])
    )

    for serializer in ("json", "msgpack"):
        late = await open_session(url, serializer)
        exact, on_exact = collector()
        await late.subscribe(on_exact, "com.retain.a", options=types.SubscribeOptions(get_retained=True, details=True))
        args, kwargs, _, retained = await asyncio.wait_for(exact.get(), TIMEOUT)
        assert args == (2,) and kwargs == {"color": "blue"} and retained, (args, kwargs, retained)
        await nothing_within(exact)

        prefix, on_prefix = collector()
        await late.subscribe(
            on_prefix, "com.retain.", options=types.SubscribeOptions(match="prefix", get_retained=True, details=True)
        )
        got = sorted([await asyncio.wait_for(prefix.get(), TIMEOUT) for _ in range(2)], key=lambda e: e[2])
        assert [(e[0], e[2], e[3]) for e in got] == [((2,), "com.retain.a", True), ((20,), "com.retain.b", True)], got
        await nothing_within(prefix)

        plain, on_plain = collector()
        other = await open_session(url, serializer)
        await other.subscribe(on_plain, "com.retain.a", options=types.SubscribeOptions(details=True))
        await nothing_within(plain)

        await publisher.publish("com.retain.a", 4, options=types.PublishOptions(acknowledge=True))
        for queue in (exact, plain):
            args, _, _, retained = await asyncio.wait_for(queue.get(), TIMEOUT)
            assert args == (4,) and not retained, (args, retained)
        await asyncio.wait_for(prefix.get(), TIMEOUT)
        late.leave()
        other.leave()


async def refused(url):
    publisher = await open_session(url, "json")
    try:
        await publisher.publish("com.retain.a", 1, options=types.PublishOptions(acknowledge=True, retain=True))
    except ApplicationError as err:
        assert err.error == "wamp.error.not_authorized", err
        assert "retain" in str(err.args), err.args
    else:
        raise AssertionError("a retain publication was accepted without the retain permission")
    await publisher.publish("com.retain.a", 1, options=types.PublishOptions(acknowledge=True))


if __name__ == "__main__":
    url, mode = sys.argv[1], sys.argv[2]
    asyncio.run({"retain": retain, "refused": refused}[mode](url))
    print("OK")
