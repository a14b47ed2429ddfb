"""Admin for tickets: browse and fix; the queue page is where ops work them."""

from django.contrib import admin

from fulfillment.tickets.models import Ticket, TicketEvent


class TicketEventInline(admin.TabularInline):
    model = TicketEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "actor", "from_status", "to_status", "assignee", "text"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "kind", "status", "assignee", "due_at", "order", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["title", "order__number", "dedupe_key"]
    raw_id_fields = ["order", "channel", "assignee", "created_by"]
    # Status goes through the queue (ticket_set_status) so the history stays complete.
    readonly_fields = ["status", "dedupe_key", "created_by", "created_by_label", "created_at",
                       "resolved_at"]
    list_select_related = ["assignee", "order"]
    inlines = [TicketEventInline]
