"""Drives wampd with autobahn-python (a WAMP client written by others).

Usage: autobahn_pubsub.py URL SUBSCRIBER_SERIALIZER PUBLISHER_SERIALIZER
URL: ws://host:port/path (WebSocket), rs://host:port (RawSocket), or wss:// / rss:// for the same over
TLS, verified against the CA file named by the WAMPD_CAFILE environment variable.
Serializers: json | msgpack | cbor | msgpack.batched | cbor.batched (WebSocket only). Exits 0 and prints OK when every check passed; any failure raises.
Checks: subscribe (exact, prefix, wildcard), publish with acknowledge, exclude_me=False,
EVENT.Details.topic on pattern subscriptions, payload bridging between the two serializers.
"""

import asyncio
import os
import ssl
import sys
from urllib.parse import urlparse

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import types
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

SERIALIZERS = {
    "json": JsonSerializer,
    "msgpack": MsgPackSerializer,
    "cbor": CBORSerializer,
    # The batched WebSocket subprotocols (wamp.2.msgpack.batched, wamp.2.cbor.batched).
    "msgpack.batched": lambda: MsgPackSerializer(batched=True),
    "cbor.batched": lambda: CBORSerializer(batched=True),
}
TIMEOUT = 10


async def open_session(url, serializer_name):
    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class Session(ApplicationSession):
        async def onJoin(self, details):
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(RuntimeError(f"left before joining: {details}"))
            super().onLeave(details)

    make_session = lambda: Session(types.ComponentConfig(realm="realm1"))  # noqa: E731
    parsed = urlparse(url)
    tls = {}
    if parsed.scheme in ("wss", "rss"):
        tls = {
            "ssl": ssl.create_default_context(cafile=os.environ["WAMPD_CAFILE"]),
            "server_hostname": "localhost",
        }
    if parsed.scheme in ("rs", "rss"):
        factory = WampRawSocketClientFactory(make_session, serializer=SERIALIZERS[serializer_name]())
    else:
        factory = WampWebSocketClientFactory(
            make_session, url=url, serializers=[SERIALIZERS[serializer_name]()]
        )
    await loop.create_connection(factory, parsed.hostname, parsed.port, **tls)
    return await asyncio.wait_for(joined, TIMEOUT)


async def main(url, sub_ser, pub_ser):
    subscriber = await open_session(url, sub_ser)
    publisher = await open_session(url, pub_ser)
    received = asyncio.Queue()

    def on_exact(*args, **kwargs):
        received.put_nowait(("exact", args, kwargs, None))

    def on_prefix(*args, details=None, **kwargs):
        received.put_nowait(("prefix", args, kwargs, details.topic))

    def on_wildcard(*args, details=None, **kwargs):
        received.put_nowait(("wildcard", args, kwargs, details.topic))

    await subscriber.subscribe(on_exact, "com.example.topic1")
    await subscriber.subscribe(
        on_prefix, "com.example.", options=types.SubscribeOptions(match="prefix", details=True)
    )
    await subscriber.subscribe(
        on_wildcard, "com.example..update", options=types.SubscribeOptions(match="wildcard", details=True)
    )

    publication = await asyncio.wait_for(
        publisher.publish(
            "com.example.topic1", "hello", 42, blob=b"\x00\x01\xff",
            options=types.PublishOptions(acknowledge=True),
        ),
        TIMEOUT,
    )
    assert 1 <= publication.id <= 2**53, publication

    got = {}
    for _ in range(2):
        kind, args, kwargs, topic = await asyncio.wait_for(received.get(), TIMEOUT)
        got[kind] = (args, kwargs, topic)
    assert got["exact"] == (("hello", 42), {"blob": b"\x00\x01\xff"}, None), got
    assert got["prefix"] == (("hello", 42), {"blob": b"\x00\x01\xff"}, "com.example.topic1"), got

    await asyncio.wait_for(
        publisher.publish("com.example.user.update", {"id": 7}, options=types.PublishOptions(acknowledge=True)),
        TIMEOUT,
    )
    got = {}
    for _ in range(2):
        kind, args, kwargs, topic = await asyncio.wait_for(received.get(), TIMEOUT)
        got[kind] = (args, topic)
    assert got == {
        "prefix": (({"id": 7},), "com.example.user.update"),
        "wildcard": (({"id": 7},), "com.example.user.update"),
    }, got

    # exclude_me=False: the publisher receives its own event; by default it does not.
    own = asyncio.Queue()
    await publisher.subscribe(lambda *a: own.put_nowait(a), "org.example.self")
    await publisher.publish("org.example.self", "not me", options=types.PublishOptions(acknowledge=True))
    await publisher.publish(
        "org.example.self", "me too", options=types.PublishOptions(acknowledge=True, exclude_me=False)
    )
    first = await asyncio.wait_for(own.get(), TIMEOUT)
    assert first == ("me too",), first

    # A refused publish with acknowledge surfaces as an ApplicationError (the reserved wamp.
    # namespace passes autobahn's own URI check but not the router's).
    try:
        await publisher.publish("wamp.session.on_join", options=types.PublishOptions(acknowledge=True))
    except ApplicationError as err:
        assert err.error == "wamp.error.invalid_uri", err
    else:
        raise AssertionError("publishing to a reserved URI was acknowledged")

    assert received.empty(), "unexpected extra events"
    subscriber.leave()
    publisher.leave()
    await asyncio.sleep(0.1)
    print("OK")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
