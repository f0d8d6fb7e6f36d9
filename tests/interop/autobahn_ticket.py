"""Joins wampd with autobahn-python using WAMP ticket authentication.

Usage: autobahn_ticket.py URL SERIALIZER TOKEN [AUTHID [REALM]]
AUTHID (default: one the router ignores for signed tickets) names a static principal; REALM defaults
to realm1. Serializers: json | msgpack | cbor. Prints "OK <authid> <authrole> <authmethod>" after
joining, or "LEFT <reason>" when refused.
"""

import asyncio
import sys

from autobahn_join import join_and_report


async def main(url, serializer, token, authid="ignored-by-router", realm="realm1"):
    await join_and_report(url, serializer, realm, "ticket", lambda challenge: token, authid=authid)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
