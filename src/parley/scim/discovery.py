"""What the SCIM service provider says about itself (RFC 7643, sections 5-7): its configuration, its resource
types and the schemas of the attributes it keeps. IdPs and conformance tools read these to know what to send.

Only the attributes Parley stores are published; the other attributes of the core User schema that IdPs send
(title, phoneNumbers, addresses, name parts…) are accepted and not kept (`schemas.USER_ATTRIBUTES_ACCEPTED`)."""

from __future__ import annotations

from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
# A page of a list holds at most this many resources, whatever `count` asks.
MAX_RESULTS = 200


def _attribute(
    name: str,
    type_: str = "string",
    *,
    description: str,
    multi: bool = False,
    required: bool = False,
    case_exact: bool = False,
    mutability: str = "readWrite",
    returned: str = "default",
    uniqueness: str = "none",
    sub: list[dict[str, Any]] | None = None,
    reference_types: list[str] | None = None,
) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "name": name,
        "type": type_,
        "multiValued": multi,
        "description": description,
        "required": required,
        "caseExact": case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    }
    if sub is not None:
        attribute["subAttributes"] = sub
    if reference_types is not None:
        attribute["referenceTypes"] = reference_types
    return attribute


_USER_ATTRIBUTES = [
    _attribute(
        "userName",
        description="The account's sign-in name: Parley's email of the account (stored lower-case).",
        required=True,
        uniqueness="server",
    ),
    _attribute("displayName", description="The name Parley shows (its account's full name)."),
    # Required: Parley's accounts are always active or suspended (an IdP that leaves it out keeps it as it is).
    _attribute(
        "active", "boolean", required=True, description="false suspends the account at once; true reinstates it."
    ),
    _attribute(
        "emails",
        "complex",
        multi=True,
        mutability="readOnly",
        description="The account's email, which is its userName.",
        sub=[
            _attribute("value", description="The email.", mutability="readOnly"),
            _attribute("type", description="Always work.", mutability="readOnly"),
            _attribute("primary", "boolean", description="Always true.", mutability="readOnly"),
        ],
    ),
]

_GROUP_ATTRIBUTES = [
    _attribute(
        "displayName",
        description="The group's name in Parley (unique regardless of case).",
        required=True,
        uniqueness="server",
    ),
    _attribute(
        "members",
        "complex",
        multi=True,
        description="The group's members (users).",
        sub=[
            _attribute("value", description="The member's id.", mutability="immutable", case_exact=True),
            _attribute(
                "$ref",
                "reference",
                description="The member's URI.",
                mutability="immutable",
                reference_types=["User"],
            ),
        ],
    ),
]


def _meta(base_url: str, resource_type: str, path: str) -> dict[str, Any]:
    return {"resourceType": resource_type, "location": f"{base_url}/{path}"}


def schemas(base_url: str) -> list[dict[str, Any]]:
    return [
        {
            "schemas": [SCHEMA_SCHEMA],
            "id": USER_SCHEMA,
            "name": "User",
            "description": "A Parley account",
            "attributes": _USER_ATTRIBUTES,
            "meta": _meta(base_url, "Schema", f"Schemas/{USER_SCHEMA}"),
        },
        {
            "schemas": [SCHEMA_SCHEMA],
            "id": GROUP_SCHEMA,
            "name": "Group",
            "description": "A Parley group (for sharing knowledge bases, limits and budgets)",
            "attributes": _GROUP_ATTRIBUTES,
            "meta": _meta(base_url, "Schema", f"Schemas/{GROUP_SCHEMA}"),
        },
    ]


def resource_types(base_url: str) -> list[dict[str, Any]]:
    return [
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "Parley accounts",
            "schema": USER_SCHEMA,
            "schemaExtensions": [],
            "meta": _meta(base_url, "ResourceType", "ResourceTypes/User"),
        },
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Parley groups",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": _meta(base_url, "ResourceType", "ResourceTypes/Group"),
        },
    ]


def service_provider_config(base_url: str) -> dict[str, Any]:
    unsupported = {"supported": False}
    return {
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": unsupported,
        "sort": unsupported,
        "etag": unsupported,
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The token from PARLEY_SCIM__TOKEN or from an admin (POST /api/v1/admin/scim/token)",
                "primary": True,
            }
        ],
        "meta": _meta(base_url, "ServiceProviderConfig", "ServiceProviderConfig"),
    }
