"""Publish one event to wampd over HTTP with Python's standard library.

WAMPD_URL: the router's base URL (default http://127.0.0.1:8080);
WAMPD_SECRET: WEBSOCKET_PUBLISH_SECRET, if set (sent as a bearer token).
"""
import json
import os
import urllib.request

url = os.environ.get("WAMPD_URL", "http://127.0.0.1:8080") + "/publish"
body = json.dumps({
    "topic": "com.example.notifications",
    "args": ["Report ready"],
    "kwargs": {"level": "info"},
}).encode()
request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
if os.environ.get("WAMPD_SECRET"):
    request.add_header("Authorization", "Bearer " + os.environ["WAMPD_SECRET"])
with urllib.request.urlopen(request, timeout=5) as response:
    print(json.load(response))
