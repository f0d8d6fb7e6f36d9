"""autobahn-python's end-to-end encrypted payloads through wampd (its WAMP-cryptobox payload
transparency: PUBLISH/CALL/YIELD/ERROR Options `enc_algo: "cryptobox"`, `enc_serializer`, and the
encrypted payload as one binary in place of the arguments list).

Usage: autobahn_cryptobox.py URL SENDER_SERIALIZER RECEIVER_SERIALIZER
Two sessions share a KeyRing for com.example.secret; the router sees only ciphertext. Checks an
encrypted event, an encrypted call and result, an encrypted application error, and that an
ordinary topic next to them still works. Prints OK when every check passed.
"""

import asyncio
import sys

import txaio

txaio.use_asyncio()  # before autobahn.wamp.cryptobox, which needs a framework chosen

from autobahn.wamp import types  # noqa: E402
from autobahn.wamp.cryptobox import KeyRing  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402

from autobahn_rpc import TIMEOUT, check, open_session  # noqa: E402

SECRET = "com.example.secret"


async def main(url, sender_ser, receiver_ser):
    keyring = KeyRing()
    private, _public = keyring.generate_key()
    keyring.set_key(SECRET, private)
    receiver = await open_session(url, receiver_ser)
    sender = await open_session(url, sender_ser)
    for session in (receiver, sender):
        session.set_payload_codec(keyring)
    loop = asyncio.get_running_loop()

    got = loop.create_future()
    await receiver.subscribe(lambda *a, **kw: got.set_result((a, kw)), SECRET + ".news")
    await sender.publish(
        SECRET + ".news", "hello", 42, extra={"k": [1, 2]},
        options=types.PublishOptions(acknowledge=True, exclude_me=False),
    )
    args, kwargs = await asyncio.wait_for(got, TIMEOUT)
    assert (list(args), kwargs) == (["hello", 42], {"extra": {"k": [1, 2]}}), (args, kwargs)
    check("encrypted event")

    await receiver.register(lambda a, b: a + b, SECRET + ".add")
    assert await asyncio.wait_for(sender.call(SECRET + ".add", 2, 3), TIMEOUT) == 5
    check("encrypted call and result")

    def oops():
        raise ApplicationError(SECRET + ".oops", "sealed", code=7)

    await receiver.register(oops, SECRET + ".oops")
    try:
        await asyncio.wait_for(sender.call(SECRET + ".oops"), TIMEOUT)
    except ApplicationError as err:
        assert err.error == SECRET + ".oops" and list(err.args) == ["sealed"], err
        assert err.kwargs == {"code": 7}, err
    else:
        raise AssertionError("the call succeeded")
    check("encrypted application error")

    plain = loop.create_future()
    await receiver.subscribe(lambda x: plain.set_result(x), "com.example.plain")
    await sender.publish("com.example.plain", "clear", options=types.PublishOptions(acknowledge=True))
    assert await asyncio.wait_for(plain, TIMEOUT) == "clear"
    check("ordinary payloads beside them")

    sender.leave()
    receiver.leave()
    await asyncio.sleep(0.1)
    print("OK")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
