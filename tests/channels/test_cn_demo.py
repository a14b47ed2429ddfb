"""The demo's CN channels (``channels.demo.seed``) and their polling schedule."""

import io

from channels.demo import seed
from channels.models import Channel, SkuMapping
from channels.services import channels_due


def test_seed_adds_one_sandbox_channel_per_platform_and_runs_twice(db):
    # given the core demo's unconfigured Taobao channel
    Channel.objects.create(code="taobao-flagship", name="莲花家居淘宝旗舰店", platform="taobao")

    out = io.StringIO()
    seed(out)
    first = (Channel.objects.count(), SkuMapping.objects.count())
    seed(io.StringIO())

    assert (Channel.objects.count(), SkuMapping.objects.count()) == first
    channels = {c.platform: c for c in Channel.objects.all()}
    assert set(channels) == {"taobao", "pinduoduo", "douyin", "youzan"}
    for channel in channels.values():
        assert "/sandbox/" in str(channel.config)
        assert channel.config["decrypt_enabled"] is True
        assert channel.credentials  # stored encrypted, readable by the connector
        assert channel.sku_mappings.filter(platform_sku="CUP-1").exists()
    assert "sandbox-top-secret" not in channels["taobao"].credentials_encrypted
    assert "4 set up" in out.getvalue()


def test_cn_channels_are_polled_by_beat(db):
    for platform in ("taobao", "pinduoduo", "douyin", "youzan"):
        Channel.objects.create(code=f"c-{platform}", name=platform, platform=platform)
    Channel.objects.create(code="csv", name="csv", platform="csv")
    assert {c.platform for c in channels_due()} == {"taobao", "pinduoduo", "douyin", "youzan"}
