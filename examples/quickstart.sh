#!/usr/bin/env bash
# Two pods on a bridge, then two pods on two nodes joined by a flannel-style VXLAN
# overlay, built from kubenetctl's primitives, with real pings between them.
set -euo pipefail
P=${P:-qs}            # name prefix, so nothing collides with what the machine already has
K=${K:-kubenetctl}
trap '$K ns del $P-pod1 $P-pod2 $P-node1 $P-node2 $P-web $P-db >/dev/null; $K bridge del ${P}br0 >/dev/null' EXIT

# 1. two pods on a bridge, the bridge is their gateway
$K ns add $P-pod1 $P-pod2
$K bridge add ${P}br0 --addr 10.88.0.1/24
for i in 1 2; do
  $K veth add ${P}h$i --peer eth0 --peer-netns $P-pod$i --master ${P}br0 --peer-addr 10.88.0.1$i/24
  $K route add default --via 10.88.0.1 -n $P-pod$i
done
$K ns exec $P-pod1 -- ping -c1 -W2 10.88.0.12

# 2. two nodes (namespaces joined by an underlay veth), one pod each, VXLAN VNI 1 on 8472
$K ns add $P-node1 $P-node2 $P-web $P-db
$K veth add ul0 -n $P-node1 --peer ul0 --peer-netns $P-node2 --addr 192.168.77.1/24 --peer-addr 192.168.77.2/24
pods=($P-web $P-db)
for i in 1 2; do
  node=$P-node$i pod=${pods[i-1]}
  $K sysctl set net.ipv4.ip_forward 1 -n $node
  $K bridge add cni0 -n $node --addr 10.244.$i.1/24 --mtu 1450
  $K veth add veth0 -n $node --peer eth0 --peer-netns $pod --master cni0 --mtu 1450 --peer-addr 10.244.$i.2/24
  $K route add default --via 10.244.$i.1 -n $pod
  $K vxlan add flannel.1 -n $node --vni 1 --local 192.168.77.$i --dev ul0 --mac 0e:00:00:00:00:0$i --addr 10.244.$i.0/32
done
# flannel-style unicast peers: route onlink + permanent neighbour + FDB entry per remote node
$K vxlan peer add flannel.1 -n $P-node1 --remote 192.168.77.2 --mac 0e:00:00:00:00:02 --pod-cidr 10.244.2.0/24
$K vxlan peer add flannel.1 -n $P-node2 --remote 192.168.77.1 --mac 0e:00:00:00:00:01 --pod-cidr 10.244.1.0/24
$K ns exec $P-web -- ping -c1 -W2 10.244.2.2
