"""A user's own API tokens: create one (its key shown once, with the lines that use it), see them, revoke one.

Every staff user manages their own tokens here; a token acts with its user's permissions, no more. Keys are
stored as digests (media_analysis.models.ApiToken), so the page can show a key only in the answer that made it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from media_analysis.models import ApiToken

TOKEN_NAME_MAX = 100


def _render(request: HttpRequest, *, key: str = "", created: ApiToken | None = None, status: int = 200) -> HttpResponse:
    api_root = request.build_absolute_uri(reverse("api-index"))
    context = {
        **admin.site.each_context(request),
        "title": "Your API tokens",
        # admin_view lets only a logged-in staff user in: request.user has a primary key.
        "tokens": ApiToken.objects.filter(user_id=int(request.user.pk or 0)),
        "key": key,
        "created": created,
        "api_root": api_root,
        "jobs_url": request.build_absolute_uri(reverse("analysisjob-list")),
        "docs_url": reverse("api-docs"),
        "name_max": TOKEN_NAME_MAX,
    }
    # admin_view marks the answer never to be cached: the one that carries a key is kept nowhere.
    return render(request, "media_analysis/api_tokens.html", context, status=status)


@require_http_methods(["GET", "POST"])
def api_tokens_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render(request)
    token, key = ApiToken.issue(request.user, request.POST.get("name", "")[:TOKEN_NAME_MAX])
    # Rendered, not redirected: the key lives in this one answer and nowhere else.
    return _render(request, key=key, created=token)


@require_POST
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    # Only the user's own: another user's token is no more found here than one that never existed.
    token = get_object_or_404(ApiToken, pk=token_id, user_id=request.user.pk)
    label = str(token)
    token.delete()
    messages.success(request, f"Token {label} revoked: it no longer opens the API.")
    return HttpResponseRedirect(reverse("medianalyse:api-tokens"))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Every user's tokens, for whoever holds the permissions on tokens: seen and revoked, never made nor read."""

    list_display = ["prefix", "user", "name", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name", "prefix"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A key is shown to the user who makes it, on their own page.
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False
