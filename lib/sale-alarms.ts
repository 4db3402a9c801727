/**
 * The alarms of a sale and the SNS topic they notify (mailed to `alarmEmail` when the context gives
 * one). Each alarm's description says what it means; docs/sale-runbook.md says what to do.
 *
 * Missing data never alarms: most of these metrics are only emitted when something happens, and a
 * quiet stage between sales is healthy.
 */
import { Aws } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { type FunctionName, scheduledFunctions, type TableName } from '#shared/routes';
import type { EndpointFunction } from './endpoint-function.ts';
import type { FailedInvocations } from './failed-invocations.ts';
import { pascalCase } from './names.ts';
import type { PublicApi } from './public-api.ts';
import type { RedisCache } from './redis-cache.ts';
import { SALE_PERIOD, saleMetric } from './sale-metrics.ts';

export interface SaleAlarmsProps {
  /** Mailed every alarm and recovery; confirm the subscription from the first mail. */
  readonly alarmEmail?: string;
  readonly functions: ReadonlyMap<FunctionName, EndpointFunction>;
  readonly tables: Readonly<Record<TableName, dynamodb.ITable>>;
  readonly cache: RedisCache;
  readonly api: PublicApi;
  /** The scheduled reconciler's on-failure destination. */
  readonly reconcileFailures: FailedInvocations;
}

/** Thresholds that are judgement calls, named so the runbook can quote them. */
export const alarmThresholds = {
  /** Percent of API requests answered 5xx, in 2 of 3 minutes. */
  api5xxPercent: 1,
  /** Requests per minute below which the 5xx rate is not judged (one error in ten is noise). */
  api5xxMinimumRequests: 50,
  /** Percent of the cache's maxmemory in use: at 100 % a noeviction cache refuses every write. */
  redisMemoryPercent: 80,
} as const;

/** CloudWatch alarms on metric math accept at most this many metrics. */
const MAX_METRICS_PER_ALARM = 10;

const RUNBOOK = 'docs/sale-runbook.md';

export class SaleAlarms extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: SaleAlarmsProps) {
    super(scope, id);

