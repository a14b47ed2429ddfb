"""Admin building blocks shared by every app's admin."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """For ledger-like rows that only services write: browse and search, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
