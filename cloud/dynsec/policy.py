"""The platform's broker policy, applied through :class:`DynsecControl`: service roles,
one client and role per device, revocation. Every step is idempotent, so a step that
was interrupted can simply be run again."""

from __future__ import annotations

from typing import Any

from cloud.dynsec.acl import DEFAULT_ACCESS, cloud_acls, device_acls, ingest_acls
from cloud.dynsec.control import DynsecControl, DynsecError

INGEST_ROLE = "tianshan-ingest"
CLOUD_ROLE = "tianshan-cloud"
_DEVICE_ROLE_PREFIX = "tianshan-device-"

ROLE_EXISTS = "Role already exists"
CLIENT_EXISTS = "Client already exists"
CLIENT_NOT_FOUND = "Client not found"
ROLE_NOT_FOUND = "Role not found"
# 2.0.x answers addClientRole for a role the client already has with this.
ALREADY_HAS_ROLE = "Client is already in this role"
# 2.0.11 answers a successful addClientRole with this when it drops the client to apply it.
INTERNAL_ERROR = "Internal error"


def device_role(device_id: str) -> str:
    return _DEVICE_ROLE_PREFIX + device_id


def ensure_policy(
    control: DynsecControl,
    *,
    ingest_username: str | None = None,
    ingest_password: str | None = None,
) -> None:
    """The ingest and cloud roles, and the ingest's account if given.

    Existing roles are left as they are: changing a role makes the plugin drop every
    client holding it, the admin connection sending the change included. The admin's
    own roles come from the file the broker starts with (:func:`seed_config`).
    """
    control.check(
        [
            {"command": "createRole", "rolename": INGEST_ROLE, "acls": ingest_acls()},
            {"command": "createRole", "rolename": CLOUD_ROLE, "acls": cloud_acls()},
        ],
        tolerate=frozenset({ROLE_EXISTS}),
    )
    if ingest_username is not None and ingest_password is not None:
        _ensure_client(control, ingest_username, ingest_password, role=INGEST_ROLE)


def seed_config(config: dict[str, Any], *, admin_username: str) -> dict[str, Any]:
    """The plugin's initial file (as ``mosquitto_ctrl dynsec init`` writes it, admin
    password hashed) plus the service roles, the cloud role on the admin, and default
    deny. Holds no secret of its own."""
    seeded = dict(config)
    roles = [
        r for r in seeded.get("roles", []) if r.get("rolename") not in (INGEST_ROLE, CLOUD_ROLE)
    ]
    roles += [
        {"rolename": INGEST_ROLE, "acls": ingest_acls()},
        {"rolename": CLOUD_ROLE, "acls": cloud_acls()},
    ]
    seeded["roles"] = roles
    clients = []
    for client in seeded.get("clients", []):
        if client.get("username") != admin_username:
            clients.append(client)
            continue
        held = [r for r in client.get("roles", []) if r.get("rolename") != CLOUD_ROLE]
        clients.append(dict(client) | {"roles": [*held, {"rolename": CLOUD_ROLE}]})
    seeded["clients"] = clients
    seeded["defaultACLAccess"] = {str(a["acltype"]): a["allow"] for a in DEFAULT_ACCESS}
    return seeded


def provision_device(control: DynsecControl, *, device_id: str, password: str) -> None:
    """A client for the device (username and client id: the device id) holding a role
    that names its own topics only. A device claimed again gets the new password."""
    role = device_role(device_id)
    acls = device_acls(device_id)
    created = control.run([{"command": "createRole", "rolename": role, "acls": acls}])
    error = created[0].get("error") if created else None
    if error == ROLE_EXISTS:  # claimed before: make its ACLs the current ones
        control.check([{"command": "modifyRole", "rolename": role, "acls": acls}])
    elif error:
        raise DynsecError("createRole", str(error))
    _ensure_client(control, device_id, password, role=role, clientid=device_id)


def revoke_device(control: DynsecControl, *, device_id: str) -> bool:
    """Disable the device's client: the broker drops its connection at once and refuses
    it from then on. False if the device never had a client (never claimed)."""
    for response in control.run([{"command": "disableClient", "username": device_id}]):
        error = response.get("error")
        if error == CLIENT_NOT_FOUND:
            return False
        if error:
            raise DynsecError("disableClient", str(error))
    return True


def _ensure_client(
    control: DynsecControl,
    username: str,
    password: str,
    *,
    role: str,
    clientid: str | None = None,
) -> None:
    create: dict[str, object] = {
        "command": "createClient",
        "username": username,
        "password": password,
        "roles": [{"rolename": role}],
    }
    if clientid is not None:
        create["clientid"] = clientid
    for response in control.run([create]):
        if response.get("error") == CLIENT_EXISTS:
            break
        if response.get("error"):
            raise DynsecError("createClient", str(response["error"]))
        return
    control.check(
        [
            {"command": "setClientPassword", "username": username, "password": password},
            {"command": "addClientRole", "username": username, "rolename": role},
            {"command": "enableClient", "username": username},
        ],
        tolerate=frozenset({ALREADY_HAS_ROLE, INTERNAL_ERROR}),
    )
    # The tolerated "Internal error" is only harmless if the role is really there.
    found = control.run([{"command": "getClient", "username": username}])
    client = (found[0].get("data") or {}).get("client", {}) if found else {}
    if role not in {r.get("rolename") for r in client.get("roles", [])}:
        raise DynsecError("addClientRole", f"{username} does not hold {role}")
