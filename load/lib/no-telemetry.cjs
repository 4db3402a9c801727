/**
 * Preloaded into the artillery process (node --require). artillery 2.0.21 sends an anonymized
 * "test run" event to PostHog even with ARTILLERY_DISABLE_TELEMETRY set, and waits for it at exit:
 * without network that is ~12 s of retries per run, and a load test must send traffic only to its
 * target. This replaces the PostHog client with one that sends nothing.
 */
const Module = require('node:module');

const load = Module._load;
Module._load = function loadWithoutTelemetry(request, ...rest) {
  if (request === 'posthog-node') {
    return {
      PostHog: class {
        capture() {}
        async shutdownAsync() {}
      },
    };
  }
  return load.call(this, request, ...rest);
};
