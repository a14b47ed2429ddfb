import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")

application = get_wsgi_application()

# Each web process runs the apps' warm-ups as it starts (e.g. WeasyPrint, so the first
# pick list it prints does not pay the import and font loading: bench/picklist.py). Named
# in settings, like the order page's panels, so the core imports no app.
for warmup in settings.PROCESS_WARMUPS:
    import_string(warmup)()
