/**
 * One Lambda function with the project's defaults (Node.js 24 on arm64, ESM bundle built by the
 * local esbuild, active tracing, a log group with retention, the metrics namespace) and its
 * bindings: for everything the function declares in `uses` (shared/routes.ts) it gets the
 * environment variable and the IAM grant together, and nothing it does not declare.
 */
import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { configSchema, TABLE_ENV } from '#shared/config';
import type { Resources, TableName } from '#shared/routes';
import { metricsEnvironment } from './metric-names.ts';
import type { RedisEndpoint } from './redis-cache.ts';

/** Everything a function may bind to; `uses` picks from it. */
export interface FunctionBindings {
  readonly tables: Readonly<Record<TableName, dynamodb.ITable>>;
  readonly redis: RedisEndpoint;
  /** The private ES256 key: only a function whose `uses.jwt` is `sign` (login) may read it. */
  readonly jwtSigningKey: secretsmanager.ISecret;
  /** The public keys (current and previous): every function whose `uses.jwt` is `verify`. */
  readonly jwtVerifyKeys: secretsmanager.ISecret;
  /** Settings every function gets (CORS_ALLOWED_ORIGINS, the deployed limits). */
  readonly environment?: Readonly<Record<string, string>>;
}

export interface EndpointFunctionProps {
  /** The handler file (exports `handler`). */
  readonly entry: string;
  /** The directory holding package.json and package-lock.json: esbuild's working directory. */
  readonly projectRoot: string;
  readonly description: string;
  readonly uses: Resources;
  readonly bindings: FunctionBindings;
  readonly stage: string;
  readonly logRetention: logs.RetentionDays;
  /** @default 10 seconds, the HTTP functions' budget */
  readonly timeout?: Duration;
  /** Retries of asynchronous invocations (EventBridge). @default 2, Lambda's default */
  readonly retryAttempts?: number;
  /** Where a failed asynchronous invocation is recorded. @default nowhere */
  readonly onFailure?: lambda.IDestination;
  /**
   * Executions reserved for the function: a floor nothing else can take and a ceiling it cannot pass.
   * @default none: the function draws from the account's unreserved pool
   */
  readonly reservedConcurrency?: number;
  /**
   * Execution environments kept initialized, through a `live` alias that callers must invoke.
   * @default 0: no alias, callers invoke the function
   */
  readonly provisionedConcurrency?: number;
  /** Files (paths under projectRoot) copied into `dir` beside the bundle, for the function to read. */
  readonly bundleAssets?: { readonly dir: string; readonly files: readonly string[] };
}

/**
 * The reconciler settles a purchase hold once it is older than HOLD_STALE_AFTER_MS (60 s by
 * default), on the assumption that the request that made it can no longer be running. That holds
 * only while every function's timeout is shorter, so a longer timeout is refused here.
 */
const holdStaleAfterMs = configSchema.shape.HOLD_STALE_AFTER_MS.parse(undefined);

/** Bundling hooks that copy the function's run-time files beside its bundle (local commands only). */
function copyAssets(assets: NonNullable<EndpointFunctionProps['bundleAssets']>): nodejs.ICommandHooks {
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir, outputDir) => [
      `mkdir -p "${outputDir}/${assets.dir}"`,
      ...assets.files.map((file) => `cp "${inputDir}/${file}" "${outputDir}/${assets.dir}/"`),
    ],
  };
}

