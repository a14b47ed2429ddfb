"""The pick lists' PNG barcodes: the bars of the value, at 0.25 mm a module, cached."""

import base64
import io

import barcode
from PIL import Image

from warehouse.services.picklists import MODULE_MM, QUIET_MM, code128_png


def bars_of(uri: str) -> tuple[str, int]:
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    width, height = image.size
    row = "".join("1" if image.getpixel((x, 0)) == 0 else "0" for x in range(width))
    # every row is the same row: bars are vertical
    assert all(image.getpixel((x, height - 1)) == image.getpixel((x, 0)) for x in range(width))
    return row, height


def test_code128_png_draws_the_bars_of_the_value_with_quiet_zones():
    # given
    value = "PW17649000001"
    # when
    uri = code128_png(value, height_mm=6)
    # then
    assert uri.startswith("data:image/png;base64,")
    row, height = bars_of(uri)
    quiet = "0" * round(QUIET_MM / MODULE_MM)
    assert row == quiet + barcode.get("code128", value).build()[0] + quiet
    assert height == round(6 / MODULE_MM)
    assert uri.width_mm == len(row) * MODULE_MM and uri.height_mm == 6


def test_code128_png_is_built_once_per_value():
    assert code128_png("SKU-1", height_mm=6) is code128_png("SKU-1", height_mm=6)
    assert code128_png("SKU-1", height_mm=6) != code128_png("SKU-2", height_mm=6)


def test_pdf_prewarm_renders_without_raising(caplog):
    from warehouse.pdf import prewarm

    prewarm()
    assert "pre-warm failed" not in caplog.text
