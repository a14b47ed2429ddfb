from django.core.management.base import BaseCommand, CommandError

from channels.models import Channel
from channels.services import channel_poll


class Command(BaseCommand):
    help = "Poll one channel now, synchronously (also a paused one, with --force)."

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("--force", action="store_true",
                            help="poll even if the channel is paused")

    def handle(self, code, force=False, **options):
        try:
            channel = Channel.objects.get(code=code)
        except Channel.DoesNotExist as exc:
            raise CommandError(f"No channel with code “{code}”.") from exc
        outcome = channel_poll(channel=channel, force=force)
        if outcome.status == "busy":
            raise CommandError("Another poll of this channel is running; try again shortly.")
        if outcome.status == "skipped":
            raise CommandError("The channel is disabled, paused (use --force) or has no API.")
        if outcome.result:
            counts = outcome.result.as_dict()
            self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
        if outcome.status == "failed":
            raise CommandError(f"Poll failed: {outcome.error}")
        if outcome.result and outcome.result.rejected:
            raise CommandError("Some orders were quarantined; see the Sync problems page.",
                               returncode=1)
