# Verifies a Lookout webhook. Usage: python3 verify.py SECRET BODY_FILE SIGNATURE TIMESTAMP
import hashlib
import hmac
import sys
import time

TOLERANCE_SECS = 300  # refuse requests older (or newer) than five minutes: replays


def verify(secret, body, signature, timestamp, now=None):
    """`body`: the raw request bytes; `signature`, `timestamp`: the x-lookout-signature and
    x-lookout-timestamp headers."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > TOLERANCE_SECS:
        return False
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


if __name__ == "__main__":
    secret, body_file, signature, timestamp = sys.argv[1:5]
    with open(body_file, "rb") as f:
        ok = verify(secret, f.read(), signature, timestamp)
    print("valid" if ok else "invalid")
    sys.exit(0 if ok else 1)
