"""PDF rendering start-up: what a process pays once before its first print.

``prewarm()`` runs at web/worker process start (see ``warehouse.apps``), so a
picker's or ops' first pick list does not pay WeasyPrint's import, fontconfig's
font scan and the CJK font's first load (bench/picklist.py).
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def prewarm() -> None:
    """Import WeasyPrint and lay out a tiny page in the pick lists' fonts."""
    try:
        from warehouse.services.picklists import render_pdf_string

        render_pdf_string(
            '<html><body style="font-family: \'Noto Sans CJK SC\', sans-serif">'
            '拣货单 Pick list <span style="font-family: \'DejaVu Sans Mono\', monospace">'
            'PL-0</span></body></html>')
    except Exception:  # a print server without fonts must still serve pages
        logger.exception("PDF pre-warm failed; the first print will be slower")


def prewarm_in_background() -> None:
    """``prewarm()`` in a daemon thread: a starting process serves at once and is warm
    for its first print a second or two later."""
    import threading

    threading.Thread(target=prewarm, name="pdf-prewarm", daemon=True).start()
