import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderhub.settings")

application = get_wsgi_application()

# Each web process warms WeasyPrint as it starts: the first pick list it prints does
# not pay the import and font loading (bench/picklist.py).
from warehouse.pdf import prewarm_in_background  # noqa: E402

prewarm_in_background()
