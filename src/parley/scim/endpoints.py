"""/scim/v2: the SCIM 2.0 service provider (RFC 7644) that identity providers (Microsoft Entra ID, Okta…) call
to provision Parley's accounts and groups. Answers are application/scim+json; errors have SCIM's shape
(`scim.errors`). Kept out of the OpenAPI document: SCIM describes itself at /ServiceProviderConfig,
/ResourceTypes and /Schemas."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response

from parley.auth.security import client_ip
from parley.db import SessionDep
from parley.errors import BadRequest, NotFound
from parley.models import Group
from parley.scim import discovery, resources, service
from parley.scim.auth import ScimClient
from parley.scim.errors import PREFIX, NotImplementedByParley, ScimResponse, invalid
from parley.scim.schemas import lower_keys, parse_group, parse_patch, parse_user

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[ScimClient])

Filter = Annotated[str | None, Query(alias="filter", max_length=4000)]
StartIndex = Annotated[int, Query(alias="startIndex")]
Count = Annotated[int, Query(alias="count")]
Attributes = Annotated[str | None, Query(alias="attributes", max_length=2000)]
Excluded = Annotated[str | None, Query(alias="excludedAttributes", max_length=2000)]
DEFAULT_COUNT = 100
T = TypeVar("T")


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _context(request: Request) -> service.Context:
    state = request.app.state
    return service.Context(ip=client_ip(request), answers=(state.chat_engine, state.open_streams))


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("the request body is not JSON", "invalidSyntax") from exc


async def _parsed(request: Request, session: SessionDep, parse: Callable[[Any], T]) -> T:
    """The body read by `parse`; a refusal (nothing has changed yet) is audited, as IdP misconfigurations show
    up there first."""
    try:
        return parse(await _body(request))
    except BadRequest as error:
        path = request.url.path.removeprefix(PREFIX)
        service.refused(session, _context(request), method=request.method, path=path, error=error)
        raise


def _page(start_index: int, count: int) -> tuple[int, int]:
    """startIndex below 1 is 1 and a negative count is 0 (RFC 7644, 3.4.2.4); count is capped."""
    return max(start_index, 1), min(max(count, 0), discovery.MAX_RESULTS)


# Discovery


@router.get("/ServiceProviderConfig")
async def service_provider_config(request: Request) -> ScimResponse:
    return ScimResponse(discovery.service_provider_config(_base_url(request)))


def _listed(items: list[dict[str, Any]]) -> dict[str, Any]:
    return resources.list_response(items, total=len(items), start_index=1)


@router.get("/ResourceTypes")
async def resource_types(request: Request) -> ScimResponse:
    return ScimResponse(_listed(discovery.resource_types(_base_url(request))))


@router.get("/ResourceTypes/{type_id}")
async def resource_type(type_id: str, request: Request) -> ScimResponse:
    for item in discovery.resource_types(_base_url(request)):
        if item["id"] == type_id:
            return ScimResponse(item)
    raise NotFound(f"ResourceType {type_id} not found")


@router.get("/Schemas")
async def schemas(request: Request) -> ScimResponse:
    return ScimResponse(_listed(discovery.schemas(_base_url(request))))


@router.get("/Schemas/{schema_id}")
async def schema(schema_id: str, request: Request) -> ScimResponse:
    for item in discovery.schemas(_base_url(request)):
        if item["id"] == schema_id:
            return ScimResponse(item)
    raise NotFound(f"Schema {schema_id} not found")


@router.post("/.search")
async def search_everything() -> ScimResponse:
    raise NotImplementedByParley("searching several resource types at once is not supported")


async def _search_body(request: Request) -> tuple[str | None, int, int, str | None, str | None]:
    """A SearchRequest (RFC 7644, 3.4.3): filter, startIndex, count, attributes, excludedAttributes."""
    body = lower_keys(await _body(request), "a SearchRequest")
    if unknown := body.keys() - {"schemas", "filter", "startindex", "count", "attributes", "excludedattributes"}:
        raise invalid(f"unknown member of a SearchRequest: {sorted(unknown)[0]}", "invalidSyntax")

    def joined(value: Any, name: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise invalid(f"{name} must be a list of attribute names", "invalidValue")
        return ",".join(value)

    def number(value: Any, name: str, default: int) -> int:
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(f"{name} must be an integer", "invalidValue")
        return value

    filter_ = body.get("filter")
    if filter_ is not None and not isinstance(filter_, str):
        raise invalid("filter must be a string", "invalidFilter")
    start_index, count = _page(
        number(body.get("startindex"), "startIndex", 1), number(body.get("count"), "count", DEFAULT_COUNT)
    )
    return (
        filter_,
        start_index,
        count,
        joined(body.get("attributes"), "attributes"),
        joined(body.get("excludedattributes"), "excludedAttributes"),
    )


# Users


def _user(request: Request, user: Any, attributes: str | None = None, excluded: str | None = None) -> dict[str, Any]:
    resource = resources.user_resource(user, _base_url(request))
    return resources.project(resource, resources.names(attributes), resources.names(excluded))


@router.get("/Users")
async def list_users(
    request: Request,
    session: SessionDep,
    filter_: Filter = None,
    start_index: StartIndex = 1,
    count: Count = DEFAULT_COUNT,
    attributes: Attributes = None,
    excluded: Excluded = None,
) -> ScimResponse:
    start_index, count = _page(start_index, count)
    users, total = await service.list_users(session, filter_=filter_, start_index=start_index, count=count)
    items = [_user(request, user, attributes, excluded) for user in users]
    return ScimResponse(resources.list_response(items, total=total, start_index=start_index))


@router.post("/Users/.search")
async def search_users(request: Request, session: SessionDep) -> ScimResponse:
    filter_, start_index, count, attributes, excluded = await _search_body(request)
    return await list_users(request, session, filter_, start_index, count, attributes, excluded)


@router.post("/Users")
async def create_user(request: Request, session: SessionDep) -> ScimResponse:
    user = await service.create_user(session, await _parsed(request, session, parse_user), _context(request))
    resource = _user(request, user)
    return ScimResponse(resource, status_code=201, headers={"Location": resource["meta"]["location"]})


@router.get("/Users/{user_id}")
async def get_user(
    user_id: str, request: Request, session: SessionDep, attributes: Attributes = None, excluded: Excluded = None
) -> ScimResponse:
    return ScimResponse(_user(request, await service.get_user(session, user_id), attributes, excluded))


@router.put("/Users/{user_id}")
async def replace_user(user_id: str, request: Request, session: SessionDep) -> ScimResponse:
    fields = await _parsed(request, session, parse_user)
    return ScimResponse(_user(request, await service.replace_user(session, user_id, fields, _context(request))))


@router.patch("/Users/{user_id}")
async def patch_user(user_id: str, request: Request, session: SessionDep) -> ScimResponse:
    operations = await _parsed(request, session, parse_patch)
    user = await service.patch_user_with(session, user_id, operations, _context(request))
    return ScimResponse(_user(request, user))


@router.delete("/Users/{user_id}", status_code=204)
async def delete_user(user_id: str, request: Request, session: SessionDep) -> Response:
    await service.delete_user(session, user_id, _context(request))
    return Response(status_code=204)


# Groups


async def _groups(
    request: Request, session: SessionDep, groups: list[Group], attributes: str | None, excluded: str | None
) -> list[dict[str, Any]]:
    wanted, left_out = resources.names(attributes), resources.names(excluded)
    # Members are read only when they are returned: IdPs list groups with excludedAttributes=members.
    with_members = "members" in wanted if wanted else "members" not in left_out
    members = await service.members_of(session, groups) if with_members else {}
    base_url = _base_url(request)
    return [
        resources.project(
            resources.group_resource(group, members.get(group.id) if with_members else None, base_url),
            wanted,
            left_out,
        )
        for group in groups
    ]


@router.get("/Groups")
async def list_groups(
    request: Request,
    session: SessionDep,
    filter_: Filter = None,
    start_index: StartIndex = 1,
    count: Count = DEFAULT_COUNT,
    attributes: Attributes = None,
    excluded: Excluded = None,
) -> ScimResponse:
    start_index, count = _page(start_index, count)
    groups, total = await service.list_groups(session, filter_=filter_, start_index=start_index, count=count)
    items = await _groups(request, session, groups, attributes, excluded)
    return ScimResponse(resources.list_response(items, total=total, start_index=start_index))


@router.post("/Groups/.search")
async def search_groups(request: Request, session: SessionDep) -> ScimResponse:
    filter_, start_index, count, attributes, excluded = await _search_body(request)
    return await list_groups(request, session, filter_, start_index, count, attributes, excluded)


@router.post("/Groups")
async def create_group(request: Request, session: SessionDep) -> ScimResponse:
    group = await service.create_group(session, await _parsed(request, session, parse_group), _context(request))
    (resource,) = await _groups(request, session, [group], None, None)
    return ScimResponse(resource, status_code=201, headers={"Location": resource["meta"]["location"]})


@router.get("/Groups/{group_id}")
async def get_group(
    group_id: str, request: Request, session: SessionDep, attributes: Attributes = None, excluded: Excluded = None
) -> ScimResponse:
    group = await service.get_group(session, group_id)
    (resource,) = await _groups(request, session, [group], attributes, excluded)
    return ScimResponse(resource)


@router.put("/Groups/{group_id}")
async def replace_group(group_id: str, request: Request, session: SessionDep) -> ScimResponse:
    fields = await _parsed(request, session, parse_group)
    group = await service.replace_group(session, group_id, fields, _context(request))
    (resource,) = await _groups(request, session, [group], None, None)
    return ScimResponse(resource)


@router.patch("/Groups/{group_id}")
async def patch_group(group_id: str, request: Request, session: SessionDep) -> ScimResponse:
    operations = await _parsed(request, session, parse_patch)
    group = await service.patch_group_with(session, group_id, operations, _context(request))
    (resource,) = await _groups(request, session, [group], None, None)
    return ScimResponse(resource)


@router.delete("/Groups/{group_id}", status_code=204)
async def delete_group(group_id: str, request: Request, session: SessionDep) -> Response:
    await service.delete_group(session, group_id, _context(request))
    return Response(status_code=204)
