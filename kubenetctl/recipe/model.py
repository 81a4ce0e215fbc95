"""The recipe format (kind: Lab), as pydantic models: parsing, field checks, JSON Schema.

Two levels in one file:
- high level: underlay, nodes, networks, pods, expect (compiled by recipe/compile.py);
- low level: namespaces, links, addresses, routes, fdb, neighbors, sysctls, masquerade,
  which are the resource model (kubenetctl/resources.py) spelled in YAML.

Every model forbids unknown fields and is strict (YAML gives real ints and booleans, so
"1450" in quotes is an error, not a silent conversion). Field checks reuse
kubenetctl/validate.py so that a recipe and a CLI primitive reject the same values
with the same words. Checks that need the whole file (duplicates, references,
overlaps, MTU) live in recipe/check.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError

from kubenetctl import validate
from kubenetctl.errors import InvalidInput
from kubenetctl.overlay import FLANNEL_PORT

NAME_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
NAME_MAX = 63


def _checked(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a kubenetctl.validate check; its message and hint become the pydantic error."""
    try:
        return fn(*args)
    except InvalidInput as exc:
        message = exc.message.removeprefix("\0: ")
        raise PydanticCustomError("kubenetctl", "{message}", {"message": message, "hint": exc.hint}) from None


def _field_check(fn: Callable[..., Any]) -> AfterValidator:
    return AfterValidator(lambda value: _checked(fn, value, "\0"))


def _name(value: str, field: str) -> str:
    import re

    if len(value) > NAME_MAX:
        raise InvalidInput(f"{field}: {value!r} is {len(value)} characters, at most {NAME_MAX} are allowed")
    if not re.match(NAME_RE, value):
        raise InvalidInput(
            f"{field}: {value!r} is not a valid name",
            hint="use lower-case letters, digits and '-', starting and ending with a letter or digit (like a Kubernetes name)",
        )
    return value


def _schema(**schema: Any) -> WithJsonSchema:
    return WithJsonSchema(schema)


Name = Annotated[str, _field_check(_name), _schema(type="string", pattern=NAME_RE, maxLength=NAME_MAX)]
IfName = Annotated[
    str, _field_check(validate.ifname),
    _schema(type="string", minLength=1, maxLength=15, pattern=r"^[^/:\s]+$", description="interface name, at most 15 bytes"),
]
Cidr = Annotated[str, _field_check(validate.network_cidr), _schema(type="string", description="a network, like 10.244.0.0/16")]
RouteDst = Annotated[str, _field_check(validate.route_dst),
                     _schema(type="string", description="a network, like 10.244.0.0/16, or 'default'")]
