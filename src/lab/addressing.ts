// The lab's address plan, as pure functions so tests and the benchmark agree on it without
// reading it back from the namespaces. Underlay: 10.99.0.0/24 and fd99::/64, NVE i at host i+1.
// VMs: one subnet per VNI (10.1.<n>.0/24, fd01:<n>::/64, n = the VNI's rank in the topology),
// host part k = the VM's rank in its VNI + 1; MAC 02:00:<VNI as three bytes>:<k>, locally
// administered and unique per (VNI, k).

/** Prefix lengths of the lab's subnets. */
export const UNDERLAY_V4_PREFIX_LEN = 24;
export const UNDERLAY_V6_PREFIX_LEN = 64;
export const VM_V4_PREFIX_LEN = 24;
export const VM_V6_PREFIX_LEN = 64;
/** Most hosts a lab subnet numbers (the last octet; .255 is broadcast). */
export const MAX_HOSTS_PER_SUBNET = 254;
/** VXLAN's IANA port (RFC 7348). */
export const VXLAN_PORT = 4789;
/** VNIs are 24 bits. */
export const MAX_VNI = 0xff_ffff;

function checkHost(k: number, what: string): void {
  if (!Number.isInteger(k) || k < 1 || k > MAX_HOSTS_PER_SUBNET) {
    throw new RangeError(`${what} host number ${k} is outside 1..${MAX_HOSTS_PER_SUBNET}`);
  }
}

/** NVE i's underlay IPv4 address (no prefix length). */
export function nveIpv4(nveIndex: number): string {
  checkHost(nveIndex + 1, 'NVE');
  return `10.99.0.${nveIndex + 1}`;
}

/** NVE i's underlay IPv6 address (no prefix length). */
export function nveIpv6(nveIndex: number): string {
  checkHost(nveIndex + 1, 'NVE');
  return `fd99::${(nveIndex + 1).toString(16)}`;
}

/** The k-th VM's MAC in a VNI (k from 1). */
export function vmMac(vni: number, k: number): string {
  if (!Number.isInteger(vni) || vni < 0 || vni > MAX_VNI) {
    throw new RangeError(`VNI ${vni} is not a 24-bit number`);
  }
  checkHost(k, 'VM');
  const bytes = [0x02, 0x00, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, k];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The k-th VM's IPv4 address in the subnet of the VNI ranked n (no prefix length). */
export function vmIpv4(vniRank: number, k: number): string {
  checkHost(k, 'VM');
  if (!Number.isInteger(vniRank) || vniRank < 0 || vniRank > 255) {
    throw new RangeError(`VNI rank ${vniRank} is outside 0..255`);
  }
  return `10.1.${vniRank}.${k}`;
}

/** The k-th VM's IPv6 address in the subnet of the VNI ranked n (no prefix length). */
export function vmIpv6(vniRank: number, k: number): string {
  checkHost(k, 'VM');
  if (!Number.isInteger(vniRank) || vniRank < 0 || vniRank > 0xffff) {
    throw new RangeError(`VNI rank ${vniRank} is outside 0..65535`);
  }
  return `fd01:${vniRank.toString(16)}::${k.toString(16)}`;
}

/** "aa:bb:cc:dd:ee:ff" -> its six bytes; throws on anything else. */
export function macBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`not a MAC address: "${mac}"`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** "a.b.c.d" -> its four bytes in network order; throws on anything else. */
export function ipv4Bytes(ip: string): Uint8Array {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`not an IPv4 address: "${ip}"`);
  }
  return Uint8Array.from(parts.map(Number));
}
