#!/usr/bin/python3
"""A real SMTP server for the notification tests: Debian's python3-aiosmtpd.

    server.py --output FILE [--port N] [--starttls CERT KEY | --implicit-tls CERT KEY]
              [--auth USER:PASSWORD] [--fail-first N]

Listens on 127.0.0.1 (port 0: a free one) and prints `READY <port>` on stdout once it
accepts connections. Runs until SIGTERM or SIGINT.

  --starttls CERT KEY      offer STARTTLS and require it before MAIL (and AUTH)
  --implicit-tls CERT KEY  TLS from the first byte (smtps://)
  --auth USER:PASSWORD     require AUTH (PLAIN or LOGIN) with these credentials before MAIL;
                           over plain smtp:// too, so the tests can check the login itself
  --fail-first N           answer the first N DATA commands with 451 (temporary failure)

Each accepted message is appended to FILE as one JSON object per line:
  {"mail_from": "...", "rcpt_tos": [...], "tls": bool, "auth_login": "..." | null,
   "raw": the message as received (UTF-8, invalid bytes replaced),
   "headers": [[name, value decoded (RFC 2047)], ...], "subject": decoded,
   "content_type": "text/plain", "charset": "utf-8", "transfer_encoding": "base64",
   "body": the body decoded (transfer encoding and charset), or null}
The line is written and flushed before the server answers 250, so a client that got
its 250 finds the message in the file.
"""
import argparse
import email
import email.policy
import json
import signal
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, output, fail_first, implicit_tls):
        self.output = output
        self.fail_left = fail_first
        self.implicit_tls = implicit_tls
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return "451 4.3.0 Temporary failure (test server, --fail-first)"
        raw = envelope.original_content or b""
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": bool(self.implicit_tls or session.ssl is not None),
            "auth_login": None,
            "raw": raw.decode("utf-8", errors="replace"),
            "headers": [],
            "subject": None,
            "content_type": None,
            "charset": None,
            "transfer_encoding": None,
            "body": None,
        }
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            record["auth_login"] = session.auth_data.login.decode("utf-8", errors="replace")
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            record["headers"] = [[k, str(v)] for k, v in msg.items()]
            record["subject"] = str(msg["Subject"]) if msg["Subject"] is not None else None
            record["content_type"] = msg.get_content_type()
            record["charset"] = msg.get_content_charset()
            record["transfer_encoding"] = msg.get("Content-Transfer-Encoding")
            if not msg.is_multipart():
                record["body"] = msg.get_content()
        except Exception as error:  # a malformed message is recorded, not refused
            record["parse_error"] = repr(error)
        with self.lock:
            self.output.write(json.dumps(record) + "\n")
            self.output.flush()
        return "250 2.0.0 Message accepted for delivery"


class LoopbackController(Controller):
    """Listens on a socket bound beforehand (so port 0 works and the port is known)."""

    def __init__(self, handler, sock, **kwargs):
        self.sock = sock
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self.sock, ssl=self.ssl_context)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth", metavar="USER:PASSWORD")
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    if args.starttls and args.implicit_tls:
        parser.error("--starttls and --implicit-tls exclude each other")

    output = open(args.output, "a", encoding="utf-8")
    handler = Handler(output, args.fail_first, bool(args.implicit_tls))

    kwargs = {"server_hostname": "localhost", "decode_data": False, "ready_timeout": 10.0}
    if args.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*args.starttls)
        kwargs.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
    elif args.implicit_tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*args.implicit_tls)
        kwargs.update(ssl_context=ctx, auth_require_tls=False)
    else:
        kwargs.update(auth_require_tls=False)
    if args.auth:
        user, _, password = args.auth.partition(":")
        expected = LoginPassword(user.encode(), password.encode())

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = mechanism in ("PLAIN", "LOGIN") and auth_data == expected
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        kwargs.update(authenticator=authenticator, auth_required=True)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(64)
    sock.setblocking(False)
    controller = LoopbackController(handler, sock, **kwargs)

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    controller.start()
    print(f"READY {sock.getsockname()[1]}", flush=True)
    done.wait()
    controller.stop()
    output.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
