"""Publish one event to wampd as a WAMP session over RawSocket with autobahn-python.

A long-running backend keeps one session open and publishes many events cheaply this way.
WAMPD_RAWSOCKET: host:port of the router (default 127.0.0.1:8080; RawSocket shares the WebSocket port).
"""
import asyncio
import os

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.wamp import types
from autobahn.wamp.serializer import MsgPackSerializer


class Publisher(ApplicationSession):
    async def onJoin(self, details):
        publication = await self.publish(
            "com.example.notifications", "Deploy finished", level="info",
            options=types.PublishOptions(acknowledge=True),
        )
        print({"id": publication.id})
        self.leave()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


host, port = os.environ.get("WAMPD_RAWSOCKET", "127.0.0.1:8080").rsplit(":", 1)
factory = WampRawSocketClientFactory(
    lambda: Publisher(types.ComponentConfig(realm="realm1")), serializer=MsgPackSerializer()
)
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
loop.run_until_complete(loop.create_connection(factory, host, int(port)))
loop.run_forever()
