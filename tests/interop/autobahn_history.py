"""Event history with autobahn-python (a WAMP client written by others).

Usage: autobahn_history.py URL
A publisher publishes 20 events to a history topic (the router keeps the last 10 of it); a subscriber that joins
later asks wamp.subscription.get_events for its subscription: the last N in order of occurrence, newest first with
reverse, the page after a publication, by topic under a prefix subscription; each event with its timestamp,
publication ID and stream position (details.epoch, details.offset). A bad argument is wamp.error.invalid_argument.
Prints OK when every check passed; any failure raises.
"""

import asyncio
import sys

from autobahn.wamp import types
from autobahn.wamp.exception import ApplicationError

from autobahn_pubsub import open_session  # the same session set-up as the pub/sub checks

GET_EVENTS = "wamp.subscription.get_events"


async def main(url):
    publisher = await open_session(url, "json")
    ack = types.PublishOptions(acknowledge=True)
    ids = []
    for n in range(1, 21):
        topic = "com.history.even" if n % 2 == 0 else "com.history.odd"
        publication = await publisher.publish(topic, n, square=n * n, options=ack)
        ids.append(publication.id)

    for serializer in ("json", "msgpack"):
        late = await open_session(url, serializer)
        exact = await late.subscribe(lambda *a, **k: None, "com.history.even")
        last = await late.call(GET_EVENTS, exact.id, limit=3)
        assert [e["args"] for e in last] == [[16], [18], [20]], last
        assert [e["kwargs"]["square"] for e in last] == [256, 324, 400], last
        assert all(e["subscription"] == exact.id for e in last), last
        assert [e["publication"] for e in last] == ids[15:20:2], (last, ids)
        assert [e["details"]["offset"] for e in last] == [8, 9, 10], last
        assert len({e["details"]["epoch"] for e in last}) == 1, last
        assert all(e["timestamp"].endswith("Z") for e in last), last

        kept = await late.call(GET_EVENTS, exact.id, limit=100)
        assert [e["args"][0] for e in kept] == list(range(2, 21, 2)), kept

        newest_first = await late.call(GET_EVENTS, exact.id, limit=2, reverse=True)
        assert [e["args"][0] for e in newest_first] == [20, 18], newest_first
        page = await late.call(GET_EVENTS, exact.id, limit=2, after_publication=ids[11])
        assert [e["args"][0] for e in page] == [14, 16], page

        prefix = await late.subscribe(
            lambda *a, **k: None, "com.history.", options=types.SubscribeOptions(match="prefix")
        )
        merged = await late.call(GET_EVENTS, prefix.id, limit=4)
        assert [(e["args"][0], e["details"]["topic"]) for e in merged] == [
            (17, "com.history.odd"),
            (18, "com.history.even"),
            (19, "com.history.odd"),
            (20, "com.history.even"),
        ], merged
        odd = await late.call(GET_EVENTS, prefix.id, limit=2, topic="com.history.odd")
        assert [e["args"][0] for e in odd] == [17, 19], odd

        try:
            await late.call(GET_EVENTS, exact.id, limit=0)
        except ApplicationError as err:
            assert err.error == "wamp.error.invalid_argument", err
        else:
            raise AssertionError("limit=0 was accepted")
        late.leave()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    print("OK")
