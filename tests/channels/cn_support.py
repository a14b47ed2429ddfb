"""Shared helpers for the Chinese platform tests (channels, fake clock, the sandbox over WSGI)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from channels import sandbox_cn as sb
from channels.models import Channel

CN_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "channels" / "cn"
NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)  # 12:00 in Beijing

TOP_GW = "https://gw.api.taobao.com/router/rest"
PDD_GW = "https://gw-api.pinduoduo.com/api/router"
DOUYIN_GW = "https://openapi-fxg.jinritemai.com"
YOUZAN = "https://open.youzanyun.com"


def load(name: str):
    return json.loads((CN_FIXTURES / name).read_text())


def make_channel(platform: str, *, code: str | None = None, config: dict | None = None,
                 credentials: dict | None = None) -> Channel:
    defaults = {
        "taobao": ({}, {"app_key": "12345678", "app_secret": "top-secret",
                        "session": "sess-token-123"}),
        "pinduoduo": ({"logistics_ids": {"SF": 44}},
                      {"client_id": "cid", "client_secret": "csecret",
                       "access_token": "pdd-token-123"}),
        "douyin": ({"shop_id": "1"}, {"app_key": "7000000000000000000",
                                      "app_secret": "appsecret"}),
        "youzan": ({"kdt_id": "90001", "express_ids": {"SF": 7}},
                   {"client_id": "yz-client", "client_secret": "yz-secret"}),
    }[platform]
    channel = Channel(code=code or f"{platform}-test", name=f"{platform} test",
                      platform=platform, config={**defaults[0], **(config or {})})
    channel.credentials = credentials or defaults[1]
    channel.save()
    return channel


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


class Clock:
    """A monotonic clock that only moves when the code sleeps."""

    def __init__(self, sleeps: Sleeps):
        self.sleeps = sleeps

    def __call__(self) -> float:
        return sum(self.sleeps)


def connector_for(channel, *, client=None, now=NOW, **kwargs):
    from channels.connectors import get_connector

    sleeps = kwargs.pop("sleep", None) or Sleeps()
    if now is not None:
        kwargs["now"] = lambda: now
    return get_connector(channel, client=client, sleep=sleeps, clock=Clock(sleeps), **kwargs)


class SandboxHttp:
    """httpx over WSGI into the hub's own /sandbox/ (like Django's test client)."""

    def __enter__(self) -> httpx.Client:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        self.client = httpx.Client(transport=httpx.WSGITransport(app=get_wsgi_application()),
                                   base_url="http://testserver")
        return self.client

    def __exit__(self, *exc):
        self.client.close()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def sandbox_channel(platform: str, **config) -> Channel:
    """A channel configured like the demo's, pointing at http://testserver/sandbox/."""
    from channels.demo import channel_specs

    for code, name, kind, cfg, creds in channel_specs("http://testserver"):
        if kind == platform:
            channel = Channel(code=code, name=name, platform=kind, config={**cfg, **config})
            channel.credentials = creds
            channel.save()
            return channel
    raise LookupError(platform)


__all__ = ["sb"]
