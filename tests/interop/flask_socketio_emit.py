"""Emits through the Flask-SocketIO message queue as an application's worker does:
SocketIO(message_queue=URL).emit(...), with no Flask app. argv: the Redis URL and a JSON list of
emits, each {"event", "args", "to"?, "namespace"?, "skip_sid"?}. Waits until the router has
subscribed to the channel, so nothing is published into the void."""
import json
import sys
import time

import redis
from flask_socketio import SocketIO

url, plan = sys.argv[1], json.loads(sys.argv[2])
r = redis.Redis.from_url(url)
deadline = time.time() + 10
while r.pubsub_numsub("flask-socketio")[0][1] < 1:
    if time.time() > deadline:
        sys.exit("nobody subscribed to flask-socketio")
    time.sleep(0.05)
sio = SocketIO(message_queue=url)
for emit in plan:
    kwargs = {k: emit[k] for k in ("to", "namespace", "skip_sid") if k in emit}
    args = emit.get("args", [])
    # python-socketio takes several arguments as one tuple.
    data = tuple(args) if len(args) > 1 else (args[0] if args else None)
    sio.emit(emit["event"], data, **kwargs)
