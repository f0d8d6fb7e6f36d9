"""Joins wampd with autobahn-python using WAMP-cryptosign (Ed25519 challenge-response).

Usage: autobahn_cryptosign.py URL SERIALIZER SEED_HEX [AUTHID [REALM]]
SEED_HEX is the 32-byte private key seed; AUTHID (default: none) is sent in HELLO; REALM defaults to
realm1. Prints "OK <authid> <authrole> <authmethod>" after joining, or "LEFT <reason>" when refused.
"""

import asyncio
import binascii
import sys

from autobahn.wamp.cryptosign import CryptosignKey

from autobahn_join import join_and_report


async def main(url, serializer, seed_hex, authid=None, realm="realm1"):
    key = CryptosignKey.from_bytes(binascii.a2b_hex(seed_hex))
    await join_and_report(
        url,
        serializer,
        realm,
        "cryptosign",
        key.sign_challenge,
        authid=authid,
        authextra={"pubkey": key.public_key(), "channel_binding": None},
    )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
