import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
application = get_wsgi_application()

from gateway.checks import refuse_unsafe_start  # noqa: E402  (needs the app registry)

refuse_unsafe_start()

# Everything loaded so far lives as long as the process: frozen, it is out of the collector's sight, and a full
# collection scans about 4,000 objects instead of 130,000. Under bench/ingest.py's load, a full collection stopped
# every thread of a worker for 60 to 210 ms (an ack p99 spike). Each gunicorn worker imports this module itself.
gc.freeze()
