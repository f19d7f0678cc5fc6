// Per-field and per-message limits of the roam.v1 protocol: refusing oversize input early keeps a
// bad peer from costing memory. Shared by the zod schemas and the fast checks.
export const LIMITS = {
  nveIdChars: 64,
  tsiChars: 15, // IFNAMSIZ - 1
  ipsPerEntry: 16,
  vnisPerHello: 4096,
  digestChars: 128,
  reasonChars: 512,
  /** Routed VNs and L3 VNIs of an NVE's VRFs, in one snapshot. */
  routedVnsPerSnapshot: 65536,
  /** Static routes of one VRF (the NVA's own limit is lower: ROUTES_PER_VRF_MAX). */
  routesPerVrf: 16384,
  /** Largest message an NVA accepts from an NVE (they are all small). */
  nveMessageBytes: 64 * 1024,
  /** Largest message an NVE accepts from the NVA (snapshots of big VNs). */
  nvaMessageBytes: 256 * 1024 * 1024,
  /** Largest admin request the NVA accepts. */
  adminRequestBytes: 1024 * 1024,
} as const;
