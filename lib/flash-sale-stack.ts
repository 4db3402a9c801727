/**
 * The flash-sale inventory service: the HTTP API with one function per route of shared/routes.ts
 * (and one for the `$default` fallback), the scheduled reconciler, the DynamoDB tables, the Redis
 * cache in its private network, the JWT signing key, and what a sale is operated with: bulkheads
 * (reserved concurrency, route throttles), alarms and a dashboard. Environment-agnostic: no lookups,
 * so it synthesizes offline.
 */
import { fileURLToPath } from 'node:url';
import { Aws, CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import {
  type FunctionName,
  fallbackRoute,
  type HttpRoute,
  httpRoutes,
  type Resources,
  scheduledFunctions,
} from '#shared/routes';
import { DataTables } from './data-tables.ts';
import type { DeploySettings } from './deploy-settings.ts';
import { EndpointFunction, type FunctionBindings } from './endpoint-function.ts';
import { FailedInvocations } from './failed-invocations.ts';
import { acknowledgeNagFindings } from './nag-suppressions.ts';
import { pascalCase } from './names.ts';
import { Network } from './network.ts';
import { PublicApi } from './public-api.ts';
import { RedisCache } from './redis-cache.ts';
import { SaleAlarms } from './sale-alarms.ts';
import { SaleDashboard } from './sale-dashboard.ts';

export interface FlashSaleStackProps extends StackProps {
  readonly settings: DeploySettings;
  /**
   * The directory holding functions/, package.json and package-lock.json.
   * @default this repository
   */
  readonly projectRoot?: string;
}

const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
const constructId = pascalCase;

export class FlashSaleStack extends Stack {
  readonly network: Network;
  readonly data: DataTables;
  readonly redis: RedisCache;
  /** The private ES256 key that signs tokens: readable by the login function alone. */
  readonly jwtSigningKey: secretsmanager.Secret;
  /** The public keys that verify them (a JSON list: current and previous during a rotation). */
  readonly jwtVerifyKeys: secretsmanager.Secret;
  readonly api: PublicApi;
  /** Every deployed function by its name in shared/routes.ts. */
  readonly functions: ReadonlyMap<FunctionName, EndpointFunction>;
  /** The scheduled functions' on-failure destination. */
  readonly reconcileFailures: FailedInvocations;
  readonly alarms: SaleAlarms;
  readonly dashboard: SaleDashboard;

  constructor(scope: Construct, id: string, props: FlashSaleStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const projectRoot = props.projectRoot ?? repositoryRoot;

    this.network = new Network(this, 'Network', { logRetention: settings.logRetention });
    this.data = new DataTables(this, 'Data');
    this.redis = new RedisCache(this, 'Redis', {
      vpc: this.network.vpc,
      subnets: this.network.isolatedSubnets,
      mode: settings.redisMode,
      nodeType: settings.redisNodeType,
      replicas: settings.redisReplicas,
      shards: settings.redisShards,
    });
    // Secrets Manager cannot generate an EC key, and a key made at synth would sit in the template:
    // both start empty-ish and `npm run rotate-keys -- --aws` writes the first pair (docs/security.md).
    this.jwtSigningKey = new secretsmanager.Secret(this, 'JwtSigningKey', {
      description: 'Private ES256 JWK that signs the bearer tokens (login only); set by npm run rotate-keys',
    });
    this.jwtVerifyKeys = new secretsmanager.Secret(this, 'JwtVerifyKeys', {
      description:
        'Public ES256 JWKs (current, previous) that verify the bearer tokens; set by npm run rotate-keys',
    });
    const bindings: FunctionBindings = {
      tables: this.data.tables,
      redis: this.redis,
      jwtSigningKey: this.jwtSigningKey,
      jwtVerifyKeys: this.jwtVerifyKeys,
      environment: settings.functionEnvironment,
    };

    const functions = new Map<FunctionName, EndpointFunction>();
    const endpointFunction = (
      name: FunctionName,
      uses: Resources,
      description: string,
      options: {
        timeout?: Duration;
        retryAttempts?: number;
        onFailure?: destinations.SqsDestination;
        bundleAssets?: HttpRoute['bundleAssets'];
      } = {},
    ): EndpointFunction => {
      const fn = new EndpointFunction(this, constructId(name), {
        entry: `${projectRoot}/functions/${name}.ts`,
        projectRoot,
        description,
        uses,
        bindings,
        stage: settings.stage,
        logRetention: settings.logRetention,
        reservedConcurrency: settings.reservedConcurrency[name],
        provisionedConcurrency: name === 'create-purchase' ? settings.purchaseProvisionedConcurrency : 0,
        ...options,
      });
      functions.set(name, fn);
      return fn;
    };

    this.api = new PublicApi(this, 'Api', {
      logRetention: settings.logRetention,
      throttle: settings.apiThrottle,
    });
    for (const route of httpRoutes) {
      const fn = endpointFunction(
        route.function,
        route.uses,
        `${route.method} ${route.path}: ${route.summary}`,
        'bundleAssets' in route ? { bundleAssets: route.bundleAssets } : {},
      );
      this.api.addRoute(route.method, route.path, fn.invokeTarget);
      const throttle = settings.routeThrottles[route.function];
      if (throttle) this.api.throttleRoute(route.method, route.path, throttle);
    }
    const fallback = endpointFunction(
      fallbackRoute.function,
      fallbackRoute.uses,
      `${fallbackRoute.path}: ${fallbackRoute.summary}`,
    );
    this.api.addDefaultRoute(fallback.function);

    this.reconcileFailures = new FailedInvocations(this, 'ReconcileFailures');
    for (const job of scheduledFunctions) {
      const fn = endpointFunction(job.function, job.uses, job.summary, {
        // Below the one-minute schedule and below HOLD_STALE_AFTER_MS (see EndpointFunction).
        timeout: Duration.seconds(55),
        // The next tick is the retry: a failed run must not pile up behind the following ones.
        retryAttempts: 0,
        onFailure: new destinations.SqsDestination(this.reconcileFailures.queue),
      });
      new events.Rule(this, `${constructId(job.function)}Schedule`, {
        description: `Runs ${job.function}: ${job.summary}`,
        schedule: events.Schedule.rate(Duration.minutes(job.everyMinutes)),
        targets: [new targets.LambdaFunction(fn.function, { retryAttempts: 0 })],
      });
    }
    this.functions = functions;

    this.alarms = new SaleAlarms(this, 'Alarms', {
      alarmEmail: settings.alarmEmail,
      functions,
      tables: this.data.tables,
      cache: this.redis,
      api: this.api,
      reconcileFailures: this.reconcileFailures,
    });
    this.dashboard = new SaleDashboard(this, 'Dashboard', {
      functions,
      tables: this.data.tables,
      cache: this.redis,
      api: this.api,
      reconcileFailures: this.reconcileFailures,
      alarms: this.alarms.alarms,
    });

    this.addOutputs();
    acknowledgeNagFindings(this);
  }

  /**
   * What the deploy steps, bin/admin.ts (USERS_TABLE, AWS_REGION) and the load runner (--target,
   * LOAD_PURCHASES_TABLE, AWS_REGION) need to point at this stage. No exports: nothing else
   * imports them, and an export would pin the values against change.
   */
  private addOutputs(): void {
    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output('ApiUrl', this.api.url, "Base URL of the flash-sale API (the load runner's --target)");
    output('Region', Aws.REGION, 'Region of the stage (AWS_REGION for bin/admin.ts and the load runner)');
    output('UsersTable', this.data.tables.users.tableName, 'USERS_TABLE, e.g. for npm run admin');
    output('ProductsTable', this.data.tables.products.tableName, 'PRODUCTS_TABLE');
    output('PurchasesTable', this.data.tables.purchases.tableName, 'PURCHASES_TABLE; LOAD_PURCHASES_TABLE');
    output('OrdersTable', this.data.tables.orders.tableName, 'ORDERS_TABLE');
    output(
      'AuditTable',
      this.data.tables.audit.tableName,
      'AUDIT_TABLE: who changed which stock, when and why',
    );
    output(
      'RedisEndpoint',
      this.redis.endpoint,
      `host:port of the ${this.redis.mode} cache (TLS, inside the VPC only)`,
    );
    output('RedisAuthSecretArn', this.redis.authSecret.secretArn, 'Secret holding the Redis password');
    output('JwtSigningKeyArn', this.jwtSigningKey.secretArn, 'Private token key (npm run rotate-keys)');
    output('JwtVerifyKeysArn', this.jwtVerifyKeys.secretArn, 'Public token keys (npm run rotate-keys)');
    output('DashboardName', this.dashboard.dashboard.dashboardName, 'CloudWatch dashboard of a sale');
    output('AlarmTopicArn', this.alarms.topic.topicArn, 'SNS topic every alarm notifies');
    output(
      'ReconcileFailureQueueUrl',
      this.reconcileFailures.queue.queueUrl,
      'Failed scheduled reconcile runs (event, error, response)',
    );
  }
}
