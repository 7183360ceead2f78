"""Tenant scoping for the admin: what a staff member sees and may do comes from their memberships' roles, never
from Django model permissions. Superusers are operators and see every tenant (still behind MFA).

Every registered ModelAdmin is either a ``TenantScopedAdmin`` (rows filtered to the tenants where the user's role
may view its area; actions and custom views checked against the row's tenant) or a model named in
``OPERATOR_ONLY_MODELS``. The site wraps any other admin as operator-only, and a system check names it.
The role matrix below is documented in docs/admin-roles.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.contrib.admin.options import InlineModelAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import ForeignKey, ManyToManyField, Model, QuerySet
from django.forms import ModelMultipleChoiceField
from django.http import HttpRequest

from accounts.models import Membership, Role, Tenant, User
from core.admin_theme import ThemedModelAdmin

if TYPE_CHECKING:
    from django.contrib.admin.options import _ListFilterT
    from django.utils.datastructures import _ListOrTuple

_ModelT = TypeVar("_ModelT", bound=Model)


class Area(StrEnum):
    """What a model's rows are about; the role matrix grants capabilities per area."""

    TENANT = "tenant"
    MEMBERS = "members"
    API_KEYS = "api_keys"
    CHANNELS = "channels"
    CONVERSATIONS = "conversations"
    RAW = "raw"
    POLICIES = "policies"
    HOLDS = "holds"
    SUBJECT_RIGHTS = "subject_rights"
    AUDIT = "audit"
    EVENTS = "events"
    SECURITY = "security"


class Capability(StrEnum):
    VIEW = "view"
    MANAGE = "manage"  # add, change, delete and every action that writes
    REVEAL = "reveal"  # open encrypted values (a step-up and a reason on top)


_ALL = frozenset(Role)
_MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
_OVERSIGHT = frozenset({Role.OWNER, Role.ADMIN, Role.AUDITOR})
_NOBODY: frozenset[Role] = frozenset()

ROLE_MATRIX: Mapping[Area, Mapping[Capability, frozenset[Role]]] = {
    Area.TENANT: {Capability.VIEW: _ALL, Capability.MANAGE: frozenset({Role.OWNER}), Capability.REVEAL: _NOBODY},
    Area.MEMBERS: {Capability.VIEW: _OVERSIGHT, Capability.MANAGE: frozenset({Role.OWNER}), Capability.REVEAL: _NOBODY},
    Area.API_KEYS: {Capability.VIEW: _OVERSIGHT, Capability.MANAGE: _MANAGERS, Capability.REVEAL: _NOBODY},
    Area.CHANNELS: {Capability.VIEW: _ALL, Capability.MANAGE: _MANAGERS, Capability.REVEAL: _NOBODY},
    Area.CONVERSATIONS: {
        Capability.VIEW: _ALL,
        Capability.MANAGE: _NOBODY,
        Capability.REVEAL: frozenset({Role.OWNER, Role.ADMIN, Role.AGENT}),
    },
    Area.RAW: {Capability.VIEW: _OVERSIGHT, Capability.MANAGE: _MANAGERS, Capability.REVEAL: _MANAGERS},
    Area.POLICIES: {Capability.VIEW: _OVERSIGHT, Capability.MANAGE: _MANAGERS, Capability.REVEAL: _NOBODY},
    Area.HOLDS: {Capability.VIEW: _OVERSIGHT, Capability.MANAGE: _MANAGERS, Capability.REVEAL: _NOBODY},
    Area.SUBJECT_RIGHTS: {Capability.VIEW: _OVERSIGHT, Capability.MANAGE: _MANAGERS, Capability.REVEAL: _NOBODY},
    Area.AUDIT: {Capability.VIEW: _OVERSIGHT, Capability.MANAGE: _NOBODY, Capability.REVEAL: _NOBODY},
    Area.EVENTS: {Capability.VIEW: _OVERSIGHT, Capability.MANAGE: _MANAGERS, Capability.REVEAL: _NOBODY},
    Area.SECURITY: {Capability.VIEW: _OVERSIGHT, Capability.MANAGE: _MANAGERS, Capability.REVEAL: _NOBODY},
}

