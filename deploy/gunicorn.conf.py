"""Gunicorn settings shared by deploy/Procfile, deploy/Procfile.dev and the tests' live server (tests/live_gunicorn.py).

The access log goes to stdout through core.gunicorn_logging, which redacts query values (a handshake's verify
token, an ``?access_token=``) and secret headers from every line.
"""

accesslog = "-"
logger_class = "core.gunicorn_logging.GunicornLogger"
# gunicorn's control socket (its `gunicornc` interface) defaults to one path in $HOME that every gunicorn of the
# user shares: two `make run`s, or a test's server beside one, would take it from each other. Nothing here uses it.
control_socket_disable = True
