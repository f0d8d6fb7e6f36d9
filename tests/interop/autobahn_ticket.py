"""Joins wampd with autobahn-python using WAMP ticket authentication.

Usage: autobahn_ticket.py URL SERIALIZER TOKEN [AUTHID [REALM]]
AUTHID (default: one the router ignores for signed tickets) names a static principal; REALM defaults
to realm1. Serializers: json | msgpack | cbor. Prints "OK <authid> <authrole> <authmethod>" after joining, or fails with the ABORT reason.
"""

import asyncio
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import types
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}


async def main(url, serializer, token, authid="ignored-by-router", realm="realm1"):
    loop = asyncio.get_running_loop()
    outcome = loop.create_future()

    class Session(ApplicationSession):
        def onConnect(self):
            self.join(self.config.realm, authmethods=["ticket"], authid=authid)

        def onChallenge(self, challenge):
            assert challenge.method == "ticket", challenge
            return token

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


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