IfCidr = Annotated[str, _field_check(validate.interface_cidr), _schema(type="string", description="an address with prefix, like 10.0.0.2/24")]
IP = Annotated[str, _field_check(validate.ip), _schema(type="string", description="an IP address")]
Mac = Annotated[str, _field_check(validate.mac), _schema(type="string", pattern=r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")]
UnicastMac = Annotated[str, _field_check(validate.unicast_mac), _schema(type="string", pattern=r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")]
Mtu = Annotated[int, _field_check(validate.mtu), _schema(type="integer", minimum=validate.MTU_MIN, maximum=validate.MTU_MAX)]
Vni = Annotated[int, _field_check(validate.vni), _schema(type="integer", minimum=validate.VNI_MIN, maximum=validate.VNI_MAX)]
Port = Annotated[int, _field_check(validate.port), _schema(type="integer", minimum=validate.PORT_MIN, maximum=validate.PORT_MAX)]
Table = Annotated[int, _field_check(validate.table), _schema(**{"type": "integer", "minimum": 1, "maximum": validate.U32_MAX,
                                                               "not": {"const": validate.LOCAL_TABLE}})]
Metric = Annotated[int, _field_check(validate.metric), _schema(type="integer", minimum=0, maximum=validate.U32_MAX)]
VlanId = Annotated[int, _field_check(validate.vlan_id), _schema(type="integer", minimum=validate.VLAN_MIN, maximum=validate.VLAN_MAX)]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Refs = Annotated[
    list[str], BeforeValidator(_one_or_many), Field(min_length=1),
    _schema(anyOf=[{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


# -- high level ---------------------------------------------------------------------------
class Metadata(_Model):
    name: Name = Field(description="Lab name: names its namespaces (<lab>-<node|pod>), its state and the owner marker.")
    description: Optional[str] = None


class Underlay(_Model):
    cidr: Cidr = Field("192.168.77.0/24", description="Network joining the nodes; .1 is the underlay's own address (the 'outside').")
    mtu: Mtu = Field(1500, description="MTU of the nodes' uplinks.")


class Naming(_Model):
    vethPrefix: str = Field(
        "veth", max_length=9, pattern=r"^[a-z0-9][-a-z0-9]*$",
        description="Prefix of the node-side ends of pod veths (the rest is a hash of lab/pod/network).",
    )


class Node(_Model):
    name: Name
    podCIDR: Optional[Cidr] = Field(None, description="This node's slice of the network whose cidr contains it.")
    podCIDRs: Optional[list[Cidr]] = Field(None, description="Slices of several networks (one per network).")
    underlayIP: Optional[IP] = Field(None, description="Address on the underlay (default: the underlay's (i+2)-th address).")
    uplink: IfName = Field("eth0", description="Underlay interface; with --node on a real host, its existing NIC.")


class Overlay(_Model):
    type: Literal["vxlan"] = "vxlan"
    mode: Literal["routed", "flood"] = Field(
        "routed", description="routed: flannel-style per-node subnets; flood: one L2 segment (all-zeros FDB per peer).",
    )
    vni: Vni = 1
    port: Port = FLANNEL_PORT
    device: Optional[IfName] = Field(None, description="VXLAN device name (default flannel.<vni> or vxlan<vni>).")
    learning: bool = False


class Network(_Model):
    name: Name
    cidr: Cidr = Field(description="The network's address space; each node gets a slice of it.")
    nodePrefix: Optional[int] = Field(None, ge=8, le=30, description="Prefix length of each node's slice (default 24, or the cidr's own).")
    bridge: Optional[IfName] = Field(None, description="Bridge on each node (default br-<network>).")
    mtu: Optional[Mtu] = Field(None, description="MTU of bridge, pod interfaces and overlay (default: underlay MTU, minus 50 with VXLAN).")
    gateway: Optional[bool] = Field(None, description="Bridge holds the slice's first host address as the pods' gateway (default: yes unless L2).")
    masquerade: bool = Field(False, description="Nodes masquerade pod traffic leaving the network (nftables, in the node).")
    overlay: Optional[Overlay] = None
    vlan: Optional[VlanId] = Field(None, description="802.1Q id: the network is a VLAN on the nodes' uplinks (a trunk).")


class Attachment(_Model):
    network: Name
    interface: Optional[IfName] = Field(None, description="Interface name in the pod (default eth0, then net1, net2, ...).")
    ip: Optional[IP] = Field(None, description="Fixed address (default: allocated from the node's slice).")


def _attachment(value: Any) -> Any:
    return {"network": value} if isinstance(value, str) else value


class _OrName:
    """JSON Schema of a model that may also be written as just its name."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "description": "network name"}, handler(core_schema)]}


class Pod(_Model):
    name: Name
    node: Optional[Name] = None
    nodes: Optional[list[Name]] = Field(None, min_length=1, description="With replicas: spread round-robin over these nodes.")
    replicas: Optional[int] = Field(None, ge=1, le=100000, description="Make <name>-0 .. <name>-(n-1).")
    networks: list[
        Annotated[Attachment, BeforeValidator(_attachment), _OrName()]
    ] = Field(min_length=1, description="Networks the pod joins, Multus-style: the first one is eth0 and holds the default route.")


class Expect(_Model):
    from_: Refs = Field(alias="from", description="Pods (or replica sets, or nodes) that send the pings.")
    to: Refs = Field(description="Pods, replica sets, nodes or IP addresses.")
    reach: bool = True
    network: Optional[Name] = Field(None, description="Ping the target's address on this network (default: a network both share).")


# -- low level: the resource model --------------------------------------------------------
class _Placed(_Model):
    netns: Optional[Name] = Field(None, description="Namespace (a node, pod or namespaces[] name); omitted: the host's.")
    node: Optional[Name] = Field(None, description="With --node: only this node applies the item.")


class NamespaceSpec(_Model):
    name: Name
    node: Optional[Name] = None
    adopt: bool = Field(False, description="Use an existing namespace; destroy leaves it in place.")


class _LinkEnd(_Model):
    name: IfName
    mtu: Optional[Mtu] = None
    mac: Optional[UnicastMac] = None
    up: bool = True
    master: Optional[IfName] = None


class _LinkBase(_LinkEnd, _Placed):
    adopt: bool = Field(False, description="Use an existing link; destroy leaves it in place.")


class VethPeer(_LinkEnd):
    netns: Optional[Name] = None


class VethLink(_LinkBase):
    kind: Literal["veth"]
    peer: VethPeer

    @model_validator(mode="after")
    def _ends(self) -> "VethLink":
        _checked(validate.veth_ends, self.name, self.netns, self.peer.name, self.peer.netns, "\0")
        return self


class BridgeLink(_LinkBase):
    kind: Literal["bridge"]


class VlanLink(_LinkBase):
    kind: Literal["vlan"]
    parent: IfName
    parentNetns: Optional[Name] = None
    vlanId: VlanId


class MacvlanLink(_LinkBase):
    kind: Literal["macvlan"]
    parent: IfName
    parentNetns: Optional[Name] = None
    mode: Literal["bridge", "private", "vepa", "passthru", "source"] = "bridge"


class VxlanLink(_LinkBase):
    kind: Literal["vxlan"]
    vni: Vni
    port: Port = FLANNEL_PORT
    local: Optional[IP] = None
    dev: Optional[IfName] = None
    learning: bool = False


LinkSpec = Annotated[Union[VethLink, BridgeLink, VlanLink, MacvlanLink, VxlanLink], Field(discriminator="kind")]


class AddressSpec(_Placed):
    link: IfName
    cidr: IfCidr


class RouteSpec(_Placed):
    dst: RouteDst
    via: Optional[IP] = None
    dev: Optional[IfName] = None
    onlink: bool = False
    table: Table = 254
    metric: Optional[Metric] = None
    src: Optional[IP] = None

    @model_validator(mode="after")
    def _target(self) -> "RouteSpec":
        _checked(validate.route_target, self.via, self.dev, self.onlink)
        return self


class FdbSpec(_Placed):
    link: IfName
    mac: Mac
    dst: Optional[IP] = None


class NeighborSpec(_Placed):
    link: IfName
    ip: IP
    mac: UnicastMac


def _sysctl_value(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class SysctlSpec(_Placed):
    name: Annotated[
        str, _field_check(validate.sysctl_key),
        _schema(type="string", pattern=r"^net[./][-a-zA-Z0-9_./]+$",
                description="A per-namespace net.* key, like net.ipv4.ip_forward (slashes when a part has dots)."),
    ]
    value: Annotated[str, BeforeValidator(_sysctl_value), _schema(type=["string", "integer"])]


class MasqueradeSpec(_Placed):
    src: Cidr = Field(description="Source network to masquerade.")
    exclude: Optional[Cidr] = Field(None, description="Destinations left alone (the cluster's own network).")
    out: Optional[IfName] = Field(None, description="Only traffic leaving through this interface.")


class Spec(_Model):
    underlay: Underlay = Underlay()
    naming: Naming = Naming()
    nodes: list[Node] = []
    networks: list[Network] = []
    pods: list[Pod] = []
    expect: list[Expect] = []
    namespaces: list[NamespaceSpec] = []
    links: list[LinkSpec] = []
    addresses: list[AddressSpec] = []
    routes: list[RouteSpec] = []
    fdb: list[FdbSpec] = []
    neighbors: list[NeighborSpec] = []
    sysctls: list[SysctlSpec] = []
    masquerade: list[MasqueradeSpec] = []


class Recipe(_Model):
    apiVersion: Literal["kubenetctl/v1"]
    kind: Literal["Lab"]
    metadata: Metadata
    spec: Spec = Spec()
