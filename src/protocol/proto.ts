// Loads roam's versioned schema (roam/v1/nva.proto) at run time and gives the gRPC service
// definitions both sides use. Decoding options are fixed here so every peer sees the same shapes:
// camelCase fields, uint64 as JS numbers, enums as their names, defaults filled in, and the oneof
// member's name in `msg`.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

/** Path of the schema file (also what grpcurl needs: `grpcurl -import-path src/protocol -proto roam/v1/nva.proto`). */
export const PROTO_ROOT = fileURLToPath(new URL('.', import.meta.url));
export const PROTO_FILE = 'roam/v1/nva.proto';

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

export interface RoamServices {
  Nva: grpc.ServiceClientConstructor;
  Admin: grpc.ServiceClientConstructor;
}

let cached: RoamServices | undefined;

/** The roam.v1 services (loaded once per process). */
export function loadServices(): RoamServices {
  if (cached) return cached;
  const def = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    roam: { v1: { Nva: grpc.ServiceClientConstructor; Admin: grpc.ServiceClientConstructor } };
  };
  cached = { Nva: pkg.roam.v1.Nva, Admin: pkg.roam.v1.Admin };
  return cached;
}
