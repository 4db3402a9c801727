import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, httpRoutes, type TableName } from '#shared/routes';
import {
  defaultReservedConcurrency,
  defaultRouteThrottles,
  UNRESERVED_CONCURRENCY_FLOOR,
} from '../../lib/deploy-settings.ts';
import type { FlashSaleStack } from '../../lib/flash-sale-stack.ts';
import {
  hotDealOrderStates,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  saleMetrics,
} from '../../lib/metric-names.ts';
import { alarmThresholds } from '../../lib/sale-alarms.ts';
import {
  allFunctions,
  cdkJsonContext,
  createApp,
  endpoint,
  functionId,
  functionProperties,
  type Json,
  logicalId,
  repositoryRoot,
  SYNTH_TIMEOUT,
  synth,
} from './support.ts';

const tableNames: TableName[] = ['users', 'products', 'purchases', 'orders'];
const runbook = readFileSync(join(repositoryRoot, 'docs/sale-runbook.md'), 'utf8');

/** The anchors of the runbook's headings, the way Markdown renderers make them. */
const _runbookAnchors = new Set(
  [...runbook.matchAll(/^#+ (.+)$/gm)].map((m) =>
    (m[1] as string)
      .toLowerCase()
      .replace(/[^a-z0-9 -]/g, '')
      .replace(/ /g, '-'),
  ),
);

/**
 * The dashboard body with every CloudFormation reference replaced by `<logical id>` (they all sit
 * inside JSON strings), parsed.
 */
function dashboardBody(templateJson: Json): Json {
  const [dashboard] = Object.values(templateJson.Resources as Record<string, Json>).filter(
    (r) => r.Type === 'AWS::CloudWatch::Dashboard',
  );
  const body = dashboard?.Properties.DashboardBody;
  const parts: unknown[] = typeof body === 'string' ? [body] : body['Fn::Join'][1];
  const text = parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const p = part as Json;
      if (p.Ref) return `<${p.Ref}>`;
      if (p['Fn::GetAtt']) return `<${p['Fn::GetAtt'].join('.')}>`;
      if (p['Fn::Join'])
        return (p['Fn::Join'][1] as unknown[])
          .map((x) => (typeof x === 'string' ? x : `<${(x as Json).Ref}>`))
          .join('');
      return '<?>';
    })
    .join('');
  return JSON.parse(text);
}

/** Every metric array of every graph: `[namespace, name, dimName, dimValue, ..., {options}]`. */
function graphMetrics(body: Json): unknown[][] {
  return (body.widgets as Json[])
    .filter((w) => w.type === 'metric' && w.properties.metrics)
    .flatMap((w) => w.properties.metrics as unknown[][]);
}

function widgetTitles(body: Json): string[] {
  return (body.widgets as Json[]).map((w) => w.properties?.title).filter(Boolean);
}

/** All alarms, each with its metric queries flattened: [{namespace, name, dimensions}]. */
function alarms(template: Template): { id: string; props: Json; metrics: Json[] }[] {
  return Object.entries(template.findResources('AWS::CloudWatch::Alarm')).map(([id, alarm]) => {
    const p = alarm.Properties as Json;
    const metrics = p.MetricName
      ? [{ namespace: p.Namespace, name: p.MetricName, dimensions: p.Dimensions ?? [] }]
      : ((p.Metrics ?? []) as Json[])
          .filter((m) => m.MetricStat)
          .map((m) => ({
            namespace: m.MetricStat.Metric.Namespace,
            name: m.MetricStat.Metric.MetricName,
            dimensions: m.MetricStat.Metric.Dimensions ?? [],
          }));
    return { id, props: p, metrics };
  });
}

function alarmsOn(template: Template, metricName: string) {
  return alarms(template).filter((a) => a.metrics.some((m) => m.name === metricName));
}

