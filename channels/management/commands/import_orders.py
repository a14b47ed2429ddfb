from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from channels.connectors import NormalizationError
from channels.models import Channel
from channels.services import import_file


class Command(BaseCommand):
    help = ("Import a file of platform-native orders into a channel: a JSON list, the "
            "platform's list response or a single order object, JSON lines (.jsonl, "
            "streamed), or CSV/XLSX for a CSV channel. Amazon: give saved getOrders "
            "responses with their getOrderItems responses as --items FILE [FILE ...] "
            "(matched by AmazonOrderId). Prints created/updated/unchanged/rejected; exits 1 "
            "if any was rejected.")

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("file")
        parser.add_argument("--all-or-nothing", action="store_true",
                            help="CSV/XLSX: import nothing if any row has an error")
        parser.add_argument("--items", nargs="+", default=[], metavar="ITEMS_FILE",
                            help="Amazon: saved getOrderItems responses (one JSON response or "
                                 "a list of them per file; pages of one order are joined), "
                                 "given to the orders of FILE by AmazonOrderId")
        parser.add_argument("--workers", type=int, default=settings.INGEST_WORKERS,
                            help="processes ingesting in parallel (PostgreSQL; JSON files); "
                                 "default: INGEST_WORKERS, %(default)s here")

    def handle(self, code, file, all_or_nothing=False, workers=1, items=(), **options):
        if workers < 1:
            raise CommandError("--workers must be 1 or more")
        try:
            channel = Channel.objects.get(code=code)
        except Channel.DoesNotExist as exc:
            raise CommandError(f"No channel with code “{code}”.") from exc
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        for item_file in items:
            if not Path(item_file).is_file():
                raise CommandError(f"No such file: {item_file}")
        try:
            result = import_file(channel=channel, path=path, all_or_nothing=all_or_nothing,
                                 workers=workers, items_paths=items)
        except NormalizationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"created={result.created} updated={result.updated} "
                          f"unchanged={result.unchanged} rejected={result.rejected}")
        if result.archived or result.archived_unchanged:
            self.stdout.write(f"archived={result.archived} "
                              f"archived_unchanged={result.archived_unchanged}")
        for raw_id, error in result.errors[:20]:
            self.stderr.write(f"rejected #{raw_id}: {error}")
        if result.rejected:
            raise CommandError(f"{result.rejected} rejected (quarantined with reasons)",
                               returncode=1)
