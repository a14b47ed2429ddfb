"""A problem report can carry a photo from the phone camera: real images only, size-limited."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from orderhub.models import OrderEvent, OrderStatus
from warehouse.models import PickProblem
from warehouse.services import picking


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def task_url(client, make_user, make_order, warehouse, stocked):
    make_order(OrderStatus.READY_TO_PICK, warehouse=warehouse)
    client.force_login(make_user("picker"))
    client.post(reverse("scan"), {"warehouse": warehouse.pk})
    task = client.post("/scan/next/").json()["task"]
    return f"/scan/task/{task['id']}/problem/"


def image_bytes(fmt="JPEG", size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


def test_a_problem_with_a_jpeg_photo_is_stored_under_a_safe_name(client, task_url,
                                                                   media_root, make_user):
    # given a real JPEG whose name tries to escape the upload folder
    photo = SimpleUploadedFile("../../evil.php", image_bytes(), content_type="image/jpeg")
    # when the picker reports a damaged item with it
    res = client.post(task_url, {"kind": "damaged", "note": "外箱压坏", "photo": photo})
    # then the problem keeps the photo, renamed, inside MEDIA_ROOT
    assert res.status_code == 200, res.content
    problem = PickProblem.objects.get(pk=res.json()["problem"])
    assert problem.photo.name.startswith("pick-problems/") and problem.photo.name.endswith(".jpg")
    assert "evil" not in problem.photo.name
    stored = media_root / problem.photo.name
    assert stored.read_bytes() == image_bytes()
    assert Image.open(stored).size == (64, 48)
    # and people who may see problems get it behind a login, not from /media/
    url = reverse("warehouse-problem-photo", args=[problem.pk])
    client.logout()
    assert client.get(url).status_code == 302
    client.force_login(make_user("ops"))
    got = client.get(url)
    assert got.status_code == 200 and got["Content-Type"] == "image/jpeg"
    assert b"".join(got.streaming_content) == image_bytes()
    client.force_login(make_user("finance"))
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("fmt,ext", [("PNG", ".png"), ("WEBP", ".webp")])
def test_png_and_webp_photos_are_accepted(client, task_url, fmt, ext):
    photo = SimpleUploadedFile("IMG_0001", image_bytes(fmt), content_type="")
    res = client.post(task_url, {"kind": "missing_item", "photo": photo})
    assert res.status_code == 200
    assert PickProblem.objects.get().photo.name.endswith(ext)


@pytest.mark.parametrize("name,content,content_type", [
    # a text file that claims to be a JPEG by name and type
    ("photo.jpg", b"this is not an image at all", "image/jpeg"),
    # an image format that is not a photo format we keep
    ("photo.gif", None, "image/gif"),
    # a truncated JPEG (the upload broke off)
    ("photo.jpg", b"TRUNCATED", "image/jpeg"),
    ("empty.jpg", b"", "image/jpeg"),
])
def test_a_bad_file_is_refused_clearly_and_nothing_is_stored(client, task_url, media_root,
                                                             name, content, content_type):
    if content is None:
        content = image_bytes("GIF")
    elif content == b"TRUNCATED":
        content = image_bytes(size=(400, 300))[:200]
    photo = SimpleUploadedFile(name, content, content_type=content_type)
    res = client.post(task_url, {"kind": "damaged", "photo": photo})
    assert res.status_code == 400
    assert res.json()["error"] == "The photo must be a JPEG, PNG or WebP image."
    assert not PickProblem.objects.exists()
    assert not OrderEvent.objects.filter(kind="pick_problem").exists()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


def test_a_photo_over_the_size_limit_is_refused(client, task_url, media_root, monkeypatch):
    monkeypatch.setattr(picking, "PHOTO_MAX_BYTES", 2 * 1024 * 1024)
    big = image_bytes("PNG", size=(10, 10)) + b"\0" * (2 * 1024 * 1024)
    photo = SimpleUploadedFile("big.png", big, content_type="image/png")
    res = client.post(task_url, {"kind": "damaged", "photo": photo})
    assert res.status_code == 400
    assert res.json()["error"] == "The photo is too large (2.0 MB); the limit is 2 MB."
    assert not PickProblem.objects.exists()
    # the same report without the photo goes through: the picker loses nothing but the picture
    assert client.post(task_url, {"kind": "damaged"}).status_code == 200