describe('operations, synthesized from cdk.json defaults', () => {
  let stack: FlashSaleStack;
  let template: Template;
  let templateJson: Json;
  let topicRef: Json;

  beforeAll(() => {
    const synthesized = synth();
    stack = synthesized.stack;
    template = synthesized.template;
    templateJson = template.toJSON();
    topicRef = { Ref: logicalId(stack, stack.alarms.topic) };
  }, SYNTH_TIMEOUT);

  describe('stack outputs', () => {
    it('outputs every table name, the Redis endpoint, the region, the dashboard, the alarm topic and the failure queue', () => {
      const outputs: [string, unknown][] = [
        ['UsersTable', { Ref: logicalId(stack, stack.data.tables.users) }],
        ['ProductsTable', { Ref: logicalId(stack, stack.data.tables.products) }],
        ['PurchasesTable', { Ref: logicalId(stack, stack.data.tables.purchases) }],
        ['OrdersTable', { Ref: logicalId(stack, stack.data.tables.orders) }],
        ['AuditTable', { Ref: logicalId(stack, stack.data.tables.audit) }],
        ['Region', { Ref: 'AWS::Region' }],
        [
          'RedisEndpoint',
          {
            'Fn::Join': [
              '',
              [
                {
                  'Fn::GetAtt': [logicalId(stack, stack.redis.replicationGroup!), 'PrimaryEndPoint.Address'],
                },
                ':6380',
              ],
            ],
          },
        ],
        ['RedisAuthSecretArn', { Ref: logicalId(stack, stack.redis.authSecret) }],
        ['DashboardName', { Ref: logicalId(stack, stack.dashboard.dashboard) }],
        ['AlarmTopicArn', topicRef],
        ['ReconcileFailureQueueUrl', { Ref: logicalId(stack, stack.reconcileFailures.queue) }],
      ];
      for (const [name, value] of outputs) template.hasOutput(name, { Value: value });
      template.hasOutput('ApiUrl', { Value: Match.anyValue() });
    });

    it('exports nothing, so no other stack can pin an output', () => {
      for (const [name, output] of Object.entries(templateJson.Outputs as Record<string, Json>)) {
        expect(output.Export, name).toBeUndefined();
      }
    });
  });

  describe('metrics contract', () => {
    it('names the metrics, units and dimensions the functions emit', () => {
      expect(METRICS_NAMESPACE).toBe('FlashSale');
      expect(METRICS_SERVICE).toBe('flash-sale-inventory');
      expect(saleMetrics).toEqual({
        Purchased: 'Count',
        SoldOut: 'Count',
        LockConflict: 'Count',
        PurchaseError: 'Count',
        PurchaseLatency: 'Milliseconds',
        LockWait: 'Milliseconds',
        LockAcquire: 'Milliseconds',
        ReserveLatency: 'Milliseconds',
        DurableWriteLatency: 'Milliseconds',
        LockAttempts: 'Count',
        HoldsInFlight: 'Count',
        ReconcileRepairs: 'Count',
        ReconcileDrift: 'Count',
        ReconcileFailures: 'Count',
        OversellDetected: 'Count',
        HotDealOrders: 'Count',
        BreakerOpened: 'Count',
        BreakerRejected: 'Count',
        ColdStart: 'Count',
        LimitReached: 'Count',
      });
      expect(hotDealOrderStates).toEqual(['PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED']);
    });

    it('tells every function the metrics namespace and service, so Powertools emits where the dashboard looks', () => {
      for (const { function: name } of allFunctions) {
        expect(functionProperties(template, stack, name).Environment.Variables, name).toMatchObject({
          POWERTOOLS_METRICS_NAMESPACE: 'FlashSale',
          POWERTOOLS_SERVICE_NAME: 'flash-sale-inventory',
        });
      }
    });
  });

  describe('dashboard', () => {
    let body: Json;
    beforeAll(() => {
      body = dashboardBody(templateJson);
    });

    it('graphs every application metric under the FlashSale namespace and the service dimension', () => {
      const shown = new Set(
        graphMetrics(body)
          // Dimension pairs follow the name, in CloudWatch's order (`dependency` sorts before `service`).
          .filter((m) => m[0] === METRICS_NAMESPACE && m[m.indexOf('service') + 1] === METRICS_SERVICE)
          .map((m) => m[1] as string),
      );
      const searched = JSON.stringify(body).includes('MetricName=\\"ColdStart\\"');
      expect(searched, 'ColdStart by search').toBe(true);
      expect([...shown].sort()).toEqual(
        Object.keys(saleMetrics)
          .filter((n) => n !== 'ColdStart')
          .sort(),
      );
    });

    it('logs API access with the request id the functions log and meter, and the Lambda request id', () => {
      const [stage] = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'));
      const format = JSON.parse((stage as Json).Properties.AccessLogSettings.Format);
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        integrationRequestId: '$context.integration.requestId',
      });
    });

    it('graphs the circuit breakers of Redis and DynamoDB: openings and fast 503s', () => {
      for (const name of ['BreakerOpened', 'BreakerRejected']) {
        const dependencies = graphMetrics(body)
          .filter((m) => m[1] === name)
          .map((m) => m[m.indexOf('dependency') + 1]);
        expect(dependencies.sort(), name).toEqual(['dynamodb', 'redis']);
      }
    });

    it('graphs hot-deal orders by state', () => {
      const states = graphMetrics(body)
        .filter((m) => m[1] === 'HotDealOrders')
        .map((m) => m[5]);
      expect(states.sort()).toEqual([...hotDealOrderStates].sort());
    });

    it('shows purchases/s, sold-out/s and p50/p99 purchase latency', () => {
      const json = JSON.stringify(body);
      expect(json).toContain('purchased / PERIOD(purchased)');
      expect(json).toContain('soldOut / PERIOD(soldOut)');
      const latency = graphMetrics(body).filter((m) => m[1] === 'PurchaseLatency');
      expect(latency.map((m) => (m.at(-1) as Json).stat).sort()).toEqual(['p50', 'p99']);
    });

    it('shows API 4xx and 5xx, Lambda concurrency and throttles for every function, and the account’s claimed concurrency', () => {
      const metrics = graphMetrics(body);
      const apiId = logicalId(stack, stack.api.api);
      for (const name of ['4xx', '5xx', 'Count']) {
        expect(
          metrics.some((m) => m[0] === 'AWS/ApiGateway' && m[1] === name && m[3] === `<${apiId}>`),
          name,
        ).toBe(true);
      }
      for (const metricName of ['ConcurrentExecutions', 'Throttles']) {
        const functions = metrics
          .filter((m) => m[0] === 'AWS/Lambda' && m[1] === metricName)
          .map((m) => m[3]);
        expect(functions.sort(), metricName).toEqual(
          allFunctions.map((f) => `<${functionId(stack, f.function)}>`).sort(),
        );
      }
      expect(metrics.filter((m) => m[1] === 'ClaimedAccountConcurrency')).toEqual([
        [
          'AWS/Lambda',
          'ClaimedAccountConcurrency',
          expect.objectContaining({ stat: 'Maximum', yAxis: 'right' }),
        ],
      ]);
    });

    it('shows consumed capacity and throttle events per table', () => {
      const metrics = graphMetrics(body).filter((m) => m[0] === 'AWS/DynamoDB');
      for (const table of tableNames) {
        const ref = `<${logicalId(stack, stack.data.tables[table])}>`;
        const names = metrics.filter((m) => m[3] === ref).map((m) => m[1]);
        expect(names.sort(), table).toEqual(
          [
            'ConsumedReadCapacityUnits',
            'ConsumedWriteCapacityUnits',
            'ReadThrottleEvents',
            'WriteThrottleEvents',
          ].sort(),
        );
      }
    });

    it('shows cache CPU, memory, evictions and connections for each node of the replication group', () => {
      const group = logicalId(stack, stack.redis.replicationGroup!);
      const cache = graphMetrics(body).filter((m) => m[0] === 'AWS/ElastiCache');
      for (const metricName of [
        'CPUUtilization',
        'EngineCPUUtilization',
        'DatabaseMemoryUsagePercentage',
        'Evictions',
        'CurrConnections',
      ]) {
        const nodes = cache.filter((m) => m[1] === metricName).map((m) => [m[2], m[3]]);
        expect(nodes, metricName).toEqual([
          ['CacheClusterId', `<${group}>-001`],
          ['CacheClusterId', `<${group}>-002`],
        ]);
      }
    });

    it('shows reconcile drift next to the failed runs waiting in the queue, and every alarm’s state', () => {
      const queue = logicalId(stack, stack.reconcileFailures.queue);
      expect(
        graphMetrics(body).some(
          (m) => m[1] === 'ApproximateNumberOfMessagesVisible' && m[3] === `<${queue}.QueueName>`,
        ),
      ).toBe(true);
      const status = (body.widgets as Json[]).find((w) => w.type === 'alarm');
      expect(status?.properties.alarms).toHaveLength(stack.alarms.alarms.length);
      expect(widgetTitles(body)).toEqual(
        expect.arrayContaining([
          'Purchases per second',
          'Lock wait (ms)',
          'Reconcile drift, repairs and failures',
        ]),
      );
    });
  });

  describe('alarms', () => {
    it('notifies the alarm topic on alarm and on recovery, and never alarms on missing data', () => {
      const all = alarms(template);
      expect(all.length).toBe(stack.alarms.alarms.length);
      for (const { id, props } of all) {
        expect(props.AlarmActions, id).toEqual([topicRef]);
        expect(props.OKActions, id).toEqual([topicRef]);
        expect(props.TreatMissingData, id).toBe('notBreaching');
        expect(props.AlarmDescription, id).toMatch(/docs\/sale-runbook\.md#/);
      }
    });

    it.each([['OversellDetected'], ['ReconcileDrift'], ['ReconcileFailures']])(
      'alarms on any %s above 0 in one minute',
      (metricName) => {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'FlashSale',
          MetricName: metricName,
          Dimensions: [{ Name: 'service', Value: 'flash-sale-inventory' }],
          Statistic: 'Sum',
          Period: 60,
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
          EvaluationPeriods: 1,
        });
      },
    );

    it('alarms within the minute when a scheduled reconcile run fails', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(stack, 'reconcile-inventory') } }],
        Statistic: 'Sum',
        Threshold: 0,
      });
    });

    it('alarms when a reconcile run fails into its on-failure destination', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [
          {
            Name: 'QueueName',
            Value: { 'Fn::GetAtt': [logicalId(stack, stack.reconcileFailures.queue), 'QueueName'] },
          },
        ],
        Threshold: 0,
      });
    });

    it('alarms on the API 5xx rate, judged only above a minimum of requests', () => {
      const [rate] = alarmsOn(template, '5xx');
      expect(rate?.metrics.map((m) => m.name).sort()).toEqual(['5xx', 'Count']);
      const expression = ((rate?.props.Metrics ?? []) as Json[]).find((m) => m.Expression)?.Expression;
      expect(expression).toBe(
        `IF(requests >= ${alarmThresholds.api5xxMinimumRequests}, 100 * FILL(errors, 0) / requests, 0)`,
      );
      expect(rate?.props).toMatchObject({ Threshold: 1, EvaluationPeriods: 3, DatapointsToAlarm: 2 });
    });

    it('alarms on Lambda throttles of every function', () => {
      const throttled = alarmsOn(template, 'Throttles').flatMap((a) =>
        a.metrics.map((m) => m.dimensions[0].Value),
      );
      expect(throttled.sort((a, b) => a.Ref.localeCompare(b.Ref))).toEqual(
        allFunctions
          .map((f) => ({ Ref: functionId(stack, f.function) }))
          .sort((a, b) => a.Ref.localeCompare(b.Ref)),
      );
    });

    it('alarms on DynamoDB read and write throttles of every table', () => {
      for (const table of tableNames) {
        const ref = { Ref: logicalId(stack, stack.data.tables[table]) };
        const matching = alarms(template).filter((a) =>
          a.metrics.some((m) =>
            m.dimensions.some((d: Json) => JSON.stringify(d.Value) === JSON.stringify(ref)),
          ),
        );
        expect(matching.flatMap((a) => a.metrics.map((m) => m.name)).sort(), table).toEqual([
          'ReadThrottleEvents',
          'WriteThrottleEvents',
        ]);
      }
    });

    it('alarms on cache memory above 80 % and on any eviction, across every node', () => {
      const group = logicalId(stack, stack.redis.replicationGroup!);
      const nodes = ['-001', '-002'].map((suffix) => ({ 'Fn::Join': ['', [{ Ref: group }, suffix]] }));
      const [memory] = alarmsOn(template, 'DatabaseMemoryUsagePercentage');
      expect(memory?.props.Threshold).toBe(80);
      expect(memory?.metrics.map((m) => m.dimensions[0].Value)).toEqual(nodes);
      const [evictions] = alarmsOn(template, 'Evictions');
      expect(evictions?.props.Threshold).toBe(0);
      expect(evictions?.metrics.map((m) => m.dimensions[0].Value)).toEqual(nodes);
    });
  });

  describe('alarm topic', () => {
    it('lets CloudWatch alarms of this account publish despite the SSL-only topic policy', () => {
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: 'sns:Publish',
              Condition: Match.objectLike({
                StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              }),
            }),
          ]),
        },
      });
    });

    it('subscribes nobody without alarmEmail', () => {
      template.resourceCountIs('AWS::SNS::Subscription', 0);
    });

    it('does not warn about REDIS_CLUSTER_NODES in the default replication-group mode', () => {
      expect(
        Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('REDIS_CLUSTER_NODES')),
      ).toEqual([]);
    });
  });

  describe('scheduled reconcile failures', () => {
    it('sends a failed reconcile run to an encrypted, SSL-only queue', () => {
      const queueId = logicalId(stack, stack.reconcileFailures.queue);
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: functionId(stack, 'reconcile-inventory') },
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
      });
      template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });
  });

  describe('cache parameter group', () => {
    it('never evicts: the cache uses a parameter group with maxmemory-policy noeviction', () => {
      const group = logicalId(stack, stack.redis.parameterGroup!);
      template.hasResourceProperties('AWS::ElastiCache::ParameterGroup', {
        CacheParameterGroupFamily: 'valkey8',
        Properties: { 'maxmemory-policy': 'noeviction' },
      });
      template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        EngineVersion: '8.0',
        CacheParameterGroupName: { Ref: group },
      });
    });
  });

  describe('bulkheads', () => {
    it('reserves the default concurrency per function and leaves the rest unreserved', () => {
      for (const { function: name } of allFunctions) {
        expect(functionProperties(template, stack, name).ReservedConcurrentExecutions, name).toBe(
          defaultReservedConcurrency[name],
        );
      }
    });

    it('keeps the reconciler a slot, puts purchases ahead of sign-up, login and listing, and fits the default quota', () => {
      const reserved = defaultReservedConcurrency;
      expect(reserved['reconcile-inventory']).toBeGreaterThanOrEqual(1);
      for (const capped of [
        'register-user',
        'login-user',
        'list-products',
        'get-product',
      ] as FunctionName[]) {
        expect(reserved[capped], capped).toBeLessThan(reserved['create-purchase'] ?? 0);
      }
      const total = Object.values(reserved).reduce((sum, n) => sum + (n ?? 0), 0);
      expect(total).toBeLessThanOrEqual(
        (cdkJsonContext.accountConcurrencyLimit as number) - UNRESERVED_CONCURRENCY_FLOOR,
      );
    });

    it('reserves nothing with reservedConcurrency=none', () => {
      const { template: t } = synth({ reservedConcurrency: 'none' });
      for (const fn of Object.values(t.findResources('AWS::Lambda::Function'))) {
        expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
      }
    });

    it.each([
      [{ reservedConcurrency: '{"create-purchase": 900}' }, /reserves 1327 executions.*leaves 900/],
      [{ accountConcurrencyLimit: 10 }, /leaves 0 to reserve/],
      [{ reservedConcurrency: '{"no-such-function": 1}' }, /no-such-function/],
      [{ reservedConcurrency: '{"create-purchase": -1}' }, /create-purchase/],
      [{ reservedConcurrency: 'create-purchase=5' }, /JSON object/],
      [
        { purchaseProvisionedConcurrency: 401 },
        /cannot exceed the reserved concurrency of create-purchase \(400\)/,
      ],
      [{ routeThrottles: '{"login-user": {"rateLimit": 5}}' }, /login-user/],
      [
        { routeThrottles: '{"reconcile-inventory": {"rateLimit": 5, "burstLimit": 5}}' },
        /reconcile-inventory/,
      ],
      [{ alarmEmail: 'not an address' }, /alarmEmail/],
      [{ redisMode: 'sentinel' }, /redisMode/],
    ])('refuses %o', (context, message) => {
      expect(() => createApp(context)).toThrow(message);
    });

    it('keeps provisioned concurrency off by default: no alias, the route invokes the function', () => {
      template.resourceCountIs('AWS::Lambda::Alias', 0);
    });

    it('throttles sign-up and login below purchases on the API stage', () => {
      const [stage] = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'));
      const settings = (stage as Json).Properties.RouteSettings as Record<string, Json>;
      const purchase = settings['POST /api/purchases'];
      expect(purchase).toEqual({ ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 });
      for (const key of ['POST /api/auth/register', 'POST /api/auth/login']) {
        expect(settings[key]?.ThrottlingRateLimit, key).toBeLessThan(purchase?.ThrottlingRateLimit);
        expect(settings[key]?.ThrottlingBurstLimit, key).toBeLessThan(purchase?.ThrottlingBurstLimit);
      }
      // The settings of a route key API Gateway does not know yet are refused: the stage waits for them.
      const routeKeys = new Set(httpRoutes.map((r) => `${r.method} ${r.path}`));
      const dependsOn = new Set((stage as Json).DependsOn as string[]);
      for (const key of Object.keys(settings)) {
        expect(routeKeys.has(key), key).toBe(true);
        const [routeId] = Object.keys(
          template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: key } }),
        );
        expect(dependsOn.has(routeId as string), key).toBe(true);
      }
      expect(Object.keys(settings).sort()).toEqual(
        Object.keys(defaultRouteThrottles)
          .map((name) => httpRoutes.find((r) => r.function === name))
          .map((r) => `${r?.method} ${r?.path}`)
          .sort(),
      );
    });
  });
});

