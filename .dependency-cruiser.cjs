/**
 * The architecture's rules, checked in `npm test` (npm run check). Dependencies point one way:
 *   functions → http, wiring → use-cases (auth, lock, stock, orders) → ports ← adapters (db, redis-*)
 * and everything may use the model, which uses nothing. See docs/design.md.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Two modules that import each other are one design decision waiting to be made.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'model-imports-nothing',
      comment: 'The domain model (shared/model.ts) is the root every capability and adapter shares.',
      severity: 'error',
      from: { path: '^shared/model\\.ts$' },
      to: { path: '^(shared|functions|bin|lib|load)/' },
    },
    {
      name: 'use-cases-know-no-adapter-or-composition',
      comment:
        'Use-cases (auth, lock, stock, orders) depend on ports; DynamoDB repositories, HTTP and the ' +
        'composition root depend on them, never the other way round.',
      severity: 'error',
      from: { path: '^shared/(auth|lock|stock|orders|limits|admin)/' },
      to: { path: '^shared/(db|http|wiring)/|^shared/(config|routes|logger|redis)\\.ts$' },
    },
    {
      name: 'use-cases-import-no-sdk',
      comment: 'Only the adapters talk to DynamoDB; Redis adapters (redis-*.ts) use ioredis types only.',
      severity: 'error',
      from: { path: '^shared/(auth|lock|stock|orders|limits|admin)/' },
      to: { path: '@aws-sdk|@middy|node_modules/ioredis' },
    },
    {
      name: 'use-cases-use-redis-only-in-adapters',
      comment: 'ioredis appears only in the Redis adapters and their scripts.',
      severity: 'error',
      from: {
        path: '^shared/(auth|lock|stock|orders|limits|admin)/',
        pathNot: '/(redis-[a-z-]+|scripts)\\.ts$',
      },
      to: { path: 'node_modules/ioredis' },
    },
    {
      name: 'adapters-know-no-http-or-composition',
      severity: 'error',
      from: { path: '^shared/db/' },
      to: { path: '^shared/(http|wiring)/' },
    },
    {
      name: 'handlers-are-thin',
      comment:
        'A handler parses, calls a service and maps the result: it reaches services through the ' +
        'composition root (shared/wiring) and never touches a client, a table or a repository.',
      severity: 'error',
      from: { path: '^functions/' },
      to: {
        path: '^shared/(db|stock|orders|lock|auth|admin)/|@aws-sdk|node_modules/ioredis|^shared/redis\\.ts$',
      },
    },
    {
      name: 'nothing-imports-a-handler',
      severity: 'error',
      from: { pathNot: '^(functions|tests|bin/local|load)/' },
      to: { path: '^functions/' },
    },
    {
      name: 'cdk-reads-only-data',
      comment: 'The stack reads the route table, the configuration schema and the table shapes: plain data.',
      severity: 'error',
      from: { path: '^lib/' },
      to: {
        path: '^shared/',
        pathNot: '^shared/(routes|config|db/tables|lock/defaults)\\.ts$|^shared/(routes|config)\\.ts$',
      },
    },
    {
      name: 'every-import-resolves',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, pathNot: '^aws-lambda$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|cdk\\.out|coverage|\\.data)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
  },
};
