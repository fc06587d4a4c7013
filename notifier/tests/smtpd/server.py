"""A real SMTP server for the email tests: aiosmtpd on 127.0.0.1, optionally with STARTTLS
(required) or implicit TLS, and AUTH PLAIN/LOGIN against one user. Every message received is
parsed with Python's own email package (an implementation independent of Lookout's) and
written to OUT_DIR as one JSON file: envelope, headers, the text and HTML parts decoded, and
whether the session was encrypted and authenticated. Prints "ready" once it accepts
connections, then serves until killed.

usage: server.py PORT OUT_DIR [--cert PEM --key PEM [--implicit]] [--auth USER:PASSWORD]
"""

import argparse
import email
import email.policy
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            ctype = part.get_content_type()
            if ctype in ("text/plain", "text/html") and ctype not in parts:
                parts[ctype] = part.get_content()
        login = session.auth_data
        transport = getattr(server, "transport", None)
        implicit_tls = transport is not None and transport.get_extra_info("ssl_object") is not None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k.lower(): str(v) for k, v in msg.items()},
            "content_type": msg.get_content_type(),
            "text": parts.get("text/plain", ""),
            "html": parts.get("text/html", ""),
            "tls": session.ssl is not None or implicit_tls,
            "authenticated": bool(session.authenticated),
            "login": login.login.decode() if isinstance(login, LoginPassword) else None,
        }
        self.count += 1
        tmp = os.path.join(self.out_dir, f".{self.count:04}.json")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out_dir, f"{self.count:04}.json"))
        return "250 OK queued as lookout-test-%d" % self.count


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("out_dir")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--implicit", action="store_true")
    p.add_argument("--auth")
    a = p.parse_args()

    kwargs = {}
    context = None
    if a.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)
        if a.implicit:
            kwargs["server_kwargs"] = {}
        else:
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = True
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok, auth_data=auth_data if ok else None)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = True
    controller = Controller(
        Handler(a.out_dir),
        hostname="127.0.0.1",
        port=a.port,
        ssl_context=context if a.implicit else None,
        ready_timeout=10,
        **{k: v for k, v in kwargs.items() if k != "server_kwargs"},
    )
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
