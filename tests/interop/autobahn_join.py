"""Shared by the autobahn-python authentication scripts (autobahn_ticket.py, autobahn_wampcra.py,
autobahn_cryptosign.py): open one WebSocket session, join with the given authentication, answer
the CHALLENGE, and report how the join went.

`join_and_report` prints "OK <authid> <authrole> <authmethod>" after joining, or "LEFT <reason>"
when the router refuses.
"""

import asyncio
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import types
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}


async def join_and_report(url, serializer, realm, authmethod, on_challenge, authid=None, authextra=None):
    """Joins `realm` at `url` offering `authmethod`; `on_challenge(challenge)` computes the
    AUTHENTICATE signature (or a future of it)."""
    loop = asyncio.get_running_loop()
    outcome = loop.create_future()

    class Session(ApplicationSession):
        def onConnect(self):
            self.join(self.config.realm, authmethods=[authmethod], authid=authid, authextra=authextra)

        def onChallenge(self, challenge):
            assert challenge.method == authmethod, challenge
            return on_challenge(challenge)

        async def onJoin(self, details):
            outcome.set_result(f"OK {details.authid} {details.authrole} {details.authmethod}")
            self.leave()

        def onLeave(self, details):
            if not outcome.done():
                outcome.set_result(f"LEFT {details.reason}")
            super().onLeave(details)

    factory = WampWebSocketClientFactory(
        lambda: Session(types.ComponentConfig(realm=realm)),
        url=url,
        serializers=[SERIALIZERS[serializer]()],
    )
    parsed = urlparse(url)
    await loop.create_connection(factory, parsed.hostname, parsed.port)
    print(await asyncio.wait_for(outcome, 10))
