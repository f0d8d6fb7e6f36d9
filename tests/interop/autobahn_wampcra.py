"""Joins wampd with autobahn-python using WAMP-CRA (plain or salted, as the challenge says).

Usage: autobahn_wampcra.py URL SERIALIZER AUTHID SECRET
Prints "OK <authid> <authrole> <authmethod>" after joining, or "LEFT <reason>" when refused.
"""

import asyncio
import sys

from autobahn.wamp import auth

from autobahn_join import join_and_report


async def main(url, serializer, authid, secret):
    def sign(challenge):
        key = secret.encode("utf8")
        if "salt" in challenge.extra:
            key = auth.derive_key(
                secret,
                challenge.extra["salt"],
                challenge.extra["iterations"],
                challenge.extra["keylen"],
            )
        return auth.compute_wcs(key, challenge.extra["challenge"]).decode("ascii")

    await join_and_report(url, serializer, "realm1", "wampcra", sign, authid=authid)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
