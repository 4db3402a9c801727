import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '#shared/config';
import { fallbackRoute, httpRoutes, scheduledFunctions, type TableName } from '#shared/routes';
import { createFlashSaleApp } from '../../lib/app.ts';
import type { FlashSaleStack } from '../../lib/flash-sale-stack.ts';
import { tableDefinitions } from '../../shared/db/tables.ts';
import {
  allFunctions,
  cdkJsonContext,
  createApp,
  endpoint,
  endpoints,
  functionProperties,
  type Json,
  logicalId,
  SYNTH_TIMEOUT,
  synth,
} from './support.ts';

describe('the flash-sale stack, synthesized from cdk.json defaults without bundling', () => {
  let stack: FlashSaleStack;
  let template: Template;
  let resources: Record<string, Json>;
  let tableIds: Record<TableName, string>;
  let validationReport: Json;

  beforeAll(() => {
    const synthesized = synth();
    stack = synthesized.stack;
    template = synthesized.template;
    resources = template.toJSON().Resources;
    tableIds = {
      users: logicalId(stack, stack.data.tables.users),
      products: logicalId(stack, stack.data.tables.products),
      purchases: logicalId(stack, stack.data.tables.purchases),
      orders: logicalId(stack, stack.data.tables.orders),
      audit: logicalId(stack, stack.data.tables.audit),
    };
    validationReport = synthesized.validationReport;
  }, SYNTH_TIMEOUT);

  describe('functions', () => {
    it('deploys one Node.js 24 arm64 function per route, for the $default route and per scheduled job', () => {
      template.resourcePropertiesCountIs(
        'AWS::Lambda::Function',
        {
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          MemorySize: 1024,
          Handler: 'index.handler',
          TracingConfig: { Mode: 'Active' },
          Environment: {
            Variables: Match.objectLike({
              NODE_OPTIONS: '--enable-source-maps',
              STAGE: 'dev',
              LOG_LEVEL: 'INFO',
            }),
          },
        },
        allFunctions.length,
      );
      expect([...stack.functions.keys()].sort()).toEqual(allFunctions.map((f) => f.function).sort());
    });

    it('gives HTTP functions 10 s and the reconciler 55 s', () => {
      for (const route of endpoints) {
        expect(functionProperties(template, stack, route.function).Timeout).toBe(10);
      }
      for (const job of scheduledFunctions) {
        expect(functionProperties(template, stack, job.function).Timeout).toBe(55);
      }
    });

    it('keeps every function timeout shorter than HOLD_STALE_AFTER_MS, so the reconciler never settles a live hold', () => {
      const holdStaleAfterMs = configSchema.shape.HOLD_STALE_AFTER_MS.parse(undefined);
      for (const { function: name } of allFunctions) {
        expect(functionProperties(template, stack, name).Timeout * 1000).toBeLessThan(holdStaleAfterMs);
      }
    });

    it('puts exactly the functions that use Redis in the VPC', () => {
      for (const { function: name, uses } of allFunctions) {
        const vpcConfig = functionProperties(template, stack, name).VpcConfig;
        if (uses.redis) {
          expect(vpcConfig?.SubnetIds, name).toHaveLength(2);
          expect(vpcConfig?.SecurityGroupIds, name).toHaveLength(1);
        } else expect(vpcConfig, name).toBeUndefined();
      }
    });

    it('sets table names, the Redis URL and secret ARNs only for what each function uses', () => {
      const tableVariables: Record<TableName, string> = {
        users: 'USERS_TABLE',
        products: 'PRODUCTS_TABLE',
        purchases: 'PURCHASES_TABLE',
        orders: 'ORDERS_TABLE',
        audit: 'AUDIT_TABLE',
      };
      for (const { function: name, uses } of allFunctions) {
        const variables = functionProperties(template, stack, name).Environment.Variables;
        for (const table of Object.keys(tableVariables) as TableName[]) {
          if (uses.tables[table as keyof typeof uses.tables]) {
            expect(variables[tableVariables[table]], name).toEqual({ Ref: tableIds[table] });
          } else {
            expect(variables[tableVariables[table]], name).toBeUndefined();
          }
        }
        expect('REDIS_URL' in variables, name).toBe(uses.redis);
        expect('REDIS_AUTH_SECRET_ARN' in variables, name).toBe(uses.redis);
        expect('JWT_SIGNING_KEY_ARN' in variables, name).toBe(uses.jwt === 'sign');
        expect('JWT_VERIFY_KEYS_ARN' in variables, name).toBe(uses.jwt === 'verify');
      }
    });

    it('points REDIS_URL at the primary endpoint over TLS', () => {
      const variables = functionProperties(template, stack, 'create-purchase').Environment.Variables;
      expect(variables.REDIS_URL).toEqual({
        'Fn::Join': [
          '',
          [
            'rediss://',
            { 'Fn::GetAtt': [logicalId(stack, stack.redis.replicationGroup!), 'PrimaryEndPoint.Address'] },
            ':6380',
          ],
        ],
      });
    });
  });

  describe('network access', () => {
    it('opens the Redis port only to the security groups of the functions that use Redis', () => {
      const redisGroup = logicalId(stack, stack.redis.securityGroup);
      const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).filter(
        (r) => r.Properties.GroupId['Fn::GetAtt'][0] === redisGroup,
      );
      expect(ingress.map((r) => [r.Properties.FromPort, r.Properties.ToPort])).toEqual(
        ingress.map(() => [6380, 6380]),
      );
      const sources = new Set(ingress.map((r) => r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0]));
      const redisFunctionGroups = allFunctions
        .filter((f) => f.uses.redis)
        .map(
          (f) =>
            functionProperties(template, stack, f.function).VpcConfig.SecurityGroupIds[0]['Fn::GetAtt'][0],
        );
      expect([...sources].sort()).toEqual(redisFunctionGroups.sort());
    });
  });

  describe('HTTP API', () => {
    it('has a route for every method and path of shared/routes.ts, the $default fallback and no other', () => {
      const routeKeys = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map(
        (r) => r.Properties.RouteKey,
      );
      expect(routeKeys.sort()).toEqual(
        [...httpRoutes.map((r) => `${r.method} ${r.path}`), '$default'].sort(),
      );
    });

    it('sends each route to the function the route table names', () => {
      const routeKeys = [
        ...httpRoutes.map((route) => [`${route.method} ${route.path}`, route.function] as const),
        ['$default', fallbackRoute.function] as const,
      ];
      for (const [routeKey, functionName] of routeKeys) {
        const matches = Object.values(
          template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: routeKey } }),
        );
        expect(matches, routeKey).toHaveLength(1);
        const [routeResource] = matches;
        const integrationId = (routeResource as Json).Properties.Target['Fn::Join'][1][1].Ref as string;
        const uri = resources[integrationId]?.Properties.IntegrationUri;
        const functionId = stack.getLogicalId(
          endpoint(stack, functionName).function.node.defaultChild as CfnFunction,
        );
        expect(uri, routeKey).toEqual({ 'Fn::GetAtt': [functionId, 'Arn'] });
      }
    });

    it('serves a throttled $default stage with JSON access logs and outputs its URL', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
        AccessLogSettings: {
          DestinationArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
          Format: Match.stringLikeRegexp('"routeKey":"\\$context.routeKey"'),
        },
      });
      template.hasOutput('ApiUrl', {
        Value: { 'Fn::Join': ['', Match.arrayWith(['https://', Match.stringLikeRegexp('execute-api')])] },
      });
    });
  });

  describe('data', () => {
    it('gives every table on-demand billing, point-in-time recovery, KMS encryption, deletion protection and Retain', () => {
      const tables = template.findResources('AWS::DynamoDB::Table');
      expect(Object.keys(tables).sort()).toEqual(Object.values(tableIds).sort());
      for (const [id, table] of Object.entries(tables)) {
        expect(table.DeletionPolicy, id).toBe('Retain');
        expect(table.UpdateReplacePolicy, id).toBe('Retain');
        expect(table.Properties, id).toMatchObject({
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          // Enabled without a key: KMS with the AWS-managed aws/dynamodb key.
          SSESpecification: { SSEEnabled: true },
          DeletionProtectionEnabled: true,
        });
        expect(table.Properties.TableName, id).toBeUndefined();
      }
    });

    it('builds keys and indexes from shared/db/tables.ts, projecting only the listed attributes', () => {
      for (const [name, definition] of Object.entries(tableDefinitions) as [TableName, Json][]) {
        const properties = resources[tableIds[name]]?.Properties;
        expect(properties.KeySchema[0], name).toEqual({
          AttributeName: definition.partitionKey.name,
          KeyType: 'HASH',
        });
        const indexes = properties.GlobalSecondaryIndexes ?? [];
        expect(indexes.map((i: Json) => i.IndexName).sort(), name).toEqual(
          definition.globalSecondaryIndexes.map((i: Json) => i.indexName).sort(),
        );
      }
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        GlobalSecondaryIndexes: Match.arrayWith([
          Match.objectLike({
            IndexName: 'byProduct',
            Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['stock_quantity'] },
          }),
        ]),
      });
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        GlobalSecondaryIndexes: Match.arrayWith([
          Match.objectLike({ IndexName: 'byUser', Projection: { ProjectionType: 'ALL' } }),
        ]),
      });
    });
  });

  describe('Redis', () => {
    it('encrypts the replication group in transit and at rest, with automatic failover across AZs', () => {
      template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        Engine: 'valkey',
        CacheNodeType: 'cache.t4g.small',
        NumCacheClusters: 2,
        AutomaticFailoverEnabled: true,
        MultiAZEnabled: true,
        TransitEncryptionEnabled: true,
        AtRestEncryptionEnabled: true,
        Port: 6380,
      });
    });

    it('takes the AUTH token from Secrets Manager by dynamic reference, never as a literal', () => {
      const [group] = Object.values(template.findResources('AWS::ElastiCache::ReplicationGroup'));
      const authToken = group?.Properties.AuthToken;
      expect(typeof authToken).not.toBe('string');
      expect(authToken).toEqual({
        'Fn::Join': [
          '',
          [
            '{{resolve:secretsmanager:',
            { Ref: logicalId(stack, stack.redis.authSecret) },
            ':SecretString:::}}',
          ],
        ],
      });
    });

    it('generates the AUTH token, 64 characters long, and puts no secret value in the template', () => {
      const secrets = template.findResources('AWS::SecretsManager::Secret');
      // The Redis AUTH token and the two token-key secrets (filled by npm run rotate-keys).
      expect(Object.keys(secrets)).toHaveLength(3);
      for (const secret of Object.values(secrets)) expect(secret.Properties.SecretString).toBeUndefined();
      expect(
        secrets[logicalId(stack, stack.redis.authSecret)]?.Properties.GenerateSecretString,
      ).toMatchObject({
        PasswordLength: 64,
        ExcludePunctuation: true,
      });
    });
  });

  describe('network', () => {
    it('uses two AZs of isolated subnets with no NAT or internet gateway', () => {
      template.resourceCountIs('AWS::EC2::Subnet', 2);
      template.resourceCountIs('AWS::EC2::NatGateway', 0);
      template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    });

    it('reaches DynamoDB through a gateway endpoint and Secrets Manager through an interface endpoint', () => {
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Gateway',
        ServiceName: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('\\.dynamodb$')])] },
      });
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Interface',
        ServiceName: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('\\.secretsmanager$')])] },
        PrivateDnsEnabled: true,
      });
    });

    it('logs rejected VPC traffic', () => {
      template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT' });
    });
  });

  describe('schedule and logs', () => {
    it('runs the reconciler every minute without piling up retries', () => {
      const reconcilerId = stack.getLogicalId(
        endpoint(stack, 'reconcile-inventory').function.node.defaultChild as CfnFunction,
      );
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [reconcilerId, 'Arn'] } })],
      });
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: reconcilerId },
        MaximumRetryAttempts: 0,
      });
    });

    it('keeps every log group for the configured 30 days', () => {
      const logGroups = Object.values(template.findResources('AWS::Logs::LogGroup'));
      // One per function, the API access logs and the VPC flow logs.
      expect(logGroups).toHaveLength(allFunctions.length + 2);
      for (const logGroup of logGroups) expect(logGroup.Properties.RetentionInDays).toBe(30);
    });
  });

  describe('cdk-nag (AwsSolutions)', () => {
    it('passes the synth with no unacknowledged finding', () => {
      const report = validationReport.pluginReports.find((r: Json) => r.pluginName === 'AwsSolutions');
      expect(report?.conclusion).toBe('success');
      expect(report?.violations).toEqual([]);
    });

    it('reports every acknowledged finding with its reason', () => {
      const report = validationReport.pluginReports.find((r: Json) => r.pluginName === 'AwsSolutions');
      const acknowledged = report?.suppressedViolations as Json[];
      expect(new Set(acknowledged.map((v) => v.ruleName))).toEqual(
        new Set([
          'AwsSolutions-APIG4',
          'AwsSolutions-SMG4',
          'AwsSolutions-IAM5[Resource::*]',
          `AwsSolutions-IAM5[Resource::<${tableIds.purchases}.Arn>/index/*]`,
          `AwsSolutions-IAM5[Resource::<${tableIds.orders}.Arn>/index/*]`,
          `AwsSolutions-IAM5[Resource::<${tableIds.audit}.Arn>/index/*]`,
          'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
          'AwsSolutions-SQS3',
        ]),
      );
      for (const finding of acknowledged) expect(finding.reason.length, finding.ruleName).toBeGreaterThan(40);
    });

    it('acknowledges a "*" resource only on the X-Ray tracing policies, one per function', () => {
      const report = validationReport.pluginReports.find((r: Json) => r.pluginName === 'AwsSolutions');
      const wildcard = ((report?.suppressedViolations ?? []) as Json[]).filter(
        (v) => v.ruleName === 'AwsSolutions-IAM5[Resource::*]',
      );
      const paths = wildcard
        .flatMap((v) => (v.violatingConstructs as Json[]).map((c) => c.constructPath))
        .sort();
      expect(paths).toEqual(
        allFunctions.map((f) => `${endpoint(stack, f.function).tracingPolicy.node.path}/Resource`).sort(),
      );
    });
  });
});

