// The namespace helpers moved to src/lab/netns.ts (the demo and benchmarks need them too); this
// re-export keeps the tests' imports working. Same guarantees: per-run unique names, cleanup in
// afterAll and on exit, and the global teardown's sweep.
export {
  Netns,
  createNetns,
  uniqueIfname,
  vethPair,
  deleteNetns,
  destroyAll,
  sweepNetns,
  runPrefix,
} from '../../src/lab/netns.ts';
