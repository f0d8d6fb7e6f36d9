"""python-socketio's own client (socketio.Client, from pip) against wampd: connects with its
default transports (polling, then the upgrade) to namespaces / and /ws, joins room "news" with an
acknowledgement, stays idle for argv[2] seconds on the server's default heartbeat, then prints the
events it gets. One JSON line per thing that happens; "exit" on stdin ends it."""
import json
import sys
import time

import socketio

url, idle = sys.argv[1], float(sys.argv[2])


def say(what):
    print(json.dumps(what), flush=True)


sio = socketio.Client(reconnection=False)


@sio.on("update")
def update(*args):
    say({"ns": "/", "event": "update", "args": list(args)})


@sio.on("backup_running", namespace="/ws")
def backup_running(*args):
    say({"ns": "/ws", "event": "backup_running", "args": list(args)})


@sio.event
def disconnect(*reason):
    say({"disconnect": [str(r) for r in reason]})


sio.connect(url, namespaces=["/", "/ws"], headers={"Origin": "http://localhost"}, wait_timeout=10)
answer = sio.call("join", {"room": "news"}, timeout=5)
say({"ready": True, "sid": sio.sid, "transport": sio.transport(), "join": answer})
time.sleep(idle)
say({"idle_done": True, "sid": sio.sid, "connected": sio.connected, "transport": sio.transport()})
for line in sys.stdin:
    if line.strip() == "exit":
        break
sio.disconnect()