# Rows no tenant owns, or that span tenants: only operators see them. Why, per model, is in docs/admin-roles.md.
OPERATOR_ONLY_MODELS = frozenset(
    {
        "accounts.totpdevice",
        "accounts.backupcodedevice",
        "auth.group",
        "audit.auditchainhead",
        "encryption.keyencryptionkey",
        "encryption.datakey",
        "policies.purgerun",
    }
)

_ROLES_ATTRIBUTE = "_gateway_tenant_roles"


def is_operator(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)


def tenant_roles(request: HttpRequest) -> Mapping[uuid.UUID, Role]:
    """The user's role in each of their tenants, read once per request."""
    cached: Mapping[uuid.UUID, Role] | None = getattr(request, _ROLES_ATTRIBUTE, None)
    if cached is None:
        cached = {}
        if isinstance(request.user, User) and request.user.is_active:
            memberships = Membership.objects.filter(user_id=request.user.pk, tenant__is_active=True)
            cached = {tenant_id: Role(role) for tenant_id, role in memberships.values_list("tenant_id", "role")}
        setattr(request, _ROLES_ATTRIBUTE, cached)
    return cached


def tenants_with(request: HttpRequest, area: Area, capability: Capability) -> list[uuid.UUID]:
    """The tenants where the user's role grants ``capability`` on ``area`` (not meaningful for operators)."""
    allowed = ROLE_MATRIX[area][capability]
    return [tenant_id for tenant_id, role in tenant_roles(request).items() if role in allowed]


