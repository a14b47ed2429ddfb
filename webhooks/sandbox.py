"""A sandbox receiver under /sandbox/webhooks/receiver/ (only when settings.SANDBOX_ENABLED).

It checks a delivery as README tells receivers to (the ``X-OrderHub-Signature`` over
the raw body with the demo secret, at most five minutes old) and answers 204, or
401 for a bad signature, so the demo's subscription runs the real sender over HTTP.
The last 50 deliveries it took are kept in the cache; nothing leaves the machine.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webhooks import signing

# The demo subscription's secret (public by design: sandbox only).
DEMO_SECRET = "sandbox-webhook-secret-0123456789"
CACHE_KEY = "sandbox:webhooks:received"


@csrf_exempt
@require_POST
def receiver(request):
    if not settings.SANDBOX_ENABLED:
        raise Http404
    header = request.headers.get(signing.SIGNATURE_HEADER, "")
    if not signing.verify(DEMO_SECRET, header, request.body):
        return JsonResponse({"error": "bad signature"}, status=401)
    received = cache.get(CACHE_KEY) or []
    received = [{"delivery": request.headers.get(signing.DELIVERY_HEADER, ""),
                 "event": request.headers.get(signing.EVENT_HEADER, "")}, *received][:50]
    cache.set(CACHE_KEY, received, 24 * 3600)
    return HttpResponse(status=204)