describe('docs/sale-runbook.md', () => {
  it('names every context key lib/deploy-settings.ts reads', () => {
    const source = readFileSync(join(repositoryRoot, 'lib/deploy-settings.ts'), 'utf8');
    const keys = new Set(
      [...source.matchAll(/(?:tryGetContext\(|\(node, )'([A-Za-z]+)'/g)].map((m) => m[1] as string),
    );
    expect(keys.size).toBeGreaterThanOrEqual(13);
    expect([...keys].filter((key) => !runbook.includes(`\`${key}\``))).toEqual([]);
  });
});

describe('operations, with every operations context key overridden', () => {
  let s: FlashSaleStack;
  let t: Template;

  beforeAll(() => {
    ({ stack: s, template: t } = synth({
      alarmEmail: 'oncall@example.com',
      reservedConcurrency: JSON.stringify({ 'create-purchase': 500, 'register-user': 0, 'login-user': null }),
      purchaseProvisionedConcurrency: '50',
      apiRateLimit: '300',
      apiBurstLimit: '600',
      routeThrottles: JSON.stringify({
        'login-user': { rateLimit: 10, burstLimit: 20 },
        'register-user': null,
      }),
    }));
  }, SYNTH_TIMEOUT);

  it('mails the alarms to alarmEmail', () => {
    t.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: logicalId(s, s.alarms.topic) },
    });
  });

  it('merges reservedConcurrency over the defaults: a value, 0 as a brake, null to release', () => {
    expect(functionProperties(t, s, 'create-purchase').ReservedConcurrentExecutions).toBe(500);
    expect(functionProperties(t, s, 'register-user').ReservedConcurrentExecutions).toBe(0);
    expect(functionProperties(t, s, 'login-user').ReservedConcurrentExecutions).toBeUndefined();
    expect(functionProperties(t, s, 'create-order').ReservedConcurrentExecutions).toBe(
      defaultReservedConcurrency['create-order'],
    );
  });

  it('provisions create-purchase through a live alias that the purchase route invokes', () => {
    const purchase = endpoint(s, 'create-purchase');
    const aliasId = logicalId(s, purchase.invokeTarget);
    t.hasResourceProperties('AWS::Lambda::Alias', {
      Name: 'live',
      FunctionName: { Ref: functionId(s, 'create-purchase') },
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 50 },
    });
    const [route] = Object.values(
      t.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: 'POST /api/purchases' } }),
    );
    const integrationId = (route as Json).Properties.Target['Fn::Join'][1][1].Ref as string;
    expect(t.toJSON().Resources[integrationId].Properties.IntegrationUri).toEqual({ Ref: aliasId });
    t.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { Ref: aliasId },
      Principal: 'apigateway.amazonaws.com',
    });
  });

  it('merges routeThrottles and the stage default from context', () => {
    const [stage] = Object.values(t.findResources('AWS::ApiGatewayV2::Stage'));
    const properties = (stage as Json).Properties;
    expect(properties.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 300, ThrottlingBurstLimit: 600 });
    expect(properties.RouteSettings).toEqual({
      'POST /api/auth/login': { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      'POST /api/purchases': { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
    });
  });
});
