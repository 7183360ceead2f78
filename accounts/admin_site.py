from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from django.contrib.admin import ModelAdmin
from django.contrib.admin.utils import unquote
from django.core.checks import CheckMessage, Error
from django.db.models import Model
from django.db.models.base import ModelBase
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.admin_scope import OPERATOR_ONLY_MODELS, TenantScopedAdmin, operator_only_unless_scoped
from accounts.mfa import is_verified
from core.admin_theme import ThemedAdminSite

_ViewT = TypeVar("_ViewT", bound=Callable[..., HttpResponseBase])


class GatewayAdminSite(ThemedAdminSite):
    """Every admin page needs an active staff user whose session passed OTP; superusers included.

    The admin's own login form is never shown: it sends people through the gateway's login,
    which forces enrolment for users without a device. What a staff member then sees is scoped by
    their memberships (``accounts.admin_scope``): an admin that is not tenant-scoped is for operators only,
    and a URL naming a row outside the user's scope is a 404, whatever the view.
    """

    site_header = "Meta gateway"
    site_title = "Meta gateway admin"
    index_title = "Administration"
    site_url = "/"  # "View site": the landing page (console), with the API docs and health

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and is_verified(user))

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.user.is_authenticated and is_verified(request.user):
            # Verified but not active staff: sending them to log in again would loop.
            return render(request, "accounts/no_access.html", status=403)
        next_url = request.GET.get("next") or reverse("admin:index")
        return HttpResponseRedirect(f"{reverse('accounts:login')}?{urlencode({'next': next_url})}")

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        """The account menu (the theme's ``account_links``) leads to the user's passkeys and second factors."""
        context: dict[str, Any] = super().each_context(request)
        security = {"title": "Sign-in security (passkeys)", "link": reverse("accounts:security")}
        context["account_links"] = [*context.get("account_links", []), security]
        return context

    def register(
        self,
        model_or_iterable: ModelBase | Iterable[ModelBase],
        admin_class: type[ModelAdmin[Any]] | None = None,
        **options: Any,
    ) -> None:
        super().register(model_or_iterable, operator_only_unless_scoped(admin_class or ModelAdmin), **options)

    def admin_view(self, view: _ViewT, cacheable: bool = False) -> _ViewT:
        return super().admin_view(_rows_in_scope_only(view), cacheable)

    def check(self, app_configs: Any) -> list[CheckMessage]:
        return [*super().check(app_configs), *self._scope_errors()]

    def _scope_errors(self) -> list[CheckMessage]:
        return [
            Error(
                f"The admin of {model._meta.label_lower} is neither tenant-scoped nor declared operator-only.",
                hint="Derive it from accounts.admin_scope.TenantScopedAdmin with a scope_area, or add the model "
                "to OPERATOR_ONLY_MODELS.",
                obj=type(model_admin),
                id="accounts.E110",
            )
            for model, model_admin in self._registry.items()
            if not _is_declared(model, model_admin)
        ]


def _is_declared(model: type[Model], model_admin: ModelAdmin[Any]) -> bool:
    if isinstance(model_admin, TenantScopedAdmin):
        return bool(getattr(model_admin, "scope_area", None))
    return model._meta.label_lower in OPERATOR_ONLY_MODELS


def _rows_in_scope_only(view: _ViewT) -> _ViewT:
    """A model admin's URL names at most one row of its model: outside the user's queryset it is a 404.

    Runs after the site's login and OTP check, before the view, so no view (change, delete, history, reveal,
    downloads, any custom one) can answer differently for a row the user may not see.
    """
    model_admin = getattr(view, "__self__", None)
    if not isinstance(model_admin, ModelAdmin):
        return view

    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        identifiers = [*args, *kwargs.values()]
        if len(identifiers) == 1 and _row(model_admin, request, str(identifiers[0])) is None:
            raise Http404("No such row.")
        return view(request, *args, **kwargs)

    return cast(_ViewT, guarded)


def _row(model_admin: ModelAdmin[Any], request: HttpRequest, identifier: str) -> Model | None:
    return model_admin.get_object(request, unquote(identifier))