class ReadOnlyMixin:
    """Rows written by the gateway itself, never added, edited or deleted by hand in the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TenantScopedAdmin(ThemedModelAdmin[_ModelT]):
    """Rows are filtered to the tenants where the user's role may view ``scope_area``; add, change, delete and
    writing actions need the manage capability in the row's tenant, reveal the reveal capability.

    ``tenant_path`` is the ORM path from the model to its tenant id (``tenant``, ``tenant_id``, ``channel__tenant``,
    ``pk`` for tenants). Subclasses with read-only rules of their own keep them: they come first in the MRO.
    """

    scope_area: ClassVar[Area]
    tenant_path: ClassVar[str] = "tenant"

    # --- scope ---

    def scope_queryset(self, queryset: QuerySet[_ModelT], tenant_ids: Iterable[uuid.UUID]) -> QuerySet[_ModelT]:
        return queryset.filter(**{f"{self.tenant_path}__in": list(tenant_ids)})

    def object_tenant_ids(self, obj: _ModelT) -> set[uuid.UUID]:
        """The tenant(s) a row belongs to, following ``tenant_path`` on the loaded row."""
        current: Any = obj
        model: type[Model] = type(obj)
        parts = self.tenant_path.split("__")
        for index, part in enumerate(parts):
            if part == "pk":
                return {current.pk}
            field = model._meta.get_field(part)
            if index == len(parts) - 1 or not isinstance(field, ForeignKey):
                value = getattr(current, field.attname)  # type: ignore[union-attr]
                return set() if value is None else {uuid.UUID(str(value))}
            current = getattr(current, part)
            if current is None:
                return set()
            model = type(current)
        return set()

    def tenants_with(self, request: HttpRequest, capability: Capability, area: Area | None = None) -> list[uuid.UUID]:
        return tenants_with(request, area or self.scope_area, capability)

    def has_capability(
        self, request: HttpRequest, capability: Capability, obj: _ModelT | None = None, *, area: Area | None = None
    ) -> bool:
        if is_operator(request):
            return True
        tenants = self.tenants_with(request, capability, area)
        if obj is None:
            return bool(tenants)
        return bool(self.object_tenant_ids(obj) & set(tenants))

    def require_capability(
        self, request: HttpRequest, capability: Capability, rows: Iterable[_ModelT], *, area: Area | None = None
    ) -> None:
        """Every chosen row must allow ``capability``, or nothing is done (a 403 names no row)."""
        if not all(self.has_capability(request, capability, row, area=area) for row in rows):
            raise PermissionDenied

    def get_queryset(self, request: HttpRequest) -> QuerySet[_ModelT]:
        queryset = super().get_queryset(request)
        if is_operator(request):
            return queryset
        tenants = set(self.tenants_with(request, Capability.VIEW))
        picker_tenants = self._picker_tenants(request)
        if picker_tenants is not None:
            tenants &= picker_tenants
        return self.scope_queryset(queryset, tenants)

    def _picker_tenants(self, request: HttpRequest) -> set[uuid.UUID] | None:
        """For the admin's autocomplete (a picker on another model's form): the tenants where the user may manage
        that model's rows, as ``related_choices`` offers; ``None`` for any other request."""
        match = request.resolver_match
        if match is None or match.url_name != "autocomplete":
            return None
        source = (request.GET.get("app_label"), request.GET.get("model_name"))
        for model, model_admin in self.admin_site._registry.items():
            if (model._meta.app_label, model._meta.model_name) == source and isinstance(model_admin, TenantScopedAdmin):
                return set(model_admin.tenants_with(request, Capability.MANAGE))
        return set()  # a picker on a form that is not tenant-scoped offers nothing to a non-operator

    def managed_tenants(self, request: HttpRequest, area: Area | None = None) -> QuerySet[Tenant]:
        """The tenants a form may offer for a new or changed row: where the user may manage this area."""
        tenants = Tenant.objects.filter(is_active=True)
        if is_operator(request):
            return tenants
        return tenants.filter(pk__in=self.tenants_with(request, Capability.MANAGE, area))

    # --- permissions from the role, not from Django model permissions ---

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_capability(request, Capability.VIEW)

    def has_view_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return self.has_capability(request, Capability.VIEW, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_capability(request, Capability.MANAGE)

    def has_change_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return self.has_capability(request, Capability.MANAGE, obj)

    def has_delete_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return self.has_capability(request, Capability.MANAGE, obj)

    def has_reveal_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return self.has_capability(request, Capability.REVEAL, obj)

    # --- choices and filters never reach another tenant ---

    def formfield_for_foreignkey(self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        kwargs.setdefault("queryset", self.related_choices(db_field.related_model, request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField | None:  # type: ignore[type-arg]
        kwargs.setdefault("queryset", self.related_choices(db_field.related_model, request))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def related_choices(self, related: Any, request: HttpRequest) -> QuerySet[Any]:
        """Rows of ``related`` in the tenants where the user may manage this area (none if no scope covers it)."""
        if related is Tenant:
            return self.managed_tenants(request)
        queryset: QuerySet[Any] = related._default_manager.all()
        if is_operator(request):
            return queryset
        related_admin = self.admin_site._registry.get(related)
        if not isinstance(related_admin, TenantScopedAdmin):
            return queryset.none()
        return related_admin.scope_queryset(queryset, self.tenants_with(request, Capability.MANAGE))

    def get_list_filter(self, request: HttpRequest) -> _ListOrTuple[_ListFilterT]:
        return [self._scoped_list_filter(item) for item in super().get_list_filter(request)]

    def _scoped_list_filter(self, item: _ListFilterT) -> _ListFilterT:
        """A filter on a relation lists only the related rows the (scoped) changelist holds, never every tenant."""
        if isinstance(item, str) and "__" not in item and self.model._meta.get_field(item).is_relation:
            return (item, RelatedOnlyFieldListFilter)
        return item


class ScopedInline(InlineModelAdmin[Any, Any]):
    """An inline shows what its parent's admin lets the user view (the parent row is already scoped)."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        parent = self.admin_site._registry[self.parent_model]
        return parent.has_view_permission(request, obj)


class OperatorOnlyAdmin(ThemedModelAdmin[Any]):
    """Wraps an admin the scoping does not cover: non-operators neither see it nor reach a row of it."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        return queryset if is_operator(request) else queryset.none()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_operator(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_operator(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_operator(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_operator(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_operator(request) and super().has_delete_permission(request, obj)


def operator_only_unless_scoped(admin_class: type[admin.ModelAdmin[Any]]) -> type[admin.ModelAdmin[Any]]:
    """The admin class as given when it is tenant-scoped; otherwise the same admin for operators only."""
    if issubclass(admin_class, TenantScopedAdmin | OperatorOnlyAdmin):
        return admin_class
    attributes = {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__}
    return type(admin_class.__name__, (OperatorOnlyAdmin, admin_class), attributes)
