/**
 * One Lambda function with the project's defaults (Node.js 24 on arm64, ESM bundle built by the
 * local esbuild, active tracing, a log group with retention) and its bindings: for everything the
 * function declares in `uses` (shared/routes.ts) it gets the environment variable and the IAM grant
 * together, and nothing it does not declare.
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
import { configSchema } from '#shared/config';
import type { Resources, TableName } from '#shared/routes';
import type { RedisEndpoint } from './redis-cache.ts';

/** Everything a function may bind to; `uses` picks from it. */
export interface FunctionBindings {
  readonly tables: Readonly<Record<TableName, dynamodb.ITable>>;
  readonly redis: RedisEndpoint;
  readonly jwtSecret: secretsmanager.ISecret;
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
}

/** The environment variable each table's name travels in (read by shared/config.ts). */
const tableEnvironmentVariable: Record<TableName, string> = {
  users: 'USERS_TABLE',
  products: 'PRODUCTS_TABLE',
  purchases: 'PURCHASES_TABLE',
  orders: 'ORDERS_TABLE',
};

/**
 * The reconciler settles a purchase hold once it is older than HOLD_STALE_AFTER_MS (60 s by
 * default), on the assumption that the request that made it can no longer be running. That holds
 * only while every function's timeout is shorter, so a longer timeout is refused here.
 */
const holdStaleAfterMs = configSchema.shape.HOLD_STALE_AFTER_MS.parse(undefined);

export class EndpointFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  /** What the function declared, and so all it was given. */
  readonly uses: Resources;

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
      tracing: lambda.Tracing.ACTIVE,
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
      },
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        STAGE: props.stage,
        LOG_LEVEL: 'INFO',
      },
      ...vpcPlacement,
    });
    const fn = this.function;

    for (const [name, access] of Object.entries(uses.tables) as [TableName, 'read' | 'readWrite'][]) {
      const table = bindings.tables[name];
      fn.addEnvironment(tableEnvironmentVariable[name], table.tableName);
      if (access === 'readWrite') table.grantReadWriteData(fn);
      else table.grantReadData(fn);
    }

    if (uses.redis) {
      fn.addEnvironment('REDIS_URL', bindings.redis.url);
      fn.addEnvironment('REDIS_AUTH_SECRET_ARN', bindings.redis.authSecret.secretArn);
      bindings.redis.authSecret.grantRead(fn);
      bindings.redis.allowClient(fn, `${id} to Redis`);
    }

    if (uses.jwt) {
      fn.addEnvironment('JWT_SECRET_ARN', bindings.jwtSecret.secretArn);
      bindings.jwtSecret.grantRead(fn);
    }
  }
}
