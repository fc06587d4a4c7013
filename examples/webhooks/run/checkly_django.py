"""Runs Checkly's published Django view (../checkly_django.py, copied unchanged from its
webhook document) in a minimal Django project, at POST /webhook on 127.0.0.1:$PORT (0 or
unset: any free port), and prints "listening PORT". The view prints the digest it computed.
CHECKLY_WEBHOOK_SECRET comes from the environment. Needs Django:
PYTHONPATH=$HOME/.cache/lookout-pip."""

import importlib.util
import os
import pathlib
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="checkly-snippet-runner",
    CHECKLY_WEBHOOK_SECRET=os.environ["CHECKLY_WEBHOOK_SECRET"],
    # Django's default CSRF middleware, so the view's @csrf_exempt is what lets it through.
    MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
)
django.setup()

snippet = pathlib.Path(__file__).resolve().parent.parent / "checkly_django.py"
spec = importlib.util.spec_from_file_location("checkly_django", snippet)
view = importlib.util.module_from_spec(spec)
spec.loader.exec_module(view)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402

urlpatterns = [path("webhook", view.webhook)]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


sys.stdout.reconfigure(line_buffering=True)
server = make_server("127.0.0.1", int(os.environ.get("PORT", "0")), get_wsgi_application(),
                     handler_class=QuietHandler)
print(f"listening {server.server_port}")
server.serve_forever()
