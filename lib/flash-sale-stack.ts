/**
 * The flash-sale inventory service: the HTTP API with one function per route of shared/routes.ts
 * (and one for the `$default` fallback), the scheduled reconciler, the DynamoDB tables, the Redis cache in its private network, and the
 * JWT signing key. Environment-agnostic: no lookups, so it synthesizes offline.
 */
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import {
  type FunctionName,
  fallbackRoute,
  httpRoutes,
  type Resources,
  scheduledFunctions,
} from '#shared/routes';
import { DataTables } from './data-tables.ts';
import type { DeploySettings } from './deploy-settings.ts';
import { EndpointFunction, type FunctionBindings } from './endpoint-function.ts';
import { acknowledgeNagFindings } from './nag-suppressions.ts';
import { Network } from './network.ts';
import { PublicApi } from './public-api.ts';
import { RedisCache } from './redis-cache.ts';

export interface FlashSaleStackProps extends StackProps {
  readonly settings: DeploySettings;
  /**
   * The directory holding functions/, package.json and package-lock.json.
   * @default this repository
   */
  readonly projectRoot?: string;
}

const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

/** `list-my-purchases` → `ListMyPurchases`: construct ids, and so logical ids, read like the function. */
function constructId(functionName: string): string {
  return functionName
    .split('-')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

export class FlashSaleStack extends Stack {
  readonly network: Network;
  readonly data: DataTables;
  readonly redis: RedisCache;
  readonly jwtSecret: secretsmanager.Secret;
  readonly api: PublicApi;
  /** Every deployed function by its name in shared/routes.ts. */
  readonly functions: ReadonlyMap<FunctionName, EndpointFunction>;

  constructor(scope: Construct, id: string, props: FlashSaleStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const projectRoot = props.projectRoot ?? repositoryRoot;

    this.network = new Network(this, 'Network', { logRetention: settings.logRetention });
    this.data = new DataTables(this, 'Data');
    this.redis = new RedisCache(this, 'Redis', {
      vpc: this.network.vpc,
      subnets: this.network.isolatedSubnets,
      nodeType: settings.redisNodeType,
      replicas: settings.redisReplicas,
    });
    this.jwtSecret = new secretsmanager.Secret(this, 'JwtSigningKey', {
      description: 'HMAC key that signs and verifies the flash-sale bearer tokens',
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
    });
    const bindings: FunctionBindings = {
      tables: this.data.tables,
      redis: this.redis,
      jwtSecret: this.jwtSecret,
    };

    const functions = new Map<FunctionName, EndpointFunction>();
    const endpointFunction = (
      name: FunctionName,
      uses: Resources,
      description: string,
      options: { timeout?: Duration; retryAttempts?: number } = {},
    ): EndpointFunction => {
      const fn = new EndpointFunction(this, constructId(name), {
        entry: `${projectRoot}/functions/${name}.ts`,
        projectRoot,
        description,
        uses,
        bindings,
        stage: settings.stage,
        logRetention: settings.logRetention,
        ...options,
      });
      functions.set(name, fn);
      return fn;
    };

    this.api = new PublicApi(this, 'Api', { logRetention: settings.logRetention });
    for (const route of httpRoutes) {
      const fn = endpointFunction(
        route.function,
        route.uses,
        `${route.method} ${route.path}: ${route.summary}`,
      );
      this.api.addRoute(route.method, route.path, fn.function);
    }
    const fallback = endpointFunction(
      fallbackRoute.function,
      fallbackRoute.uses,
      `${fallbackRoute.path}: ${fallbackRoute.summary}`,
    );
    this.api.addDefaultRoute(fallback.function);

    for (const job of scheduledFunctions) {
      const fn = endpointFunction(job.function, job.uses, job.summary, {
        // Below the one-minute schedule and below HOLD_STALE_AFTER_MS (see EndpointFunction).
        timeout: Duration.seconds(55),
        // The next tick is the retry: a failed run must not pile up behind the following ones.
        retryAttempts: 0,
      });
      new events.Rule(this, `${constructId(job.function)}Schedule`, {
        description: `Runs ${job.function}: ${job.summary}`,
        schedule: events.Schedule.rate(Duration.minutes(job.everyMinutes)),
        targets: [new targets.LambdaFunction(fn.function, { retryAttempts: 0 })],
      });
    }
    this.functions = functions;

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the flash-sale API' });

    acknowledgeNagFindings(this);
  }
}
