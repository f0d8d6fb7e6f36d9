"""Publish one HMAC-signed event to wampd (for WEBSOCKET_PUBLISH_REQUIRE_SIGNATURE=true).

The signature is hex(HMAC-SHA256(secret, "<unix timestamp>.<raw body>")), sent with the timestamp.
WAMPD_URL: the router's base URL; WAMPD_SECRET: WEBSOCKET_PUBLISH_SECRET.
"""
import hashlib
import hmac
import json
import os
import time
import urllib.request

url = os.environ.get("WAMPD_URL", "http://127.0.0.1:8080") + "/publish"
secret = os.environ["WAMPD_SECRET"].encode()
body = json.dumps({"topic": "com.example.notifications", "args": ["signed"]}).encode()
timestamp = str(int(time.time()))
signature = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
request = urllib.request.Request(url, data=body, headers={
    "Content-Type": "application/json",
    "X-Wampd-Timestamp": timestamp,
    "X-Wampd-Signature": signature,
})
with urllib.request.urlopen(request, timeout=5) as response:
    print(json.load(response))
