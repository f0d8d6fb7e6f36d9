"""Joins wampd with autobahn-python using WAMP-cryptosign (Ed25519 challenge-response).

Usage: autobahn_cryptosign.py URL SERIALIZER SEED_HEX [AUTHID [REALM]]
SEED_HEX is the 32-byte private key seed; AUTHID (default: none) is sent in HELLO; REALM defaults to
realm1. Prints "OK <authid> <authrole> <authmethod>" after joining, or "LEFT <reason>" when refused.
"""

import asyncio
import binascii
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import types
from autobahn.wamp.cryptosign import CryptosignKey
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}


async def main(url, serializer, seed_hex, authid=None, realm="realm1"):
    loop = asyncio.get_running_loop()
    outcome = loop.create_future()
    key = CryptosignKey.from_bytes(binascii.a2b_hex(seed_hex))

    class Session(ApplicationSession):
        def onConnect(self):
            self.join(
                self.config.realm,
                authmethods=["cryptosign"],
                authid=authid,
                authextra={"pubkey": key.public_key(), "channel_binding": None},
            )

        def onChallenge(self, challenge):
            assert challenge.method == "cryptosign", challenge
            return key.sign_challenge(challenge)

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
