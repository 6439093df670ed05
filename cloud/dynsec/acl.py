"""What each broker account may do, as dynamic-security ACL entries (pure data).

Mosquitto 2.0's plugin has no ``%u``/``%c`` substitution in ACL topics, so every device
gets a role of its own naming its own topics.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from wire.topics import DEVICE_TO_CLOUD, TOPIC_ROOT, Channel, device_topic

AclType = Literal[
    "publishClientSend",
    "publishClientReceive",
    "subscribeLiteral",
    "subscribePattern",
    "unsubscribeLiteral",
    "unsubscribePattern",
]


class Acl(TypedDict):
    acltype: AclType
    topic: str
    allow: bool
    priority: int


# The cloud's own fan-out topic (alert changes): the ingest and every API replica use it.
CLOUD_TOPICS = "tianshan/v1/cloud/#"
# Commands to a device (reserved in the ACLs; nothing sends them yet).
COMMAND_SUFFIX = "command"


def _allow(acltype: AclType, topic: str) -> Acl:
    return {"acltype": acltype, "topic": topic, "allow": True, "priority": 0}


def ingest_acls() -> list[Acl]:
    """Read everything devices send (through a shared subscription), and wake the API."""
    every_device = f"{TOPIC_ROOT}/+/#"
    return [
        _allow("subscribePattern", every_device),
        _allow("subscribePattern", f"$share/+/{every_device}"),
        _allow("publishClientReceive", every_device),
        _allow("publishClientSend", CLOUD_TOPICS),
        _allow("subscribePattern", CLOUD_TOPICS),
        _allow("publishClientReceive", CLOUD_TOPICS),
    ]


def cloud_acls() -> list[Acl]:
    """The API: publish (retained) configs to any device, and the cloud fan-out."""
    return [
        _allow("publishClientSend", f"{TOPIC_ROOT}/+/{Channel.CONFIG.value}"),
        _allow("publishClientSend", f"{TOPIC_ROOT}/+/{COMMAND_SUFFIX}/#"),
        _allow("publishClientSend", CLOUD_TOPICS),
        _allow("subscribePattern", CLOUD_TOPICS),
        _allow("publishClientReceive", CLOUD_TOPICS),
    ]


def device_acls(device_id: str) -> list[Acl]:
    """Publish only on its own device-to-cloud topics; read only its own config and
    commands. Everything else falls to the default: deny."""
    acls = [_allow("publishClientSend", device_topic(device_id, c)) for c in DEVICE_TO_CLOUD]
    own_config = device_topic(device_id, Channel.CONFIG)
    own_commands = f"{TOPIC_ROOT}/{device_id}/{COMMAND_SUFFIX}/#"
    for topic in (own_config, own_commands):
        acls.append(_allow("subscribeLiteral", topic))
        acls.append(_allow("publishClientReceive", topic))
    return acls


# Anything not allowed by a role is refused, receiving included (the plugin's own default
# lets a client receive whatever its subscriptions match).
DEFAULT_ACCESS: list[dict[str, object]] = [
    {"acltype": "publishClientSend", "allow": False},
    {"acltype": "publishClientReceive", "allow": False},
    {"acltype": "subscribe", "allow": False},
    {"acltype": "unsubscribe", "allow": True},
]