describe('deploy settings from context', () => {
  it('names and tags the stack after the stage, passes the stage to the functions and accepts -c values given as strings', () => {
    const { stack, template, assembly } = synth({ stage: 'prod', redisReplicas: '2', logRetentionDays: '7' });
    expect(stack.stackName).toBe('FlashSaleInventory-prod');
    expect(assembly.getStackByName(stack.stackName).tags).toEqual({
      service: 'flash-sale-inventory',
      stage: 'prod',
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      Tags: Match.arrayWith([{ Key: 'stage', Value: 'prod' }]),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ STAGE: 'prod' }) },
    });
    template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', { NumCacheClusters: 3 });
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  it('runs a single cache node without failover when redisReplicas is 0, and acknowledges AEC4 for it', () => {
    const { template, validationReport } = synth({ redisReplicas: '0', redisNodeType: 'cache.t4g.micro' });
    const report = (validationReport.pluginReports as Json[]).find((r) => r.pluginName === 'AwsSolutions');
    expect(report?.violations).toEqual([]);
    expect(((report?.suppressedViolations ?? []) as Json[]).map((v) => v.ruleName)).toContain(
      'AwsSolutions-AEC4',
    );
    template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      CacheNodeType: 'cache.t4g.micro',
      NumCacheClusters: 1,
      AutomaticFailoverEnabled: false,
      MultiAZEnabled: false,
    });
  });

  it.each([
    [{ logRetentionDays: 31 }, /logRetentionDays/],
    [{ logRetentionDays: 9999 }, /logRetentionDays/],
    [{ redisReplicas: 6 }, /redisReplicas/],
    [{ redisShards: 0 }, /redisShards/],
    [{ redisReplicas: 'one' }, /redisReplicas/],
    [{ stage: 'Prod_1' }, /stage/],
    [{ redisNodeType: 't4g.small' }, /redisNodeType/],
  ])('refuses %o', (context, message) => {
    expect(() => createApp(context)).toThrow(message);
  });
});

