"""Joins wampd with wampy (a WAMP client written by others) using static WAMP-Ticket principals,
as wampy's own integration tests do against Crossbar (test_connection_is_ticket_challenged,
test_incorrect_ticket).

Usage: wampy_ticket.py URL AUTHID GOOD_TICKET
Exits 0 and prints OK when: the good ticket gets CHALLENGE, WELCOME and, on stop, GOODBYE; a wrong
ticket is refused with Crossbar's message (and wampd's ABORT reason).
"""

import os
import sys

from wampy.errors import WampyError
from wampy.messages import Challenge, Goodbye, Welcome
from wampy.peers.clients import Client
from wampy.testing.helpers import CollectingMessageHandler, wait_for_messages


def roles(authid):
    return {
        "roles": {"subscriber": {}, "publisher": {}, "callee": {}, "caller": {}},
        "authmethods": ["ticket"],
        "authid": authid,
    }


def main(url, authid, ticket):
    # wampy reads the secret it answers a CHALLENGE with from the environment.
    os.environ["WAMPYSECRET"] = ticket
    client = Client(url=url, roles=roles(authid), message_handler_cls=CollectingMessageHandler, name="good")
    client.start()
    messages = wait_for_messages(client, 2)
    assert messages[0][0] == Challenge.WAMP_CODE, messages
    assert messages[1][0] == Welcome.WAMP_CODE, messages
    assert messages[1][2]["authid"] == authid, messages[1]
    assert messages[1][2]["authmethod"] == "ticket", messages[1]
    client.stop()
    assert len(messages) == 3 and messages[2][0] == Goodbye.WAMP_CODE, messages

    os.environ["WAMPYSECRET"] = "incorrect-ticket"
    bad = Client(url=url, roles=roles(authid), name="bad")
    try:
        bad.start()
    except WampyError as err:
        message = str(err)
        assert "ticket in static WAMP-Ticket authentication is invalid" in message, message
        assert "wamp.error.authentication_failed" in message, message
    else:
        raise AssertionError("a wrong ticket was welcomed")
    print("OK")


if __name__ == "__main__":
    main(*sys.argv[1:])
