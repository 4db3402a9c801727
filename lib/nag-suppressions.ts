/**
 * Every cdk-nag (AwsSolutions) finding this stack acknowledges instead of fixing, each on the
 * narrowest construct it applies to and with its reason. cdk-nag 3 runs as a CDK validation plugin:
 * acknowledgements are CDK's own `Validations.of(construct).acknowledge()`, and the namespaced ids
 * (`AwsSolutions::<rule>`) keep each acknowledged finding, with its reason, in the synth's
 * validation-report.json instead of dropping it silently.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IConstruct } from 'constructs';
import type { FunctionName, TableName } from '#shared/routes';
import { tableDefinitions } from '../shared/db/tables.ts';
import type { DataTables } from './data-tables.ts';
import type { EndpointFunction } from './endpoint-function.ts';
import type { FailedInvocations } from './failed-invocations.ts';
import type { PublicApi } from './public-api.ts';
import type { RedisCache } from './redis-cache.ts';

/** The parts of the stack whose findings are acknowledged (the stack passes itself). */
export interface NagSubject extends Stack {
  readonly data: DataTables;
  readonly redis: RedisCache;
  readonly jwtSigningKey: ISecret;
  readonly jwtVerifyKeys: ISecret;
  readonly api: PublicApi;
  readonly functions: ReadonlyMap<FunctionName, EndpointFunction>;
  readonly reconcileFailures: FailedInvocations;
}

function acknowledge(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${rule}`, reason });
}

/** cdk-nag names a wildcard resource by the template reference it resolves to. */
function indexWildcardFinding(table: dynamodb.Table): string {
  const stack = Stack.of(table);
  const logicalId = stack.resolve((table.node.defaultChild as dynamodb.CfnTable).logicalId) as string;
  return `Resource::<${logicalId}.Arn>/index/*`;
}

export function acknowledgeNagFindings(stack: NagSubject): void {
  acknowledge(
    stack.api.api,
    'APIG4',
    'Authorization is done in the function, by the one middy chain of shared/http: it verifies the ' +
      'bearer JWT (jose, HS256, issuer and audience checked) and the access level the route declares in ' +
      'shared/routes.ts. Register, login and health are public by design. An API Gateway JWT authorizer ' +
      'would need an OIDC issuer, which this service is not.',
  );

  for (const secret of [stack.jwtSigningKey, stack.jwtVerifyKeys]) {
    acknowledge(
      secret,
      'SMG4',
      'The token keys rotate with `npm run rotate-keys -- --aws` (docs/security.md): it publishes the new ' +
        "public key beside the current one, waits out the verifiers' five-minute cache, then switches the " +
        'signer, so no issued token stops working. A Secrets Manager rotation Lambda would have to do the ' +
        'same two steps with a wait between them; the script is the documented operation.',
    );
  }
  acknowledge(
    stack.redis.authSecret,
    'SMG4',
    'Rotating the ElastiCache AUTH token needs a rotation Lambda that runs ModifyReplicationGroup with ' +
      'AuthTokenUpdateStrategy ROTATE then SET while clients re-read the secret; out of scope. The token ' +
      'only works from inside the isolated VPC, through a security group open to the Redis functions only.',
  );

  const group = stack.redis.replicationGroup;
  if (group && group.multiAzEnabled !== true) {
    acknowledge(
      group,
      'AEC4',
      'A cache without replicas was chosen through the redisReplicas=0 context (development). Losing it ' +
        'loses no sale: DynamoDB is the system of record and the reconciler restores live stock from it.',
    );
  }

  acknowledge(
    stack.reconcileFailures.queue,
    'SQS3',
    "This queue is itself the dead-letter destination (the reconciler's on-failure destination); a " +
      'failure record that nobody reads stays for the 14-day retention, and an alarm fires on its depth.',
  );

  for (const fn of stack.functions.values()) {
    // Only the tracing policy, which holds nothing but the two X-Ray actions: a "*" resource that
    // anything else adds to a function's role is a finding again and fails the synth.
    acknowledge(
      fn.tracingPolicy,
      'IAM5[Resource::*]',
      'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level ' +
        'permissions, so their resource is necessarily "*". This policy holds those two actions only.',
    );

    if (fn.uses.redis) {
      acknowledge(
        fn.role,
        'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        'The function runs in the VPC to reach Redis; this AWS-maintained policy holds exactly the ENI ' +
          'actions Lambda needs for that (they support no resource-level scoping), and AWS keeps it current.',
      );
    }

    const defaultPolicy = fn.role.node.tryFindChild('DefaultPolicy');
    if (!defaultPolicy) continue;
    for (const name of Object.keys(fn.uses.tables) as TableName[]) {
      if (tableDefinitions[name].globalSecondaryIndexes.length === 0) continue;
      acknowledge(
        defaultPolicy,
        `IAM5[${indexWildcardFinding(stack.data.tables[name])}]`,
        `Queries the ${name} table's global secondary indexes; the wildcard covers that table's indexes ` +
          'only, with the same actions as on the table.',
      );
    }
  }
}
