"""Home Assistant's mock home (the ``tests/_fixtures.yaml`` of its intents repository) as events.

Floors, areas and entities become ``FloorAdded``, ``AreaAdded`` and ``DeviceAdded`` events;
each entity's state and attributes become ``DeviceStateChanged`` events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import yaml

from .. import events as E
from ..errors import EventError

# Home Assistant domains (the part of an entity id before the dot) as hearth device kinds.
DOMAIN_KINDS = {
    "light": "light", "switch": "switch", "climate": "climate", "lock": "lock",
    "cover": "cover", "fan": "fan", "media_player": "media_player", "vacuum": "vacuum",
    "sensor": "sensor", "binary_sensor": "binary_sensor", "input_boolean": "switch",
    "scene": "device", "script": "device", "valve": "device", "water_heater": "appliance",
    "humidifier": "appliance", "lawn_mower": "appliance", "todo": "device", "weather": "sensor",
    "timer": "device", "camera": "device", "alarm_control_panel": "device",
}

_SKIP_ATTRIBUTES = {"device_class", "friendly_name", "supported_features", "unit_of_measurement"}


def _kind(entity_id: str, attributes: dict) -> str:
    domain = entity_id.split(".", 1)[0]
    if domain == "cover" and attributes.get("device_class") in ("garage", "garage_door"):
        return "garage_door"
    if domain == "cover" and attributes.get("device_class") == "door":
        return "door"
    return DOMAIN_KINDS.get(domain, "device")


def read_fixtures(path: str | Path, *, time: dt.datetime | None = None) -> Iterator[E.Event]:
    """Events for a Home Assistant fixtures file (floors, areas, entities with states)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise EventError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict) or "entities" not in data:
        raise EventError(f"{path} has no 'entities': it is not a Home Assistant fixtures file")
    when = time or dt.datetime.now(dt.timezone.utc)
    by = "component:import-homeassistant"
    for floor in data.get("floors") or []:
        yield E.FloorAdded(time=when, by=by, floor=floor["id"], name=floor["name"])
    for area in data.get("areas") or []:
        yield E.AreaAdded(time=when, by=by, area=area["id"], name=area["name"],
                          floor=area.get("floor"))
    for number, entity in enumerate(data["entities"], start=1):
        if "id" not in entity or "name" not in entity:
            raise EventError(f"entity {number} in {path} needs 'id' and 'name'", field="entities")
        attributes = entity.get("attributes") or {}
        device = entity["id"]
        yield E.DeviceAdded(time=when, by=by, device=device, name=str(entity["name"]),
                            kind=_kind(device, attributes), area=entity.get("area"),
                            device_class=attributes.get("device_class"))
        if entity.get("state") is not None and not isinstance(entity["state"], (dict, list)):
            yield E.DeviceStateChanged(time=when, by=by, device=device, attribute="state",
                                       value=_value(entity["state"]))
        for key, value in attributes.items():
            if key in _SKIP_ATTRIBUTES or value is None or isinstance(value, (list, dict)):
                continue
            yield E.DeviceStateChanged(time=when, by=by, device=device, attribute=key,
                                       value=_value(value))


def _value(value):
    if isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