describe('cdk-nag plugin', () => {
  it('fails the synth on an AwsSolutions finding that nobody acknowledged', () => {
    const { app, stack } = createApp();
    // A secret without rotation and without an acknowledgement: AwsSolutions-SMG4.
    new secretsmanager.Secret(stack, 'UnacknowledgedSecret');
    expect(() => app.synth()).toThrow(/UnacknowledgedSecret[\s\S]*AwsSolutions-SMG4/);
  });
});

describe('bundling', () => {
  it('bundles every function with the local esbuild into an ESM file with a require shim, a source map and the AWS SDK left to the runtime', () => {
    const { app, stack } = createFlashSaleApp({ context: cdkJsonContext });
    const assembly = app.synth();
    const template = assembly.getStackByName(stack.stackName).template as Json;
    for (const { function: name } of allFunctions) {
      const id = stack.getLogicalId(endpoint(stack, name).function.node.defaultChild as CfnFunction);
      const assetHash = (template.Resources[id].Properties.Code.S3Key as string).replace(/\.zip$/, '');
      const bundle = join(assembly.directory, `asset.${assetHash}`, 'index.mjs');
      expect(existsSync(bundle), name).toBe(true);

      const code = readFileSync(bundle, 'utf8');
      expect(code.startsWith("import { createRequire } from 'node:module';"), name).toBe(true);

      const sourceMap = JSON.parse(readFileSync(`${bundle}.map`, 'utf8')) as {
        sources: string[];
        sourcesContent?: unknown;
      };
      expect(
        sourceMap.sources.some((source) => source.endsWith(`functions/${name}.ts`)),
        name,
      ).toBe(true);
      expect(
        sourceMap.sources.filter((source) => source.includes('node_modules/@aws-sdk/')),
        name,
      ).toEqual([]);
      expect(sourceMap.sourcesContent, name).toBeUndefined();
    }
  });
});
