"""Channel pages (health, sync problems) and the inbound webhook endpoint."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels import services
from channels.connectors import NoConnector
from channels.csv_import import FileError, csv_import, csv_preview
from channels.models import Channel, GapAlert, LegacyOrder, RawPayload
from orderhub.guard import staff_view
from orderhub.models import Order, normalize_phone
from orderhub.queue import enqueue

# Read a webhook body this much at a time: a refused body never sits whole in memory.
_READ_CHUNK = 64 * 1024


def _webhook_body(request, limit: int) -> tuple[bytes | None, int | None]:
    """(body, declared length); body None when it is over ``limit`` bytes.

    Read from the request stream, not ``request.body``: that raises Django's
    RequestDataTooBig (an HTML 400) past DATA_UPLOAD_MAX_MEMORY_SIZE, and a
    chunked body (no Content-Length) would read as empty, because Django only
    reads as many bytes as the length says. A declared length over the limit is
    refused unread; a chunked one is read from the server's input, which the
    server ends at the last chunk (``wsgi.input_terminated``, gunicorn sets it),
    and refused as soon as it passes the limit.
    """
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.strip():
        try:
            length = int(declared)
        except ValueError:
            length = None
        if length is not None and length > limit:
            return None, length
        stream = request  # Django's stream, bounded by the declared length
    else:
        length = None
        stream = (request.META["wsgi.input"] if request.META.get("wsgi.input_terminated")
                  else request)
    chunks, size = [], 0
    while chunk := stream.read(min(_READ_CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None, length
    return b"".join(chunks), length


def _webhook_response(outcome) -> JsonResponse:
    response = JsonResponse({"ok": outcome.ok, "message": outcome.message},
                            status=outcome.status_code)
    if outcome.logged:
        # The service logged this refusal once, with its reason; Django's request
        # logger would log it a second time (this is the flag it checks itself).
        response._has_been_logged = True
    return response


@csrf_exempt
@require_POST
def webhook(request, channel_code: str):
    """Inbound platform webhook: size, then the signature on the raw bytes; then store and
    queue. Every answer is JSON: ``{"ok": ..., "message": ...}``. The service queues the
    stored payloads' processing on commit; a dead broker only delays it (the pending-payload
    sweep), so the platform still gets its 2xx."""
    channel = Channel.objects.filter(code=channel_code, enabled=True).first()
    if channel is None or not channel.is_api:
        return JsonResponse({"ok": False, "message": "unknown channel"}, status=404)
    body, length = _webhook_body(request, services.WEBHOOK_BODY_LIMIT)
    if body is None:
        outcome = services.webhook_too_large(channel=channel, size=length)
        return _webhook_response(outcome)
    outcome = services.webhook_receive(channel=channel, body=body, headers=request.headers)
    return _webhook_response(outcome)


def _health_rows(channels):
    tz = timezone.get_current_timezone()
    today = dt.datetime.combine(timezone.localdate(), dt.time.min, tzinfo=tz)
    counts = dict(Order.objects.filter(channel__in=channels, created_at__gte=today)
                  .values_list("channel").annotate(n=Count("id")).values_list("channel", "n"))
    problems = dict(RawPayload.objects.filter(channel__in=channels,
                                              status=RawPayload.Status.QUARANTINED)
                    .values_list("channel").annotate(n=Count("id")).values_list("channel", "n"))
    gaps = dict(GapAlert.objects.filter(channel__in=channels, resolved=False)
                .values_list("channel").annotate(n=Count("id")).values_list("channel", "n"))
    return [{"channel": c, "orders_today": counts.get(c.pk, 0),
             "problems": problems.get(c.pk, 0), "gaps": gaps.get(c.pk, 0)} for c in channels]


@staff_view("channels.view_channel")
def health(request):
    channels = list(Channel.objects.select_related("owner").order_by("name"))
    context = {"rows": _health_rows(channels),
               "can_poll": request.user.has_perm("channels.poll_channel"),
               "can_pause": request.user.has_perm("channels.pause_channel"),
               "can_replay": request.user.has_perm("channels.replay_payload")}
    return render(request, "channels/health.html", context)


def _row_response(request, channel, message=""):
    channel.refresh_from_db()
    context = {"row": _health_rows([channel])[0], "message": message,
               "can_poll": request.user.has_perm("channels.poll_channel"),
               "can_pause": request.user.has_perm("channels.pause_channel"),
               "can_replay": request.user.has_perm("channels.replay_payload")}
    if request.htmx:
        return render(request, "channels/_health_row.html", context)
    return redirect("channels:health")


@staff_view("channels.poll_channel")
@require_POST
def poll_now(request, channel_id: int):
    channel = get_object_or_404(Channel, pk=channel_id)
    if not channel.is_api:
        return _row_response(request, channel, _("This channel is fed by files, not polled."))
    # A dead broker loses only this click: the beat poll still comes when it is due.
    transaction.on_commit(lambda: enqueue("channels.tasks.poll_channel", channel.pk))
    return _row_response(request, channel, _("Poll queued."))


@staff_view("channels.pause_channel")
@require_POST
def pause(request, channel_id: int):
    channel = get_object_or_404(Channel, pk=channel_id)
    reason = request.POST.get("reason", "").strip() or _("paused by %(user)s") % {
        "user": request.user.get_username()}
    services.channel_pause(channel=channel, reason=reason, actor=request.user.get_username())
    return _row_response(request, channel, _("Paused."))


@staff_view("channels.pause_channel")
@require_POST
def resume(request, channel_id: int):
    channel = get_object_or_404(Channel, pk=channel_id)
    services.channel_resume(channel=channel, actor=request.user.get_username())
    return _row_response(request, channel, _("Resumed: the next poll continues from the cursor."))


@staff_view("channels.replay_payload")
@require_POST
def replay_all(request, channel_id: int):
    channel = get_object_or_404(Channel, pk=channel_id)
    try:
        outcome = services.channel_replay_quarantined(channel=channel,
                                                      actor=request.user.get_username())
    except NoConnector:
        # A manual channel has no payloads to read again (nothing a platform sent).
        return _row_response(request, channel, _("This channel has no connector to read "
                                                   "its payloads again."))
    message = _("Replayed: %(fixed)s taken in, %(failing)s still failing.") % {
        "fixed": outcome.fixed, "failing": outcome.failing}
    if outcome.left > outcome.failing:
        message += " " + _("More are waiting: press again.")
    return _row_response(request, channel, message)


@staff_view("channels.view_rawpayload")
def problems(request):
    qs = (RawPayload.objects.filter(status=RawPayload.Status.QUARANTINED)
          .select_related("channel").order_by("-received_at", "-id"))
    channel_code = request.GET.get("channel", "")
    if channel_code:
        qs = qs.filter(channel__code=channel_code)
    query = request.GET.get("q", "").strip()
    if query:
        qs = qs.filter(Q(external_id__icontains=query) | Q(error__icontains=query))
    page = Paginator(qs.defer("body"), 50).get_page(request.GET.get("page"))
    context = {"page": page, "channels": Channel.objects.order_by("name"),
               "channel_code": channel_code, "q": query,
               "can_replay": request.user.has_perm("channels.replay_payload")}
    return render(request, "channels/problems.html", context)


@staff_view("channels.view_rawpayload")
def problem_detail(request, raw_id: int):
    raw = get_object_or_404(RawPayload.objects.select_related("channel", "order"), pk=raw_id)
    return render(request, "channels/problem_detail.html", {
        "raw": raw, "body": raw.body[:20000], "truncated": len(raw.body) > 20000,
        "can_replay": request.user.has_perm("channels.replay_payload")})


@staff_view("channels.replay_payload")
@require_POST
def replay(request, raw_id: int):
    raw = get_object_or_404(RawPayload, pk=raw_id)
    if request.POST.get("action") == "dismiss":
        services.raw_payload_dismiss(raw=raw, actor=request.user.get_username())
        message, ok = _("Dismissed."), True
    else:
        outcome = services.raw_payload_replay(raw=raw, actor=request.user.get_username())
        raw.refresh_from_db()
        ok = outcome != "rejected"
        message = (_("Replayed: order %(outcome)s.") % {"outcome": outcome} if ok
                   else _("Still failing: %(error)s") % {"error": raw.error})
    if request.htmx:
        return render(request, "channels/_problem_row.html",
                      {"raw": raw, "message": message, "ok": ok, "can_replay": True})
    return redirect("channels:problems")


UPLOAD_LIMIT = 20 * 1024 * 1024


def _upload_dir():
    path = settings.VAR_DIR / "channel-uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


@staff_view("channels.replay_payload")
def upload(request, channel_id: int):
    """Upload a CSV/XLSX export: preview first (orders, row errors), then import."""
    channel = get_object_or_404(Channel, pk=channel_id, platform=Channel.Platform.CSV)
    context = {"channel": channel}
    if request.method == "POST" and request.POST.get("token"):
        token = request.POST["token"]
        name = request.POST.get("name", "upload.csv")
        path = _upload_dir() / token
        if not token.isalnum() or not path.is_file():
            context["error"] = _("The uploaded file expired; upload it again.")
        else:
            outcome = csv_import(channel=channel, name=name, data=path.read_bytes(),
                                 all_or_nothing=bool(request.POST.get("all_or_nothing")))
            path.unlink(missing_ok=True)
            context.update(result=outcome.result, row_errors=outcome.row_errors,
                           archived=outcome.archived,
                           archived_unchanged=outcome.archived_unchanged)
    elif request.method == "POST":
        upload_file = request.FILES.get("file")
        if upload_file is None:
            context["error"] = _("Choose a file.")
        elif upload_file.size > UPLOAD_LIMIT:
            context["error"] = _("The file is larger than 20 MB; split it or use import_orders.")
        else:
            data = upload_file.read()
            try:
                context["preview"] = csv_preview(channel=channel, name=upload_file.name, data=data)
            except FileError as exc:
                context["error"] = str(exc)
            else:
                token = uuid.uuid4().hex
                (_upload_dir() / token).write_bytes(data)
                context.update(token=token, name=upload_file.name)
    return render(request, "channels/upload.html", context)


LEGACY_RESULTS_LIMIT = 200


@staff_view("channels.view_legacyorder")
def legacy_orders(request):
    """Archived legacy orders of one buyer, found by phone in any format (exact number)."""
    phone = request.GET.get("phone", "").strip()[:64]
    context = {"phone": phone, "orders": None, "normalized": "", "error": ""}
    if phone:
        try:
            context["normalized"] = normalize_phone(phone)
        except ValidationError as exc:
            context["error"] = exc.messages[0]
        else:
            context["orders"] = list(
                LegacyOrder.objects.filter(buyer_phone=context["normalized"])
                .select_related("channel").order_by("-placed_at", "-id")
                .defer("raw")[:LEGACY_RESULTS_LIMIT]
            )
            context["limited"] = len(context["orders"]) == LEGACY_RESULTS_LIMIT
    return render(request, "channels/legacy_orders.html", context)
