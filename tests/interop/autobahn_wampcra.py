"""Joins wampd with autobahn-python using WAMP-CRA (plain or salted, as the challenge says).

Usage: autobahn_wampcra.py URL SERIALIZER AUTHID SECRET
Prints "OK <authid> <authrole> <authmethod>" after joining, or "LEFT <reason>" when refused.
"""

import asyncio
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import auth, types
from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer}


async def main(url, serializer, authid, secret):
    loop = asyncio.get_running_loop()
    outcome = loop.create_future()

    class Session(ApplicationSession):
        def onConnect(self):
            self.join(self.config.realm, authmethods=["wampcra"], authid=authid)

        def onChallenge(self, challenge):
            assert challenge.method == "wampcra", challenge
            key = secret.encode("utf8")
            if "salt" in challenge.extra:
                key = auth.derive_key(
                    secret,
                    challenge.extra["salt"],
                    challenge.extra["iterations"],
                    challenge.extra["keylen"],
                )
            return auth.compute_wcs(key, challenge.extra["challenge"]).decode("ascii")

        async def onJoin(self, details):
            outcome.set_result(f"OK {details.authid} {details.authrole} {details.authmethod}")
            self.leave()

        def onLeave(self, details):
            if not outcome.done():
                outcome.set_result(f"LEFT {details.reason}")
            super().onLeave(details)

    factory = WampWebSocketClientFactory(
        lambda: Session(types.ComponentConfig(realm="realm1")),
        url=url,
        serializers=[SERIALIZERS[serializer]()],
    )
    parsed = urlparse(url)
    await loop.create_connection(factory, parsed.hostname, parsed.port)
    print(await asyncio.wait_for(outcome, 10))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