export class EndpointFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  /** What callers invoke: the `live` alias when provisioned concurrency is on, else the function. */
  readonly invokeTarget: lambda.IFunction;
  /** What the function declared, and so all it was given. */
  readonly uses: Resources;
  /**
   * The policy holding X-Ray's two actions, which support no resource-level permissions: kept apart
   * from the role's default policy so that a wildcard resource is acknowledged here and nowhere else.
   */
  readonly tracingPolicy: iam.Policy;
  /** The function's own role (see below). */
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: EndpointFunctionProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.seconds(10);
    if (timeout.toMilliseconds() >= holdStaleAfterMs) {
      throw new Error(
        `${id}: timeout ${timeout.toSeconds()} s must stay below HOLD_STALE_AFTER_MS (${holdStaleAfterMs} ms)`,
      );
    }
    const { uses, bindings } = props;
    this.uses = uses;

    // An own role instead of the default one: AWSLambdaBasicExecutionRole would let the function
    // write to every log group of the account; this role writes to the function's log group only.
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs ${id}: ${props.description}`.slice(0, 1000),
    });
    this.role = role;
    logGroup.grantWrite(role);
    if (uses.redis) {
      // The ENI actions Lambda needs to attach the function to the VPC.
      role.addManagedPolicy(
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
      );
    }

    // Only functions that talk to Redis join the VPC: the cache lives there. DynamoDB-only functions
    // stay outside, with no ENI to attach and no endpoint to depend on; their traffic to DynamoDB
    // and Secrets Manager is TLS to the public regional endpoints and their IAM role is the same
    // least-privilege one either way.
    const vpcPlacement: Partial<nodejs.NodejsFunctionProps> = uses.redis
      ? {
          vpc: bindings.redis.vpc,
          vpcSubnets: bindings.redis.clientSubnets,
          // The isolated subnets have no route out: "all outbound" reaches only the VPC and its
          // endpoints. Narrowing egress further would need the region's DynamoDB prefix list, a
          // lookup this environment-agnostic stack avoids.
          allowAllOutbound: true,
        }
      : {};

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      // Lambda caps descriptions at 256 characters.
      description: props.description.slice(0, 256),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 1024,
      timeout,
      retryAttempts: props.retryAttempts,
      onFailure: props.onFailure,
      reservedConcurrentExecutions: props.reservedConcurrency,
      // No `tracing` here: it is switched on below, with its grant in a policy of its own.
      logGroup,
      role,
      projectRoot: props.projectRoot,
      depsLockFilePath: path.join(props.projectRoot, 'package-lock.json'),
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        mainFields: ['module', 'main'],
        // CommonJS dependencies (ioredis, ...) call require(); an ES module has none of its own.
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        minify: true,
        sourceMap: true,
        // Stack traces need the mappings, not a second copy of the sources.
        sourcesContent: false,
        // The runtime ships AWS SDK v3; everything else is bundled.
        externalModules: ['@aws-sdk/*'],
        logLevel: nodejs.LogLevel.WARNING,
        ...(props.bundleAssets && { commandHooks: copyAssets(props.bundleAssets) }),
      },
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        STAGE: props.stage,
        LOG_LEVEL: 'INFO',
        ...metricsEnvironment,
      },
      ...vpcPlacement,
    });
    const fn = this.function;

    // Active tracing, as `tracing: ACTIVE` would set it, but with the grant outside the default
    // policy: AWS requires "*" for these two actions, and only for these.
    (fn.node.defaultChild as lambda.CfnFunction).tracingConfig = { mode: lambda.Tracing.ACTIVE };
    this.tracingPolicy = new iam.Policy(this, 'Tracing', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
          resources: ['*'],
        }),
      ],
    });
    // The function must not start before it may write its traces.
    fn.node.addDependency(this.tracingPolicy);

    const provisioned = props.provisionedConcurrency ?? 0;
    this.invokeTarget =
      provisioned > 0
        ? new lambda.Alias(this, 'Live', {
            aliasName: 'live',
            version: fn.currentVersion,
            provisionedConcurrentExecutions: provisioned,
          })
        : fn;

    for (const [name, access] of Object.entries(uses.tables) as [TableName, 'read' | 'readWrite'][]) {
      const table = bindings.tables[name];
      fn.addEnvironment(TABLE_ENV[name], table.tableName);
      if (access === 'readWrite') table.grantReadWriteData(fn);
      else table.grantReadData(fn);
    }

    if (uses.redis) {
      for (const [name, value] of Object.entries(bindings.redis.clientEnvironment)) {
        fn.addEnvironment(name, value);
      }
      fn.addEnvironment('REDIS_AUTH_SECRET_ARN', bindings.redis.authSecret.secretArn);
      // The namespace of this stack's Redis keys: the products table's generated name is unique per
      // stack and new when the tables are recreated, so two stages (or a rebuilt one) never share keys.
      fn.addEnvironment('STORE_ID', bindings.tables.products.tableName);
      bindings.redis.authSecret.grantRead(fn);
      bindings.redis.allowClient(fn, `${id} to Redis`);
    }

    if (uses.jwt === 'sign') {
      fn.addEnvironment('JWT_SIGNING_KEY_ARN', bindings.jwtSigningKey.secretArn);
      bindings.jwtSigningKey.grantRead(fn);
    }
    if (uses.jwt === 'verify') {
      fn.addEnvironment('JWT_VERIFY_KEYS_ARN', bindings.jwtVerifyKeys.secretArn);
      bindings.jwtVerifyKeys.grantRead(fn);
    }
    for (const [name, value] of Object.entries(bindings.environment ?? {})) fn.addEnvironment(name, value);
  }
}
