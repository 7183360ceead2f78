"""The admin's theme (django-unfold): the classes every admin of the gateway derives from.

Unfold ships no type information, so mypy sees Django's own classes here (Unfold's derive from them and keep
their interface); at run time they are Unfold's, which style the pages, widgets and inlines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite as ThemedAdminSite
    from django.contrib.admin import ModelAdmin as ThemedModelAdmin
    from django.contrib.admin import StackedInline as ThemedStackedInline
    from django.contrib.admin import TabularInline as ThemedTabularInline
else:
    from unfold.admin import ModelAdmin as ThemedModelAdmin
    from unfold.admin import StackedInline as ThemedStackedInline
    from unfold.admin import TabularInline as ThemedTabularInline
    from unfold.sites import UnfoldAdminSite as ThemedAdminSite

__all__ = ["ThemedAdminSite", "ThemedModelAdmin", "ThemedStackedInline", "ThemedTabularInline"]
