// Runs before each netns test file. The netns project runs every file in one process
// (singleFork) with a fresh module graph per file, so the lab modules' exit hooks (which delete
// namespaces and pins even when a test crashes) are installed once per file and add up: about
// five per file. They are not a leak; the limit only has to allow them.
const EXIT_HOOKS_PER_FILE = 8;
const TEST_FILES_HEADROOM = 64;
process.setMaxListeners(EXIT_HOOKS_PER_FILE * TEST_FILES_HEADROOM);
