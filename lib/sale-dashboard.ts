/**
 * The CloudWatch dashboard to watch a sale on, top to bottom in the order of the questions asked
 * during one: is anything alarming, are purchases going through and how fast, is the lock the
 * bottleneck, what does the API answer, is Lambda, DynamoDB or Redis running out of room, and does
 * the reconciler agree with the books. docs/sale-runbook.md walks through it.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { FunctionName, TableName } from '#shared/routes';
import type { EndpointFunction } from './endpoint-function.ts';
import type { FailedInvocations } from './failed-invocations.ts';
import { breakerDependencies, hotDealOrderStates, limitNames } from './metric-names.ts';
import type { PublicApi } from './public-api.ts';
import type { RedisCache } from './redis-cache.ts';
import {
  breakerMetric,
  coldStartsByFunction,
  hotDealOrders,
  limitReached,
  perSecond,
  SALE_PERIOD,
  saleMetric,
} from './sale-metrics.ts';

export interface SaleDashboardProps {
  readonly functions: ReadonlyMap<FunctionName, EndpointFunction>;
  readonly tables: Readonly<Record<TableName, dynamodb.ITable>>;
  readonly cache: RedisCache;
  readonly api: PublicApi;
  readonly reconcileFailures: FailedInvocations;
  readonly alarms: readonly cloudwatch.IAlarm[];
}

const WIDTH = 24;
const HALF = WIDTH / 2;
const THIRD = WIDTH / 3;
const HEIGHT = 6;

function graph(
  title: string,
  left: cloudwatch.IMetric[],
  options: Partial<cloudwatch.GraphWidgetProps> = {},
): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({
    title,
    left,
    width: HALF,
    height: HEIGHT,
    period: SALE_PERIOD,
    ...options,
  });
}

export class SaleDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: SaleDashboardProps) {
    super(scope, id);
    const functions = [...props.functions.entries()];
    const tables = Object.entries(props.tables) as [TableName, dynamodb.ITable][];
    const cache = props.cache.metrics(SALE_PERIOD);
    const api = props.api.api;
    const percentile = (p: string) => (name: Parameters<typeof saleMetric>[0], label: string) =>
      saleMetric(name, p, { label });
    const p50 = percentile('p50');
    const p99 = percentile('p99');

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      periodOverride: cloudwatch.PeriodOverride.INHERIT,
    });

    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: [...props.alarms],
        width: WIDTH,
        height: 4,
        sortBy: cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
      }),
    );

    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: '## Purchases', width: WIDTH, height: 1 }),
      graph('Purchases per second', [
        perSecond('Purchased', 'purchased/s'),
        perSecond('SoldOut', 'sold out/s'),
        perSecond('LockConflict', 'lock conflict (409)/s'),
        perSecond('PurchaseError', 'error/s'),
      ]),
      graph(
        'Purchase latency (ms)',
        [p50('PurchaseLatency', 'purchase p50'), p99('PurchaseLatency', 'purchase p99')],
        {
          right: [
            p99('ReserveLatency', 'Redis reserve p99'),
            p99('DurableWriteLatency', 'DynamoDB write p99'),
          ],
        },
      ),
      graph(
        'Lock wait (ms)',
        [p50('LockWait', 'wait p50'), p99('LockWait', 'wait p99'), p99('LockAcquire', 'acquire p99')],
        { width: THIRD },
      ),
      graph(
        'Lock attempts per purchase',
        [
          saleMetric('LockAttempts', 'Average', { label: 'average' }),
          saleMetric('LockAttempts', 'Maximum', { label: 'max' }),
        ],
        { width: THIRD },
      ),
      graph('Holds in flight', [saleMetric('HoldsInFlight', 'Maximum', { label: 'holds' })], {
        width: THIRD,
      }),
    );

    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: '## API and Lambda', width: WIDTH, height: 1 }),
      graph(
        'API requests and errors',
        [api.metric('Count', { statistic: 'Sum', period: SALE_PERIOD, label: 'requests' })],
        {
          right: [
            api.metricClientError({ statistic: 'Sum', period: SALE_PERIOD, label: '4xx' }),
            api.metricServerError({ statistic: 'Sum', period: SALE_PERIOD, label: '5xx' }),
          ],
        },
      ),
      graph('API latency (ms)', [
        api.metricLatency({ statistic: 'p50', period: SALE_PERIOD, label: 'p50' }),
        api.metricLatency({ statistic: 'p99', period: SALE_PERIOD, label: 'p99' }),
        api.metricIntegrationLatency({ statistic: 'p99', period: SALE_PERIOD, label: 'integration p99' }),
      ]),
      graph(
        'Lambda concurrent executions',
        functions.map(([name, fn]) =>
          fn.function.metric('ConcurrentExecutions', {
            statistic: 'Maximum',
            period: SALE_PERIOD,
            label: name,
          }),
        ),
        {
          width: THIRD,
          // What the account has promised away (reservations, provisioned, unreserved in use),
          // against its quota: close to it, every function without a reservation throttles.
          right: [
            new cloudwatch.Metric({
              namespace: 'AWS/Lambda',
              metricName: 'ClaimedAccountConcurrency',
              statistic: 'Maximum',
              period: SALE_PERIOD,
              label: 'account: claimed',
            }),
          ],
        },
      ),
      graph(
        'Lambda throttles',
        functions.map(([name, fn]) =>
          fn.function.metricThrottles({ statistic: 'Sum', period: SALE_PERIOD, label: name }),
        ),
        { width: THIRD },
      ),
      graph('Cold starts', [coldStartsByFunction()], { width: THIRD }),
      // An open breaker answers 503 at once (docs/operations.md#circuit-breakers): how often it
      // opened, and how many requests it turned away meanwhile.
      graph(
        'Circuit breakers',
        breakerDependencies.map((d) => breakerMetric('BreakerOpened', d, `${d} opened`)),
        { right: breakerDependencies.map((d) => breakerMetric('BreakerRejected', d, `${d} fast 503s`)) },
      ),
      // Abuse controls at work (docs/security.md): credential stuffing shows as login-* 429s, a buyer
      // hammering purchases as purchases-in-flight and lock-line.
      graph(
        '429s by limit',
        limitNames.map((limit) => limitReached(limit)),
      ),
    );

    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: '## DynamoDB', width: WIDTH, height: 1 }),
      graph(
        'Consumed capacity units',
        tables.flatMap(([name, table]) => [
          table.metricConsumedReadCapacityUnits({
            statistic: 'Sum',
            period: SALE_PERIOD,
            label: `${name} read`,
          }),
          table.metricConsumedWriteCapacityUnits({
            statistic: 'Sum',
            period: SALE_PERIOD,
            label: `${name} write`,
          }),
        ]),
      ),
      graph(
        'Throttle events',
        tables.flatMap(([name, table]) => [
          table.metric('ReadThrottleEvents', {
            statistic: 'Sum',
            period: SALE_PERIOD,
            label: `${name} read`,
          }),
          table.metric('WriteThrottleEvents', {
            statistic: 'Sum',
            period: SALE_PERIOD,
            label: `${name} write`,
          }),
        ]),
      ),
    );

    // One series per cache node, labelled by metric and node (CloudWatch fills in the dynamic label).
    const nodeDimension = props.cache.mode === 'serverless' ? 'clusterId' : 'CacheClusterId';
    const byNode = (metrics: cloudwatch.IMetric[]) =>
      metrics.map((m) =>
        m instanceof cloudwatch.Metric
          ? m.with({ label: `\${PROP('MetricName')} \${PROP('Dim.${nodeDimension}')}` })
          : m,
      );
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: `## Redis (${props.cache.mode})`, width: WIDTH, height: 1 }),
      graph(cache.memoryIsPercentage ? 'CPU %' : 'ECPUs', byNode(cache.cpu), { width: THIRD }),
      graph(cache.memoryIsPercentage ? 'Memory % of maxmemory' : 'Bytes stored', byNode(cache.memory), {
        width: THIRD,
      }),
      graph(
        'Evictions (must stay 0) and connections',
        [...byNode(cache.evictions), ...byNode(cache.throttledCommands)],
        { width: THIRD, right: byNode(cache.connections) },
      ),
    );

    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: '## Reconciler and hot deals', width: WIDTH, height: 1 }),
      graph(
        'Reconcile drift, repairs and failures',
        [
          saleMetric('ReconcileDrift', 'Sum', { label: 'drift' }),
          saleMetric('ReconcileRepairs', 'Sum', { label: 'repairs' }),
          saleMetric('ReconcileFailures', 'Sum', { label: 'failures' }),
          saleMetric('OversellDetected', 'Sum', { label: 'OVERSELL' }),
        ],
        {
          right: [props.reconcileFailures.metricWaiting(SALE_PERIOD).with({ label: 'failed runs waiting' })],
        },
      ),
      graph(
        'Hot-deal orders by state',
        hotDealOrderStates.map((state) => hotDealOrders(state)),
      ),
    );
  }
}
