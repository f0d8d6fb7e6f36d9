"""Session testaments with autobahn-python (a WAMP client written by others).

Usage: autobahn_testament.py URL
A session adds two testaments (scope destroyed and detached) and flushes the detached one; a second session
subscribes; the first session's TCP connection is cut without GOODBYE: exactly the remaining testament is
published. A testament to a topic the session may not publish to is refused when added (wamp.error.not_authorized),
a bad scope is wamp.error.invalid_argument. Prints OK when every check passed; any failure raises.
"""

import asyncio
import sys

from autobahn.wamp import types
from autobahn.wamp.exception import ApplicationError

from autobahn_pubsub import open_session

TIMEOUT = 10


async def main(url):
    dying = await open_session(url, "json")
    watcher = await open_session(url, "msgpack")
    gone = asyncio.Queue()
    await watcher.subscribe(
        lambda *args, **kwargs: gone.put_nowait((args, kwargs)), "com.testament.", options=types.SubscribeOptions(match="prefix")
    )
    me = dying._session_id
    await dying.call("wamp.session.add_testament", "com.testament.gone", [me], {"why": "cut"})
    await dying.call(
        "wamp.session.add_testament", "com.testament.detached", [me], {}, scope="detached"
    )
    flushed = await dying.call("wamp.session.flush_testaments", scope="detached")
    assert flushed == 1, flushed
    for procedure_args, expected in (
        (("org.other.topic", [me], {}), "wamp.error.not_authorized"),
        (("com.testament.x", [], {}), "wamp.error.invalid_argument"),
    ):
        try:
            kwargs = {"scope": "forever"} if expected.endswith("invalid_argument") else {}
            await dying.call("wamp.session.add_testament", *procedure_args, **kwargs)
        except ApplicationError as err:
            assert err.error == expected, (err.error, expected)
        else:
            raise AssertionError(f"add_testament{procedure_args} was accepted")
    # Cut the connection: no GOODBYE, as when a laptop goes to sleep or a process dies.
    dying._transport.transport.abort()
    args, kwargs = await asyncio.wait_for(gone.get(), TIMEOUT)
    assert args == (me,) and kwargs == {"why": "cut"}, (args, kwargs)
    try:
        extra = await asyncio.wait_for(gone.get(), 0.5)
    except asyncio.TimeoutError:
        pass
    else:
        raise AssertionError(f"a flushed testament was published: {extra}")
    print("OK")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
