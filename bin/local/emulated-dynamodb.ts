/**
 * The DynamoDB limits emulation (shared/db/emulated-limits.ts) as its own process, in front of the
 * DynamoDB Local at EMULATION_TARGET, listening on PORT: `npm start` with DYNAMODB_EMULATE_LIMITS=1
 * and the hot-product benchmark start it. Its own process, so its event loop is neither the API
 * gateway's nor the load generator's, and every writer (function workers, reconciler, scripts)
 * reaches the same one.
 */
import { parseConfig } from '../../shared/config.ts';
import { emulatedLimitsOf, startEmulationProxy } from '../../shared/db/emulated-limits.ts';

const target = process.env.EMULATION_TARGET;
if (!target) throw new Error('EMULATION_TARGET (the DynamoDB Local URL) is not set');
const proxy = await startEmulationProxy(target, emulatedLimitsOf(parseConfig(process.env)), {
  port: Number(process.env.PORT ?? 0),
});
console.log(`emulating DynamoDB limits at ${proxy.url} in front of ${target}`);
const stop = () => {
  void proxy.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
