/**
 * `npm run load -- <scenario...|all> [--strategy lock|atomic|both] [--smoke] [--bcrypt-cost N] [--profile] [--target URL] [--out DIR]`
 * `npm run load -- ceiling`
 *
 * Runs the artillery scenarios of load/scenarios.ts against a private local stack (or --target) and
 * ends each with a verdict on the data; exits 1 when any run misses a threshold or violates the data.
 * `ceiling` measures how many requests per second the load generators themselves can make here.
 * Results: load/results/<time>-<scale>/ (git-ignored). See load/README.md.
 */
import { parseArgs } from 'node:util';
import { measureCeiling } from './lib/ceiling.ts';
import { DEPLOYED_BCRYPT_COST, everyRun, runLoad, type Strategy } from './lib/runner.ts';
import { isScenarioName, type ScenarioName, scenarioNames } from './scenarios.ts';

// The SDK's "Node 22 from 2027" notice is known (README); once per run is noise in a report.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const usage = `usage: npm run load -- <${scenarioNames.join('|')}|all>... [--strategy lock|atomic|both] [--smoke]
                     [--bcrypt-cost N] [--profile] [--target URL] [--out DIR]
       npm run load -- ceiling [--out DIR]
--bcrypt-cost: bcrypt cost of the local runtime the -signup variants run against
               (default ${DEPLOYED_BCRYPT_COST}, the deployed cost; the plain variants' runtime uses 4).
--profile:     CPU-profile the local runtimes (every worker thread) and write profile.md.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    strategy: { type: 'string', default: 'both' },
    smoke: { type: 'boolean', default: false },
    target: { type: 'string' },
    out: { type: 'string' },
    'bcrypt-cost': { type: 'string' },
    profile: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help || positionals.length === 0) {
  console.log(usage);
  process.exit(values.help ? 0 : 2);
}

const command = `npm run load -- ${process.argv.slice(2).join(' ')}`;

if (positionals[0] === 'ceiling') {
  await measureCeiling({ outDir: values.out, command });
} else {
  const names = positionals.flatMap((p) => (p === 'all' ? [...scenarioNames] : [p]));
  const unknown = names.filter((n) => !isScenarioName(n));
  const strategies: Strategy[] | undefined =
    values.strategy === 'both'
      ? ['lock', 'atomic']
      : values.strategy === 'lock' || values.strategy === 'atomic'
        ? [values.strategy]
        : undefined;
  const cost = values['bcrypt-cost'] === undefined ? undefined : Number(values['bcrypt-cost']);
  const badCost = cost !== undefined && !(Number.isInteger(cost) && cost >= 4 && cost <= 15);
  if (unknown.length > 0 || !strategies || badCost) {
    console.error(
      `${unknown.length > 0 ? `unknown scenario ${unknown.join(', ')}` : badCost ? `--bcrypt-cost must be an integer from 4 to 15` : `unknown strategy ${values.strategy}`}\n${usage}`,
    );
    process.exit(2);
  }
  const session = await runLoad({
    runs: everyRun([...new Set(names)] as ScenarioName[], strategies),
    scale: values.smoke ? 'smoke' : 'full',
    signupBcryptCost: cost,
    profile: values.profile,
    target: values.target,
    outDir: values.out,
    command,
  });
  process.exitCode = session.passed ? 0 : 1;
}
