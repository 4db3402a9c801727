import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FunctionName } from '#shared/routes';
import type { FlashSaleStack } from '../../lib/flash-sale-stack.ts';
import {
  allFunctions,
  createApp,
  endpoint,
  type Json,
  leastPrivilegeViolations,
  logicalId,
  roleAccess,
  SYNTH_TIMEOUT,
  synth,
  synthApp,
  tableWriteActions,
} from './support.ts';

/** A deep copy of the template with one statement added to the function's default policy. */
function withStatement(templateJson: Json, stack: FlashSaleStack, name: FunctionName, statement: Json): Json {
  const copy = structuredClone(templateJson);
  const policyId = logicalId(stack, endpoint(stack, name).role.node.findChild('DefaultPolicy'));
  copy.Resources[policyId].Properties.PolicyDocument.Statement.push(statement);
  return copy;
}

describe('least privilege: every function role, statement by statement, against shared/routes.ts', () => {
  let stack: FlashSaleStack;
  let templateJson: Json;

  beforeAll(() => {
    const synthesized = synth();
    stack = synthesized.stack;
    templateJson = synthesized.template.toJSON();
  }, SYNTH_TIMEOUT);

  it.each(allFunctions.map((f) => f.function))('gives %s exactly what its route declares', (name) => {
    expect(leastPrivilegeViolations(templateJson, stack, name)).toEqual([]);
  });

  it('lets login-user alone read the private token key, and every verifier only the public keys', () => {
    const readers = (secretId: string) =>
      allFunctions
        .map((f) => f.function)
        .filter((name) => {
          const { grants } = roleAccess(templateJson, logicalId(stack, endpoint(stack, name).role));
          return [...grants].some((g) => g.includes('secretsmanager:GetSecretValue') && g.includes(secretId));
        })
        .sort();
    const signingKey = logicalId(stack, stack.jwtSigningKey);
    const verifyKeys = logicalId(stack, stack.jwtVerifyKeys);
    expect(readers(signingKey)).toEqual(['login-user']);
    const verifiers = allFunctions
      .filter((f) => f.uses.jwt === 'verify')
      .map((f) => f.function)
      .sort();
    expect(verifiers.length).toBeGreaterThan(10);
    expect(readers(verifyKeys)).toEqual(verifiers);
    expect(readers(verifyKeys)).not.toContain('login-user');
  });

  it('allows "*" only for the two X-Ray actions, in every function', () => {
    for (const { function: name } of allFunctions) {
      const wildcard = [...roleAccess(templateJson, logicalId(stack, endpoint(stack, name).role)).grants]
        .filter((g) => g.endsWith(' on *'))
        .sort();
      expect(wildcard, name).toEqual(['xray:PutTelemetryRecords on *', 'xray:PutTraceSegments on *']);
    }
  });

  it('lets only the order, deal and reconcile functions write the orders table', () => {
    const ordersId = logicalId(stack, stack.data.tables.orders);
    const writers = allFunctions
      .filter(({ function: name }) => {
        const { grants } = roleAccess(templateJson, logicalId(stack, endpoint(stack, name).role));
        return tableWriteActions.some((action) => grants.has(`${action} on ${ordersId}`));
      })
      .map((f) => f.function)
      .sort();
    expect(writers).toEqual(
      ['cancel-order', 'confirm-order', 'create-order', 'end-hotdeal', 'reconcile-inventory'].sort(),
    );
  });

  it('fails the check when a wildcard statement is added to a function role', () => {
    const mutated = withStatement(templateJson, stack, 'get-health', {
      Effect: 'Allow',
      Action: ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:DeleteTable'],
      Resource: '*',
    });
    expect(leastPrivilegeViolations(mutated, stack, 'get-health')).toEqual([
      'get-health: undeclared dynamodb:PutItem on *',
      'get-health: undeclared dynamodb:DeleteItem on *',
      'get-health: undeclared dynamodb:DeleteTable on *',
    ]);
  });

  it('fails the check when an extra action is granted on a table the function may only read', () => {
    const productsId = logicalId(stack, stack.data.tables.products);
    const mutated = withStatement(templateJson, stack, 'get-health', {
      Effect: 'Allow',
      Action: 'dynamodb:PutItem',
      Resource: { 'Fn::GetAtt': [productsId, 'Arn'] },
    });
    expect(leastPrivilegeViolations(mutated, stack, 'get-health')).toEqual([
      `get-health: undeclared dynamodb:PutItem on ${productsId}`,
    ]);
  });

  it('fails the check on a statement it cannot judge (a condition, NotAction, a Deny)', () => {
    const mutated = withStatement(templateJson, stack, 'get-health', {
      Effect: 'Allow',
      NotAction: 'iam:*',
      Resource: '*',
    });
    expect(leastPrivilegeViolations(mutated, stack, 'get-health')).toEqual([
      expect.stringContaining('get-health: statement outside the model'),
    ]);
  });

  it('fails the check when a grant or a managed policy goes missing or an extra one appears', () => {
    const copy = structuredClone(templateJson);
    const roleId = logicalId(stack, endpoint(stack, 'list-my-purchases').role);
    copy.Resources[roleId].Properties.ManagedPolicyArns = ['arn:aws:iam::aws:policy/AdministratorAccess'];
    const tracingId = logicalId(stack, endpoint(stack, 'list-my-purchases').tracingPolicy);
    delete copy.Resources[tracingId];
    expect(leastPrivilegeViolations(copy, stack, 'list-my-purchases')).toEqual([
      'list-my-purchases: missing xray:PutTelemetryRecords on *',
      'list-my-purchases: missing xray:PutTraceSegments on *',
      'list-my-purchases: undeclared managed policy "arn:aws:iam::aws:policy/AdministratorAccess"',
    ]);
  });

  it('fails the check when a variant stack attaches an extra policy to a function role', () => {
    const { app, stack: variant } = createApp();
    const health = endpoint(variant, 'get-health');
    new iam.Policy(variant, 'ExtraGrant', {
      roles: [health.role],
      statements: [
        new iam.PolicyStatement({
          actions: ['dynamodb:UpdateItem'],
          resources: [variant.data.tables.products.tableArn],
        }),
      ],
    });
    const { template } = synthApp(app, variant);
    expect(leastPrivilegeViolations(template.toJSON(), variant, 'get-health')).toEqual([
      `get-health: undeclared dynamodb:UpdateItem on ${logicalId(variant, variant.data.tables.products)}`,
    ]);
  });
});

describe('cdk-nag acknowledges "*" only where X-Ray needs it', () => {
  it('fails the synth when a wildcard resource is added to a function role', () => {
    const { app, stack } = createApp();
    endpoint(stack, 'get-health').function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:DeleteTable'], resources: ['*'] }),
    );
    expect(() => app.synth()).toThrow(/GetHealth\/Role\/DefaultPolicy[\s\S]*AwsSolutions-IAM5/);
  });

  it('fails the synth when a wildcard action is added on a declared table', () => {
    const { app, stack } = createApp();
    endpoint(stack, 'get-health').function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:*'], resources: [stack.data.tables.products.tableArn] }),
    );
    expect(() => app.synth()).toThrow(/AwsSolutions-IAM5\[Action::dynamodb:\*\]/);
  });
});
