"""Mosquitto's dynamic security plugin: the broker accounts and ACLs of the platform,
changed at run time through the ``$CONTROL/dynamic-security/v1`` topic."""

from cloud.dynsec.control import DynsecControl, DynsecError, DynsecUnavailable
from cloud.dynsec.policy import (
    CLOUD_ROLE,
    INGEST_ROLE,
    device_role,
    ensure_policy,
    provision_device,
    revoke_device,
)

__all__ = [
    "CLOUD_ROLE",
    "INGEST_ROLE",
    "DynsecControl",
    "DynsecError",
    "DynsecUnavailable",
    "device_role",
    "ensure_policy",
    "provision_device",
    "revoke_device",
]