    // Alarm messages carry alarm names and metric values, nothing secret: SSE would need a customer
    // key whose policy lets CloudWatch use it (the AWS-managed SNS key does not), for no gain.
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'Flash-sale alarms', enforceSSL: true });
    // enforceSSL gives the topic a policy of its own, which replaces the default one that let
    // CloudWatch publish; alarms of this account may publish again, and nothing else.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccount',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: {
            'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*`,
          },
        },
      }),
    );
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    this.add('Oversell', saleMetric('OversellDetected', 'Sum'), {
      threshold: 0,
      description:
        'OVERSELL: a product sold more units than it ever had. Stop the sale (end the hot deal, or reserve 0 ' +
        `executions for create-purchase), then audit before reopening. ${RUNBOOK}#oversell`,
    });
    this.add('ReconcileDrift', saleMetric('ReconcileDrift', 'Sum'), {
      threshold: 0,
      description:
        'Redis and DynamoDB stock disagreed for at least one product when the reconciler looked (it repairs ' +
        `what it can). Persisting drift means Redis lost data or a write path skips a step. ${RUNBOOK}#reconcile-drift`,
    });
    this.add('ReconcileFailures', saleMetric('ReconcileFailures', 'Sum'), {
      threshold: 0,
      description: `The reconciler could not check or repair some products in a pass. ${RUNBOOK}#reconcile-failures`,
    });
    // The fast signal of a failed run: Lambda counts the error within the minute, while SQS may take
    // a quarter of an hour to publish the depth of a queue that had been idle for hours.
    for (const job of scheduledFunctions) {
      const fn = props.functions.get(job.function);
      if (!fn) continue;
      this.add(
        `RunErrors${pascalCase(job.function)}`,
        fn.function.metricErrors({ statistic: 'Sum', period: SALE_PERIOD }),
        {
          threshold: 0,
          description: `A scheduled ${job.function} run failed or timed out. ${RUNBOOK}#reconcile-failures`,
        },
      );
    }
    this.add('ReconcileRunFailed', props.reconcileFailures.metricWaiting(SALE_PERIOD), {
      threshold: 0,
      description:
        'A scheduled reconcile run failed: its failure record waits in the reconcile failure queue ' +
        `(stack output ReconcileFailureQueueUrl). ${RUNBOOK}#reconcile-failures`,
    });

    const { api } = props;
    const requests = api.api.metric('Count', { statistic: 'Sum', period: SALE_PERIOD });
    const serverErrors = api.api.metricServerError({ statistic: 'Sum', period: SALE_PERIOD });
    const { api5xxMinimumRequests: floor, api5xxPercent } = alarmThresholds;
    this.add(
      'Api5xxRate',
      new cloudwatch.MathExpression({
        expression: `IF(requests >= ${floor}, 100 * FILL(errors, 0) / requests, 0)`,
        usingMetrics: { requests, errors: serverErrors },
        label: 'API 5xx %',
        period: SALE_PERIOD,
      }),
      {
        threshold: api5xxPercent,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        description: `More than ${api5xxPercent} % of API requests answered 5xx in 2 of 3 minutes. ${RUNBOOK}#api-5xx`,
      },
    );

    for (const [name, fn] of props.functions) {
      this.add(
        `Throttles${pascalCase(name)}`,
        fn.function.metricThrottles({ statistic: 'Sum', period: SALE_PERIOD }),
        {
          threshold: 0,
          description: `Lambda throttled ${name}: its reserved concurrency or the account's quota is used up. ${RUNBOOK}#lambda-throttles`,
        },
      );
    }

    for (const [name, table] of Object.entries(props.tables) as [TableName, dynamodb.ITable][]) {
      this.add(
        `DynamoDbThrottles${pascalCase(name)}`,
        new cloudwatch.MathExpression({
          expression: 'FILL(reads, 0) + FILL(writes, 0)',
          usingMetrics: {
            reads: table.metric('ReadThrottleEvents', { statistic: 'Sum', period: SALE_PERIOD }),
            writes: table.metric('WriteThrottleEvents', { statistic: 'Sum', period: SALE_PERIOD }),
          },
          label: `${name} throttle events`,
          period: SALE_PERIOD,
        }),
        {
          threshold: 0,
          description: `DynamoDB throttled requests to the ${name} table. ${RUNBOOK}#dynamodb-throttles`,
        },
      );
    }

    const cache = props.cache.metrics(SALE_PERIOD);
    this.acrossMetrics('RedisEvictions', 'SUM', cache.evictions, 0, {
      description:
        'The cache evicted keys. With maxmemory-policy noeviction this must never happen: a lock or a hold may ' +
        `be gone. ${RUNBOOK}#redis-memory`,
    });
    if (cache.memoryIsPercentage) {
      this.acrossMetrics('RedisMemory', 'MAX', cache.memory, alarmThresholds.redisMemoryPercent, {
        description:
          `A cache node uses more than ${alarmThresholds.redisMemoryPercent} % of its memory; at 100 % every ` +
          `write (every purchase) fails. ${RUNBOOK}#redis-memory`,
      });
    }
    this.acrossMetrics('RedisThrottledCommands', 'SUM', cache.throttledCommands, 0, {
      description: `ElastiCache Serverless throttled commands while scaling. ${RUNBOOK}#redis-memory`,
    });
  }

  /**
   * One alarm over several series (one per cache node), combined by `fn`; more series than one
   * alarm may use are split over several alarms.
   */
  private acrossMetrics(
    id: string,
    fn: 'MAX' | 'SUM',
    metrics: cloudwatch.IMetric[],
    threshold: number,
    options: { description: string },
  ): void {
    for (let start = 0; start < metrics.length; start += MAX_METRICS_PER_ALARM) {
      const chunk = metrics.slice(start, start + MAX_METRICS_PER_ALARM);
      const usingMetrics = Object.fromEntries(chunk.map((m, i) => [`m${i}`, m]));
      const ids = Object.keys(usingMetrics);
      const expression =
        fn === 'SUM' ? ids.map((i) => `FILL(${i}, 0)`).join(' + ') : `MAX([${ids.join(', ')}])`;
      const suffix = metrics.length > MAX_METRICS_PER_ALARM ? `${start / MAX_METRICS_PER_ALARM + 1}` : '';
      this.add(
        `${id}${suffix}`,
        new cloudwatch.MathExpression({ expression, usingMetrics, label: id, period: SALE_PERIOD }),
        { threshold, description: options.description },
      );
    }
  }

  private add(
    id: string,
    metric: cloudwatch.IMetric,
    options: {
      threshold: number;
      description: string;
      evaluationPeriods?: number;
      datapointsToAlarm?: number;
    },
  ): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold: options.threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      datapointsToAlarm: options.datapointsToAlarm ?? options.evaluationPeriods ?? 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    const notify = new actions.SnsAction(this.topic);
    alarm.addAlarmAction(notify);
    alarm.addOkAction(notify);
    this.alarms.push(alarm);
  }
}
